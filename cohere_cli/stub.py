"""`cohere-chat stub`: a local server speaking the v2 chat wire format (spec §11).

`POST /v2/chat` (JSON, or SSE with `"stream": true`) and `GET /v1/models`, checked as the
real service checks them, with injected faults. Tests use `StubServer` in-process; the
`stub` command calls `run_stub`. It logs nothing and never shows the Authorization header.
"""
from __future__ import annotations

import contextlib
import random
import re
import signal
import socket
import socketserver
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from cohere_cli import rules, stubreply
from cohere_cli.errors import UsageError
from cohere_cli.stubreply import load_replies

__all__ = ["FailRule", "RecordedRequest", "StubServer", "StubSettings", "load_replies",
           "parse_fail_rule", "run_stub"]

_RULE = re.compile(
    r"(?:(?P<status>\d{3})|(?P<kind>drop|hang|garbage)|cut=(?P<events>\d+))(?:\s*x(?P<count>\d+))?",
    re.IGNORECASE,
)
_RULE_HELP = "expected STATUS (400-599), drop, hang, cut=K or garbage, optionally with xN"


@dataclass(frozen=True)
class FailRule:
    """One parsed `--fail RULE`."""

    kind: str  # "status", "drop", "hang", "cut", "garbage"
    status: int | None = None
    events: int | None = None  # for cut=K
    count: int = 1  # from the optional xN suffix


def parse_fail_rule(text: str) -> FailRule:
    """`429`, `500x3`, `drop`, `hang`, `cut=3`, `garbagex2` ... as a FailRule."""
    match = _RULE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"bad fail rule {text!r}: {_RULE_HELP}")
    count = int(match["count"] or 1)
    if count < 1:
        raise ValueError(f"bad fail rule {text!r}: the count after x must be at least 1")
    if match["status"]:
        status = int(match["status"])
        if not 400 <= status <= 599:
            raise ValueError(f"bad fail rule {text!r}: a status must be between 400 and 599")
        return FailRule("status", status=status, count=count)
    if match["events"] is not None:
        return FailRule("cut", events=int(match["events"]), count=count)
    return FailRule(match["kind"].lower(), count=count)


@dataclass(frozen=True)
class StubSettings:
    host: str = "127.0.0.1"
    port: int = 0
    replies: tuple[object, ...] = ()  # from load_replies; empty: echo
    latency_ms: float = 0
    latency_max_ms: float | None = None  # with it, each answer waits a random MS..MAX
    token_delay_ms: float = 0
    fail_rules: tuple[FailRule, ...] = ()
    retry_after: float = 1


class Headers(dict):  # type: ignore[type-arg]
    """Request headers: names stored in lower case, looked up in any case."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received; `path` keeps the query string."""

    method: str
    path: str
    headers: Headers = field(repr=False)  # holds Authorization: kept out of the repr
    body: bytes
    json: Any = None  # the parsed body, None when it is not JSON
    received: float = field(default_factory=time.monotonic)  # when it arrived


class _State:
    """What the handler threads share, behind one lock."""

    def __init__(self, settings: StubSettings, record: bool) -> None:
        self.settings, self.record = settings, record
        self.book = stubreply.ReplyBook(settings.replies)
        self.lock = threading.Lock()
        self.log: list[RecordedRequest] = []
        self.faults = deque(rule for rule in settings.fail_rules for _ in range(rule.count))
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()

    def admit(self, request: RecordedRequest) -> FailRule | None:
        """Record `request`; the fault it is to get, if any."""
        with self.lock:
            if self.record:
                self.log.append(request)
            return self.faults.popleft() if self.faults else None


@dataclass
class _Answer:
    status: int
    payload: Any = None  # a JSON body
    events: list[stubreply.Event] | None = None  # or an event stream
    headers: tuple[tuple[str, str], ...] = ()


def _has_bearer(value: str | None) -> bool:
    scheme, _, token = (value or "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return "cohere-chat-stub"

    def setup(self) -> None:
        super().setup()
        self.state: _State = self.server.state  # type: ignore[attr-defined]
        with self.state.lock:
            self.state.connections.add(self.connection)

    def finish(self) -> None:
        with self.state.lock:
            self.state.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Say nothing on stderr."""

    def _serve(self) -> None:
        body = self._read_body()
        try:
            parsed = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        request = RecordedRequest(
            self.command, self.path, Headers((k.lower(), v) for k, v in self.headers.items()),
            body, parsed,
        )
        fault = self.state.admit(request)
        settings = self.state.settings
        high = settings.latency_max_ms
        low = settings.latency_ms
        delay = (random.uniform(low, high) if high is not None else low) / 1000
        if delay > 0 and self.state.stopping.wait(delay):
            self.close_connection = True
            return
        if fault is None:
            self._send(self._route(request))
        else:
            self._inject(fault, request)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return b""
        return self.rfile.read(length) if length > 0 else b""

    def _route(self, request: RecordedRequest, advance: bool = True) -> _Answer:
        url = urlsplit(request.path)
        if (request.method, url.path) not in (("POST", "/v2/chat"), ("GET", "/v1/models")):
            return _Answer(404, {"message": f"stub: no route for {request.method} {url.path}"})
        if not _has_bearer(request.headers.get("Authorization")):
            return _Answer(401, {"message": "invalid api token"})
        if url.path == "/v1/models":
            status, page = stubreply.models_page(parse_qs(url.query))
            return _Answer(status, page)
        problem = rules.body_problem(request.json)
        if problem:
            return _Answer(400, {"message": problem})
        response = self.state.book.reply(request.json, advance)
        if request.json.get("stream"):
            return _Answer(200, events=stubreply.stream_events(response))
        return _Answer(200, response)

    def _inject(self, rule: FailRule, request: RecordedRequest) -> None:
        if rule.kind == "status":
            status = rule.status or 500
            headers: tuple[tuple[str, str], ...] = ()
            if status in (429, 503):
                headers = (("Retry-After", _seconds(self.state.settings.retry_after)),)
            self._send(_Answer(status, {"message": f"stub: injected {status}"}, headers=headers))
        elif rule.kind == "garbage":
            self._head(200, "application/json", ("Content-Length", str(len(stubreply.GARBAGE))))
            self.wfile.write(stubreply.GARBAGE)
        elif rule.kind == "cut":
            self._send(self._route(request, advance=False), cut=rule.events or 0)
        else:  # drop, or hang until the server stops: then close, without a reply
            if rule.kind == "hang":
                self.state.stopping.wait()
            self.close_connection = True

    def _head(self, status: int, content_type: str, *headers: tuple[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()

    def _send(self, answer: _Answer, cut: int | None = None) -> None:
        """Answer in full, or (`cut`) only K events or part of the body, then close."""
        if answer.events is not None:
            self._send_events(answer.events, cut)
            return
        data = orjson.dumps(answer.payload)
        self._head(answer.status, "application/json", ("Content-Length", str(len(data))),
                   *answer.headers)
        if cut is None:
            self.wfile.write(data)
        else:
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True

    def _send_events(self, events: list[stubreply.Event], cut: int | None) -> None:
        """SSE in chunked encoding, one write per event, a pause before each delta."""
        self._head(200, "text/event-stream", ("Transfer-Encoding", "chunked"),
                   ("Cache-Control", "no-cache"))
        frames = [(kind.endswith("-delta"), stubreply.sse(kind, data)) for kind, data in events]
        frames.append((False, b"data: [DONE]\n\n"))
        delay = self.state.settings.token_delay_ms / 1000
        for number, (is_delta, frame) in enumerate(frames):
            stopped = is_delta and delay > 0 and self.state.stopping.wait(delay)
            if stopped or (cut is not None and number >= cut):
                self.close_connection = True
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        if cut is not None:
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for idle keep-alive connections
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        self.state = state
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:  # as HTTPServer's, without its reverse DNS lookup
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is not news: no traceback on stderr."""


class StubServer:
    """The stub, served from a background thread: `with StubServer(settings) as stub:`."""

    def __init__(
        self, settings: StubSettings, record: bool = True, tls: ssl.SSLContext | None = None
    ) -> None:
        """`record=False` keeps no request log (a long-running `stub` command);
        `tls` serves https with that server context (the tests of certificate checks)."""
        self.settings = settings
        self._tls = tls
        self.url = ""
        self._state = _State(settings, record)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order (a copy)."""
        with self._state.lock:
            return list(self._state.log)

    def start(self) -> str:
        """Listen, serve in a daemon thread, and return the base URL."""
        host, port = self.settings.host, self.settings.port
        try:
            self._httpd = _HTTPServer((host, port), self._state)
        except OSError as error:
            raise UsageError(f"stub: cannot listen on {host}:{port}: {error.strerror}") from None
        if self._tls is not None:
            self._httpd.socket = self._tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
            name="cohere-chat-stub", daemon=True,
        )
        self._thread.start()
        bound_host, bound_port = self._httpd.server_address[:2]
        shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        scheme = "https" if self._tls is not None else "http"
        self.url = f"{scheme}://{shown}:{bound_port}"
        return self.url

    def stop(self) -> None:
        """Stop serving; wakes hung requests and closes the open connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._state.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._state.lock:
            connections = list(self._state.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> StubServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_stub(settings: StubSettings) -> None:
    """Serve until SIGINT or SIGTERM; the base URL is the first line on stdout."""
    stop = threading.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
    try:
        with StubServer(settings, record=False) as server:
            print(server.url, flush=True)
            while not stop.wait(0.25):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
