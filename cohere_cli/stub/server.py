"""`cohere-chat stub`: a local server speaking the v2 chat wire format (spec §11).

`POST /v2/chat` (JSON, or SSE with `"stream": true`) and `GET /v1/models`, checked as the
real service checks them, with injected faults. Tests use `StubServer` in-process; the
`stub` command calls `run_stub`. It never shows the Authorization header, and logs nothing
but one stderr line for a reply it cannot make (answered 500).

Under load: each connection has its own thread; reading a request (and waiting for the
next one on a kept-alive connection) times out after `read_timeout`, answering does not.
At most `max_connections` are open (fewer when the open-file limit is low); a new one over
the cap closes the connection that has waited longest for its request, or, when every
open one is busy being answered, is itself closed without a reply.
"""
from __future__ import annotations

import contextlib
import errno
import random
import re
import resource
import selectors
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from cohere_cli import PROGRAM
from cohere_cli import request_rules as rules
from cohere_cli.errors import UsageError
from cohere_cli.stub import replies as stubreply
from cohere_cli.stub.replies import load_replies

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


READ_TIMEOUT = 5.0  # seconds a connection may keep the stub waiting for (part of) a request
MAX_CONNECTIONS = 256  # open at once; over it, the one waiting longest for a request goes
MAX_DELAY_MS = 3_600_000  # the longest --latency or --token-delay: an hour
_OUT_OF_FILES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


@dataclass(frozen=True)
class StubSettings:
    """What the stub does; checked when made, so no bad value reaches a socket or a wait."""

    host: str = "127.0.0.1"
    port: int = 0
    replies: tuple[object, ...] = ()  # from load_replies; empty: echo
    latency_ms: float = 0
    latency_max_ms: float | None = None  # with it, each answer waits a random MS..MAX
    token_delay_ms: float = 0
    fail_rules: tuple[FailRule, ...] = ()
    retry_after: float = 1
    read_timeout: float = READ_TIMEOUT
    max_connections: int = MAX_CONNECTIONS

    def __post_init__(self) -> None:
        if not (isinstance(self.port, int) and 0 <= self.port <= 65535):
            raise UsageError(f"stub: the port must be 0 to 65535 (got {self.port!r})")
        delays = (("latency", self.latency_ms), ("latency maximum", self.latency_max_ms),
                  ("token delay", self.token_delay_ms))
        for name, value in delays:
            if value is not None and not 0 <= value <= MAX_DELAY_MS:  # NaN fails too
                raise UsageError(f"stub: the {name} must be 0 to {MAX_DELAY_MS} ms (got {value!r})")
        if self.latency_max_ms is not None and self.latency_max_ms < self.latency_ms:
            raise UsageError("stub: the latency maximum is below the latency")
        if not 0 <= self.retry_after <= 86400:
            raise UsageError(f"stub: Retry-After must be 0 to 86400 s (got {self.retry_after!r})")
        if not 0 < self.read_timeout <= 3600 or self.max_connections < 1:
            raise UsageError("stub: the read timeout and the connection cap must be positive")


class Headers(dict[str, str]):
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


def _fd_room() -> int:
    """How many connections the open-file limit leaves room for (half of it: evicted
    connections hold their descriptor a moment longer, and the program needs some)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else max(1, (soft - 32) // 2)


def _shut(connection: socket.socket) -> None:
    """Wake a handler thread blocked on `connection`: its reads end, its writes fail."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(connection, socket.SHUT_RDWR)  # on the descriptor, TLS or not


class _Connections:
    """The open connections, capped. Each is waiting (for a request or its body) or busy
    (being answered); the one waiting longest comes first. Thread-safe."""

    def __init__(self, cap: int) -> None:
        self.cap = min(cap, _fd_room())
        self._lock = threading.Lock()
        self._open: dict[socket.socket, tuple[socket.socket, bool]] = {}  # by accepted socket

    def admit(self, raw: socket.socket) -> bool:
        """Count a new connection in; at the cap, close the one waiting longest to make
        room. False when every open connection is busy: the new one is to be closed."""
        with self._lock:
            if len(self._open) >= self.cap:
                oldest = next((key for key, (_, waiting) in self._open.items() if waiting), None)
                if oldest is None:
                    return False
                _shut(self._open.pop(oldest)[0])
            self._open[raw] = (raw, True)
            return True

    def mark(self, raw: socket.socket, current: socket.socket, waiting: bool) -> bool:
        """Record the connection's socket (TLS-wrapped or not) and whether it waits for a
        request; False when it was closed to make room."""
        with self._lock:
            if self._open.pop(raw, None) is None:
                return False
            self._open[raw] = (current, waiting)  # waiting again: now the newest
            return True

    def drop(self, raw: socket.socket) -> None:
        with self._lock:
            self._open.pop(raw, None)

    def close_all(self) -> None:
        with self._lock:
            for current, _ in self._open.values():
                _shut(current)


class _State:
    """What the handler threads share."""

    def __init__(self, settings: StubSettings, record: bool) -> None:
        self.settings, self.record = settings, record
        self.book = stubreply.ReplyBook(settings.replies)
        self.lock = threading.Lock()
        self.log: list[RecordedRequest] = []
        # each rule with the uses it has left: a count, not one copy per use
        self.faults = deque((rule, rule.count) for rule in settings.fail_rules)
        self.stopping = threading.Event()
        self.connections = _Connections(settings.max_connections)

    def admit(self, request: RecordedRequest) -> FailRule | None:
        """Record `request`; the fault it is to get, if any."""
        with self.lock:
            if self.record:
                self.log.append(request)
            if not self.faults:
                return None
            rule, left = self.faults[0]
            if left > 1:
                self.faults[0] = (rule, left - 1)
            else:
                self.faults.popleft()
            return rule


@dataclass
class _Answer:
    status: int
    body: bytes = b""  # a JSON body
    frames: list[tuple[bool, bytes]] | None = None  # or an event stream: (is a delta, frame)
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> _Answer:
    return _Answer(status, orjson.dumps(payload), headers=headers)


def _frames(events: list[stubreply.Event]) -> list[tuple[bool, bytes]]:
    frames = [(kind.endswith("-delta"), stubreply.sse(kind, data)) for kind, data in events]
    return [*frames, (False, b"data: [DONE]\n\n")]


def _cannot_serve(position: int, error: Exception) -> _Answer:
    """A reply the start-up checks let through but that cannot be made: a 500 that says
    so, and one line on stderr (the only thing the stub ever logs)."""
    which = f"reply {position}" if position else "the echo"
    message = f"stub: cannot serve {which}: {type(error).__name__}: {error}"
    line = orjson.dumps(message).decode()[1:-1]  # one line: control characters escaped
    sys.stderr.write(f"{PROGRAM} {line}\n")
    sys.stderr.flush()
    return _json(500, {"message": message})


def _has_bearer(value: str | None) -> bool:
    scheme, _, token = (value or "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def version_string(self) -> str:
        return "cohere-chat-stub"

    def setup(self) -> None:
        """Reads time out after `read_timeout`. TLS is set up here, in the connection's
        own thread, so a client that never completes its handshake holds up no one."""
        self.state = self.server.state
        self.raw = self.request
        self.read_timeout = self.state.settings.read_timeout
        if self.server.tls is not None:
            self.raw.settimeout(self.read_timeout)
            self.request = self.server.tls.wrap_socket(
                self.raw, server_side=True, do_handshake_on_connect=False)
            self.state.connections.mark(self.raw, self.request, waiting=True)
            try:
                self.request.do_handshake()
            except BaseException:
                self.request.close()
                raise
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self.request is not self.raw:
                self.request.close()

    def log_message(self, format: str, *args: Any) -> None:
        """Say nothing on stderr."""

    def handle_one_request(self) -> None:
        """Wait for a request and read it, each read within `read_timeout`."""
        self.connection.settimeout(self.read_timeout)
        if self.state.connections.mark(self.raw, self.connection, waiting=True):
            super().handle_one_request()
        else:
            self.close_connection = True

    def _serve(self) -> None:
        body = self._read_body()
        self.connection.settimeout(None)  # the answer takes its time: latency, a stream
        if not self.state.connections.mark(self.raw, self.connection, waiting=False):
            self.close_connection = True  # closed to make room while it was being read
            return
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
            while size := int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
            while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
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
            return _json(404, {"message": f"stub: no route for {request.method} {url.path}"})
        if not _has_bearer(request.headers.get("Authorization")):
            return _json(401, {"message": "invalid api token"})
        if url.path == "/v1/models":
            return _json(*stubreply.models_page(parse_qs(url.query)))
        problem = rules.body_problem(request.json)
        if problem:
            return _json(400, {"message": problem})
        number, position, spec = self.state.book.take(advance)
        try:
            response = stubreply.build_reply(request.json, spec, stubreply.reply_id(number))
            if request.json.get("stream"):
                return _Answer(200, frames=_frames(stubreply.stream_events(response)))
            return _Answer(200, orjson.dumps(response))
        except Exception as error:  # answered and logged, never dropped
            return _cannot_serve(position, error)

    def _inject(self, rule: FailRule, request: RecordedRequest) -> None:
        if rule.kind == "status":
            status = rule.status or 500
            headers: tuple[tuple[str, str], ...] = ()
            if status in (429, 503):
                headers = (("Retry-After", _seconds(self.state.settings.retry_after)),)
            self._send(_json(status, {"message": f"stub: injected {status}"}, headers))
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
        if answer.frames is not None:
            self._send_events(answer.frames, cut)
            return
        data = answer.body
        self._head(answer.status, "application/json", ("Content-Length", str(len(data))),
                   *answer.headers)
        if cut is None:
            self.wfile.write(data)
        else:
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True

    def _send_events(self, frames: list[tuple[bool, bytes]], cut: int | None) -> None:
        """SSE in chunked encoding, one write per event, a pause before each delta."""
        self._head(200, "text/event-stream", ("Transfer-Encoding", "chunked"),
                   ("Cache-Control", "no-cache"))
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
    request_queue_size = 1024  # a burst of clients waits to be accepted, not for a SYN retry

    def __init__(self, address: tuple[str, int], state: _State,
                 tls: ssl.SSLContext | None) -> None:
        self.state, self.tls = state, tls
        self._wake = socket.socketpair()  # stop() writes a byte to end the accept loop
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:  # as HTTPServer's, without its reverse DNS lookup
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def serve(self) -> None:
        """Accept connections until `wake()`. The wait has no timeout: an idle stub uses
        no CPU, and stop() does not wait for a poll interval."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake[0], selectors.EVENT_READ)
            while not self.state.stopping.is_set():
                if any(key.fileobj is self.socket for key, _ in selector.select()):
                    self._accept()

    def wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake[1].send(b"\0")

    def _accept(self) -> None:
        """Take one connection and serve it in its own thread, if the cap lets it in. Out
        of file descriptors, wait a moment for some to close rather than spin on a
        listening socket that stays readable."""
        try:
            raw, address = self.socket.accept()
        except OSError as error:
            if error.errno in _OUT_OF_FILES:
                self.state.stopping.wait(0.05)
            return
        if not self.state.connections.admit(raw):
            self.shutdown_request(raw)  # every open connection is busy being answered
            return
        try:
            self.process_request(raw, address)
        except Exception:  # no thread to serve it: close it, go on
            self.shutdown_request(raw)

    def close_request(self, request: Any) -> None:
        self.state.connections.drop(request)
        super().close_request(request)

    def server_close(self) -> None:
        super().server_close()
        for end in self._wake:
            end.close()

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
            self._httpd = _HTTPServer((host, port), self._state, self._tls)
        except (OSError, OverflowError, ValueError) as error:
            reason = getattr(error, "strerror", None) or error
            raise UsageError(f"stub: cannot listen on {host}:{port}: {reason}") from None
        self._thread = threading.Thread(target=self._httpd.serve, name="cohere-chat-stub",
                                        daemon=True)
        self._thread.start()
        bound = self._httpd.server_name  # the address, as server_bind put it
        shown = f"[{bound}]" if ":" in bound else bound
        scheme = "https" if self._tls is not None else "http"
        self.url = f"{scheme}://{shown}:{self._httpd.server_port}"
        return self.url

    def stop(self) -> None:
        """Stop serving; wakes hung requests and closes the open connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._state.stopping.set()
        httpd.wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        httpd.server_close()
        self._state.connections.close_all()

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
