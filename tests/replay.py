"""Recorded exchanges with Cohere's live /v2/chat, and a loopback server that plays them.

`tests/recorded/` holds one JSON file per exchange, copied from the test cassettes of
public projects with their provenance (README.md there). `Exchange` is one of them;
`ReplayServer` answers each POST with the next exchange of its script (the last one
repeats) exactly as recorded: its status, its content type, the recorded headers kept,
and its body bytes, with a Content-Length, or with `chunk` set in chunked transfer
encoding, `chunk` bytes a chunk (1 or 7: a stream then reaches the client one or seven
bytes at a time, a UTF-8 character cut anywhere). It keeps every request body it gets.
"""
from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).resolve().parent / "recorded"


@dataclass(frozen=True)
class Exchange:
    """One recorded request and the answer it got."""

    name: str
    provenance: dict[str, Any]
    kind: tuple[str, ...]
    request: dict[str, Any]  # the recorded request body
    status: int
    content_type: str
    headers: tuple[tuple[str, str], ...]
    body: bytes  # exactly as recorded (a stream with its `data: [DONE]` ending)

    @property
    def streamed(self) -> bool:
        return "stream" in self.kind

    def json(self) -> Any:
        """The body's JSON value (a non-streamed answer)."""
        return json.loads(self.body)

    def events(self) -> list[dict[str, Any]]:
        """The data of each event of a streamed answer, in order, up to `[DONE]`."""
        found = []
        for line in self.body.decode("utf-8").split("\n"):
            if line.startswith("data: ") and line != "data: [DONE]":
                found.append(json.loads(line[len("data: "):]))
        return found


@cache
def load(name: str) -> Exchange:
    """The recorded exchange `tests/recorded/NAME.json`."""
    data = json.loads((RECORDED / f"{name}.json").read_text(encoding="utf-8"))
    response = data["response"]
    return Exchange(
        name=name, provenance=data["provenance"], kind=tuple(data["kind"]),
        request=data["request"]["body"], status=response["status"],
        content_type=response["content_type"],
        headers=tuple(sorted(response.get("headers", {}).items())),
        body=base64.b64decode(response["body_b64"]),
    )


def names() -> list[str]:
    """Every recorded exchange, by name."""
    return sorted(path.stem for path in RECORDED.glob("*.json"))


class ReplayServer(ThreadingHTTPServer):
    """Plays `script`, one exchange per POST, the last one repeating; `bodies` are the
    request bodies received (parsed JSON) in order."""

    daemon_threads = True

    def __init__(self, script: Iterable[Exchange], chunk: int | None = None) -> None:
        self.script = list(script)
        assert self.script, "a replay needs at least one exchange"
        self.chunk = chunk
        self.bodies: list[Any] = []
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ReplayHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def count(self) -> int:
        return len(self.bodies)

    def next_exchange(self, body: bytes) -> Exchange:
        with self._lock:
            self.bodies.append(json.loads(body) if body else None)
            return self.script[min(len(self.bodies), len(self.script)) - 1]


def chunked(body: bytes, size: int) -> Iterator[bytes]:
    """`body` in chunked transfer encoding, `size` bytes a chunk, and the last chunk."""
    for start in range(0, len(body), size):
        piece = body[start:start + size]
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


class _ReplayHandler(BaseHTTPRequestHandler):
    server: ReplayServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        exchange = self.server.next_exchange(body)
        self.send_response(exchange.status)
        self.send_header("Content-Type", exchange.content_type)
        for name, value in exchange.headers:
            self.send_header(name, value)
        if self.server.chunk is None:
            self.send_header("Content-Length", str(len(exchange.body)))
            self.end_headers()
            self.wfile.write(exchange.body)
        else:  # one write: the client still reads it chunk by chunk, as framed
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"".join(chunked(exchange.body, self.server.chunk)))
        self.wfile.flush()

    def log_message(self, *_: Any) -> None:
        return None
