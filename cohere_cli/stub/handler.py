"""The stub's request handler: one thread a connection, reading each request within the
read timeout, recording it, then answering it after the latency: the route's answer (JSON,
or SSE with `"stream": true`), or the next injected fault. It never shows the
Authorization header, and logs nothing but one stderr line for a reply it cannot make and,
with `-v`, one line a request (request_log.py).
"""
from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from cohere_cli import PROGRAM
from cohere_cli.chat import rules as rules
from cohere_cli.stub import answers
from cohere_cli.stub.account import account_answer
from cohere_cli.stub.events import Frame, sse_frames, stream_events
from cohere_cli.stub.http_server import StubHTTPServer
from cohere_cli.stub.models import (
    DETAILS_PREFIX,
    TOKENIZER_PATH,
    model_details,
    models_page,
    tokenizer_file,
    unknown_model,
)
from cohere_cli.stub.recorded_request import Headers, RecordedRequest
from cohere_cli.stub.request_log import log_request
from cohere_cli.stub.settings import FailRule, StubSettings

GARBAGE = (  # what `--fail garbage` answers, with a 200 and Content-Type JSON
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>502 Bad Gateway</h1><p>stub: injected garbage</p></body></html>\n"
)


@dataclass
class _Answer:
    status: int
    body: bytes = b""  # a JSON body (or of `content_type`)
    frames: list[Frame] | None = None  # or an event stream
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"
    response: dict[str, Any] | None = None  # the chat response it carries (its usage: -v)


def _json(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> _Answer:
    return _Answer(status, orjson.dumps(payload), headers=headers)


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


def _latency(settings: StubSettings) -> float:
    """The seconds to wait before an answer: the latency, or a random one up to its maximum."""
    low, high = settings.latency_ms, settings.latency_max_ms
    return (random.uniform(low, high) if high is not None else low) / 1000


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class RequestHandler(BaseHTTPRequestHandler):
    """Serves one connection, in its own thread."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: StubHTTPServer

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
        fault = self.state.receive(request)
        delay = _latency(self.state.settings)
        if delay > 0 and self.state.stopping.wait(delay):
            self.close_connection = True
            return
        if fault is None:
            answer = self._route(request)
            self._log(request, answer.status, answer.response)
            self._send(answer)
        else:
            self._inject(fault, request)

    def _log(self, request: RecordedRequest, status: int | None,
             response: dict[str, Any] | None = None, fault: FailRule | None = None) -> None:
        """With `-v`, the request's line on stderr."""
        if not self.state.settings.verbose:
            return
        injected = None
        if fault is not None:
            injected = {"status": str(fault.status), "cut": f"cut={fault.events}"}.get(
                fault.kind, fault.kind)
        log_request(request.method, request.path, request.json,
                    request.headers.get("Authorization"), status, response, injected)

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
        settings = self.state.settings
        bearer = _has_bearer(request.headers.get("Authorization"))
        authorized = bearer or settings.no_auth
        batch = self.state.batches.answer(request, authorized) if settings.batch_api else None
        if batch is not None:
            return _Answer(batch.status, batch.body, content_type=batch.content_type)
        account = account_answer(request.method, url.path, bearer, authorized, settings)
        if account is not None:
            return _json(*account)
        if (request.method, url.path) == ("GET", TOKENIZER_PATH):
            return self._tokenizer(request)
        details = request.method == "GET" and url.path.startswith(DETAILS_PREFIX)
        if ((request.method, url.path) not in (("POST", "/v2/chat"), ("GET", "/v1/models"))
                and not details) or (url.path.startswith("/v1/models")
                                     and not settings.list_models):
            return _json(404, {"message": f"stub: no route for {request.method} {url.path}"})
        if not authorized:
            return _json(401, {"message": "invalid api token"})
        if url.path == "/v1/models":
            return _json(*models_page(parse_qs(url.query), settings.models))
        if details:
            scheme = "https" if self.server.tls is not None else "http"
            origin = f"{scheme}://{request.headers.get('Host') or '127.0.0.1'}"
            return _json(*model_details(url.path, origin, settings.models,
                                        settings.context_limit))
        if problem := rules.body_problem(request.json):
            return _json(400, {"message": problem})
        if missing := unknown_model(request.json, settings.models):
            return _json(404, {"message": missing})
        if problem := answers.context_problem(request.json, settings.context_limit):
            return _json(400, {"message": problem})
        number, position, spec = self.state.book.take(advance)
        try:
            echoed = answers.credentials(request.headers) if settings.echo_key else ()
            response = answers.build_reply(request.json, spec, answers.reply_id(number),
                                           echoed)
            if request.json.get("stream"):
                frames = sse_frames(stream_events(response, answers.echo_cuts(echoed)))
                return _Answer(200, frames=frames, response=response)
            return _Answer(200, orjson.dumps(response), response=response)
        except Exception as error:  # answered and logged, never dropped
            return _cannot_serve(position, error)

    def _tokenizer(self, request: RecordedRequest) -> _Answer:
        """The tokenizer file, as a public URL serves it: never with a key."""
        if "Authorization" in request.headers:
            return _json(400, {"message": "stub: a public file takes no Authorization header"})
        try:
            return _Answer(200, tokenizer_file())
        except OSError as error:
            return _cannot_serve(0, error)

    def _inject(self, rule: FailRule, request: RecordedRequest) -> None:
        if rule.kind == "status":
            status = rule.status or 500
            headers: tuple[tuple[str, str], ...] = ()
            if status in (429, 503):
                headers = (("Retry-After", _seconds(self.state.settings.retry_after)),)
            self._log(request, status, fault=rule)
            self._send(_json(status, {"message": f"stub: injected {status}"}, headers))
        elif rule.kind == "garbage":
            self._log(request, 200, fault=rule)
            self._head(200, "application/json", ("Content-Length", str(len(GARBAGE))))
            self.wfile.write(GARBAGE)
        elif rule.kind == "cut":
            answer = self._route(request, advance=False)
            self._log(request, answer.status, answer.response, rule)
            self._send(answer, cut=rule.events or 0)
        else:  # drop, or hang until the server stops: then close, without a reply
            self._log(request, None, fault=rule)
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
        self._head(answer.status, answer.content_type, ("Content-Length", str(len(data))),
                   *answer.headers)
        if cut is None:
            self.wfile.write(data)
        else:
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True

    def _send_events(self, frames: list[Frame], cut: int | None) -> None:
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


