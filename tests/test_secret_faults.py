"""The key in what goes wrong (attack3): an error answer (4xx/5xx) whose message holds it
whole, JSON-escaped or cut across the chunks of its body; a stream whose message-end
carries it in its error; a stream that breaks in the middle of it; and --compact's
summary file, whose summarising reply holds it cut across content blocks. Never shown on
stdout or stderr (`invoke` checks both), never in the run log, the conversation file or
the summary file; a broken stream saves no turn and shows nothing of the key it cut.

The servers are a loopback one that answers with given chunks (and may close before the
body ends), and the stub with `--replies`."""
from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import TEST_KEY, Served, invoke, stub_stream
from test_compact import summary_of, write_turns

from cohere_cli.wire.redact import MASK

ESCAPED_KEY = "\\u0063" + TEST_KEY[1:]  # JSON for the key, its "c" escaped


class ChunkServer(ThreadingHTTPServer):
    """Answers every POST with one status, type and body, in the chunks given (chunked
    encoding, or a Content-Length), then closes: `broken`, before the body is complete."""

    daemon_threads = True

    def __init__(self, status: int, kind: str, chunks: list[bytes], broken: bool,
                 chunked: bool) -> None:
        self.answer = (status, kind, chunks, broken, chunked)
        super().__init__(("127.0.0.1", 0), ChunkHandler)


class ChunkHandler(BaseHTTPRequestHandler):
    server: ChunkServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, kind, chunks, broken, chunked = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", kind)
        size = sum(map(len, chunks)) + (100 if broken else 0)  # broken: more announced
        self.send_header(*(("Transfer-Encoding", "chunked") if chunked
                           else ("Content-Length", str(size))))
        self.send_header("Connection", "close")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            self.wfile.flush()
        if chunked and not broken:
            self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def log_message(self, *_: Any) -> None:
        return None


@pytest.fixture
def answering(served: Served) -> Any:
    """A factory for ChunkServers; the environment points at the last."""

    def make(status: int, kind: str, chunks: list[bytes], broken: bool = False,
             chunked: bool = True) -> ChunkServer:
        return served(ChunkServer(status, kind, chunks, broken, chunked))

    return make


def cut_after(data: bytes, at: bytes) -> list[bytes]:
    end = data.index(at) + len(at)
    return [data[:end], data[end:]]


def without_key(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert TEST_KEY.encode() not in path.read_bytes(), path


def logged(log: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in log.read_bytes().splitlines()]


@pytest.mark.parametrize(("status", "exit_code"), [(401, 4), (500, 7)])
@pytest.mark.parametrize(("form", "cut"), [(TEST_KEY, b"co-te"), (ESCAPED_KEY, b"\\u00")])
def test_an_error_answer_never_shows_the_key(
        answering: Any, tmp_path: Path, status: int, exit_code: int, form: str,
        cut: bytes) -> None:
    """The key in an error's message, whole or escaped, its body cut in the key."""
    body = b'{"message": "invalid api token: Bearer ' + form.encode() + b'"}'
    answering(status, "application/json", cut_after(body, cut))
    log = tmp_path / "runs.jsonl"
    for stream in ("--stream", "--no-stream"):
        result = invoke([stream, "--retries", "0", "--log", str(log), "--log-content",
                         "-c", str(tmp_path / "talk.jsonl"), "hi"])
        assert result.exit_code == exit_code, result.stderr
        assert f"HTTP {status}: invalid api token: Bearer {MASK}" in result.stderr
    assert [record["error"] for record in logged(log)] == [
        f"HTTP {status}: invalid api token: Bearer {MASK}"] * 2
    without_key(tmp_path)


def test_an_error_in_the_stream_never_shows_the_key(answering: Any, tmp_path: Path) -> None:
    """message-end with finish_reason ERROR and the key, escaped, in its error text, the
    stream cut in the key: exit 8, the error said with the key hidden, in the log too."""
    wire = stub_stream("hello")
    end = (b'event: message-end\ndata: {"type":"message-end","delta":{"finish_reason":'
           b'"ERROR","error":"bad key ' + ESCAPED_KEY.encode() + b'"}}\n\n')
    answering(200, "text/event-stream",
              cut_after(wire[:wire.index(b"event: message-end")] + end, b"\\u00"))
    log = tmp_path / "runs.jsonl"
    said = f"generation did not complete (finish_reason ERROR): bad key {MASK}"
    for how in (["--stream"], ["-F", "events"], ["--json", "--stream"]):
        result = invoke([*how, "--log", str(log), "hi"])
        assert (result.exit_code, result.stderr) == (8, f"cohere-chat: error: {said}\n")
    assert [record["error"] for record in logged(log)] == [said] * 3
    without_key(tmp_path)


@pytest.mark.parametrize("chunked", [True, False])
@pytest.mark.parametrize("upto", [b'"test"}}}}\n\n', b'"text":"-"}}}}\n\nevent: content'
                                  b'-delta\ndata: {"type":"content-delta","index":0,'
                                  b'"delta":{"message":{"content":{"text":"00'])
def test_a_stream_that_breaks_in_the_key_shows_none_of_it(
        answering: Any, tmp_path: Path, chunked: bool, upto: bytes) -> None:
    """The connection closes after "co-test" (events " co", "-", "test") or in the
    middle of the event after it: nothing of the key is shown (not even as the end of the
    text), the turn is not saved, the run log has no reply and says the stream stopped."""
    wire = stub_stream(f"said {TEST_KEY} done")
    answering(200, "text/event-stream", cut_after(wire, upto)[:1], broken=True,
              chunked=chunked)
    log, talk = tmp_path / "runs.jsonl", tmp_path / "talk.jsonl"
    for how in (["--stream"], ["-F", "events"], ["--json", "--stream"],
                ["-F", "message", "--stream"]):
        result = invoke([*how, "--log", str(log), "--log-content", "-c", str(talk), "hi"])
        assert result.exit_code == 7, result.stderr
        assert "co-" not in result.stdout and " co" not in result.stdout
        assert "the stream stopped before the reply was complete" in result.stderr \
            or "the connection was cut" in result.stderr, result.stderr
        if how == ["-F", "events"]:  # the events before the key, as sent
            assert [event["type"] for event in map(orjson.loads, result.stdout.splitlines())
                    ] == ["message-start", "content-start", "content-delta"]
    assert not talk.exists()
    assert [record["reply"] for record in logged(log)] == [None] * 4
    without_key(tmp_path)


def test_the_summary_file_never_holds_the_key(make_stub: Any, tmp_path: Path) -> None:
    """--compact's summarising reply holds the key cut across two text blocks (a thinking
    block between); the streamed reply after it, the key whole: both stored hidden."""
    talk = tmp_path / "talk.jsonl"
    write_turns(talk, 4)
    head, tail = TEST_KEY[:10], TEST_KEY[10:]
    summary = {"message": {"content": [
        {"type": "text", "text": f"they said {head}"}, {"type": "thinking", "thinking": "h"},
        {"type": "text", "text": f"{tail} twice"}]}}
    make_stub(replies=(summary, f"answer {TEST_KEY}"))
    result = invoke(["--compact", "--history-turns", "2", "--stream", "-c", str(talk),
                     "--log", str(tmp_path / "runs.jsonl"), "--log-content", "hi"])
    assert (result.exit_code, result.stdout) == (0, f"answer {MASK}\n"), result.stderr
    assert summary_of(talk)["summary"] == f"they said {MASK} twice"
    without_key(tmp_path)
