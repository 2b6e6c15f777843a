"""Wire fidelity, round two (issue 17, client side): streamed logprobs rebuilt as the
non-streamed response has them, the request rules the API documents (refused before
sending, and answered 400 by the stub), no retry of what cannot help, and a hint with
every error that says what to do next.

The servers are loopback: the stub, `chaos.ChaosServer` (scripted replies, counted), and
`ChatServer` below, which answers a chat request as JSON or as an event stream, as the
request's `stream` asks, from one hand-written reply.
"""
from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from chaos import ChaosServer, Reply
from conftest import TEST_KEY, Served, invoke

from cohere_cli.base.errors import NetworkError
from cohere_cli.chat import rules as request_rules
from cohere_cli.stub.server import StubServer
from cohere_cli.wire.chat_events import ReplyAssembler

LOGPROBS = [
    {"text": "Hi", "token_ids": [12], "logprobs": [-0.25]},
    {"text": " there", "token_ids": [7, 99], "logprobs": [-1.5, -0.125]},
]
REPLY = {
    "id": "r-1", "finish_reason": "COMPLETE",
    "message": {"role": "assistant", "content": [{"type": "text", "text": "Hi there"}]},
    "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 2},
              "tokens": {"input_tokens": 9, "output_tokens": 2}},
    "logprobs": LOGPROBS,
}


def sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(b"event: %s\ndata: %s\n\n" % (e["type"].encode(), orjson.dumps(e))
                    for e in events) + b"data: [DONE]\n\n"


def content_delta(text: str, logprobs: Any, index: int = 0) -> dict[str, Any]:
    """A content-delta event as the OpenAPI's ChatContentDeltaEvent: `logprobs` beside
    `delta`, one LogprobItem."""
    return {"type": "content-delta", "index": index,
            "delta": {"message": {"content": {"text": text}}}, "logprobs": logprobs}


STREAM = sse([
    {"type": "message-start", "id": "r-1", "delta": {"message": {"role": "assistant"}}},
    {"type": "content-start", "index": 0,
     "delta": {"message": {"content": {"type": "text", "text": ""}}}},
    content_delta("Hi", LOGPROBS[0]),
    content_delta(" there", LOGPROBS[1]),
    {"type": "content-end", "index": 0},
    {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": REPLY["usage"]}},
])


class ChatServer(ThreadingHTTPServer):
    """Answers POST /v2/chat with REPLY as JSON, or as STREAM when the body asks for a
    stream; keeps each request body."""

    daemon_threads = True

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), ChatHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer

    def do_POST(self) -> None:
        body = orjson.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.server.bodies.append(body)
        streamed = body.get("stream") is True
        data = STREAM if streamed else orjson.dumps(REPLY)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if streamed else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        return None


@pytest.fixture
def chat_server(served: Served) -> ChatServer:
    return served(ChatServer())


# --- 1. streamed logprobs ------------------------------------------------------------


def test_streamed_and_non_streamed_json_print_the_same_logprobs(chat_server: ChatServer) -> None:
    streamed = invoke(["--json", "--stream", "--logprobs", "hi"])
    whole = invoke(["--json", "--no-stream", "--logprobs", "hi"])
    assert streamed.exit_code == whole.exit_code == 0, streamed.stderr + whole.stderr
    assert [body["stream"] for body in chat_server.bodies] == [True, False]
    assert all(body["logprobs"] is True for body in chat_server.bodies)
    assert orjson.loads(streamed.stdout)["logprobs"] == LOGPROBS
    assert orjson.loads(whole.stdout)["logprobs"] == LOGPROBS


def test_logprobs_are_kept_in_arrival_order_across_blocks() -> None:
    assembler = ReplyAssembler()
    items = [{"text": str(n), "token_ids": [n], "logprobs": [-float(n)]} for n in range(3)]
    for event in (content_delta("a", items[0], 1), content_delta("b", items[1], 0),
                  {"type": "content-delta", "index": 0, "logprobs": items[2]},
                  {"type": "message-end", "delta": {"finish_reason": "COMPLETE"}}):
        assembler.apply(event)
    assert assembler.response()["logprobs"] == items


def test_a_stream_without_logprobs_rebuilds_none() -> None:
    assembler = ReplyAssembler()
    assembler.apply({"type": "content-delta", "delta": {"message": {"content": {"text": "x"}}}})
    assembler.apply({"type": "message-end", "delta": {}})
    assert "logprobs" not in assembler.response()


def test_logprobs_that_are_not_an_object_are_a_malformed_event() -> None:
    assembler = ReplyAssembler()
    with pytest.raises(NetworkError, match=r"malformed content-delta event \(bad logprobs\)"):
        assembler.apply(content_delta("x", [1]))


def test_a_batch_result_line_carries_the_logprobs(chat_server: ChatServer) -> None:
    result = invoke(["batch", "--logprobs"], stdin='{"id": "a", "prompt": "hi"}\n')
    assert result.exit_code == 0, result.stderr
    (line,) = result.lines()
    assert "response" not in line  # no --raw needed
    assert line["logprobs"] == LOGPROBS
    assert chat_server.bodies[0]["logprobs"] is True


# --- 2. the request rules the API documents ----------------------------------------------

TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
TOOLS_JSON = orjson.dumps([TOOL]).decode()
MESSAGES = [{"role": "user", "content": "hi"}]

# name: (flags, the body those flags make, the words of the refusal)
COMBINATIONS: dict[str, tuple[list[str], dict[str, Any], str]] = {
    "tool_choice without tools": (
        ["--tool-choice", "required"], {"tool_choice": "REQUIRED"}, "needs tools"),
    "tool_choice NONE without tools": (
        ["--tool-choice", "none"], {"tool_choice": "NONE"}, "needs tools"),
    "json format with documents": (
        ["--response-format", "json", "--document", "{doc}"],
        {"response_format": {"type": "json_object"}, "documents": ["some text"]},
        "response_format (--response-format) cannot go with tools or documents"),
    "text format with tools": (
        ["--response-format", "text", "--tools", "{tools}"],
        {"response_format": {"type": "text"}, "tools": [TOOL]},
        "response_format (--response-format) cannot go with tools or documents"),
    "safety mode with tools": (
        ["--safety-mode", "strict", "--tools", "{tools}"],
        {"safety_mode": "STRICT", "tools": [TOOL]},
        "safety_mode (--safety-mode) cannot go with tools or documents"),
    "safety mode with documents": (
        ["--safety-mode", "off", "--document", "{doc}"],
        {"safety_mode": "OFF", "documents": ["some text"]},
        "safety_mode (--safety-mode) cannot go with tools or documents"),
    "json_schema with type text": (
        ["--param", 'response_format={"type": "text", "json_schema": {}}'],
        {"response_format": {"type": "text", "json_schema": {}}},
        'json_schema must not be given with type "text"'),
    "tool without parameters": (
        ["--param", 'tools=[{"type": "function", "function": {"name": "f"}}]'],
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        '"parameters": {...}'),
    "document without data": (
        ["--param", 'documents=[{"id": "d"}]'], {"documents": [{"id": "d"}]},
        'each document must be a string or {"data": {...}}'),
}


@pytest.mark.parametrize("name", list(COMBINATIONS))
def test_the_client_refuses_before_sending(name: str, stub: StubServer, tmp_path: Path) -> None:
    flags, _, words = COMBINATIONS[name]
    (tmp_path / "tools.json").write_text(TOOLS_JSON)
    (tmp_path / "doc.txt").write_text("some text")
    args = [f.replace("{doc}", str(tmp_path / "doc.txt")).replace(
        "{tools}", str(tmp_path / "tools.json")) for f in flags]
    result = invoke([*args, "--no-stream", "hi"])
    assert result.exit_code == 2, result.stderr
    assert words in result.stderr and result.stderr.count("\n") == 1
    assert stub.requests == []


@pytest.mark.parametrize("name", list(COMBINATIONS))
def test_the_stub_answers_400_to_the_same_body(name: str, stub: StubServer) -> None:
    _, fields, words = COMBINATIONS[name]
    body = {"model": "command-a-03-2025", "messages": MESSAGES, **fields}
    answer = requests.post(f"{stub.url}/v2/chat", json=body, timeout=10,
                           headers={"Authorization": f"Bearer {TEST_KEY}"})
    assert answer.status_code == 400
    assert words in answer.json()["message"]
    assert answer.json() == {"message": request_rules.body_problem(body)}


def test_the_same_fields_are_sent_without_the_other_half(stub: StubServer,
                                                         tmp_path: Path) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text(TOOLS_JSON)
    for args in (["--tool-choice", "none", "--tools", str(tools)],
                 ["--safety-mode", "strict", "--response-format", "json"]):
        result = invoke([*args, "--no-stream", "hi"])
        assert result.exit_code == 0, result.stderr
    assert len(stub.requests) == 2


# --- 3. retries that cannot help ---------------------------------------------------------


@pytest.mark.parametrize(("status", "sent"), [(501, 1), (505, 1), (503, 3), (500, 3)])
def test_501_and_505_are_not_retried(status: int, sent: int,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CO_API_KEY", TEST_KEY)
    with ChaosServer([Reply(status, b'{"message": "no"}')]) as server:
        result = invoke(["--base-url", server.url, "--retries", "2", "--max-wait", "0",
                         "--no-stream", "hi"])
    assert result.exit_code == 7, result.stderr
    assert result.stderr.startswith(f"cohere-chat: error: HTTP {status}: no")
    assert len(server.seen) == sent


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_a_200_is_never_retried(stream: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CO_API_KEY", TEST_KEY)
    replies = [Reply(200, b'{"not": "a reply"}'), Reply(200, orjson.dumps(REPLY))]
    with ChaosServer(replies) as server:
        result = invoke(["--base-url", server.url, "--retries", "3", "--max-wait", "0",
                         stream, "hi"])
    assert result.exit_code == 7
    assert "not a chat response" in result.stderr
    assert len(server.seen) == 1


# --- 4. hints ----------------------------------------------------------------------------

HINTS = {
    400: "the API refused the request as sent: --dry-run prints the body",
    401: "check the API key (CO_API_KEY or --api-key-file)",
    403: "the key is valid but may not do this",
    404: "check the model name (cohere-chat models) and the base URL {url} (from "
         "environment CO_API_URL)",
    413: "the request is too large",
    422: "the API refused the request as sent",
    429: "rate limited: slow down",
    498: "check the API key",
    500: "the service failed or was busy: try again later",
    501: "the server does not support this request (not retried): check the base URL {url}",
    503: "the service failed or was busy",
    505: "the server does not support this request",
    418: "the API refused the request as sent",
}


@pytest.mark.parametrize("status", list(HINTS))
def test_every_http_error_has_a_hint(status: int, raw_server: Any) -> None:
    server = raw_server(status, "application/json", b'{"message": "nope"}')
    url = f"http://127.0.0.1:{server.server_address[1]}"
    result = invoke(["--no-stream", "--retries", "0", "hi"])
    assert result.stderr.startswith(f"cohere-chat: error: HTTP {status}: nope; ")
    assert HINTS[status].format(url=url) in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_404_names_the_flag_that_gave_the_base_url(raw_server: Any) -> None:
    server = raw_server(404, "application/json", b'{"message": "model not found"}')
    url = f"http://127.0.0.1:{server.server_address[1]}/proxy"
    result = invoke(["--base-url", url, "-m", "comand-a", "--no-stream", "hi"])
    assert result.exit_code == 5
    assert result.stderr == (
        "cohere-chat: error: HTTP 404: model not found; check the model name (cohere-chat "
        f"models) and the base URL {url} (from flag --base-url)\n")


def test_a_404_names_the_config_file_that_gave_the_base_url(
        raw_server: Any, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = raw_server(404, "application/json", b'{"message": "no such model"}')
    monkeypatch.delenv("CO_API_URL")
    config = clean_env / ".config" / "cohere-chat" / "config.ini"
    config.parent.mkdir(parents=True)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    config.write_text(f"[default]\nbase_url = {url}\n")
    result = invoke(["--no-stream", "hi"])
    assert f"the base URL {url} (from {config} [default])" in result.stderr


def test_a_refused_connection_names_the_url_and_its_source(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as closed:  # bound, never listening: every connection is refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        monkeypatch.setenv("CO_API_URL", url)
        monkeypatch.setenv("CO_API_KEY", TEST_KEY)
        result = invoke(["--retries", "0", "--no-stream", "hi"])
    assert result.exit_code == 7
    assert result.stderr.endswith(
        f"Connection refused; is a server listening there? check the base URL {url} "
        "(from environment CO_API_URL)\n")


def test_a_models_404_has_the_hint_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """`models` names no model: its 404 does not suspect one (issue 25 case 13)."""
    monkeypatch.setenv("CO_API_KEY", TEST_KEY)
    with ChaosServer([Reply(404, b'{"message": "not found"}')]) as server:
        result = invoke(["models", "--base-url", server.url])
    assert result.exit_code == 5
    assert f"; check the base URL {server.url} (from flag --base-url)\n" in result.stderr


def test_a_hint_never_shows_credentials_in_the_base_url(raw_server: Any) -> None:
    server = raw_server(404, "application/json", b'{"message": "not found"}')
    port = server.server_address[1]
    result = invoke(["--base-url", f"http://user:s3cret@127.0.0.1:{port}", "--no-stream", "hi"])
    assert result.exit_code == 5
    assert f"the base URL http://127.0.0.1:{port} (from flag --base-url)" in result.stderr
    assert "s3cret" not in result.stderr
