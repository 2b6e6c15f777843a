"""The stub as a program users run in CI: stuck and idle clients, huge fault counts,
`--replies` checked at start-up, bad settings, and a prompt stop."""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import official
import orjson
import pytest
import requests
from conftest import ROOT, TEST_KEY, fuzz_examples, invoke_briefly
from hypothesis import given
from hypothesis import strategies as st

from cohere_cli.base.errors import UsageError
from cohere_cli.stub import answers, events
from cohere_cli.stub import replies as stubreply
from cohere_cli.stub.replies import load_replies
from cohere_cli.stub.server import StubServer
from cohere_cli.stub.settings import FailRule, StubSettings

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
BODY = {"model": "command-a-plus-05-2026", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def serve() -> Iterator[Callable[..., StubServer]]:
    servers: list[StubServer] = []

    def make(tls: ssl.SSLContext | None = None, **settings: Any) -> StubServer:
        server = StubServer(StubSettings(**settings), tls=tls)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def post(url: str, payload: Any = None, **kwargs: Any) -> requests.Response:
    with requests.Session() as client:
        client.trust_env = False  # loopback only
        kwargs.setdefault("timeout", 10)
        return client.post(f"{url}/v2/chat", json=payload or BODY, headers=AUTH, **kwargs)


def address(server_url: str) -> tuple[str, int]:
    host, port = server_url.split("://")[1].rsplit(":", 1)
    return host, int(port)


def closed_within(connection: socket.socket, seconds: float) -> bool:
    """Whether the stub closes `connection` (EOF or reset) within `seconds`."""
    connection.settimeout(seconds)
    try:
        return connection.recv(1000) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def until(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


# --- item 13: idle and stuck connections ---------------------------------------------------


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow  # 300 connections to a stub in its own process
def test_idle_connections_lock_no_one_out_and_cost_no_cpu() -> None:
    """300 clients that send one byte and go quiet, against a stub allowed 256 open
    files and an hour's read timeout: a real client is still answered (without room
    made, it would wait the hour), and the stub does not spin."""
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256));"
        "from cohere_cli.stub.server import run_stub;"
        "from cohere_cli.stub.settings import StubSettings;"
        "run_stub(StubSettings(read_timeout=3600))"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=ROOT)
    idle: list[socket.socket] = []
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()
        for _ in range(300):
            idle.append(socket.create_connection(address(url), timeout=5))
            idle[-1].sendall(b"P")
        assert post(url, timeout=60).status_code == 200
        before = cpu_seconds(process.pid)
        time.sleep(0.5)  # a window to measure CPU in (a loaded machine gives the stub less)
        assert cpu_seconds(process.pid) - before < 0.2  # not spinning on accept()
        assert process.poll() is None
    finally:
        for connection in idle:
            connection.close()
        process.terminate()
        process.communicate(timeout=30)


@pytest.mark.slow
def test_a_request_stuck_half_way_is_closed_after_the_read_timeout(
    serve: Callable[..., StubServer],
) -> None:
    server = serve(read_timeout=0.3)
    with socket.create_connection(address(server.url)) as silent, \
            socket.create_connection(address(server.url)) as line_only, \
            socket.create_connection(address(server.url)) as short_body:
        line_only.sendall(b"POST /v2/chat HTTP/1.1\r\n")
        short_body.sendall(b"POST /v2/chat HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"mo")
        started = time.monotonic()
        for connection in (silent, line_only, short_body):
            assert closed_within(connection, 30)  # with no read timeout: never
        assert time.monotonic() - started > 0.25  # after the read timeout, not at once
    assert server.requests == []  # a request never read whole is not served


@pytest.mark.slow
def test_an_idle_keep_alive_connection_is_closed_after_the_read_timeout(
    serve: Callable[..., StubServer],
) -> None:
    server = serve(read_timeout=0.3)
    payload = orjson.dumps(BODY)
    head = f"POST /v2/chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TEST_KEY}\r\n"
    with socket.create_connection(address(server.url)) as connection:
        connection.sendall(f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        connection.settimeout(30)
        assert connection.recv(100).startswith(b"HTTP/1.1 200")
        until(lambda: closed_within(connection, 0.1))


@pytest.mark.slow
def test_the_read_timeout_does_not_cut_a_slow_answer_or_a_slow_reader(
    serve: Callable[..., StubServer],
) -> None:
    text = "x" * 16_000_000  # one delta of 16 MB: the stub's writes wait for the reader
    server = serve(read_timeout=0.2, latency_ms=300, replies=(text,))
    answer = post(server.url, {**BODY, "stream": True}, stream=True)
    assert answer.status_code == 200
    time.sleep(0.5)  # the scenario: a reader slower to start than the read timeout
    received = b"".join(answer.iter_content(chunk_size=None))
    assert received.endswith(b"data: [DONE]\n\n")


def test_over_the_cap_the_connection_waiting_longest_makes_room(
    serve: Callable[..., StubServer],
) -> None:
    server = serve(max_connections=3, read_timeout=3600)  # no room made: an hour's wait
    idle = [socket.create_connection(address(server.url)) for _ in range(3)]
    for connection in idle:
        connection.sendall(b"P")
    assert post(server.url, timeout=60).status_code == 200  # room made: the oldest went
    assert closed_within(idle[0], 30)
    assert not closed_within(idle[2], 0.2)
    for connection in idle:
        connection.close()


def test_over_the_cap_with_every_connection_busy_a_new_one_is_closed(
    serve: Callable[..., StubServer],
) -> None:
    server = serve(max_connections=2, fail_rules=(FailRule("hang", count=2),))
    head = f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TEST_KEY}\r\n\r\n"
    hung = [socket.create_connection(address(server.url)) for _ in range(2)]
    for connection in hung:
        connection.sendall(head.encode())
    until(lambda: len(server.requests) == 2)
    with socket.create_connection(address(server.url)) as extra:
        assert closed_within(extra, 30)  # without a reply (the two hang for ever)
    server.stop()
    for connection in hung:
        assert closed_within(connection, 30)
        connection.close()



def test_a_client_that_never_starts_its_tls_handshake_blocks_no_one(
    serve: Callable[..., StubServer], certificate: tuple[Path, Path],
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server = serve(tls=context, read_timeout=3600)  # blocked by it: an hour's wait
    with socket.create_connection(address(server.url)):  # connects, says nothing
        with requests.Session() as client:
            client.trust_env = False
            answer = client.post(f"{server.url}/v2/chat", json=BODY, headers=AUTH,
                                 verify=str(certificate[0]), timeout=60)
        assert answer.status_code == 200


def test_stop_ends_the_serving_thread() -> None:
    """The accept loop has no timeout (an idle stub uses no CPU): stop() wakes it, and no
    serving thread is left behind, however many stubs came and went."""
    for _ in range(20):
        with StubServer(StubSettings()) as server:
            assert post(server.url).status_code == 200
        assert not [t for t in threading.enumerate() if t.name == "cohere-chat-stub"]


# --- item 14: fault counts -----------------------------------------------------------------


def test_a_fault_count_is_kept_as_a_number_not_as_copies(
    serve: Callable[..., StubServer],
) -> None:
    tracemalloc.start()
    try:
        StubServer(StubSettings(fail_rules=(FailRule("status", status=500, count=10**6),)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200_000
    server = serve(fail_rules=(FailRule("status", status=503, count=2), FailRule("drop")))
    assert [post(server.url).status_code for _ in range(2)] == [503, 503]
    with pytest.raises(requests.ConnectionError):
        post(server.url)
    assert post(server.url).status_code == 200


# --- item 15: --replies checked at start-up ------------------------------------------------

BAD_REPLIES = [
    ({"tool_calls": [{"function": "weather"}]},
     '"message.tool_calls[0].function" must be an object (got a string "weather")'),
    ({"citations": [{"start": 0, "end": "5"}]},
     '"message.citations[0].end" must be an integer (got a string "5")'),
    ({"citations": [{"content_index": [0]}]},
     '"message.citations[0].content_index" must be an integer (got a list)'),
    ({"citations": [{"start": True}]},
     '"message.citations[0].start" must be an integer (got true/false)'),
    ({"citations": [{"sources": ["doc-1"]}]},
     '"message.citations[0].sources[0]" must be an object (got a string "doc-1")'),
    ({"citations": [{"sources": [{"type": "web"}]}]},
     '"message.citations[0].sources[0].type" must be one of document, tool (got a string "web")'),
    ({"citations": [{"sources": [{"type": "document", "document": "text"}]}]},
     '"message.citations[0].sources[0].document" must be an object'),
    ({"citations": [{"type": "TEXT"}]}, '"message.citations[0].type" must be one of TEXT_CONTENT'),
    ({"content": [{"type": "text"}]}, '"message.content[0]" needs a "text" (a string)'),
    ({"content": [{"text": "hi"}]}, '"message.content[0]" needs a "type" (one of text, thinking)'),
    ({"content": [{"type": "image", "text": "hi"}]}, '"message.content[0].type" must be one of'),
    ({"content": [{"type": "thinking", "thinking": 1}]}, '"message.content[0].thinking" must be'),
    ({"content": 42}, '"message.content" must be a string or a list (got an integer)'),
    ({"tool_calls": [{"type": "func"}]}, '"message.tool_calls[0].type" must be one of function'),
    ({"tool_calls": [{"id": 7}]}, '"message.tool_calls[0].id" must be a string (got an integer)'),
    ({"tool_calls": [{"function": {"name": ["w"]}}]}, '"message.tool_calls[0].function.name"'),
    ({"tool_calls": {}}, '"message.tool_calls" must be a list (got an object)'),
    ({"tool_plan": None}, '"message.tool_plan" must be a string (got null)'),
    ({"role": "user"}, '"message.role" must be one of assistant'),
]
BAD_TOP = [
    ({"message": {}, "finish_reason": "DONE"}, '"finish_reason" must be one of COMPLETE'),
    ({"message": {}, "usage": {"tokens": {"input_tokens": "3"}}},
     '"usage.tokens.input_tokens" must be a number (got a string "3")'),
    ({"message": {}, "logprobs": [{"text": "a"}]}, '"logprobs[0]" needs a "token_ids"'),
    ({"message": {}, "id": 5}, '"id" must be a string'),
]


@pytest.mark.parametrize(
    ("reply", "problem"),
    [*(({"message": message}, problem) for message, problem in BAD_REPLIES), *BAD_TOP],
)
def test_a_bad_replies_line_is_refused_at_start_up_naming_it(
    tmp_path: Path, reply: dict[str, Any], problem: str
) -> None:
    path = tmp_path / "replies.jsonl"
    path.write_bytes(b'"a good first line"\n' + orjson.dumps(reply) + b"\n")
    with pytest.raises(UsageError) as caught:
        load_replies(path)
    assert f"{path}:2: {problem}" in caught.value.message
    assert caught.value.exit_code == 2


def test_the_stub_command_exits_2_on_a_bad_replies_line(tmp_path: Path) -> None:
    path = tmp_path / "replies.jsonl"
    path.write_text('"fine"\n{"message": {"tool_calls": {}}}\n')
    result = invoke_briefly(["stub", "--replies", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""  # refused before listening: no URL
    assert f"{path}:2: " in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


BODIES = [name for name in official.example_names() if "body" in official.example(name)["response"]]


@pytest.mark.parametrize("name", BODIES)
def test_every_official_response_is_a_good_reply(
    serve: Callable[..., StubServer], name: str
) -> None:
    response = official.example(name)["response"]
    assert stubreply.reply_problem(response["body"]) is None
    server = serve(replies=(response["body"],))
    served = post(server.url).json()
    official.validate_response(served)
    assert served["message"] == response["body"]["message"]


def test_a_reply_that_still_cannot_be_served_is_a_500_and_one_stderr_line(
    serve: Callable[..., StubServer], monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    def broken(*_: Any) -> dict[str, Any]:
        raise RuntimeError("boom\nsecond line")

    server = serve(replies=("one",))
    monkeypatch.setattr(answers, "build_reply", broken)
    for stream in (False, True):
        answer = post(server.url, {**BODY, "stream": stream})
        assert answer.status_code == 500
        assert answer.json() == {"message": "stub: cannot serve reply 1: RuntimeError: boom\n"
                                            "second line"}
    err = capfd.readouterr().err
    assert err == "cohere-chat stub: cannot serve reply 1: RuntimeError: boom\\nsecond line\n" * 2


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-1, 1) | st.sampled_from(["", "5"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2), inner,
                                                                 max_size=2),
    max_leaves=4,
)
TEXT = st.text(max_size=6)
NUMBER = st.integers(0, 9) | st.floats(0, 9)
OBJECT = st.dictionaries(TEXT, JSON, max_size=1)


def every(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with every field: the mutation below takes one away or changes one."""
    return st.fixed_dictionaries(fields)


def some(shape: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    return st.lists(shape, min_size=1, max_size=2)


GOOD_REPLY = every(
    message=every(
        role=st.just("assistant"), tool_plan=TEXT,
        content=TEXT | some(every(type=st.just("text"), text=TEXT)
                            | every(type=st.just("thinking"), thinking=TEXT)),
        tool_calls=some(every(id=TEXT, type=st.just("function"),
                              function=every(name=TEXT, arguments=TEXT | JSON))),
        citations=some(every(
            start=st.integers(0, 9), end=st.integers(0, 60), text=TEXT,
            content_index=st.integers(-1, 3),
            type=st.sampled_from(["TEXT_CONTENT", "THINKING_CONTENT", "PLAN"]),
            sources=some(every(type=st.just("document"), id=TEXT, document=OBJECT)
                         | every(type=st.just("tool"), id=TEXT, tool_output=OBJECT)),
        )),
    ),
    id=TEXT,
    finish_reason=st.sampled_from(["COMPLETE", "MAX_TOKENS", "TOOL_CALL", "ERROR"]),
    usage=every(billed_units=every(input_tokens=NUMBER, search_units=NUMBER),
                tokens=every(input_tokens=NUMBER, output_tokens=NUMBER), cached_tokens=NUMBER),
    logprobs=some(every(token_ids=st.lists(st.integers(0, 9), max_size=2), text=TEXT,
                        logprobs=st.lists(NUMBER, max_size=2))),
)
GONE = object()  # the mutation that removes a key


def places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path to every value inside a JSON tree (the tree itself excluded)."""
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, inner in items:
        yield (*path, key)
        yield from places(inner, (*path, key))


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    copy = orjson.loads(orjson.dumps(value))
    inner = copy
    for key in path[:-1]:
        inner = inner[key]
    if new is GONE and isinstance(inner, dict):
        del inner[path[-1]]
    else:
        inner[path[-1]] = None if new is GONE else new
    return copy


@pytest.mark.slow  # over a second
@fuzz_examples(150)
@given(GOOD_REPLY, st.data(), st.sampled_from([None, 1]), st.booleans())
def test_whatever_passes_the_checks_is_served_in_the_official_shape(
    good: dict[str, Any], data: st.DataObject, max_tokens: int | None, logprobs: bool
) -> None:
    """Good replies pass; with one value anywhere in one replaced by any JSON (or its key
    gone), either the start-up check fails or the stub still makes a response and
    events of the official shape, whose logprobs, joined, are the response's."""
    assert stubreply.reply_problem(good) is None
    path = data.draw(st.sampled_from(list(places(good))), label="path")
    reply = replaced(good, path, data.draw(st.just(GONE) | JSON, label="new value"))
    if stubreply.reply_problem(reply) is not None:
        return
    body = {**BODY, **({"max_tokens": max_tokens} if max_tokens else {}),
            **({"logprobs": True} if logprobs else {})}
    response = answers.build_reply(body, reply, answers.reply_id(1))
    official.validate_response(response)
    streamed = events.stream_events(response)
    for _, event in streamed:
        official.validate_event(event)
    carried = [event["logprobs"] for _, event in streamed if "logprobs" in event]
    assert carried == response.get("logprobs", [])


# --- item 16: settings that cannot be served -----------------------------------------------


@pytest.mark.parametrize(
    "settings_",
    [{"latency_ms": float("inf")}, {"latency_ms": float("nan")}, {"latency_ms": -1},
     {"latency_ms": 1e300}, {"latency_ms": 5, "latency_max_ms": 1},
     {"latency_max_ms": float("inf")}, {"token_delay_ms": float("inf")},
     {"token_delay_ms": float("nan")}, {"port": 70000}, {"port": -1},
     {"retry_after": float("inf")}],
)
def test_settings_that_cannot_be_served_are_a_usage_error(settings_: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="stub: "):
        StubSettings(**settings_)

