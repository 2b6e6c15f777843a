"""The stub's fidelity (issue 17, stub side): logprobs on the streamed deltas as in the
non-streamed reply, a URL a client can use whatever address it listens on, `-v` (a line a
request), and `--models FILE` (the list served, and Cohere's 404 for any other model)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import official
import orjson
import pytest
import requests
from conftest import ROOT, TEST_KEY, assert_no_key, invoke, wait_for

from cohere_cli.base.errors import UsageError
from cohere_cli.stub.models import MODELS, load_models
from cohere_cli.stub.replies import load_replies
from cohere_cli.stub.server import StubServer
from cohere_cli.stub.settings import StubSettings

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
MODEL = "command-a-plus-05-2026"


def chat_body(text: str = "Hello, world! How are you?", **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **fields}


@pytest.fixture
def serve() -> Iterator[Callable[..., StubServer]]:
    servers: list[StubServer] = []

    def make(**settings: Any) -> StubServer:
        server = StubServer(StubSettings(**settings))
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def session() -> requests.Session:
    client = requests.Session()
    client.trust_env = False  # loopback only
    return client


def post(url: str, body: Any, headers: dict[str, str] | None = None,
         path: str = "/v2/chat") -> requests.Response:
    with session() as client:
        return client.post(f"{url}{path}", json=body, headers=AUTH if headers is None else headers,
                           timeout=10)


def stream(url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of a streamed chat answer, each checked against the official schema."""
    answer = post(url, {**body, "stream": True})
    assert answer.status_code == 200
    events = [orjson.loads(line[6:]) for line in answer.text.splitlines()
              if line.startswith("data: {")]
    for event in events:
        official.validate_event(event)
    return events


def carried(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event["logprobs"] for event in events if "logprobs" in event]


def replies_file(tmp_path: Path, *replies: Any) -> tuple[object, ...]:
    path = tmp_path / "replies.jsonl"
    path.write_bytes(b"".join(orjson.dumps(reply) + b"\n" for reply in replies))
    return load_replies(path)


# --- logprobs --------------------------------------------------------------------------------


def test_logprobs_ride_on_the_deltas_and_join_to_the_non_streamed_list(
        serve: Callable[..., StubServer]) -> None:
    url = serve().url
    whole = post(url, chat_body(logprobs=True)).json()
    official.validate_response(whole)
    items = whole["logprobs"]
    assert "".join(item["text"] for item in items) == whole["message"]["content"][0]["text"]
    assert all(len(item["token_ids"]) == len(item["logprobs"]) == 1 for item in items)
    events = stream(url, chat_body(logprobs=True))
    assert carried(events) == items
    deltas = [event for event in events if event["type"] == "content-delta"]
    assert all(event["logprobs"]["text"] == event["delta"]["message"]["content"]["text"]
               for event in deltas)
    assert "logprobs" not in post(url, chat_body(logprobs=False)).json()  # only when asked
    assert carried(stream(url, chat_body())) == []


def test_max_tokens_cuts_the_logprobs_with_the_text(serve: Callable[..., StubServer]) -> None:
    whole = post(serve().url, chat_body("one two three four", logprobs=True, max_tokens=2)).json()
    assert [item["text"] for item in whole["logprobs"]] == ["echo", ":", " one"]


def test_canned_logprobs_that_make_up_the_text_are_its_deltas(
        serve: Callable[..., StubServer], tmp_path: Path) -> None:
    items = [{"text": "Hel", "token_ids": [1, 2], "logprobs": [-0.5, -0.25]},
             {"text": "lo wor", "token_ids": [3], "logprobs": [-1.0]},
             {"text": "ld", "token_ids": [4], "logprobs": [-0.125]}]
    reply = {"message": {"content": "Hello world"}, "logprobs": items}
    url = serve(replies=replies_file(tmp_path, reply)).url
    assert post(url, chat_body(logprobs=True)).json()["logprobs"] == items
    events = stream(url, chat_body(logprobs=True))
    assert carried(events) == items
    texts = [e["delta"]["message"]["content"]["text"] for e in events
             if e["type"] == "content-delta"]
    assert texts == ["Hel", "lo wor", "ld"]


@pytest.mark.parametrize("count", [1, 5])  # fewer items than tokens, and more
def test_canned_logprobs_that_do_not_match_the_text_are_all_streamed(
        serve: Callable[..., StubServer], tmp_path: Path, count: int) -> None:
    items = [{"token_ids": [n], "logprobs": [-n / 4]} for n in range(count)]
    content = [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "Hi there"}]
    reply = {"message": {"content": content}, "logprobs": items}
    url = serve(replies=replies_file(tmp_path, reply)).url
    assert post(url, chat_body()).json()["logprobs"] == items
    events = stream(url, chat_body())
    assert carried(events) == items
    text = "".join(e["delta"]["message"]["content"].get("text", "") for e in events
                   if e["type"] == "content-delta")
    assert text == "Hi there"


def test_a_canned_reply_without_logprobs_gets_them_when_asked(
        serve: Callable[..., StubServer], tmp_path: Path) -> None:
    url = serve(replies=replies_file(tmp_path, {"message": {"content": "Plain text."}})).url
    whole = post(url, chat_body(logprobs=True)).json()["logprobs"]
    assert [item["text"] for item in whole] == ["Plain", " text", "."]
    assert carried(stream(url, chat_body(logprobs=True))) == whole


def test_logprobs_without_content_to_carry_them_are_refused_at_start_up(tmp_path: Path) -> None:
    reply = {"message": {"tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
             "logprobs": [{"token_ids": [1]}]}
    with pytest.raises(UsageError, match=r'replies.jsonl:1: "logprobs" need a "message.content"'):
        replies_file(tmp_path, reply)


def test_json_streamed_and_not_print_the_same_logprobs(make_stub: Any) -> None:
    make_stub()
    printed = [invoke(["--no-stdin", "--json", flag, "--logprobs", "Hello, there"])
               for flag in ("--stream", "--no-stream")]
    assert [result.exit_code for result in printed] == [0, 0]
    streamed, whole = (orjson.loads(result.stdout)["logprobs"] for result in printed)
    assert streamed == whole and len(whole) == 5


# --- the stub as a program: its URL and -v ---------------------------------------------------


class Program:
    """`cohere-chat stub ARGS` as a process, its stdout and stderr in files."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.out, self.err = folder / "stub.out", folder / "stub.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cohere_cli", "stub", *args], stdout=out, stderr=err,
                cwd=ROOT, env=dict(os.environ))
        wait_for(lambda: self.out.read_bytes().endswith(b"\n") or self.process.poll() is not None,
                 "the stub's URL")
        self.url = self.out.read_text().splitlines()[0]

    def lines(self) -> list[str]:
        return self.err.read_text().splitlines()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=30) == 0
        assert_no_key(self.out.read_bytes(), self.err.read_bytes())


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize(("host", "shown"), [("0.0.0.0", "127.0.0.1"), ("::", "[::1]")])
def test_listening_on_every_address_prints_a_url_on_loopback(
        tmp_path: Path, host: str, shown: str) -> None:
    if ":" in host and not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    stub = Program(tmp_path, "--host", host)
    try:
        assert stub.url.startswith(f"http://{shown}:")
        assert post(stub.url, chat_body("ping")).json()["message"]["content"][0]["text"] == (
            "echo: ping")
        env = {**os.environ, "CO_API_URL": stub.url, "CO_API_KEY": TEST_KEY}
        sent = subprocess.run([sys.executable, "-m", "cohere_cli", "--no-stdin", "pong"],
                              capture_output=True, env=env, cwd=ROOT, timeout=30)
        assert (sent.returncode, sent.stdout) == (0, b"echo: pong\n")
    finally:
        stub.stop()


@pytest.mark.slow
def test_verbose_writes_one_escaped_line_a_request_and_never_the_key(tmp_path: Path) -> None:
    stub = Program(tmp_path, "-v", "--fail", "503", "--fail", "drop")
    try:
        assert post(stub.url, chat_body()).status_code == 503
        with pytest.raises(requests.ConnectionError):
            post(stub.url, chat_body())
        odd = "evil\x1b[31m model\n\u202e\\"
        assert post(stub.url, chat_body("a b c", model=odd, stream=True),
                    path=f"/v2/chat?key={TEST_KEY}").status_code == 200
        assert post(stub.url, chat_body("one two", logprobs=True)).status_code == 200
        with session() as client:
            assert client.get(f"{stub.url}/v1/models", headers=AUTH, timeout=10).ok
        assert post(stub.url, chat_body(), headers={}).status_code == 401
        assert post(stub.url, {"model": 7}).status_code == 400
        wait_for(lambda: len(stub.lines()) == 7, "seven lines on stderr")
    finally:
        stub.stop()
    assert stub.lines() == [
        f"cohere-chat stub: POST /v2/chat 503 model={MODEL} tokens=- injected=503",
        f"cohere-chat stub: POST /v2/chat - model={MODEL} tokens=- injected=drop",
        "cohere-chat stub: POST /v2/chat?key=*** 200 "
        "model=evil\\x1b[31m\\x20model\\x0a\\u202e\\x5c tokens=3/4",
        f"cohere-chat stub: POST /v2/chat 200 model={MODEL} tokens=2/3",
        "cohere-chat stub: GET /v1/models 200 model=- tokens=-",
        f"cohere-chat stub: POST /v2/chat 401 model={MODEL} tokens=-",
        "cohere-chat stub: POST /v2/chat 400 model=7 tokens=-",
    ]


# --- --models FILE ---------------------------------------------------------------------------

OWN = {"name": "own-model", "endpoints": ["chat"], "context_length": 4096, "finetuned": True}
MODEL_FILES = {
    "names.jsonl": b'"command-a-plus-05-2026"\n\n"own-model"\n',
    "objects.json": orjson.dumps([MODELS[0], OWN]),
    "printed.jsonl": orjson.dumps(MODELS[0]) + b"\n" + orjson.dumps(OWN) + b"\n",
}


def every_model(url: str, query: str = "") -> list[dict[str, Any]]:
    """Every model of every page of GET /v1/models, each page checked by the schema."""
    models: list[dict[str, Any]] = []
    token = ""
    with session() as client:
        while True:
            page = client.get(f"{url}/v1/models?page_token={token}{query}", headers=AUTH,
                              timeout=10).json()
            official.validate_models_page(page)
            models += page["models"]
            token = page.get("next_page_token", "")
            if not token:
                return models


@pytest.mark.parametrize("name", sorted(MODEL_FILES))
def test_models_file_is_the_list_served_and_the_only_models_a_chat_may_name(
        serve: Callable[..., StubServer], tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(MODEL_FILES[name])
    url = serve(models=load_models(path)).url
    listed = every_model(url)
    assert [model["name"] for model in listed] == [MODEL, "own-model"]
    if name != "names.jsonl":
        assert listed == [MODELS[0], {**listed[1], **OWN}]
    assert [m["name"] for m in every_model(url, "&endpoint=embed")] == []
    assert post(url, chat_body(model="own-model")).status_code == 200
    typo = post(url, chat_body(model="command-a-plux"))
    assert typo.status_code == 404
    assert typo.json() == {"message": "model 'command-a-plux' not found, make sure the correct "
                           "model ID was used and that you have access to the model."}
    url = serve().url  # without --models: the built-in list, and any model will do
    assert post(url, chat_body(model="command-a-plux")).status_code == 200
    assert every_model(url) == list(MODELS)


def test_a_mistyped_model_is_a_404_with_its_message_offline(
        make_stub: Any, tmp_path: Path) -> None:
    path = tmp_path / "models.jsonl"
    path.write_bytes(MODEL_FILES["names.jsonl"])
    make_stub(models=load_models(path))
    result = invoke(["--no-stdin", "-m", "command-a-plux", "hi"])
    assert result.exit_code == 5
    assert "model 'command-a-plux' not found" in result.stderr
    assert invoke(["--no-stdin", "-m", "own-model", "hi"]).stdout == "echo: hi\n"


@pytest.mark.parametrize(("content", "problem"), [
    (b'"fine"\n{"nom": "x"}\n', ':2: each model must be a name or an object with a "name"'),
    (b'"fine"\nnot json\n', ":2: invalid JSON"),
    (b'[{"name": "x", "endpoints": "chat"}]', ': "endpoints" must be a list of endpoint names'),
    (b'["fine", 3]', ': each model must be a name or an object with a "name"'),
])
def test_a_bad_models_file_stops_the_stub_at_start_up_naming_it(
        tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "models.jsonl"
    path.write_bytes(content)
    result = invoke(["stub", "--models", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""  # refused before listening: no URL
    assert f"--models: {path}{problem}" in result.stderr
