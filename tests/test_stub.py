"""The `stub` server (README "Testing offline with `stub`") over real loopback HTTP,
checked against the official schema."""
from __future__ import annotations

import contextlib
import gc
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import official
import orjson
import pytest
import requests
from conftest import wait_for
from hypothesis import given
from hypothesis import strategies as st

from cohere_cli.base.errors import UsageError
from cohere_cli.chat import rules as rules
from cohere_cli.stub.events import split_tokens
from cohere_cli.stub.replies import RepliesError, load_replies
from cohere_cli.stub.server import StubServer, run_stub
from cohere_cli.stub.settings import FailRule, StubSettings, parse_fail_rule

KEY = "co-test-key-not-real"
AUTH = {"Authorization": f"Bearer {KEY}"}
ROOT = Path(__file__).resolve().parent.parent
MODEL = "command-a-plus-05-2026"


def body(text: str = "Hello, world!", **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **fields}


@pytest.fixture
def make_server() -> Iterator[Any]:
    servers: list[StubServer] = []

    def make(*fail: str, **settings: Any) -> StubServer:
        rules_ = tuple(parse_fail_rule(rule) for rule in fail)
        server = StubServer(StubSettings(fail_rules=rules_, **settings))
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server: Any) -> StubServer:
    return make_server()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as client:
        client.trust_env = False  # no proxy from the environment: loopback only
        yield client


def post(client: requests.Session, server: StubServer, payload: Any = None, **kwargs: Any):
    headers = kwargs.pop("headers", AUTH)
    kwargs.setdefault("timeout", 10)
    return client.post(f"{server.url}/v2/chat", json=payload or body(), headers=headers, **kwargs)


def parse_sse(text: str) -> tuple[list[dict[str, Any]], bool]:
    """The events' data (with the `event:` name checked against the data's type) and
    whether the stream ended with `data: [DONE]`."""
    events, done = [], False
    for frame in filter(None, text.split("\n\n")):
        fields = dict(line.split(": ", 1) for line in frame.split("\n"))
        if fields["data"] == "[DONE]":
            done = True
            continue
        assert not done, "an event after [DONE]"
        data = orjson.loads(fields["data"])
        assert fields["event"] == data["type"]
        official.validate_event(data)
        events.append(data)
    return events, done


def rebuild(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The non-streamed response the events stand for (as a client would rebuild it)."""
    message: dict[str, Any] = {"role": "assistant"}
    response: dict[str, Any] = {"id": events[0]["id"], "message": message}
    citations: dict[int, dict[str, Any]] = {}
    for event in events[1:]:
        kind, delta = event["type"], event.get("delta", {}).get("message", {})
        if kind == "content-start":
            message.setdefault("content", []).append(dict(delta["content"]))
        elif kind == "content-delta":
            block = message["content"][event["index"]]
            for name, piece in delta["content"].items():
                block[name] += piece
        elif kind == "tool-plan-delta":
            message["tool_plan"] = message.get("tool_plan", "") + delta["tool_plan"]
        elif kind == "tool-call-start":
            message.setdefault("tool_calls", []).append(delta["tool_calls"])
        elif kind == "tool-call-delta":
            function = message["tool_calls"][event["index"]]["function"]
            function["arguments"] += delta["tool_calls"]["function"]["arguments"]
        elif kind == "citation-start":
            citations[event["index"]] = delta["citations"]
        elif kind == "message-end":
            response.update(event["delta"])
    if citations:
        message["citations"] = [citations[number] for number in sorted(citations)]
    return response


def streamed(client: requests.Session, server: StubServer, payload: dict[str, Any]):
    answer = post(client, server, {**payload, "stream": True})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/event-stream"
    events, done = parse_sse(answer.content.decode("utf-8"))  # not .text: SSE is always UTF-8
    assert done
    return events


# --- replies ---------------------------------------------------------------------------


def test_echo_reply_has_the_official_shape(server: StubServer, session: requests.Session) -> None:
    answer = post(session, server)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    reply = answer.json()
    official.validate_response(reply)
    example = official.example("default")["response"]["body"]
    assert set(reply) == set(example)
    assert set(reply["message"]) == set(example["message"])
    assert reply["message"]["role"] == "assistant"
    assert reply["message"]["content"] == [{"type": "text", "text": "echo: Hello, world!"}]
    assert reply["finish_reason"] == "COMPLETE"
    assert reply["usage"] == {
        "billed_units": {"input_tokens": 2, "output_tokens": 3},
        "tokens": {"input_tokens": 2, "output_tokens": 3},
    }
    assert len(reply["id"]) == 36 and reply["id"].count("-") == 4


def test_echo_uses_the_last_user_message_and_joins_text_blocks(
    server: StubServer, session: requests.Session
) -> None:
    blocks = [
        {"type": "text", "text": "first"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "sécond ✓"},
    ]
    messages = [
        {"role": "system", "content": "Be terse"},
        {"role": "user", "content": "old"},
        {"role": "assistant", "content": "echo: old"},
        {"role": "user", "content": blocks},
    ]
    reply = post(session, server, {"model": MODEL, "messages": messages}).json()
    assert reply["message"]["content"][0]["text"] == "echo: first\nsécond ✓"


def test_streamed_echo_matches_the_non_streamed_reply(
    server: StubServer, session: requests.Session
) -> None:
    text = "Tell me about LLMs,  please!\n\nThank you."
    plain = post(session, server, body(text)).json()
    events = streamed(session, server, body(text))
    kinds = [event["type"] for event in events]
    assert kinds[:2] == ["message-start", "content-start"]
    assert kinds[-2:] == ["content-end", "message-end"]
    assert set(kinds[2:-2]) == {"content-delta"} and len(kinds) > 6
    assert events[0]["delta"] == {"message": {"role": "assistant"}}
    assert all(event["index"] == 0 for event in events[1:-1])
    deltas = "".join(e["delta"]["message"]["content"]["text"] for e in events[2:-2])
    assert deltas == plain["message"]["content"][0]["text"] == f"echo: {text}"
    rebuilt = rebuild(events)
    official.validate_response(rebuilt)
    assert {**rebuilt, "id": plain["id"]} == plain
    assert events[-1]["delta"]["usage"] == plain["usage"]


def test_each_sse_event_is_flushed_as_it_is_made(make_server: Any) -> None:
    """The stub waits an hour before the first delta: the events made before it arrive
    during that wait (a stream written out at its end would arrive in an hour, and the
    read would time out)."""
    server = make_server(token_delay_ms=3_600_000)
    connection = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]),
                                            timeout=30)
    connection.request("POST", "/v2/chat", orjson.dumps(body("one two three four", stream=True)),
                       {**AUTH, "Content-Type": "application/json"})
    response = connection.getresponse()
    kinds: list[bytes] = []
    while len(kinds) < 2:
        line = response.readline()
        if line.startswith(b"event: "):
            kinds.append(line.removeprefix(b"event: ").strip())
    connection.close()
    assert kinds == [b"message-start", b"content-start"]


@given(st.text())
def test_tokens_join_back_to_the_exact_text(text: str) -> None:
    pieces = split_tokens(text)
    assert "".join(pieces) == text
    assert all(pieces)


def test_replies_are_played_in_order_and_the_last_repeats(
    make_server: Any, session: requests.Session, tmp_path: Path
) -> None:
    path = tmp_path / "replies.jsonl"
    tool_reply = {"message": {"content": "from an object"}, "finish_reason": "COMPLETE"}
    path.write_text(f'"first"\n\n"second"\n{orjson.dumps(tool_reply).decode()}\n')
    server = make_server(replies=load_replies(path))
    texts = [post(session, server).json()["message"]["content"][0]["text"] for _ in range(4)]
    assert texts == ["first", "second", "from an object", "from an object"]
    assert "usage" not in post(session, server).json()  # an object is used as it is
    events = streamed(session, server, body())
    assert rebuild(events)["message"]["content"][0]["text"] == "from an object"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('"ok"\n{"message": ', "2: invalid JSON"),
        ('"ok"\n42\n', "2: a reply must be a JSON string"),
        ('{"text": "hi"}\n', "1: a reply object needs a \"message\""),
        ('{"message": {"tool_calls": {}}}\n', '1: "message.tool_calls" must be a list'),
    ],
)
def test_bad_replies_file_names_file_and_line(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "replies.jsonl"
    path.write_text(content)
    with pytest.raises(RepliesError, match="replies.jsonl:" + problem.replace("(", r"\(")):
        load_replies(path)


def test_tool_call_reply_streams_as_tool_call_events(
    make_server: Any, session: requests.Session
) -> None:
    official_tools = official.example("tools")["response"]["body"]
    del official_tools["id"]
    server = make_server(replies=(official_tools,))
    plain = post(session, server).json()
    official.validate_response(plain)
    assert plain["message"] == official_tools["message"]
    assert plain["finish_reason"] == "TOOL_CALL" and plain["usage"] == official_tools["usage"]
    events = streamed(session, server, body())
    kinds = [event["type"] for event in events]
    assert kinds[1] == "content-start"
    assert kinds.count("tool-call-start") == kinds.count("tool-call-end") == 2
    assert kinds.index("content-end") < kinds.index("tool-call-start")
    starts = [e for e in events if e["type"] == "tool-call-start"]
    assert starts[1]["index"] == 1
    assert starts[0]["delta"]["message"]["tool_calls"]["function"]["arguments"] == ""
    assert kinds.count("tool-call-delta") > 4
    rebuilt = rebuild(events)
    assert rebuilt["message"] == plain["message"]
    assert rebuilt["finish_reason"] == "TOOL_CALL"


def test_tool_plan_and_argument_objects(make_server: Any, session: requests.Session) -> None:
    call = {"function": {"name": "lookup", "arguments": {"city": "Paris"}}}
    reply = {"message": {"tool_plan": "I will look it up.", "tool_calls": [call]}}
    server = make_server(replies=(reply,))
    events = streamed(session, server, body())
    assert [e["type"] for e in events[1:6]] == ["tool-plan-delta"] * 5
    message = rebuild(events)["message"]
    assert message["tool_plan"] == "I will look it up."
    assert message["tool_calls"] == [
        {"id": "lookup_0", "type": "function",
         "function": {"name": "lookup", "arguments": '{"city":"Paris"}'}},
    ]
    assert rebuild(events)["finish_reason"] == "TOOL_CALL"


def test_citations_and_thinking_stream_in_place(
    make_server: Any, session: requests.Session
) -> None:
    documents = official.example("documents")["response"]["body"]
    thinking = {"type": "thinking", "thinking": "Let me compare."}
    documents["message"]["content"].insert(0, thinking)
    for citation in documents["message"]["citations"]:
        citation["content_index"] = 1
    server = make_server(replies=(documents,))
    plain = post(session, server).json()
    official.validate_response(plain)
    events = streamed(session, server, body())
    assert events[1]["delta"]["message"]["content"] == {"type": "thinking", "thinking": ""}
    rebuilt = rebuild(events)
    assert rebuilt["message"] == plain["message"]
    text = plain["message"]["content"][1]["text"]
    streamed_so_far = ""
    for event in events:
        if event["type"] == "content-delta" and event["index"] == 1:
            streamed_so_far += event["delta"]["message"]["content"]["text"]
        if event["type"] == "citation-start":
            citation = event["delta"]["message"]["citations"]
            assert text[citation["start"]:citation["end"]] == citation["text"]
            assert len(streamed_so_far) >= citation["end"]  # not before its text
    ends = [e["index"] for e in events if e["type"] == "citation-end"]
    assert ends == list(range(len(plain["message"]["citations"])))


@pytest.mark.parametrize("stream", [False, True])
def test_max_tokens_cuts_the_reply(server: StubServer, session: requests.Session,
                                   stream: bool) -> None:
    payload = body("one two three four five", max_tokens=3)
    if stream:
        reply = rebuild(streamed(session, server, payload))
    else:
        reply = post(session, server, payload).json()
    assert reply["message"]["content"][0]["text"] == "echo: one two"
    assert reply["finish_reason"] == "MAX_TOKENS"
    assert reply["usage"]["tokens"]["output_tokens"] == 3
    short = post(session, server, body("one", max_tokens=3)).json()
    assert short["finish_reason"] == "COMPLETE"


# --- request checks --------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer "}, {"Authorization": f"Basic {KEY}"}, {"Authorization": KEY}],
)
def test_401_without_a_bearer_token(server: StubServer, session: requests.Session,
                                    headers: dict[str, str]) -> None:
    answer = post(session, server, headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"message": "invalid api token"}
    answer = session.get(f"{server.url}/v1/models", headers=headers, timeout=10)
    assert answer.status_code == 401


def test_bearer_scheme_is_case_insensitive(server: StubServer, session: requests.Session) -> None:
    assert post(session, server, headers={"authorization": f"bearer {KEY}"}).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        body(messages=[{"role": "usr", "content": "hi"}]),
        body(temperature=2),
        {"messages": [{"role": "user", "content": "hi"}]},
        body(messages=[]),
        body(k=501),
        [body()],
    ],
)
def test_400_with_the_rules_message(server: StubServer, session: requests.Session,
                                    payload: Any) -> None:
    answer = post(session, server, payload)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {"message": rules.body_problem(payload)}


def test_400_messages_say_what_is_wrong(server: StubServer, session: requests.Session) -> None:
    unknown = post(session, server, body(messages=[{"role": "usr", "content": "hi"}])).json()
    assert unknown["message"] == 'messages[0]: unknown role "usr"'
    assert "temperature" in post(session, server, body(temperature=2)).json()["message"]
    assert "model" in post(session, server, {"messages": body()["messages"]}).json()["message"]
    garbled = session.post(f"{server.url}/v2/chat", data=b"{not json", headers=AUTH, timeout=10)
    assert garbled.status_code == 400 and "JSON object" in garbled.json()["message"]


def test_unknown_paths_are_404(server: StubServer, session: requests.Session) -> None:
    for method, path in [("GET", "/v2/chat"), ("POST", "/v1/chat"), ("DELETE", "/v1/models")]:
        answer = session.request(method, server.url + path, headers=AUTH, timeout=10)
        assert answer.status_code == 404
        assert path in answer.json()["message"]


# --- faults ----------------------------------------------------------------------------


def test_parse_fail_rule() -> None:
    assert parse_fail_rule("429") == FailRule("status", status=429)
    assert parse_fail_rule("500x3") == FailRule("status", status=500, count=3)
    assert parse_fail_rule("drop") == FailRule("drop")
    assert parse_fail_rule(" HANG ") == FailRule("hang")
    assert parse_fail_rule("cut=3") == FailRule("cut", events=3)
    assert parse_fail_rule("cut=0x2") == FailRule("cut", events=0, count=2)
    assert parse_fail_rule("garbagex2") == FailRule("garbage", count=2)
    for bad in ["", "200", "999", "x2", "drop x0", "cut", "cut=-1", "boom", "429x"]:
        with pytest.raises(ValueError, match="bad fail rule"):
            parse_fail_rule(bad)


@pytest.mark.parametrize(("retry_after", "shown"), [(1, "1"), (2.0, "2"), (0.5, "0.5")])
def test_429_with_retry_after_then_success(make_server: Any, session: requests.Session,
                                           retry_after: float, shown: str) -> None:
    server = make_server("429", retry_after=retry_after)
    first = post(session, server)
    assert first.status_code == 429
    assert first.headers["Retry-After"] == shown
    assert first.json() == {"message": "stub: injected 429"}
    assert post(session, server).status_code == 200


def test_status_rules_count_and_order(make_server: Any, session: requests.Session) -> None:
    server = make_server("500x2", "503", "400")
    answers = [post(session, server) for _ in range(5)]
    assert [a.status_code for a in answers] == [500, 500, 503, 400, 200]
    assert "Retry-After" not in answers[0].headers
    assert answers[2].headers["Retry-After"] == "1"
    assert answers[1].json() == {"message": "stub: injected 500"}
    assert len(server.requests) == 5


def test_faults_apply_to_any_path(make_server: Any, session: requests.Session) -> None:
    server = make_server("503")
    assert session.get(f"{server.url}/v1/models", headers=AUTH, timeout=10).status_code == 503
    assert post(session, server).status_code == 200


def test_drop_closes_without_a_reply(make_server: Any, session: requests.Session) -> None:
    server = make_server("drop")
    with pytest.raises(requests.ConnectionError):
        post(session, server)
    assert post(session, server).json()["message"]["content"][0]["text"] == "echo: Hello, world!"


@pytest.mark.slow
def test_hang_never_answers_and_stop_is_prompt(make_server: Any,
                                               session: requests.Session) -> None:
    server = make_server("hang")
    with pytest.raises(requests.ReadTimeout):
        post(session, server, timeout=0.5)
    assert post(session, server).status_code == 200
    hung = make_server("hang")

    def stop_once_received() -> None:
        wait_for(lambda: len(hung.requests) == 1, "the request to hang")
        hung.stop()

    threading.Thread(target=stop_once_received, daemon=True).start()
    # stop() ends the hang: closed, no reply (had it not, this would be a ReadTimeout)
    with pytest.raises(requests.ConnectionError):
        post(session, hung, timeout=60)


def test_cut_streams_k_events_then_closes(make_server: Any, session: requests.Session) -> None:
    server = make_server("cut=3")
    answer = post(session, server, body(stream=True), stream=True)
    assert answer.status_code == 200
    received = b""
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for chunk in answer.iter_content(chunk_size=None):
            received += chunk
    events, done = parse_sse(received.decode())
    assert [e["type"] for e in events] == ["message-start", "content-start", "content-delta"]
    assert not done
    events = streamed(session, server, body())
    assert events[-1]["type"] == "message-end"


def test_cut_of_a_json_reply_sends_part_of_the_body(make_server: Any,
                                                    session: requests.Session) -> None:
    server = make_server("cut=1", replies=("one", "two"))
    with pytest.raises(requests.RequestException, match="IncompleteRead"):
        post(session, server)
    assert post(session, server).json()["message"]["content"][0]["text"] == "one"


def test_garbage_is_a_200_that_is_not_json(make_server: Any, session: requests.Session) -> None:
    server = make_server("garbagex2")
    for _ in range(2):
        answer = post(session, server)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "application/json"
        with pytest.raises(ValueError):
            orjson.loads(answer.content)
    assert post(session, server).status_code == 200


def test_latency_is_served_in_parallel(make_server: Any) -> None:
    """With an hour of latency, 16 requests are all received and waiting at once (served
    one at a time, the second would be read in an hour); stop() then closes them all."""
    server = make_server(latency_ms=3_600_000)
    outcomes: list[str] = []

    def one() -> None:
        with requests.Session() as client:
            client.trust_env = False
            try:
                outcomes.append(str(post(client, server, timeout=60).status_code))
            except requests.ConnectionError:
                outcomes.append("closed")

    threads = [threading.Thread(target=one, daemon=True) for _ in range(16)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(server.requests) == 16, "16 requests waiting at once")
    assert outcomes == []
    server.stop()
    for thread in threads:
        thread.join(60)
    assert outcomes == ["closed"] * 16


@pytest.mark.slow
def test_latency_delays_the_answer(make_server: Any, session: requests.Session) -> None:
    server = make_server(latency_ms=300)
    started = time.monotonic()
    assert post(session, server).status_code == 200
    assert time.monotonic() - started >= 0.3


# --- HTTP behaviour, models, the request log -------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection(server: StubServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    for payload in [body("a"), body("b", stream=True), body(messages=[]), body("c")]:
        connection.request("POST", "/v2/chat", orjson.dumps(payload),
                           {**AUTH, "Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status in (200, 400)
        assert not response.will_close
    connection.close()
    assert [r.json["messages"][0]["content"] for r in server.requests if r.json["messages"]] == [
        "a", "b", "c"
    ]


def test_models_pagination_over_all_pages(server: StubServer, session: requests.Session) -> None:
    def all_names(**params: Any) -> tuple[list[str], int]:
        names, pages, token = [], 0, None
        while True:
            query = {**params, **({"page_token": token} if token else {})}
            answer = session.get(f"{server.url}/v1/models", params=query, headers=AUTH,
                                 timeout=10)
            assert answer.status_code == 200
            page = answer.json()
            official.validate_models_page(page)
            names += [model["name"] for model in page["models"]]
            pages += 1
            token = page.get("next_page_token")
            if not token:
                return names, pages

    chat, pages = all_names(endpoint="chat")
    assert pages >= 3 and len(chat) == len(set(chat)) >= 5
    assert MODEL in chat and not any(name.startswith("embed") for name in chat)
    everything, _ = all_names()
    assert set(everything) - set(chat) == {"embed-v4.0"}
    assert all_names(endpoint="chat", page_size=1000) == (chat, 1)
    assert all_names(endpoint="chat", page_size=1)[1] == len(chat)


@pytest.mark.parametrize(
    "query", ["page_token=not-a-token", "page_size=0", "page_size=abc", "endpoint=chatty"]
)
def test_models_bad_query_is_400(server: StubServer, session: requests.Session,
                                 query: str) -> None:
    answer = session.get(f"{server.url}/v1/models?{query}", headers=AUTH, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["message"]


def test_request_log_records_everything(server: StubServer, session: requests.Session) -> None:
    post(session, server, body("logged"), headers={**AUTH, "X-Client-Name": "tests"})
    session.get(f"{server.url}/v1/models?endpoint=chat", headers=AUTH, timeout=10)
    first, second = server.requests
    assert (first.method, first.path) == ("POST", "/v2/chat")
    assert first.json == body("logged") == orjson.loads(first.body)
    assert first.headers["x-client-name"] == first.headers["X-Client-Name"] == "tests"
    assert first.headers["AUTHORIZATION"] == f"Bearer {KEY}"
    assert KEY not in repr(first)
    assert (second.method, second.path, second.body) == ("GET", "/v1/models?endpoint=chat", b"")
    assert second.json is None


def test_stop_closes_idle_keep_alive_connections(make_server: Any) -> None:
    """An idle keep-alive connection would hold its thread for the read timeout (an hour
    here): stop() returns without waiting for it, and the client sees the close."""
    server = make_server(read_timeout=3600)
    connection = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]),
                                            timeout=30)
    connection.request("POST", "/v2/chat", orjson.dumps(body()),
                       {**AUTH, "Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    assert response.status == 200 and not response.will_close  # kept open, idle
    stopping = threading.Thread(target=server.stop, daemon=True)
    stopping.start()
    stopping.join(30)
    assert not stopping.is_alive(), "stop() waited for an idle connection"
    assert connection.sock is not None and connection.sock.recv(1) == b""  # closed
    connection.close()


def test_port_in_use_is_a_usage_error(server: StubServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with pytest.raises(UsageError, match="cannot listen"):
        StubServer(StubSettings(port=port)).start()


# --- run_stub as a program --------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_stub_prints_its_url_and_stops_quietly(sig: signal.Signals) -> None:
    code = ("from cohere_cli.stub.server import run_stub;"
            "from cohere_cli.stub.settings import StubSettings; run_stub(StubSettings())")
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:")
        with requests.Session() as client:
            client.trust_env = False
            answer = client.post(f"{url}/v2/chat", json=body(), headers=AUTH, timeout=10)
        assert answer.status_code == 200
        process.send_signal(sig)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert out == b"" and err == b""


def test_run_stub_restores_signal_handlers() -> None:
    before = signal.getsignal(signal.SIGINT)

    def interrupt_once_handled() -> None:  # a SIGINT before run_stub handles it would
        wait_for(lambda: signal.getsignal(signal.SIGINT) is not before, "the stub's handler")
        os.kill(os.getpid(), signal.SIGINT)  # interrupt the test itself

    threading.Thread(target=interrupt_once_handled, daemon=True).start()
    run_stub(StubSettings())
    assert signal.getsignal(signal.SIGINT) is before


def test_the_program_says_nothing_on_stderr_whatever_clients_do() -> None:
    code = (
        "from cohere_cli.stub.server import run_stub;"
        "from cohere_cli.stub.settings import StubSettings, parse_fail_rule as p;"
        "run_stub(StubSettings(token_delay_ms=20,"
        " fail_rules=(p('drop'), p('cut=2'), p('garbage'), p('500'))))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()
        with requests.Session() as client:
            client.trust_env = False
            for _ in range(4):
                with contextlib.suppress(requests.RequestException):
                    post_url(client, url, body(stream=True))
            host, port = url.removeprefix("http://").split(":")
            payload = orjson.dumps(body("a b c d e f g h", stream=True))
            head = f"POST /v2/chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            with socket.create_connection((host, int(port))) as raw:  # goes away mid-stream
                raw.sendall(f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
                assert raw.recv(100).startswith(b"HTTP/1.1 200")
            with socket.create_connection((host, int(port))) as raw:
                raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")
                assert b"400" in raw.recv(1000)
            assert post_url(client, url, body()).status_code == 200
        gc.collect()  # a failed request's traceback holds its socket open in a cycle
        # every connection answered or gone: only the main and the accepting thread left
        tasks = Path(f"/proc/{process.pid}/task")
        wait_for(lambda: len(list(tasks.iterdir())) == 2, "the stub's connections to end")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert (process.returncode, out, err) == (0, b"", b"")


def post_url(client: requests.Session, url: str, payload: Any) -> requests.Response:
    return client.post(f"{url}/v2/chat", json=payload, headers=AUTH, timeout=10)


def test_bad_replies_given_in_process_are_refused() -> None:
    with pytest.raises(ValueError, match='reply 2: a reply object needs a "message"'):
        StubServer(StubSettings(replies=("fine", {"text": "no message"})))
