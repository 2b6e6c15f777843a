"""The wire under faults (issues 12 and 20): a stream is complete at message-end, a 200 is
never sent again, malformed 200 replies and broken connections end in exit 7 with one
line in words, and each retry promise is counted at the server.

The faults come from a raw loopback socket server (below) that does exactly what each
test needs: keep a socket open, close without the chunked terminator, reset (RST).
"""
from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import official
import orjson
import pytest
from conftest import TEST_KEY, invoke, wait_for

from cohere_cli.stub.server import StubServer

Behaviour = Callable[["SocketServer", socket.socket], None]


class SocketServer:
    """A loopback TCP server that runs `behave(self, connection)` for each connection."""

    def __init__(self, behave: Behaviour) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.behave = behave
        self.accepted = 0
        self.requests: list[bytes] = []  # each request's head and body, as received
        self.stopping = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            self.sockets.append(connection)
            threading.Thread(target=self._run, args=(connection,), daemon=True).start()

    def _run(self, connection: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self.behave(self, connection)

    def read_request(self, connection: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = connection.recv(65536)
            if not piece:
                return data
            data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            body += connection.recv(65536)
        self.requests.append(data)
        return data

    def stop(self) -> None:
        self.stopping.set()
        self.listener.close()
        for connection in self.sockets:
            connection.close()


@pytest.fixture
def socket_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Behaviour],
                                                                          SocketServer]]:
    servers: list[SocketServer] = []

    def make(behave: Behaviour) -> SocketServer:
        server = SocketServer(behave)
        servers.append(server)
        monkeypatch.setenv("CO_API_URL", server.url)
        monkeypatch.setenv("CO_API_KEY", TEST_KEY)
        return server

    yield make
    for server in servers:
        server.stop()


def _proc_address(address: tuple[str, int]) -> str:
    """An IPv4 address and port as /proc/net/tcp writes them (0100007F:1F90)."""
    host, port = address
    number = struct.unpack("<I", socket.inet_aton(host))[0]
    return f"{number:08X}:{port:04X}"


def _queue(local: tuple[str, int], remote: tuple[str, int], column: int) -> int:
    """A queue of the TCP socket from `local` to `remote` in /proc/net/tcp (0: no such
    socket): column 0 is the bytes sent and not yet acknowledged, 1 the bytes received
    and not yet read by the program."""
    ends = (_proc_address(local), _proc_address(remote))
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == ends:
            return int(fields[4].split(":")[column], 16)
    return 0


def _wait_for_queue(local: tuple[str, int], remote: tuple[str, int], column: int) -> None:
    deadline = time.monotonic() + 30  # generous; past it the client's result tells
    while _queue(local, remote, column) and time.monotonic() < deadline:
        time.sleep(0.002)


def wait_until_acknowledged(connection: socket.socket) -> None:
    """Wait until every byte sent on `connection` is in the client's receive queue: an RST
    (SO_LINGER 0) drops what is still in the sender's queue."""
    _wait_for_queue(connection.getsockname(), connection.getpeername(), 0)


def wait_until_read(connection: socket.socket) -> None:
    """Wait until the client (in this process) has read every byte sent on `connection`:
    all acknowledged, then its receive queue empty."""
    wait_until_acknowledged(connection)
    _wait_for_queue(connection.getpeername(), connection.getsockname(), 1)


def reset(connection: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a crashed peer or a middlebox would."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
STREAM = [item["data"] for item in official.example("stream")["response"]["stream"]]
STREAM_TEXT = "".join(e["delta"]["message"]["content"]["text"] for e in STREAM
                      if e["type"] == "content-delta")


def chunk(event: dict[str, Any]) -> bytes:
    frame = b"event: %s\ndata: %s\n\n" % (event["type"].encode(), orjson.dumps(event))
    return b"%x\r\n%s\r\n" % (len(frame), frame)


def send_stream(connection: socket.socket, events: list[dict[str, Any]] = STREAM) -> None:
    connection.sendall(SSE_HEAD + b"".join(chunk(event) for event in events))


def one_line_error(stderr: str) -> str:
    assert stderr.startswith("cohere-chat: error: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    return stderr[len("cohere-chat: error: "):-1]


# --- issue 12 item 4: a stream is complete at message-end --------------------------------


def keep_open(server: SocketServer, connection: socket.socket) -> None:
    server.read_request(connection)
    send_stream(connection)
    server.stopping.wait()


def close_without_terminator(server: SocketServer, connection: socket.socket) -> None:
    server.read_request(connection)
    send_stream(connection)
    connection.close()


def reset_after_message_end(server: SocketServer, connection: socket.socket) -> None:
    server.read_request(connection)
    send_stream(connection)
    wait_until_read(connection)
    reset(connection)


def unframed_keep_open(server: SocketServer, connection: socket.socket) -> None:
    """No length and no chunking: the body would end only when the server closes."""
    server.read_request(connection)
    frames = b"".join(b"data: %s\n\n" % orjson.dumps(event) for event in STREAM)
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                       b"Connection: close\r\n\r\n" + frames)
    server.stopping.wait()


@pytest.mark.parametrize("behave", [keep_open, close_without_terminator,
                                    reset_after_message_end, unframed_keep_open])
def test_a_stream_is_complete_at_message_end(socket_server: Any, tmp_path: Path,
                                             behave: Behaviour) -> None:
    server = socket_server(behave)
    path = tmp_path / "chat.jsonl"
    # waiting past message-end would end in the --timeout's error (exit 7), not a reply
    result = invoke(["--stream", "--timeout", "60", "-c", str(path), "hi"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, STREAM_TEXT + "\n", "")
    saved = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [m["role"] for m in saved] == ["user", "assistant"]
    assert saved[1]["content"] == [{"type": "text", "text": STREAM_TEXT}]
    assert server.accepted == len(server.requests) == 1


def test_events_stop_at_message_end_on_an_open_socket(socket_server: Any) -> None:
    socket_server(keep_open)
    result = invoke(["-F", "events", "--timeout", "60", "hi"])
    assert result.exit_code == 0, result.stderr
    assert result.lines() == STREAM


# --- issue 12 item 5: a 200 body that is not a chat response -----------------------------


def reply_with(message: dict[str, Any], **top: Any) -> bytes:
    return orjson.dumps({"id": "r", "finish_reason": "COMPLETE", **top,
                         "message": {"role": "assistant", **message}})


MALFORMED_BODIES = {
    "content-number": (reply_with({"content": 5}), "message.content is not a list"),
    "text-number": (reply_with({"content": [{"type": "text", "text": 7}]}),
                    "a text block has no string 'text'"),
    "block-not-object": (reply_with({"content": ["x"]}),
                         "a content block is not an object with a type"),
    "usage-tokens-text": (reply_with({"content": "ok"}, usage={"tokens": "x"}),
                          "usage.tokens is not an object"),
    "usage-count-text": (reply_with({"content": "ok"}, usage={"tokens": {"input_tokens": "1"}}),
                         "usage.tokens.input_tokens is not a count of tokens"),
    "tool-calls-number": (reply_with({"tool_calls": 5}), "message.tool_calls is not a list"),
    "tool-call-number": (reply_with({"tool_calls": [5]}),
                         "a tool call is not an object with a function object"),
    "tool-call-function-text": (reply_with({"tool_calls": [{"id": "a", "function": "f"}]}),
                                "a tool call is not an object with a function object"),
    "tool-call-name-number": (reply_with({"tool_calls": [{"id": "a", "function": {"name": 5}}]}),
                              "a tool call's id, name or arguments is not a string"),
    "tool-call-arguments-object": (
        reply_with({"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": {}}}]}),
        "a tool call's id, name or arguments is not a string"),
    "finish-reason-number": (reply_with({"content": "ok"}, finish_reason=3),
                             "finish_reason is not a string"),
    "no-message": (b'{"id": "r"}', "it has no message object"),
}


@pytest.mark.parametrize("name", list(MALFORMED_BODIES))
@pytest.mark.parametrize("stream", ["--no-stream", "--stream"])
def test_a_malformed_200_body_exits_7_in_one_line(raw_server: Any, name: str,
                                                  stream: str) -> None:
    body, problem = MALFORMED_BODIES[name]
    server = raw_server(200, "application/json", body)
    result = invoke([stream, "--usage", "--show-citations", "--max-wait", "0", "hi"])
    assert result.exit_code == 7
    assert result.stdout == ""
    assert one_line_error(result.stderr) == (
        f"the API answered 200 with a body that is not a chat response: {problem}")
    assert server.count == 1


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, **fields}


MALFORMED_EVENTS = {
    "usage-tokens-text": (event("message-end", delta={"finish_reason": "COMPLETE",
                                                      "usage": {"tokens": "x"}}),
                          "usage.tokens is not an object"),
    "usage-count-list": (event("message-end", delta={"usage": {"billed_units": {"a": []}}}),
                         "usage.billed_units.a is not a count of tokens"),
    "content-number": (event("content-delta", delta={"message": {"content": 5}}),
                       "malformed content-delta event"),
    "text-number": (event("content-delta", delta={"message": {"content": {"text": 7}}}),
                    "malformed content-delta event"),
    "tool-call-text": (event("tool-call-start", delta={"message": {"tool_calls": "x"}}),
                       "malformed tool-call-start event"),
    "tool-name-number": (event("tool-call-start", delta={"message": {"tool_calls": {
        "id": "a", "function": {"name": 5}}}}), "malformed tool-call-start event"),
    "arguments-object": (event("tool-call-delta", delta={"message": {"tool_calls": {
        "function": {"arguments": {}}}}}), "malformed tool-call-delta event"),
}


@pytest.mark.parametrize("name", list(MALFORMED_EVENTS))
def test_a_malformed_event_exits_7_in_one_line(raw_server: Any, name: str) -> None:
    bad, problem = MALFORMED_EVENTS[name]
    events = [event("message-start", id="r"), bad, event("message-end", delta={})]
    wire = b"".join(b"data: %s\n\n" % orjson.dumps(e) for e in events)
    server = raw_server(200, "text/event-stream", wire)
    for fmt in ("text", "json", "message"):
        result = invoke(["--stream", "-F", fmt, "--usage", "--show-citations", "hi"])
        assert result.exit_code == 7
        assert problem in one_line_error(result.stderr)
    assert server.count == 3


@pytest.mark.parametrize("citation", ["x", [{}], 5, None])
def test_a_citation_of_another_shape_is_skipped(raw_server: Any, citation: Any) -> None:
    """Citations are only shown (issue 20 item 8): a shape that is not an object is left
    out of the reply, never fatal."""
    events = [event("message-start", id="r"),
              event("content-delta", delta={"message": {"content": {"text": "hi"}}}),
              event("citation-start", delta={"message": {"citations": citation}}),
              event("message-end", delta={})]
    raw_server(200, "text/event-stream",
               b"".join(b"data: %s\n\n" % orjson.dumps(e) for e in events))
    result = invoke(["--stream", "-F", "json", "--show-citations", "hi"])
    assert result.exit_code == 0
    assert "citations" not in result.lines()[0]["message"]


# --- issue 12 item 6: a 200 is never sent again ------------------------------------------


def test_a_json_answer_to_a_streamed_request_is_the_reply(raw_server: Any,
                                                          tmp_path: Path) -> None:
    body = orjson.dumps(official.example("default")["response"]["body"])
    text = official.example("default")["response"]["body"]["message"]["content"][0]["text"]
    server = raw_server(200, "application/json; charset=utf-8", body)
    path = tmp_path / "chat.jsonl"
    result = invoke(["--stream", "-c", str(path), "hi"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, text + "\n", "")
    assert server.count == 1
    assert [orjson.loads(line)["role"] for line in path.read_bytes().splitlines()] == [
        "user", "assistant"]
    as_json = invoke(["--stream", "-F", "json", "hi"])
    assert (as_json.exit_code, as_json.stdout_bytes) == (0, body + b"\n")
    assert server.count == 2
    as_events = invoke(["-F", "events", "hi"])  # no events came: the answer is the one line
    assert (as_events.exit_code, as_events.lines()) == (0, [orjson.loads(body)])


def test_a_json_answer_that_is_not_a_chat_response_is_sent_once(raw_server: Any) -> None:
    server = raw_server(200, "application/json", b'{"unexpected": true}')
    result = invoke(["--stream", "--max-wait", "0", "hi"])
    assert result.exit_code == 7
    assert one_line_error(result.stderr).startswith("the API answered 200 with a body that")
    assert server.count == 1


def stream_then_reset(server: SocketServer, connection: socket.socket) -> None:
    server.read_request(connection)
    send_stream(connection, STREAM[:1])  # message-start: nothing to show yet
    wait_until_read(connection)  # the client has the 200
    reset(connection)


def test_a_stream_reset_after_its_200_is_not_sent_again(socket_server: Any) -> None:
    server = socket_server(stream_then_reset)
    result = invoke(["--stream", "--retries", "2", "--max-wait", "0", "hi"])
    assert (result.exit_code, result.stdout) == (7, "")
    assert one_line_error(result.stderr) == (
        "the stream stopped before the reply was complete (the connection was reset)")
    assert server.accepted == len(server.requests) == 1


# --- issue 12 item 12: what happened, in words ---------------------------------------------


def half_a_body(server: SocketServer, connection: socket.socket) -> None:
    server.read_request(connection)
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 282\r\n\r\n" + b"{" * 141)
    connection.close()


def silent(server: SocketServer, connection: socket.socket) -> None:
    server.read_request(connection)
    server.stopping.wait()


def stream_then_silence(server: SocketServer, connection: socket.socket) -> None:
    server.read_request(connection)
    send_stream(connection, STREAM[:3])
    server.stopping.wait()


def stream_cut_inside_a_chunk(server: SocketServer, connection: socket.socket) -> None:
    server.read_request(connection)
    connection.sendall(SSE_HEAD + chunk(STREAM[0]) + b"50\r\nevent: content")
    connection.close()


def test_a_cut_body_says_how_much_arrived(socket_server: Any) -> None:
    server = socket_server(half_a_body)
    result = invoke(["--no-stream", "--max-wait", "0", "hi"])
    assert result.exit_code == 7
    assert one_line_error(result.stderr) == (
        "the connection was cut after 141 of 282 bytes of the reply")
    assert server.accepted == 1


@pytest.mark.slow
def test_a_silent_server_was_reached_and_says_so(socket_server: Any) -> None:
    server = socket_server(silent)
    result = invoke(["--no-stream", "--timeout", "0.5", "--retries", "1", "--max-wait", "0",
                     "-v", "hi"])
    assert result.exit_code == 7
    said = (f"the server at 127.0.0.1:{server.port} accepted the connection but sent "
            "nothing for 0.5s (--timeout)")
    assert result.stderr.endswith(f"cohere-chat: error: {said}; a slow model or a long "
                                  "prompt may need a larger --timeout\n")
    assert f"retry 1/1 in 0.00s after {said}\n" in result.stderr
    assert "cannot reach" not in result.stderr
    assert server.accepted == 2


@pytest.mark.slow
def test_a_stream_that_goes_silent_says_so(socket_server: Any) -> None:
    socket_server(stream_then_silence)
    result = invoke(["--stream", "--timeout", "0.5", "hi"])
    assert (result.exit_code, result.stdout) == (7, "LL")  # what arrived stays
    assert one_line_error(result.stderr) == (
        "the stream stopped before the reply was complete"
        " (nothing more arrived within --timeout 0.5s)")


def test_a_stream_cut_inside_a_chunk_says_the_connection_closed(socket_server: Any) -> None:
    server = socket_server(stream_cut_inside_a_chunk)
    result = invoke(["--stream", "--max-wait", "0", "hi"])
    assert (result.exit_code, result.stdout) == (7, "")
    assert one_line_error(result.stderr) == (
        "the stream stopped before the reply was complete (the connection closed)")
    assert server.accepted == 1


@pytest.mark.slow
def test_a_stream_cut_at_any_byte_ends_in_0_or_7_with_one_line(socket_server: Any) -> None:
    """Cut inside a chunk-size line, a chunk, its CRLF or after message-end: never exit 1."""
    wire = SSE_HEAD + b"".join(chunk(event) for event in STREAM) + b"0\r\n\r\n"
    cuts = [*range(len(SSE_HEAD), len(wire), 97), len(wire) - 5, len(wire) - 1]
    todo = list(cuts)

    def cut_short(server: SocketServer, connection: socket.socket) -> None:
        server.read_request(connection)
        at = todo.pop(0)
        connection.sendall(wire[:at])
        if at % 2:
            wait_until_acknowledged(connection)  # cut at `at`, not before
            reset(connection)
        else:
            connection.close()

    socket_server(cut_short)
    for at in cuts:
        result = invoke(["--stream", "--retries", "0", "--timeout", "60", "hi"])
        complete = at >= len(wire) - len(b"0\r\n\r\n")  # message-end has arrived
        assert result.exit_code == (0 if complete else 7), (at, result.stderr)
        if not complete:
            one_line_error(result.stderr)


# --- issue 20 item 18: each retry promise, counted at the server ---------------------------


def test_413_is_never_retried(make_stub: Any) -> None:
    server = make_stub(fail=("413x5",), retry_after=0)
    result = invoke(["--no-stream", "--retries", "2", "--max-wait", "0", "hi"])
    assert result.exit_code == 5
    assert one_line_error(result.stderr).startswith("HTTP 413: ")
    assert len(server.requests) == 1



@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_a_tls_failure_is_never_retried(socket_server: Any, certificate: tuple[Path, Path],
                                        monkeypatch: pytest.MonkeyPatch, stream: str) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    handshakes: list[str] = []

    def tls(server: SocketServer, connection: socket.socket) -> None:
        try:
            with context.wrap_socket(connection, server_side=True) as wrapped:
                server.read_request(wrapped)
        except (ssl.SSLError, OSError) as exc:
            handshakes.append(type(exc).__name__)

    server = socket_server(tls)
    monkeypatch.setenv("CO_API_URL", f"https://127.0.0.1:{server.port}")
    result = invoke([stream, "--retries", "2", "--max-wait", "0", "hi"])
    assert result.exit_code == 7
    message = one_line_error(result.stderr)
    assert message.startswith(f"TLS error talking to 127.0.0.1:{server.port}: ")
    assert "CERTIFICATE_VERIFY_FAILED" in message
    wait_for(lambda: handshakes, "the server to see the handshake fail")
    assert server.accepted == 1 and len(handshakes) == 1
    assert server.requests == []


def test_a_refused_connection_is_retried_then_exits_7(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as closed:  # bound, never listening: every connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        monkeypatch.setenv("CO_API_KEY", TEST_KEY)
        result = invoke(["--base-url", f"http://127.0.0.1:{port}", "--retries", "2",
                         "--max-wait", "0", "-v", "--no-stream", "hi"])
    assert result.exit_code == 7
    lines = result.stderr.splitlines()
    assert sum(line.startswith("cohere-chat: POST ") for line in lines) == 3
    assert [line for line in lines if " retry " in line] == [
        f"cohere-chat: retry {n}/2 in 0.00s after cannot reach 127.0.0.1:{port}: "
        "Connection refused" for n in (1, 2)]
    assert lines[-1] == (
        f"cohere-chat: error: cannot reach 127.0.0.1:{port}: Connection refused; is a server "
        f"listening there? check the base URL http://127.0.0.1:{port} (from flag --base-url)")


def reset_after_request(server: SocketServer, connection: socket.socket) -> None:
    server.read_request(connection)
    reset(connection)


def reset_at_once(server: SocketServer, connection: socket.socket) -> None:
    reset(connection)


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_a_reset_connection_is_retried_then_exits_7(socket_server: Any, stream: str) -> None:
    server = socket_server(reset_after_request)
    result = invoke([stream, "--retries", "2", "--max-wait", "0", "hi"])
    assert result.exit_code == 7
    assert one_line_error(result.stderr) == (
        f"the server at 127.0.0.1:{server.port} reset the connection without answering; "
        "try again later, or raise --retries")
    assert server.accepted == len(server.requests) == 3


def test_a_connection_reset_on_accept_is_retried_then_exits_7(socket_server: Any) -> None:
    server = socket_server(reset_at_once)
    result = invoke(["--no-stream", "--retries", "2", "--max-wait", "0", "hi"])
    assert result.exit_code == 7
    assert f"127.0.0.1:{server.port}" in one_line_error(result.stderr)
    assert server.accepted == 3


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_the_key_is_only_in_the_authorization_header(stub: StubServer, stream: str) -> None:
    assert invoke([stream, "hi"]).exit_code == 0
    assert invoke(["models"]).exit_code == 0
    assert {request.method for request in stub.requests} == {"POST", "GET"}
    for request in stub.requests:
        assert request.headers["Authorization"] == f"Bearer {TEST_KEY}"
        others = [(name, value) for name, value in request.headers.items()
                  if name != "authorization"]
        assert others and all(TEST_KEY not in f"{name}: {value}" for name, value in others)
        assert TEST_KEY not in request.path
        assert TEST_KEY.encode() not in request.body
