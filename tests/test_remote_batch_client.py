"""`batch --remote` against a small Batch API server in this file (issue 19): what the
client alone must do, whatever the stub does: a create lost in a 502 found by name, the
output parts fetched without the Authorization header, a refused dataset, a run killed
at each stage continued without a second upload or batch, --detach then --attach in
another process."""
from __future__ import annotations

import io
import os
import pty
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest
from conftest import (
    ROOT,
    Served,
    assert_no_key,
    invoke,
    run_process,
    wait_for,
)

from cohere_cli.base.errors import ExitCode
from cohere_cli.batch.remote.schema import OUTPUT_SCHEMA
from cohere_cli.stub.answers import echo_text


class BatchAPIServer(ThreadingHTTPServer):
    """A small Batch API on loopback for what this file checks of the client alone:
    `lose_create` answers the create 502 (the batch made all the same), `polls` status
    reads are IN_PROGRESS before COMPLETED, `drop_first` never returns the first record,
    `refuse` fails the dataset's validation; `hold` (a path and n) keeps the n-th GET of
    that path waiting (for the output part: half of it sent) until `release` is set, and
    sets `held` once it waits; `seen` holds each request's method, path and whether it
    carried an Authorization header."""

    daemon_threads = True

    def __init__(self, lose_create: bool = False, polls: int = 0, drop_first: bool = False,
                 refuse: str | None = None, hold: tuple[str, int] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), BatchAPIHandler)
        self.lose_create, self.polls, self.drop_first = lose_create, polls, drop_first
        self.refuse, self.hold = refuse, hold
        self.held, self.release = threading.Event(), threading.Event()
        self.seen: list[tuple[str, str, bool]] = []
        self.rows: list[dict[str, Any]] = []
        self.batches: list[dict[str, Any]] = []
        self.part = b""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in list(self.seen) if m == method and p.startswith(path))

    def output(self) -> bytes:
        records = [{"custom_id": row["custom_id"], "error": "", "body": {
            "message": {"role": "assistant", "content": [
                {"type": "text", "text": echo_text(row["body"])}]}, "finish_reason": "COMPLETE",
            "usage": {"billed_units": {"input_tokens": 1, "output_tokens": 1},
                      "tokens": {"input_tokens": 1, "output_tokens": 1}}}}
            for row in self.rows[1 if self.drop_first else 0:]]
        out = io.BytesIO()
        fastavro.writer(out, fastavro.parse_schema(OUTPUT_SCHEMA), records)
        return out.getvalue()


class BatchAPIHandler(BaseHTTPRequestHandler):
    server: BatchAPIServer

    def _answer(self, value: Any, status: int = 200) -> None:
        data = value if isinstance(value, bytes) else orjson.dumps(value)
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append(("POST", self.path, "Authorization" in self.headers))
        if self.path.startswith("/v1/datasets?"):
            content = body.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0]
            self.server.rows = [orjson.loads(line) for line in content.splitlines()]
            return self._answer({"id": "in-1"})
        if self.path.endswith(":cancel"):
            self.server.batches[0]["status"] = "BATCH_STATUS_CANCELING"
            return self._answer({})
        batch = {**orjson.loads(body), "id": "b-1", "num_records": len(self.server.rows)}
        self.server.batches.append(batch)
        self.server.part = self.server.output()
        if self.server.lose_create:
            return self._answer(b"", 502)
        return self._answer({"batch": self._batch()})

    def _batch(self) -> dict[str, Any]:
        done = self.server.count("GET", "/v2/batches/") > self.server.polls
        return {"status": f"BATCH_STATUS_{'COMPLETED' if done else 'IN_PROGRESS'}",
                **self.server.batches[0], "output_dataset_id": "out-1" if done else ""}

    def do_GET(self) -> None:
        self.server.seen.append(("GET", self.path, "Authorization" in self.headers))
        hold = self.server.hold
        holding = hold is not None and self.path.startswith(hold[0]) and self.server.count(
            "GET", hold[0]) == hold[1]
        if holding:
            self.server.held.set()
        if self.path == "/part":
            return self._send_part(holding)
        if holding:
            self.server.release.wait(60)
        return self._answer_get()

    def _answer_get(self) -> None:
        if self.path == "/v1/datasets/in-1":
            refused = {"validation_status": "failed", "validation_error": self.server.refuse}
            return self._answer({"dataset": refused if self.server.refuse else {
                "validation_status": "validated"}})
        if self.path == "/v1/datasets/out-1":
            parts = [{"url": f"{self.server.url}/part"}]
            return self._answer({"dataset": {"validation_status": "validated",
                                             "dataset_parts": parts}})
        if self.path == "/v2/batches":
            return self._answer({"batches": [self._batch()] if self.server.batches else []})
        return self._answer({"batch": self._batch()})

    def _send_part(self, holding: bool) -> None:
        """The part; when holding, half of it, then the rest once `release` is set."""
        data = self.server.part
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if holding:
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.server.release.wait(60)
            data = data[len(data) // 2:]
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        return None


@pytest.fixture
def batch_api(served: Served) -> Callable[..., BatchAPIServer]:
    return lambda **settings: served(BatchAPIServer(**settings))


def test_a_create_lost_in_a_502_is_found_by_name_not_sent_again(
        tmp_path: Path, batch_api: Callable[..., BatchAPIServer]) -> None:
    server = batch_api(lose_create=True, drop_first=True)
    (tmp_path / "in.jsonl").write_bytes(b'"a"\n"b"\n"c"\n')
    result = invoke(["batch", "--remote", "-o", str(tmp_path / "out.jsonl"),
                     str(tmp_path / "in.jsonl")])
    assert result.exit_code == 9, result.stderr
    assert [(m, p.split("?")[0]) for m, p, _ in server.seen if m == "POST"] == [
        ("POST", "/v1/datasets"), ("POST", "/v2/batches")]
    assert ("GET", "/v2/batches", True) in server.seen
    assert [auth for _, path, auth in server.seen if path == "/part"] == [False]
    lines = [orjson.loads(line) for line in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    assert lines[0] == {"id": 1, "line": 1, "error": {"status": None, "message": (
        "the batch ended COMPLETED; the Batch API returned no result for this line")}}
    assert [line.get("text") for line in lines[1:]] == ["echo: b", "echo: c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "in.jsonl", "out.jsonl"]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_a_refused_dataset_is_one_error_line_and_no_batch(
        tmp_path: Path, batch_api: Callable[..., BatchAPIServer]) -> None:
    server = batch_api(refuse="line 2: unknown field foo")
    (tmp_path / "in.jsonl").write_bytes(b'"a"\n"b"\n')
    result = invoke(["batch", "--remote", "-o", str(tmp_path / "out.jsonl"),
                     str(tmp_path / "in.jsonl")])
    assert result.exit_code == 5
    assert result.stderr.count("\n") == 1 and "line 2: unknown field foo" in result.stderr
    assert "dataset in-1 failed" in result.stderr
    assert server.count("POST", "/v2/batches") == 0
    assert not list(tmp_path.glob("out.jsonl*"))  # nothing left to continue: run again


# Each stage is the GET the server holds unanswered until the run is killed: the run is
# then certainly in that stage, and cannot have gone further.
STAGES: dict[str, tuple[str, int]] = {
    "after upload": ("/v1/datasets/in-1", 1),
    "after create": ("/v2/batches/", 1),
    "while polling": ("/v2/batches/", 3),
    "during download": ("/part", 1),
}


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(STAGES))
def test_killed_at_each_stage_a_rerun_sends_nothing_twice(
        tmp_path: Path, batch_api: Callable[..., BatchAPIServer], stage: str) -> None:
    server = batch_api(polls=4, hold=STAGES[stage])
    lines = b"".join(b'"p%d"\n' % i for i in range(20))
    (tmp_path / "in.jsonl").write_bytes(lines)
    args = ["batch", "--remote", "-o", str(tmp_path / "out.jsonl"), str(tmp_path / "in.jsonl")]
    with subprocess.Popen([sys.executable, "-m", "cohere_cli", *args], env=dict(os.environ),
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        wait_for(lambda: server.held.is_set() or process.poll() is not None, stage, 60)
        process.send_signal(signal.SIGKILL)
        _, err = process.communicate()
    server.release.set()
    assert_no_key(err)
    assert process.returncode == -signal.SIGKILL, err
    state = orjson.loads((tmp_path / "out.jsonl.remote.json").read_bytes())
    assert state["dataset_id"] == "in-1"
    result = invoke(args)
    assert result.exit_code == 0, result.stderr
    assert "continuing the remote batch" in result.stderr
    assert server.count("POST", "/v1/datasets") == 1
    assert server.count("POST", "/v2/batches") == 1
    assert [line["text"] for line in _lines(tmp_path / "out.jsonl")] == [
        f"echo: p{i}" for i in range(20)]
    assert not (tmp_path / "out.jsonl.remote.json").exists()


@pytest.mark.slow
def test_detach_then_attach_in_another_process(
        tmp_path: Path, batch_api: Callable[..., BatchAPIServer]) -> None:
    server = batch_api(polls=2)
    (tmp_path / "in.jsonl").write_bytes(b'"a"\n{"id": "x", "prompt": "b"}\n')
    out = str(tmp_path / "out.jsonl")
    detached = run_process(["batch", "--remote", "--detach", "-o", out,
                            str(tmp_path / "in.jsonl")])
    assert detached.returncode == 0, detached.stderr
    assert detached.stdout == b"b-1\n"
    assert server.count("GET", "/v2/batches/") == 0 and not Path(out).exists()
    (tmp_path / "other.jsonl").write_bytes(b'"a"\n"c"\n')
    other = invoke(["batch", "--remote", "-o", out, str(tmp_path / "other.jsonl")])
    assert other.exit_code == 2 and "holds a remote batch of another input" in other.stderr
    attached = run_process(["batch", "--attach", "b-1", "-o", out, str(tmp_path / "in.jsonl")])
    assert attached.returncode == 0, attached.stderr
    assert [(line["id"], line["text"]) for line in _lines(Path(out))] == [
        (1, "echo: a"), ("x", "echo: b")]
    assert server.count("POST", "/v1/datasets") == 1
    assert server.count("POST", "/v2/batches") == 1


@pytest.mark.slow
def test_progress_on_a_terminal_shows_the_batch_counters(
        tmp_path: Path, batch_api: Callable[..., BatchAPIServer]) -> None:
    batch_api(polls=1)
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(b'"p%d"\n' % i for i in range(6)))
    env = dict(os.environ)
    leader, follower = pty.openpty()
    with subprocess.Popen([sys.executable, "-m", "cohere_cli", "batch", "--remote", "-o",
                           str(tmp_path / "out.jsonl"), str(source)], env=env, cwd=ROOT,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=follower) as process:
        os.close(follower)
        seen = b""
        while True:
            ready, _, _ = select.select([leader], [], [], 30)
            assert ready, "the program wrote nothing for 30 s"
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal's other end closed: the program ended
                break
            if not chunk:
                break
            seen += chunk
        assert process.wait(timeout=30) == 0
    os.close(leader)
    assert_no_key(seen)
    assert b"remote 0/6 failed=0 IN_PROGRESS" in seen
    assert b"batch: ok=6 failed=0 skipped=0" in seen


def test_batches_list_show_and_cancel(
        tmp_path: Path, batch_api: Callable[..., BatchAPIServer]) -> None:
    server = batch_api(polls=100)
    (tmp_path / "in.jsonl").write_bytes(b'"a"\n"b"\n')
    detached = invoke(["batch", "--remote", "--detach", "-o", str(tmp_path / "out.jsonl"),
                       str(tmp_path / "in.jsonl")])
    assert detached.stdout == "b-1\n"
    listed = invoke(["batches", "list"])
    assert listed.exit_code == 0
    batch_id, counters, name = listed.stdout.rstrip("\n").split("\t")
    assert (batch_id, counters) == ("b-1", "0/2 failed=0 IN_PROGRESS")
    assert name.startswith("cohere-chat-")
    shown = orjson.loads(invoke(["batches", "show", "b-1"]).stdout)
    assert shown["num_records"] == 2 and shown["status"] == "BATCH_STATUS_IN_PROGRESS"
    cancelled = invoke(["batches", "cancel", "b-1"])
    assert cancelled.exit_code == 0 and "cancel requested" in cancelled.stderr
    assert ("POST", "/v2/batches/b-1:cancel", True) in server.seen
    assert orjson.loads(invoke(["batches", "show", "b-1"]).stdout)["status"] == (
        "BATCH_STATUS_CANCELING")


def test_lines_from_stdin(tmp_path: Path, batch_api: Callable[..., BatchAPIServer]) -> None:
    batch_api()
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", "--remote", "-o", str(out)], stdin=b'"a"\n\n"b"\n')
    assert result.exit_code == 0, result.stderr
    assert [(line["line"], line["text"]) for line in _lines(out)] == [
        (1, "echo: a"), (3, "echo: b")]


class FixedAnswer(BaseHTTPRequestHandler):
    """Answers every request 200 with the server's `body` (valid JSON, maybe the wrong shape)."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = self.server.body  # type: ignore[attr-defined]  # FixedServer
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Say nothing."""


class FixedServer(ThreadingHTTPServer):
    def __init__(self, body: bytes) -> None:
        super().__init__(("127.0.0.1", 0), FixedAnswer)
        self.body = body


@pytest.fixture
def fixed_server(served: Served) -> Callable[[bytes], FixedServer]:
    """A server that answers every request 200 with one body; the env points at it."""
    return lambda body: served(FixedServer(body))


@pytest.mark.parametrize("body", [b'{"batches": 7}', b'{"batches": "x"}'])
def test_a_batch_list_of_the_wrong_shape_is_a_service_error_not_a_bug(
        fixed_server: Callable[[bytes], FixedServer], body: bytes) -> None:
    fixed_server(body)
    result = invoke(["batches", "list"])
    assert result.exit_code == ExitCode.UNAVAILABLE, result.stderr
    assert "'batches' that is not a list" in result.stderr


@pytest.mark.slow  # --max-time 5: five seconds, by design
def test_max_time_bounds_the_wait_and_keeps_the_state(
        tmp_path: Path, batch_api: Callable[..., BatchAPIServer]) -> None:
    """A batch still running when --max-time passes: exit 7, the batch left to run and its
    state kept, so that the same command collects it later."""
    batch_api(polls=1000)
    (tmp_path / "in.jsonl").write_bytes(b'"a"\n')
    out = tmp_path / "out.jsonl"
    # the upload and the create answer at once; 5 s leave a loaded machine room to reach
    # the wait for the batch, which 1000 polls make longer than any --max-time here
    result = invoke(["batch", "--remote", "--max-time", "5", "-o", str(out),
                     str(tmp_path / "in.jsonl")])
    assert result.exit_code == ExitCode.UNAVAILABLE, result.stderr
    assert "stopped after --max-time 5s (waiting for batch b-1" in result.stderr
    assert orjson.loads((tmp_path / "out.jsonl.remote.json").read_bytes())["batch_id"] == "b-1"


@pytest.mark.slow  # --max-time 5, by design: a loaded machine still reaches the wait
def test_max_time_bounds_a_validation_that_never_ends(
        tmp_path: Path, fixed_server: Callable[[bytes], FixedServer]) -> None:
    # with 1 s the limit could pass during the upload on a busy machine (another message)
    fixed_server(b'{"id": "d-1", "dataset": {"validation_status": "processing"}}')
    (tmp_path / "in.jsonl").write_bytes(b'"a"\n')
    result = invoke(["batch", "--remote", "--max-time", "5", "-o",
                     str(tmp_path / "out.jsonl"), str(tmp_path / "in.jsonl")])
    assert result.exit_code == ExitCode.UNAVAILABLE, result.stderr
    assert "waiting for the validation of dataset d-1" in result.stderr
