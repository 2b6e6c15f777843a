"""`batch` (README "Batch"): concurrent, ordered, resumable, paced, with flat memory."""
from __future__ import annotations

import itertools
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import official
import orjson
import pytest
from conftest import ROOT, assert_no_key, chat_bodies, invoke, wait_for
from hypothesis import given
from hypothesis import strategies as st

from cohere_cli.batch.run import BatchJob, run_batch_job
from cohere_cli.chat.request import RequestOptions
from cohere_cli.settings.config import ConfigFlags, load_settings


def jsonl(*values: Any) -> bytes:
    return b"".join(orjson.dumps(v) + b"\n" for v in values)


def records(text: str | bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines()]


def test_each_kind_of_line_gives_one_result_in_order(stub: Any) -> None:
    stdin = jsonl("plain prompt", {"id": "b", "prompt": "with id", "temperature": 0.2},
                  {"messages": [{"role": "user", "content": "as messages"}]}) + b"\n"
    result = invoke(["batch", "-s", "Be terse", "-t", "0.5"], stdin=stdin)
    assert result.exit_code == 0, result.stderr
    out = records(result.stdout)
    assert [r["id"] for r in out] == [1, "b", 3]
    assert [r["line"] for r in out] == [1, 2, 3]
    assert [r["text"] for r in out] == ["echo: plain prompt", "echo: with id", "echo: as messages"]
    assert out[0]["finish_reason"] == "COMPLETE"
    assert set(out[0]["usage"]) >= {"input_tokens", "output_tokens"}
    official.validate_request({"model": "m", "messages": [out[0]["message"]]})
    bodies = sorted(chat_bodies(stub), key=lambda b: b["messages"][1]["content"])
    assert all(b["messages"][0] == {"role": "system", "content": "Be terse"} for b in bodies)
    temperatures = {b["messages"][1]["content"]: b["temperature"] for b in bodies}
    assert temperatures == {"plain prompt": 0.5, "with id": 0.2, "as messages": 0.5}
    assert result.stderr.startswith("cohere-chat: batch: ok=3 failed=0 skipped=0 tokens=")


def test_order_is_kept_with_8_jobs_and_random_latencies(make_stub: Any) -> None:
    make_stub(latency_ms=0, latency_max_ms=60)
    stdin = jsonl(*[f"p{n}" for n in range(60)])
    result = invoke(["batch", "-j", "8"], stdin=stdin)
    assert [r["text"] for r in records(result.stdout)] == [f"echo: p{n}" for n in range(60)]


def test_unordered_writes_every_result_once(make_stub: Any) -> None:
    make_stub(latency_ms=0, latency_max_ms=40)
    result = invoke(["batch", "-j", "8", "--unordered"], stdin=jsonl(*map(str, range(40))))
    assert sorted(r["id"] for r in records(result.stdout)) == list(range(1, 41))


def test_bad_lines_and_a_400_fail_alone_and_exit_9(make_stub: Any) -> None:
    server = make_stub(fail=("400",))
    stdin = (b'"first"\nnot json\n[1]\n{"prompt": "x", "messages": []}\n'
             b'{"prompt": "hot", "temperature": 3}\n{"messages": [{"role": "usr"}]}\n"last"\n')
    result = invoke(["batch", "-j", "1"], stdin=stdin)
    assert result.exit_code == 9
    out = records(result.stdout)
    assert [r["line"] for r in out] == [1, 2, 3, 4, 5, 6, 7]
    errors = {r["line"]: r["error"] for r in out if "error" in r}
    assert errors[1] == {"status": 400, "message": "stub: injected 400"}
    assert errors[2]["message"].startswith("invalid JSON")
    assert errors[3]["message"] == "a line must be a JSON string or object"
    assert errors[4]["message"] == 'a line needs either "prompt" or "messages"'
    assert errors[5]["message"] == "temperature must be between 0 and 1 (got 3)"
    assert errors[6]["message"] == 'messages[0]: unknown role "usr"'
    assert out[-1]["text"] == "echo: last"
    assert len(server.requests) == 2  # the bad lines were never sent
    assert "ok=1 failed=6" in result.stderr


def test_a_duplicate_id_is_refused(stub: Any) -> None:
    result = invoke(["batch"], stdin=jsonl({"id": "x", "prompt": "a"}, {"id": "x", "prompt": "b"}))
    out = records(result.stdout)
    assert "text" in out[0] and out[1]["error"]["message"] == "the same id is on an earlier line"
    assert result.exit_code == 9


def test_raw_adds_the_response(stub: Any) -> None:
    out = records(invoke(["batch", "--raw"], stdin=jsonl("hi")).stdout)
    official.validate_response(out[0]["response"])


def test_flags_are_checked_before_any_line(stub: Any, tmp_path: Path) -> None:
    for args, message in [(["-t", "7"], "temperature must be between"),
                          (["--resume"], "--resume needs -o/--output FILE"),
                          (["--system-file", str(tmp_path / "none")], "cannot read")]:
        result = invoke(["batch", *args], stdin=jsonl("hi"))
        assert result.exit_code in (2, 3) and message in result.stderr
    assert stub.requests == []


def test_output_file_and_resume_skip_what_succeeded(make_stub: Any, tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(jsonl(*[{"id": f"k{n}", "prompt": f"p{n}"} for n in range(6)]))
    make_stub(fail=("400",))
    first = invoke(["batch", "-j", "1", str(source), "-o", str(output)])
    assert first.exit_code == 9 and first.stdout == ""
    output.write_bytes(output.read_bytes() + b'{"id": "k9", "li')  # a torn line from a crash
    server = make_stub()
    again = invoke(["batch", "--resume", str(source), "-o", str(output)])
    assert again.exit_code == 0
    assert [b["messages"][0]["content"] for b in chat_bodies(server)] == ["p0"]
    out = records(output.read_bytes())
    successes = [r["id"] for r in out if "error" not in r]
    assert sorted(successes) == [f"k{n}" for n in range(6)]
    assert "skipped=5" in again.stderr


def test_resume_refuses_a_damaged_output(stub: Any, tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    output.write_bytes(b'{"id": 1}\nnot a record\n{"id": 2}\n')
    result = invoke(["batch", "--resume", "-o", str(output)], stdin=jsonl("a"))
    assert result.exit_code == 3 and "out.jsonl:2: not a result line" in result.stderr
    assert output.read_bytes() == b'{"id": 1}\nnot a record\n{"id": 2}\n'


def _batch_process(args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cohere_cli", "batch", *args], cwd=ROOT,
                            env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


@pytest.mark.slow
def test_resume_after_sigkill_sends_only_the_unfinished(make_stub: Any, tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(jsonl(*[f"p{n}" for n in range(40)]))
    make_stub(latency_ms=300)  # 6 s for all 40: the kill lands long before the end
    proc = _batch_process(["-j", "2", str(source), "-o", str(output)])
    wait_for(lambda: output.exists() and output.read_bytes().count(b"\n") >= 8,
             "eight results in the output")
    proc.send_signal(signal.SIGKILL)
    assert_no_key(*proc.communicate(timeout=30))
    done = {r["id"] for r in records(output.read_bytes()[: output.read_bytes().rfind(b"\n")])}
    assert 8 <= len(done) < 40
    server = make_stub()
    again = invoke(["batch", "-j", "4", "--resume", str(source), "-o", str(output)])
    assert again.exit_code == 0
    sent = {b["messages"][0]["content"] for b in chat_bodies(server)}
    assert sent == {f"p{n - 1}" for n in range(1, 41) if n not in done}
    out = records(output.read_bytes())
    assert sorted(r["id"] for r in out) == list(range(1, 41))  # each id once, all there


@pytest.mark.slow
def test_rpm_spaces_the_starts(make_stub: Any) -> None:
    server = make_stub()
    started = time.monotonic()  # the stub's clock: it runs in this process
    assert invoke(["batch", "-j", "4", "--rpm", "600"], stdin=jsonl(*"abcdef")).exit_code == 0
    times = sorted(r.received for r in server.requests)
    # 600 a minute: the k-th request starts at least 0.1 s after the one before, so no
    # earlier than 0.1 * k after the run began (a busy machine only delays arrivals)
    assert len(times) == 6
    assert all(t - started >= 0.1 * k - 0.005 for k, t in enumerate(times)), [
        t - started for t in times]


@pytest.mark.slow
def test_a_429_slows_the_whole_batch(make_stub: Any) -> None:
    # each answer takes 0.5 s: the worker that got the 429 has that long to pause the
    # other one before its next request, however busy the machine is
    server = make_stub(fail=("429",), retry_after=1, latency_ms=500)
    assert invoke(["batch", "-j", "2"], stdin=jsonl(*"abcdef")).exit_code == 0
    arrivals = [r.received for r in server.requests]
    first = arrivals[0]
    # Two requests are in flight when the 429 is answered (at first + 0.5 s), and the
    # other worker may start one more before the pause lands; every request after those
    # waited out the 429 (until first + 1.5 s at the earliest).
    assert len(arrivals) == 7
    assert all(t - first >= 1.5 for t in arrivals[3:])


@pytest.mark.slow
def test_ctrl_c_writes_what_finished_and_exits_130(make_stub: Any, tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(jsonl(*[f"p{n}" for n in range(200)]))
    server = make_stub(latency_ms=100)
    proc = _batch_process(["-j", "2", "-o", str(output), str(source)])
    # six requests received by two workers: at least four answered, two in flight
    wait_for(lambda: len(server.requests) >= 6, "six requests at the stub")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert_no_key(out, err)
    assert proc.returncode == 130
    written = records(output.read_bytes())
    assert 2 <= len(written) < 200
    assert err.startswith(b"cohere-chat: batch: ok=")


@pytest.mark.slow
def test_progress_only_on_a_terminal(make_stub: Any) -> None:
    make_stub(latency_ms=60)
    piped = _batch_process(["-j", "1"], stdin=subprocess.PIPE)
    out, err = piped.communicate(jsonl(*"abcdefgh"), timeout=30)
    assert len(records(out)) == 8
    assert err.count(b"\n") == 1 and b"\r" not in err
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cohere_cli", "batch", "-j", "1"], cwd=ROOT,
                            env=dict(os.environ), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    proc.communicate(jsonl(*"abcdefgh"), timeout=30)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert b"/? ok=" in shown and b"\r" in shown  # stdin: the total is not known
    assert b"cohere-chat: batch: ok=8" in shown


def _reader_waits_for_room() -> bool:
    """Whether the batch's reader thread (in `_read`) waits in a Condition's wait: the
    window's semaphore does when it has no room (nothing else in its loop waits)."""
    for frame in sys._current_frames().values():
        names = []
        while frame is not None:
            names.append(frame.f_code.co_name)
            frame = frame.f_back  # type: ignore[assignment]
        if "_read" in names and names[0] == "wait":
            return True
    return False


def test_input_is_read_lazily_with_a_bounded_window(make_stub: Any) -> None:
    server = make_stub(fail=("hang",))
    pulled = itertools.count()
    stop = threading.Event()

    class Endless:
        def __iter__(self) -> Any:
            for n in itertools.count():
                if stop.is_set():
                    return
                next(pulled)
                yield orjson.dumps(f"p{n}") + b"\n"

    settings = load_settings(ConfigFlags(), os.environ)
    job = BatchJob(input_path="-", output=None, options=RequestOptions(), jobs=1,
                   connection=settings.connection(max_wait=0),
                   fallback_model=settings.model)
    sink = open(os.devnull, "wb")  # noqa: SIM115 - closed below
    thread = threading.Thread(target=run_batch_job, args=(job, Endless(), sink,
                              lambda _: None, lambda _: None), daemon=True)
    thread.start()
    wait_for(lambda: server.requests, "the first request to reach the stub (which holds it)")
    # unbounded, the reader would never wait: it would pull lines until told to stop
    wait_for(_reader_waits_for_room, "the reader to wait for room in the window")
    in_flight = next(pulled)
    stop.set()
    server.stop()
    thread.join(timeout=10)
    sink.close()
    assert in_flight <= 1 * 4 + 2  # the window (4 per job), the line waiting for it, this probe


def test_a_refused_key_stops_the_batch_with_exit_4(make_stub: Any) -> None:
    server = make_stub(fail=("401x1000",))
    result = invoke(["batch", "-j", "2"], stdin=jsonl(*[f"p{n}" for n in range(200)]))
    assert result.exit_code == 4
    assert "cohere-chat: error: HTTP 401: stub: injected 401; the batch stopped" in result.stderr
    assert len(server.requests) < 20
    assert all(r["error"]["status"] == 401 for r in records(result.stdout))


def test_an_id_may_not_repeat_a_line_number(stub: Any) -> None:
    result = invoke(["batch"], stdin=jsonl("a", {"id": 1, "prompt": "b"},
                                            {"id": 4, "prompt": "c"}, "d"))
    out = records(result.stdout)
    assert [("error" in r) for r in out] == [False, True, False, True]
    assert out[1]["error"]["message"] == "the same id is on an earlier line"


def test_invalid_utf8_fails_its_line_alone(stub: Any) -> None:
    result = invoke(["batch"], stdin=b'"a"\n"caf\xe9"\n"b"\n')
    assert result.exit_code == 9
    out = records(result.stdout)
    assert out[1] == {"id": 2, "line": 2, "error": {"status": None,
                                                    "message": "invalid UTF-8 (byte 4)"}}
    assert [r.get("text") for r in out] == ["echo: a", None, "echo: b"]


def test_unreadable_input_and_output_paths(stub: Any, tmp_path: Path) -> None:
    missing = invoke(["batch", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 3 and "none.jsonl: cannot open: No such file" in missing.stderr
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl("a"))
    nowhere = invoke(["batch", str(source), "-o", str(tmp_path / "no" / "out.jsonl")])
    assert nowhere.exit_code == 3 and "out.jsonl: its folder does not exist" in nowhere.stderr
    assert stub.requests == []


def test_output_dash_is_stdout(stub: Any) -> None:
    assert records(invoke(["batch", "-o", "-"], stdin=jsonl("a")).stdout)[0]["text"] == "echo: a"


def test_resume_into_the_input_is_refused_before_touching_it(stub: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'"a"\n"b"')
    result = invoke(["batch", "--resume", "-o", str(source), str(source)])
    assert result.exit_code == 2 and "the output file is the input file" in result.stderr
    assert source.read_bytes() == b'"a"\n"b"'


def test_a_line_with_tools_cannot_take_the_json_schema(stub: Any, tmp_path: Path) -> None:
    schema = tmp_path / "s.json"
    schema.write_text('{"type": "object"}')
    tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
    result = invoke(["batch", "--json-schema", str(schema)],
                    stdin=jsonl("plain", {"prompt": "with tools", "tools": [tool]}))
    out = records(result.stdout)
    assert "text" in out[0]
    assert out[1]["error"]["message"] == (
        "a JSON schema (--json-schema) cannot go with tools or documents")


# --- issue 18: the total of the progress line ----------------------------------------------

@given(st.text(alphabet="a \t\r\n", max_size=60), st.integers(1, 7))
def test_the_count_is_the_lines_a_batch_sends(text: str, size: int) -> None:
    import io

    from cohere_cli.batch.input import iter_lines
    from cohere_cli.batch.line_count import count_in

    data = text.encode()
    sent = sum(1 for _ in iter_lines(io.BytesIO(data)))
    assert count_in(data[i:i + size] for i in range(0, len(data), size)) == sent


def test_only_a_regular_file_up_to_1_gib_is_counted(tmp_path: Path) -> None:
    from cohere_cli.batch.line_count import MAX_COUNTED, count_lines

    path = tmp_path / "in.jsonl"
    path.write_bytes(b'"a"\n\n"b"\n"c"')
    with path.open("rb") as handle:
        handle.read(5)
        assert count_lines(handle) == 3
        assert handle.tell() == 5, "counting does not move the batch's reading"
    with path.open("r+b") as handle:
        handle.truncate(MAX_COUNTED + 1)  # sparse: no gigabyte written
        assert count_lines(handle) is None
    reader, writer = os.pipe()
    with os.fdopen(reader, "rb") as pipe:
        os.close(writer)
        assert count_lines(pipe) is None
