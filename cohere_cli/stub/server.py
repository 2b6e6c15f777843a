"""`cohere-chat stub`: a local server speaking the v2 chat wire format, for offline tests
(README: "Testing offline with `stub`"). Tests use `StubServer` in-process; the `stub`
command calls `run_stub`. handler.py answers each request.

http_server.py accepts the connections (under load: see there).
"""
from __future__ import annotations

import ipaddress
import signal
import ssl
import threading

from cohere_cli.base.errors import UsageError
from cohere_cli.stub.handler import RequestHandler
from cohere_cli.stub.http_server import SharedState, StubHTTPServer
from cohere_cli.stub.recorded_request import RecordedRequest
from cohere_cli.stub.settings import StubSettings


def reachable(address: str) -> str:
    """The host part of a URL that reaches a server bound to `address` from this machine:
    loopback for an address that means "all of them" (0.0.0.0, ::), IPv6 in brackets."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"[{address}]" if ":" in address else address
    if ip.is_unspecified:
        ip = ipaddress.ip_address("::1" if ip.version == 6 else "127.0.0.1")
    return f"[{ip}]" if ip.version == 6 else str(ip)


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
        self._state = SharedState(settings, record)
        self._httpd: StubHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order (a copy)."""
        with self._state.lock:
            return list(self._state.log)

    def start(self) -> str:
        """Listen, serve in a daemon thread, and return the base URL (on loopback when
        listening on every address)."""
        host, port = self.settings.host, self.settings.port
        try:
            self._httpd = StubHTTPServer((host, port), self._state, self._tls, RequestHandler)
        except (OSError, OverflowError, ValueError) as error:
            reason = getattr(error, "strerror", None) or error
            raise UsageError(f"stub: cannot listen on {host}:{port}: {reason}") from None
        self._thread = threading.Thread(target=self._httpd.serve, name="cohere-chat-stub",
                                        daemon=True)
        self._thread.start()
        shown = reachable(self._httpd.server_name)  # the address, as server_bind put it
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
