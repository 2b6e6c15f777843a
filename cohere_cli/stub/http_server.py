"""The stub's HTTP server: it accepts connections within a cap and serves each in its own
thread with the handler class it is given (handler.RequestHandler), and holds what
those threads share (`SharedState`).

Under load: each connection has its own thread; reading a request (and waiting for the
next one on a kept-alive connection) times out after `read_timeout`, answering does not.
At most `max_connections` are open (fewer when the open-file limit is low); a new one over
the cap closes the connection that has waited longest for its request, or, when every
open one is busy being answered, is itself closed without a reply.
"""
from __future__ import annotations

import contextlib
import errno
import resource
import selectors
import socket
import socketserver
import ssl
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cohere_cli.stub.answers import ReplyBook
from cohere_cli.stub.batch_routes import BatchService
from cohere_cli.stub.recorded_request import RecordedRequest
from cohere_cli.stub.settings import MAX_CONNECTIONS, FailRule, StubSettings

_OUT_OF_FILES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def _fd_room() -> int:
    """How many connections the open-file limit leaves room for (half of it: evicted
    connections hold their descriptor a moment longer, and the program needs some)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else max(1, (soft - 32) // 2)


def _shut(connection: socket.socket) -> None:
    """Wake a handler thread blocked on `connection`: its reads end, its writes fail."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(connection, socket.SHUT_RDWR)  # on the descriptor, TLS or not


class Connections:
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
            before = self._open.get(raw)
            if before is None:
                return False
            if waiting and not before[1]:  # waiting again after an answer: now the newest
                del self._open[raw]
            self._open[raw] = (current, waiting)  # otherwise it keeps its place
            return True

    def drop(self, raw: socket.socket) -> None:
        with self._lock:
            self._open.pop(raw, None)

    def close_all(self) -> None:
        with self._lock:
            for current, _ in self._open.values():
                _shut(current)


class SharedState:
    """What the handler threads share."""

    def __init__(self, settings: StubSettings, record: bool) -> None:
        self.settings, self.record = settings, record
        self.book = ReplyBook(settings.replies)
        self.batches = BatchService(settings.batch, settings.echo_key)
        self.lock = threading.Lock()
        self.log: list[RecordedRequest] = []
        # each rule with the uses it has left: a count, not one copy per use
        self.faults = deque((rule, rule.count) for rule in settings.fail_rules)
        self.stopping = threading.Event()
        self.connections = Connections(settings.max_connections)

    def receive(self, request: RecordedRequest) -> FailRule | None:
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


class StubHTTPServer(ThreadingHTTPServer):
    """Accepts connections within the cap, each served by a `handler` thread."""

    daemon_threads = True
    block_on_close = False  # stop() must not wait for idle keep-alive connections
    request_queue_size = 1024  # a burst of clients waits to be accepted, not for a SYN retry

    def __init__(self, address: tuple[str, int], state: SharedState,
                 tls: ssl.SSLContext | None, handler: type[BaseHTTPRequestHandler]) -> None:
        self.state, self.tls = state, tls
        self._wake = socket.socketpair()  # stop() writes a byte to end the accept loop
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

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
