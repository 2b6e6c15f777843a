"""Shared fixtures: an isolated environment, the stub over loopback, and CLI runners.

Every captured stdout and stderr passes through `assert_no_key`, so a test that made the
program print the (made-up) API key, or the (made-up) value of a --header, fails wherever
it happens.
"""
from __future__ import annotations

import os
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import official
import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

from cohere_cli.cli import cli
from cohere_cli.stub import answers
from cohere_cli.stub.events import sse_frames, stream_events
from cohere_cli.stub.server import StubServer
from cohere_cli.stub.settings import StubSettings, parse_fail_rule

TEST_KEY = "co-test-0000-not-a-real-key"
TEST_HEADER_VALUE = "gw-test-1111-not-a-real-header-value"  # a --header value: a secret too
ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIXES = ("CO_", "COHERE_", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "REQUESTS_CA_BUNDLE",
                "CURL_CA_BUNDLE")
SHUTDOWN_POLL = 0.01  # seconds between a background server's checks for shutdown()

# Hypothesis: `make quick` and `make test` run the `quick` profile, about 50 examples a test,
# always the same ones (derandomized, no example database), so a run passes or fails for a
# reason and never for a draw. `make fuzz` (COHERE_CHAT_FUZZ=long) runs each test's own
# count (`fuzz_examples`), random each time, with shrinking.
FUZZ = os.environ.get("COHERE_CHAT_FUZZ") == "long"
QUICK_EXAMPLES = 50
settings.register_profile("quick", max_examples=QUICK_EXAMPLES, derandomize=True,
                          database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fuzz" if FUZZ else "quick")


def fuzz_examples(count: int) -> settings:
    """`count` examples under `make fuzz`; the profile's (about 50, fixed) otherwise."""
    return settings(max_examples=count) if FUZZ else settings()


def assert_no_key(*outputs: str | bytes) -> None:
    for output in outputs:
        text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
        assert TEST_KEY not in text, "the API key leaked into the output"
        assert TEST_HEADER_VALUE not in text, "a --header value leaked into the output"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No real key, config or URL from the developer's machine reaches a test."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return home


@pytest.fixture(autouse=True)
def no_key_in_captured_output(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    yield
    captured = capfd.readouterr()
    assert_no_key(captured.out, captured.err)


def start_stub(**settings: Any) -> StubServer:
    rules = tuple(parse_fail_rule(r) for r in settings.pop("fail", ()))
    server = StubServer(StubSettings(fail_rules=rules, **settings))
    server.start()
    return server


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubServer]:
    """A stub on loopback, with CO_API_URL and a made-up CO_API_KEY pointing at it."""
    server = start_stub()
    monkeypatch.setenv("CO_API_URL", server.url)
    monkeypatch.setenv("CO_API_KEY", TEST_KEY)
    yield server
    server.stop()


@pytest.fixture
def make_stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A factory for stubs with settings (faults, replies, latency); env points at the last."""
    servers: list[StubServer] = []

    def make(**settings: Any) -> StubServer:
        server = start_stub(**settings)
        servers.append(server)
        monkeypatch.setenv("CO_API_URL", server.url)
        monkeypatch.setenv("CO_API_KEY", TEST_KEY)
        return server

    yield make
    for server in servers:
        server.stop()


class RawServer(ThreadingHTTPServer):
    """Answers every request with one canned status, content type and body."""

    daemon_threads = True

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.answer = (status, content_type, body)
        self.count = 0
        super().__init__(("127.0.0.1", 0), RawHandler)


class RawHandler(BaseHTTPRequestHandler):
    server: RawServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.count += 1
        status, content_type, body = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return None


def serve_in_background(server: socketserver.BaseServer) -> None:
    """`serve_forever` in a daemon thread, checking for `shutdown()` every 10 ms (the
    default half second would be spent again in each test's teardown)."""
    threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL,), daemon=True).start()


Server = TypeVar("Server", bound=socketserver.TCPServer)


class Served:
    """The loopback servers of a test's own (for what the stub does not do): each served
    in the background (serve_in_background) and stopped at the test's end; the
    environment (CO_API_URL, a made-up key) points at the last one, unless `point` is
    False."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.servers: list[socketserver.TCPServer] = []

    def __call__(self, server: Server, point: bool = True) -> Server:
        serve_in_background(server)
        self.servers.append(server)
        if point:
            port = server.server_address[1]
            self.monkeypatch.setenv("CO_API_URL", f"http://127.0.0.1:{port}")
            self.monkeypatch.setenv("CO_API_KEY", TEST_KEY)
        return server

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """Serve a test's own loopback servers (Served); a fixture that needs one done before
    they stop (a held reply released) does it in its own teardown, which runs first."""
    servers = Served(monkeypatch)
    yield servers
    servers.stop()


@pytest.fixture
def raw_server(served: Served) -> Callable[[int, str, bytes], RawServer]:
    """A raw loopback server for answers the stub does not make (HTML error pages, empty
    bodies, an exact official event stream): one canned status, type and body."""

    def make(status: int, content_type: str, body: bytes) -> RawServer:
        return served(RawServer(status, content_type, body))

    return make


class HeldStream(ThreadingHTTPServer):
    """Answers every POST 200 with one event stream: its first `hold_at` bytes at once,
    the rest only once `release` is set (a reply still streaming, for as long as a test
    needs to look at what came so far)."""

    daemon_threads = True

    def __init__(self, wire: bytes, hold_at: int) -> None:
        self.wire, self.hold_at = wire, hold_at
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), HeldStreamHandler)


class HeldStreamHandler(BaseHTTPRequestHandler):
    server: HeldStream

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        wire, hold_at = self.server.wire, self.server.hold_at
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(wire)))
        self.end_headers()
        self.wfile.write(wire[:hold_at])
        self.wfile.flush()
        self.server.release.wait(60)
        self.wfile.write(wire[hold_at:])

    def log_message(self, *_: Any) -> None:
        return None


def stub_stream(text: str) -> bytes:
    """The event stream (wire bytes) the stub sends for a reply of `text`."""
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}], "stream": True}
    response = answers.build_reply(body, text, answers.reply_id(1))
    return b"".join(frame for _, frame in sse_frames(stream_events(response)))


@pytest.fixture
def held_stream(served: Served) -> Iterator[Callable[[bytes, int], HeldStream]]:
    """A factory for HeldStream servers; the environment points at the last. Each is
    released at the end, before it is stopped."""
    made: list[HeldStream] = []

    def make(wire: bytes, hold_at: int) -> HeldStream:
        made.append(served(HeldStream(wire, hold_at)))
        return made[-1]

    yield make
    for server in made:
        server.release.set()


def wait_for(condition: Callable[[], object], what: str, seconds: float = 20) -> None:
    """Poll `condition` until it holds; fail naming `what` after `seconds`. Tests wait on
    something observable (the stub's request log, a file, a process) this way, never on a
    fixed sleep."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {seconds} s waiting for {what}"
        time.sleep(0.005)


def running(pid: int) -> bool:
    """Whether PID still runs (a zombie has ended: only its entry is left to collect)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes

    def lines(self) -> list[Any]:
        return [orjson.loads(line) for line in self.stdout.splitlines()]


def invoke(args: list[str], stdin: bytes | str | None = None,
           env: dict[str, str | None] | None = None) -> Result:
    """Run the CLI in-process (CliRunner) as `cohere-chat`, with `env` added to the
    environment for the run (None unsets a name), and check the output for the key."""
    result = CliRunner().invoke(cli, args, input=stdin, env=env, prog_name="cohere-chat",
                                catch_exceptions=False)
    assert_no_key(result.stdout_bytes, result.stderr_bytes)
    return Result(result.exit_code, result.stdout, result.stderr, result.stdout_bytes)


def invoke_briefly(args: list[str], seconds: float = 60, **kwargs: Any) -> Result:
    """`invoke` in a thread, for a command that must end at once but, were it broken,
    would serve until interrupted (the `stub`): the test fails after `seconds` instead
    of hanging."""
    done: list[Result] = []
    thread = threading.Thread(target=lambda: done.append(invoke(args, **kwargs)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert done, f"cohere-chat {' '.join(args)} still runs after {seconds} s"
    return done[0]


def run_process(
    args: list[str], stdin: bytes | None = None, env: dict[str, str] | None = None,
    timeout: float = 30, **kwargs: Any,
) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m cohere_cli` as a real process (real file descriptors, signals)."""
    completed = subprocess.run(
        [sys.executable, "-m", "cohere_cli", *args], input=stdin, capture_output=True,
        env=env if env is not None else dict(os.environ), timeout=timeout, cwd=ROOT, **kwargs,
    )
    assert_no_key(completed.stdout, completed.stderr)
    return completed


def chat_bodies(server: StubServer) -> list[dict[str, Any]]:
    """The bodies the stub received on /v2/chat, each checked against the official schema."""
    bodies = [r.json for r in server.requests if r.path.startswith("/v2/chat")]
    for body in bodies:
        official.validate_request(body)
    return bodies


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (the TLS tests)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make a test certificate: {exc}")
    return cert, key
