"""`batch` under attack (issues 12 and 20): it never hangs, keeps memory flat with ids,
stops cleanly on a full disk, never writes into its own input, and checks each line's
fields as the flags are checked."""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import official
import orjson
import pytest
from conftest import ROOT, TEST_KEY, Result, assert_no_key, chat_bodies, invoke
from test_remote_batch_scale import MEASURE

from cohere_cli.base.errors import ExitCode
from cohere_cli.batch.input import iter_lines
from cohere_cli.batch.jobs import JobMaker
from cohere_cli.batch.resume import read_finished
from cohere_cli.batch.run import BatchRun
from cohere_cli.settings.config import ConfigFlags, load_settings
from cohere_cli.wire.api_client import ApiClient

HANG = 30  # seconds: a batch still running after this is hung
SUMMARY = b"cohere-chat: batch: ok="


def jsonl(*values: Any) -> bytes:
    return b"".join(orjson.dumps(v) + b"\n" for v in values)


def records(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines()]


DOCUMENTED = {0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 130, 141}


def clean_end(done: subprocess.CompletedProcess[bytes]) -> None:
    """Ended on its own, with a documented status and one line of error, no traceback."""
    assert done.returncode in DOCUMENTED, done.stderr
    assert b"Traceback" not in done.stderr and b"internal error" not in done.stderr


def clean_result(result: Result) -> None:
    """`clean_end` for a run in-process."""
    assert result.exit_code in DOCUMENTED, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


# --- item 1: no input, flag or reply leaves batch running without progress -------------

def _reply(message: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps({"id": "r", "finish_reason": "COMPLETE",
                         "message": {"role": "assistant", **message}, **extra})


NOT_A_CHAT_RESPONSE = {
    "content is 5": _reply({"content": 5}),
    "text is 7": _reply({"content": [{"type": "text", "text": 7}]}),
    "usage tokens is x": _reply({"content": [{"type": "text", "text": "ok"}]},
                                usage={"tokens": "x"}),
}


@pytest.mark.parametrize("body", NOT_A_CHAT_RESPONSE.values(), ids=NOT_A_CHAT_RESPONSE.keys())
def test_a_200_that_is_not_a_chat_response_fails_its_line(raw_server: Any, body: bytes) -> None:
    server = raw_server(200, "application/json", body)
    result = invoke(["batch", "-j", "2"], stdin=jsonl("a", "b", "c"))
    clean_result(result)
    assert result.exit_code == ExitCode.BATCH_FAILED
    out = records(result.stdout_bytes)
    assert [r["line"] for r in out] == [1, 2, 3]
    assert all(r["error"]["status"] is None and "not a chat response" in r["error"]["message"]
               for r in out)
    assert result.stderr.startswith(SUMMARY.decode() + "0 failed=3")
    assert server.count == 3  # a 200 is never sent again


def test_a_reply_past_64_bit_numbers_fails_its_line_alone(raw_server: Any) -> None:
    """Token counts of 1e308 cannot be summed or written as 64-bit integers: that crashed
    the writer (exit 1). Now they are not counts of tokens: the line fails alone."""
    huge = {"tokens": {"input_tokens": 1e308, "output_tokens": 1e308}}
    raw_server(200, "application/json", _reply({"content": [{"type": "text", "text": "ok"}]},
                                               usage=huge))
    result = invoke(["batch"], stdin=jsonl("a", "b"))
    clean_result(result)
    out = records(result.stdout_bytes)
    assert [r["line"] for r in out] == [1, 2]
    assert all("is not a count of tokens" in r["error"]["message"] for r in out)
    assert result.exit_code == ExitCode.BATCH_FAILED and SUMMARY.decode() in result.stderr


TRIGGERS: dict[str, tuple[list[str], dict[str, str]]] = {
    "--timeout 0": (["--timeout", "0"], {}),
    "a port past 65535": (["--base-url", "https://host:99999"], {}),
    "invalid UTF-8 in -s": (["-s", os.fsdecode(b"\xff")], {}),
    "a key with a line break": ([], {"CO_API_KEY": f"{TEST_KEY}\nx"}),
    "a key with a curly quote": ([], {"CO_API_KEY": f"{TEST_KEY}\u2019"}),
}


@pytest.mark.parametrize("case", TRIGGERS.values(), ids=TRIGGERS.keys())
def test_bad_flags_and_keys_end_the_batch_before_it_sends(
        stub: Any, case: tuple[list[str], dict[str, str]]) -> None:
    args, env = case
    result = invoke(["batch", *args], stdin=jsonl("a", "b", "c"), env=dict(env))
    clean_result(result)
    assert result.exit_code in (ExitCode.USAGE, ExitCode.INPUT), result.stderr
    assert result.stdout == "" and stub.requests == []
    assert TEST_KEY not in result.stderr


class Boom(BaseException):
    """Not even an Exception: what no handler in the send path expects."""


class Exploding:
    """A pacer (asked before each attempt) that fails on the third request: a failure
    no flag validation can catch, in the middle of the send path."""

    def __init__(self, error: BaseException) -> None:
        self.error, self.calls, self.lock = error, 0, threading.Lock()

    def before_attempt(self) -> None:
        with self.lock:
            self.calls += 1
            if self.calls == 3:
                raise self.error

    def pause(self, seconds: float) -> None:
        return None


def _in_process_batch(pacer: Any, lines: bytes, run_class: type = BatchRun) -> tuple[Any, bytes]:
    settings = load_settings(ConfigFlags(), os.environ)
    client = ApiClient(settings.connection(max_wait=0), pacer=pacer)
    maker = JobMaker({"model": settings.model, "stream": False}, None)
    run = run_class(client, maker, set(), jobs=2)
    out_path = Path(os.environ["HOME"]) / "out.jsonl"
    finished: list[Any] = []
    with open(out_path, "wb") as out:
        import io

        thread = threading.Thread(target=lambda: finished.append(run.run(
            iter_lines(io.BytesIO(lines)), out, lambda _: None)), daemon=True)
        thread.start()
        thread.join(timeout=HANG)
    client.close()
    assert finished, "the batch hung"
    return finished[0], out_path.read_bytes()


@pytest.mark.parametrize("error", [RuntimeError("boom"), Boom()], ids=["Exception", "Base"])
def test_an_unexpected_failure_in_a_worker_stops_the_batch(stub: Any,
                                                           error: BaseException) -> None:
    summary, written = _in_process_batch(Exploding(error), jsonl(*[f"p{n}" for n in range(20)]))
    assert summary.error is not None
    assert summary.error.exit_code == ExitCode.INTERNAL
    assert f"internal error: {type(error).__name__} while sending" in summary.error.message
    out = records(written)
    assert any(r.get("error", {}).get("message", "").startswith("internal error") for r in out)
    assert summary.ok + summary.failed == len(out) < 20  # it stopped taking lines
    assert len(stub.requests) <= 4


class DyingRun(BatchRun):
    def _work(self) -> None:  # a worker that ends without a word (a bug elsewhere)
        return None


@pytest.mark.slow
def test_the_writer_does_not_wait_for_a_dead_worker(stub: Any) -> None:
    summary, written = _in_process_batch(None, jsonl("a", "b"), DyingRun)
    assert "a batch worker stopped" in summary.error.message and written == b""


@pytest.mark.slow
def test_an_endless_line_ends_the_batch_with_exit_3(stub: Any) -> None:
    limit = 2 << 30  # on the old code /dev/zero was read into memory until MemoryError

    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with open("/dev/zero", "rb") as zero:
        done = subprocess.run([sys.executable, "-m", "cohere_cli", "batch"], stdin=zero,
                              capture_output=True, cwd=ROOT, env=dict(os.environ),
                              timeout=HANG, preexec_fn=bounded)
    assert_no_key(done.stdout, done.stderr)
    clean_end(done)
    assert done.returncode == ExitCode.INPUT
    assert b"stdin:1: a line longer than 64 MiB" in done.stderr and SUMMARY in done.stderr
    assert stub.requests == []


# --- item 7: a fixed small cost per id -----------------------------------------------

def _bytes_per_id(count: int, work: Any) -> float:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = work()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert kept is not None
    return (peak - before) / count


@pytest.mark.slow
def test_explicit_ids_cost_under_100_bytes_each() -> None:
    count = 10_000
    maker = JobMaker({"model": "m", "stream": False}, None)

    def make_all() -> JobMaker:
        for n in range(count):
            line = orjson.dumps({"id": f"ticket-{n:057d}", "prompt": "p"})
            assert maker.make(n, n + 1, line).body is not None
        return maker

    assert _bytes_per_id(count, make_all) < 100  # was about 4 KB: each id's JSON, kept
    assert maker.make(count, count + 1, b'{"id": "ticket-%057d", "prompt": "p"}' % 7).error \
        == "the same id is on an earlier line"


@pytest.mark.slow
def test_resume_keeps_under_100_bytes_per_finished_id(tmp_path: Path) -> None:
    count = 20_000
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"".join(orjson.dumps({
        "id": f"ticket-{n:057d}", "line": n + 1, "text": "ok", "finish_reason": "COMPLETE",
        "usage": {}, "message": {"role": "assistant", "content": "ok"}}) + b"\n"
        for n in range(count)))
    found: list[Any] = []

    def read() -> list[Any]:
        found.append(read_finished(path).ids)
        return found

    assert _bytes_per_id(count, read) < 100
    assert f"ticket-{count - 1:057d}" in found[0] and "ticket-x" not in found[0]


# --- item 9: a full disk stops the batch with exit 10 ----------------------------------

def _batch_with_output(args: list[str], stdout: Any = subprocess.PIPE,
                       preexec: Any = None) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run([sys.executable, "-m", "cohere_cli", "batch", "-j", "1", *args],
                          input=jsonl(*[f"prompt number {n}" for n in range(30)]),
                          stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT,
                          env=dict(os.environ), timeout=HANG, preexec_fn=preexec)
    assert_no_key(done.stdout or b"", done.stderr)
    return done


def _small_file_limit() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))


@pytest.mark.slow
def test_a_full_disk_under_o_file_exits_10_and_keeps_whole_lines(stub: Any,
                                                                 tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    done = _batch_with_output(["-o", str(output)], preexec=_small_file_limit)
    clean_end(done)
    assert done.returncode == ExitCode.NOT_SAVED
    assert SUMMARY in done.stderr
    assert f"{output}: cannot write: File too large; the batch stopped".encode() in done.stderr
    kept = output.read_bytes()
    assert kept.endswith(b"\n") and 0 < len(records(kept)) < 30  # no torn line


@pytest.mark.slow
@pytest.mark.parametrize("target", ["-o /dev/full", "stdout on /dev/full"])
def test_dev_full_exits_10_naming_what_could_not_be_written(stub: Any, target: str) -> None:
    if target.startswith("-o"):
        done = _batch_with_output(["-o", "/dev/full"])
        name = b"/dev/full"
    else:
        with open("/dev/full", "wb") as full:
            done = _batch_with_output([], stdout=full)
        name = b"stdout"
    clean_end(done)
    assert done.returncode == ExitCode.NOT_SAVED
    assert name + b": cannot write: No space left on device" in done.stderr
    # it stops at once, not after all 30 lines: on a loaded machine the one worker may run
    # a few lines ahead of the writer that finds the disk full
    assert done.stderr.startswith(SUMMARY) and len(stub.requests) <= 6


# --- issue 12 item 10, issue 20 item 5: the output is never the input -------------------

def _refused(done: Any, source: Path, before: bytes) -> None:
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert b"the output file is the input file" in done.stderr
    assert source.read_bytes() == before


@pytest.mark.parametrize("how", ["hard link", "symlink"])
def test_an_output_linked_to_the_input_is_refused(stub: Any, tmp_path: Path, how: str) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "other.jsonl"
    source.write_bytes(jsonl("a", "b"))
    os.link(source, output) if how == "hard link" else output.symlink_to(source)
    for extra in ([], ["--resume"]):
        result = invoke(["batch", *extra, "-o", str(output), str(source)])
        assert result.exit_code == ExitCode.USAGE, result.stderr
        assert "the output file is the input file" in result.stderr
        assert source.read_bytes() == jsonl("a", "b")
    assert stub.requests == []


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--resume"]], ids=["truncate", "resume"])
def test_stdin_redirected_from_the_output_is_refused(stub: Any, tmp_path: Path,
                                                     extra: list[str]) -> None:
    same = tmp_path / "same.jsonl"
    same.write_bytes(jsonl("a", "b"))
    with open(same, "rb") as stdin:
        done = subprocess.run([sys.executable, "-m", "cohere_cli", "batch", *extra,
                               "-o", str(same)], stdin=stdin, capture_output=True, cwd=ROOT,
                              env=dict(os.environ), timeout=HANG)
    _refused(done, same, jsonl("a", "b"))
    assert stub.requests == []


@pytest.mark.slow
def test_stdout_appended_to_the_input_is_refused(stub: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl("a", "b"))
    with open(source, "ab") as stdout:
        done = subprocess.run([sys.executable, "-m", "cohere_cli", "batch", str(source)],
                              stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT,
                              env=dict(os.environ), timeout=HANG)
    _refused(done, source, jsonl("a", "b"))


def test_dev_null_as_input_and_output_is_fine(stub: Any) -> None:
    result = invoke(["batch", "-o", "/dev/null", "/dev/null"])
    assert result.exit_code == 0 and result.stderr.startswith(SUMMARY.decode() + "0 failed=0")


# --- issue 20 item 10: lines get the same checks as flags --------------------------------

@pytest.mark.parametrize("falsy", ["0", "false", "null"])
def test_documents_with_a_falsy_id_are_refused(stub: Any, tmp_path: Path, falsy: str) -> None:
    documents = tmp_path / "docs.jsonl"
    documents.write_text(f'{{"id": "ok", "title": "t"}}\n{{"id": {falsy}, "title": "t"}}\n')
    result = invoke(["--documents", str(documents), "--no-stream", "hi"])
    assert result.exit_code == ExitCode.INPUT
    assert 'docs.jsonl:2: a document "id" must be a string' in result.stderr
    assert stub.requests == []


def test_a_line_field_that_is_not_a_request_field_fails_its_line(stub: Any,
                                                                 tmp_path: Path) -> None:
    (tmp_path / "tiny.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    stdin = jsonl({"prompt": "a", "images": [str(tmp_path / "tiny.png")]},
                  {"prompt": "b", "temprature": 0.5},
                  {"prompt": "c", "system": "be terse"},
                  {"id": "known", "prompt": "d", "seed": 3, "safety_mode": "OFF", "stream": True})
    result = invoke(["batch"], stdin=stdin)
    assert result.exit_code == ExitCode.BATCH_FAILED
    out = records(result.stdout_bytes)
    assert out[0]["error"]["message"].startswith('a line cannot take "images": put image_url')
    assert out[1]["error"]["message"].startswith('unknown field "temprature"')
    assert out[2]["error"]["message"].startswith('unknown field "system"')
    assert out[3]["text"] == "echo: d"
    (body,) = chat_bodies(stub)
    assert (body["seed"], body["safety_mode"], body["stream"]) == (3, "OFF", False)


def test_line_documents_are_wrapped_as_documents_flag_does(stub: Any) -> None:
    documents = ["plain text", {"title": "flat", "snippet": "s"},
                 {"id": "d2", "title": "flat with id"}, {"id": "d3", "data": {"title": "ok"}}]
    stdin = jsonl({"prompt": "q", "documents": documents},
                  {"prompt": "q", "documents": [{"id": 0, "title": "t"}]},
                  {"prompt": "q", "documents": [7]})
    result = invoke(["batch"], stdin=stdin)
    out = records(result.stdout_bytes)
    assert "text" in out[0]
    assert out[1]["error"]["message"] == 'documents: a document "id" must be a string'
    assert out[2]["error"]["message"] == "documents: a document must be a string or an object"
    (body,) = chat_bodies(stub)  # checked against the official schema: Document needs data
    assert body["documents"] == [
        "plain text", {"data": {"title": "flat", "snippet": "s"}},
        {"id": "d2", "data": {"title": "flat with id"}}, {"id": "d3", "data": {"title": "ok"}}]


def test_the_request_fields_are_the_official_schemas() -> None:
    from cohere_cli.chat.rules import REQUEST_FIELDS

    schema = official.schema()["$defs"]["ChatRequest"]["properties"]
    assert sorted(REQUEST_FIELDS) == sorted(schema)


# --- garbage does not pile up over a long batch (__main__ raises the collector's threshold)


@pytest.fixture
def dropping_stub() -> Iterator[str]:
    """A stub program (its own process: it keeps no request in this one) that drops
    every connection without an answer."""
    proc = subprocess.Popen([sys.executable, "-m", "cohere_cli", "stub", "--fail",
                             "dropx1000000"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ))
    assert proc.stdout is not None
    try:
        yield proc.stdout.readline().decode().strip()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=HANG)
        assert_no_key(out, err)


def _peak_mib(args: list[str], env: dict[str, str]) -> tuple[int, float]:
    """The exit status and peak resident MiB of a real `python -m cohere_cli` run."""
    done = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "cohere_cli",
                           *args], env=env, cwd=ROOT, capture_output=True, timeout=300,
                          check=True)
    assert_no_key(done.stdout, done.stderr)
    status, peak = done.stdout.split()
    return int(status), int(peak) / 1024


@pytest.mark.slow
def test_lines_that_fail_on_the_network_leave_no_garbage_piling_up(
    dropping_stub: str, tmp_path: Path
) -> None:
    """A line whose connection drops leaves its request (a 200 KB document each here) in
    the cyclic garbage of urllib3's exceptions. At start-up's raised threshold the
    collector would free it only after a thousand lines (about 90 MiB more for 800 lines
    than for 50); a batch collects at Python's own pace."""
    document = tmp_path / "document.txt"
    document.write_text("some words of a long document " * 7000)
    env = {**os.environ, "CO_API_URL": dropping_stub, "CO_API_KEY": TEST_KEY}
    peaks = []
    for count in (50, 800):
        source = tmp_path / f"in-{count}.jsonl"
        source.write_bytes(jsonl(*({"prompt": f"line {n}"} for n in range(count))))
        status, peak = _peak_mib(["batch", "--retries", "0", "--document", str(document),
                                  "-o", str(tmp_path / f"out-{count}.jsonl"), str(source)], env)
        assert status == ExitCode.BATCH_FAILED
        peaks.append(peak)
    assert (tmp_path / "out-800.jsonl").read_bytes().count(b"reset the connection") == 800
    assert peaks[1] - peaks[0] < 30, peaks
