"""A loopback proxy in front of the stub that turns every answer against the client: it
echoes the key the client sent (`echo`), refuses with a message that quotes it
(`refuse`), never answers (`hang`), stops halfway (`stall`), or gives the same page
token again and again (`repeat`).

Every request the program makes is one of KINDS (the chat, its stream, the model list,
each Batch API call, the output parts' signed URLs); `at` picks the kind a fault hits
(the others pass through to the stub as they are). The key an echo quotes is the one the
request carried, as a real server would echo it; a signed URL is sent no key, so its
echo quotes the last one seen (a server that learnt it). `echoed` collects the kinds that
were answered with the key in them, so a test can prove it went through every one.
"""
from __future__ import annotations

import http.client
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import orjson

from cohere_cli.batch.remote.schema import OUTPUT_SCHEMA

KINDS = ("chat", "stream", "models", "upload", "dataset", "create", "batch", "list", "cancel",
         "part")
HOLD = 120.0  # the longest a held request is held (the proxy's close ends it sooner)


def kind_of(method: str, path: str, body: bytes) -> str:
    """Which of KINDS a request is."""
    path = urlsplit(path).path
    if path == "/v2/chat":
        return "stream" if b'"stream":true' in body.replace(b" ", b"") else "chat"
    if path.startswith("/signed/"):
        return "part"
    if path == "/v1/models":
        return "models"
    if path == "/v1/datasets":
        return "upload"
    if path.startswith("/v1/datasets/"):
        return "dataset"
    if path == "/v2/batches":
        return "create" if method == "POST" else "list"
    return "cancel" if path.endswith(":cancel") else "batch"


def _with_text(response: dict[str, Any], text: str) -> dict[str, Any]:
    for block in response.get("message", {}).get("content") or []:
        if isinstance(block, dict) and block.get("type") == "text":
            block["text"] = f"{block.get('text') or ''} {text}"
            break
    return response


def _events(body: bytes, key: str) -> bytes:
    """The stub's event stream with the key as the message's id and in its text."""
    out = []
    for frame in body.split(b"\n\n"):
        head, _, data = frame.rpartition(b"data: ")
        if not data.startswith(b"{"):
            out.append(frame)
            continue
        event = orjson.loads(data)
        if event.get("type") == "message-start":
            event["id"] = key
        if event.get("type") == "content-delta":
            content = event["delta"]["message"]["content"]
            content["text"] = f"{content.get('text', '')} {key}"
        out.append(head + b"data: " + orjson.dumps(event))
    return b"\n\n".join(out)


def _part(body: bytes, key: str) -> bytes:
    """The Avro part with the key at the end of each reply's text."""
    import fastavro

    schema = fastavro.parse_schema(OUTPUT_SCHEMA)
    records: list[Any] = list(fastavro.reader(io.BytesIO(body)))
    for record in records:
        if record.get("body"):
            content = record["body"]["message"]["content"]
            content[0]["text"] = f"{content[0].get('text') or ''} {key}"
    out = io.BytesIO()
    fastavro.writer(out, schema, records, codec="null")
    return out.getvalue()


def _json_echo(kind: str, value: Any, key: str) -> Any:
    """A JSON answer of KIND with the key where the program may show it."""
    if kind == "chat":
        value["id"] = key
        return _with_text(value, f"you sent Bearer {key}")
    if kind == "models":
        value["models"].append({"name": f"echo-{key}", "endpoints": ["chat"]})
    elif kind == "batch":
        value["batch"]["status_reason"] = f"you sent Bearer {key}"
    elif kind == "list":
        value["batches"].append({"id": f"echo-{key}", "name": key,
                                 "status": "BATCH_STATUS_QUEUED"})
    elif isinstance(value, dict):
        value["echo"] = f"you sent Bearer {key}"
    return value


class EchoProxy(ThreadingHTTPServer):
    """In front of the stub at `upstream`: `mode` is echo, refuse, hang, stall or repeat
    (all but echo for the requests of kind `at`; `refuse` answers `status` with a JSON
    message, or with `html` an HTML page and the key in the reason phrase too)."""

    daemon_threads = True

    def __init__(self, upstream: str, mode: str = "echo", at: str | None = None,
                 status: int = 401, html: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = urlsplit(upstream)
        self.mode, self.at, self.status, self.html = mode, at, status, html
        self.echoed: set[str] = set()
        self.held = threading.Event()  # a request of kind `at` is being held
        self.release = threading.Event()
        self.key = ""
        self._thread = threading.Thread(target=self.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> EchoProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: EchoProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, *_: Any) -> None:
        return None

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        kind = kind_of(self.command, self.path, body)
        sent = self.headers.get("Authorization", "")
        if sent:
            self.server.key = sent.removeprefix("Bearer ")
        key = self.server.key
        if self.server.at == kind and self.server.mode == "repeat":
            listed = {"models": {"name": "m", "endpoints": ["chat"]},
                      "batches": {"id": "b-x", "name": "x", "status": "BATCH_STATUS_QUEUED"}}
            field = "models" if kind == "models" else "batches"
            self.send_response(200)
            self._send("application/json", orjson.dumps(
                {field: [listed[field]], "next_page_token": "again"}))
            return
        if self.server.at == kind and self.server.mode != "echo":
            self._fault(kind, key)
            return
        status, headers, answer = self._forward(body)
        if self.server.mode == "echo" and status < 400:
            answer = self._echo(kind, headers.get("content-type", ""), answer, key)
        self._answer(status, headers.get("content-type", "application/json"), answer,
                     split=key if kind == "stream" else "")

    do_GET = do_POST = _serve

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        upstream = self.server.upstream
        connection = http.client.HTTPConnection(upstream.hostname or "", upstream.port,
                                                timeout=60)
        try:
            names = ("Authorization", "Content-Type", "User-Agent", "X-Client-Name",
                     "Accept", "Host")
            connection.request(self.command, self.path, body, {
                name: value for name in names if (value := self.headers.get(name))})
            response = connection.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders()},
                    response.read())
        finally:
            connection.close()

    def _echo(self, kind: str, content_type: str, answer: bytes, key: str) -> bytes:
        self.server.echoed.add(kind)
        if kind == "stream":
            return _events(answer, key)
        if kind == "part":
            return _part(answer, key)
        return orjson.dumps(_json_echo(kind, orjson.loads(answer) if answer else {}, key))

    def _fault(self, kind: str, key: str) -> None:
        self.server.held.set()
        if self.server.mode == "hang":
            self.server.release.wait(HOLD)
            self.close_connection = True
            return
        if self.server.mode == "stall":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream" if kind == "stream"
                             else "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"data: {" if kind == "stream" else b'{"models": [')
            self.wfile.flush()
            self.server.release.wait(HOLD)
            self.close_connection = True
            return
        self.server.echoed.add(kind)
        if self.server.html:
            body = f"<html><h1>Refused</h1><p>Bearer {key}</p></html>".encode()
            self.send_response(self.server.status, f"Bearer {key}")
            self._send("text/html", body)
        else:
            body = orjson.dumps({"message": f"invalid api token: Bearer {key}", "id": key})
            self.send_response(self.server.status)
            self._send("application/json", body)

    def _send(self, content_type: str, body: bytes) -> None:
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answer(self, status: int, content_type: str, body: bytes, split: str) -> None:
        """The answer; with `split`, chunked, each chunk ending inside an occurrence of
        SPLIT (a key cut across two reads of the client)."""
        self.send_response(status)
        if not split:
            self._send(content_type, body)
            return
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        needle, start = split.encode(), 0
        while (found := body.find(needle, start)) >= 0:
            cut = found + len(needle) // 2
            self._chunk(body[start:cut])
            start = cut
        self._chunk(body[start:])
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, piece: bytes) -> None:
        if piece:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()

