"""Chat API stream events: parsing, and rebuilding the non-streamed response."""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import official
import orjson
import pytest
from conftest import fuzz_examples
from hypothesis import given
from hypothesis import strategies as st

from cohere_cli.base.errors import CohereChatError, ExitCode, IncompleteReplyError, NetworkError
from cohere_cli.chat.response import (
    STREAMED_REPLY,
    api_warnings,
    check_response,
    citations,
    reply_text,
    request_message,
    thinking_text,
    tool_calls,
)
from cohere_cli.chat.usage import usage_counts
from cohere_cli.wire.chat_events import Delta, ReplyAssembler, iter_chat_events
from cohere_cli.wire.sse import EventStreamDecoder, ServerSentEvent, iter_events

STREAMED = ("stream", "documents-stream", "tools-stream", "image-stream")


def wire(stream: list[dict[str, Any]], done: bool = True) -> bytes:
    """An official example's events as the service sends them."""
    out = [
        b"event: " + item["event"].encode() + b"\ndata: " + orjson.dumps(item["data"]) + b"\n\n"
        for item in stream
    ]
    if done:
        out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def replay(raw: bytes, size: int) -> tuple[ReplyAssembler, list[Delta]]:
    chunks = [raw[i : i + size] for i in range(0, len(raw), size)]
    assembler = ReplyAssembler()
    deltas = []
    for event in iter_chat_events(iter_events(chunks)):
        delta = assembler.apply(event)
        if delta is not None:
            deltas.append(delta)
    return assembler, deltas


def content_deltas(stream: list[dict[str, Any]]) -> str:
    return "".join(
        item["data"]["delta"]["message"]["content"]["text"]
        for item in stream
        if item["data"]["type"] == "content-delta"
    )


def text_of(response: dict[str, Any]) -> str:
    return "".join(
        block["text"] for block in response["message"].get("content", []) if block["type"] == "text"
    )


def joined(deltas: list[Delta], kind: str) -> str:
    return "".join(delta.text for delta in deltas if delta.kind == kind)


# --- the official streamed examples --------------------------------------------------


@pytest.mark.parametrize("name", STREAMED)
@pytest.mark.parametrize("size", [1, 7, 1 << 20])
def test_official_example_rebuilds(name: str, size: int) -> None:
    stream = official.example(name)["response"]["stream"]
    assembler, deltas = replay(wire(stream), size)
    assert assembler.finished
    assert assembler.error is None
    response = assembler.response()
    official.validate_response(response)
    assert text_of(response) == content_deltas(stream)
    assert joined(deltas, "text") == text_of(response)
    assert joined(deltas, "tool_plan") == response["message"].get("tool_plan", "")
    first, last = stream[0]["data"], stream[-1]["data"]
    assert response["id"] == first["id"]
    assert response["finish_reason"] == last["delta"]["finish_reason"]
    assert response["usage"] == last["delta"]["usage"]
    assert response["message"]["role"] == "assistant"


@pytest.mark.parametrize("name", STREAMED)
def test_official_events_are_valid(name: str) -> None:
    for item in official.example(name)["response"]["stream"]:
        official.validate_event(item["data"])
        assert item["event"] == item["data"]["type"]


def test_plain_stream_text() -> None:
    assembler, _ = replay(wire(official.example("stream")["response"]["stream"]), 5)
    message = assembler.response()["message"]
    assert message == {
        "role": "assistant",
        "content": [
            {
                "type": "text",
                "text": "LLMs stand for Large Language Models, which are a type of neural "
                "network model specialized in processing and generating human language.",
            }
        ],
    }


def test_tools_stream_tool_calls() -> None:
    assembler, deltas = replay(wire(official.example("tools-stream")["response"]["stream"]), 3)
    response = assembler.response()
    message = response["message"]
    assert "content" not in message
    assert "citations" not in message
    assert response["finish_reason"] == "TOOL_CALL"
    assert message["tool_plan"].startswith("I will use the query_daily_sales_report tool")
    assert [delta.kind for delta in deltas] == ["tool_plan"] * len(deltas)
    calls = message["tool_calls"]
    assert [(c["id"], c["type"], c["function"]["name"]) for c in calls] == [
        ("query_daily_sales_report_j3f0adww9pmr", "function", "query_daily_sales_report"),
        ("query_product_catalog_c66nf11r6s8g", "function", "query_product_catalog"),
    ]
    arguments = [orjson.loads(c["function"]["arguments"]) for c in calls]
    assert arguments == [{"day": "2023-09-29"}, {"category": "Electronics"}]


def test_documents_stream_keeps_citations() -> None:
    stream = official.example("documents-stream")["response"]["stream"]
    assembler, _ = replay(wire(stream), 11)
    message = assembler.response()["message"]
    starts = [
        item["data"]["delta"]["message"]["citations"]
        for item in stream
        if item["event"] == "citation-start"
    ]
    assert len(starts) == 1
    assert message["citations"] == starts
    citation = message["citations"][0]
    text = message["content"][0]["text"]
    assert text[citation["start"] : citation["end"]] == citation["text"] == "Nsync"
    assert citation["sources"][0]["document"]["title"].startswith("CSPC: NSYNC")


def test_image_stream_has_no_index() -> None:
    stream = official.example("image-stream")["response"]["stream"]
    assert all("index" not in item["data"] for item in stream)
    assembler, _ = replay(wire(stream), 64)
    assert len(assembler.response()["message"]["content"]) == 1


def test_stream_without_done_marker() -> None:
    stream = official.example("stream")["response"]["stream"]
    assembler, _ = replay(wire(stream, done=False), 9)
    official.validate_response(assembler.response())


# --- iter_chat_events -------------------------------------------------------------------


def sse(data: str, event: str = "message") -> ServerSentEvent:
    return ServerSentEvent(event, data)


def test_done_stops_the_events() -> None:
    events = [sse('{"type": "a"}'), sse("[DONE]"), sse("not json")]
    assert list(iter_chat_events(events)) == [{"type": "a"}]


@pytest.mark.parametrize("data", ["not json", "", "[1, 2]", '"text"', "42", "null", '{"a": '])
def test_event_that_is_not_a_json_object(data: str) -> None:
    with pytest.raises(NetworkError) as caught:
        list(iter_chat_events([sse(data)]))
    assert caught.value.message.startswith("the stream sent an event that is not JSON")
    assert caught.value.exit_code == ExitCode.UNAVAILABLE == 7


def test_event_name_fills_a_missing_type() -> None:
    events = [sse("{}", "content-end"), sse('{"type": "x"}', "y"), sse("{}")]
    assert list(iter_chat_events(events)) == [{"type": "content-end"}, {"type": "x"}, {}]


def test_events_are_yielded_lazily() -> None:
    def events() -> Iterator[ServerSentEvent]:
        yield sse('{"type": "message-start"}')
        raise AssertionError("read too far")

    assert next(iter_chat_events(events())) == {"type": "message-start"}


# --- ReplyAssembler --------------------------------------------------------------------


def content(kind: str, piece: str, index: int | None = 0, start: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {kind: piece}
    if start:
        body["type"] = kind
    event: dict[str, Any] = {
        "type": "content-start" if start else "content-delta",
        "delta": {"message": {"content": body}},
    }
    if index is not None:
        event["index"] = index
    return event


def end(reason: str | None = "COMPLETE", **delta: Any) -> dict[str, Any]:
    if reason is not None:
        delta["finish_reason"] = reason
    return {"type": "message-end", "delta": delta}


def run(*events: dict[str, Any]) -> tuple[ReplyAssembler, list[Delta | None]]:
    assembler = ReplyAssembler()
    return assembler, [assembler.apply(event) for event in events]


def test_thinking_then_text() -> None:
    assembler, deltas = run(
        {"type": "message-start", "id": "r1"},
        content("thinking", "", 0, start=True),
        content("thinking", "Hmm, "),
        content("thinking", "yes."),
        {"type": "content-end", "index": 0},
        content("text", "", 1, start=True),
        content("text", "Yes", 1),
        {"type": "content-end", "index": 1},
        end(usage={"tokens": {"input_tokens": 3, "output_tokens": 4}}),
    )
    assert [d for d in deltas if d] == [
        Delta("thinking", "Hmm, "),
        Delta("thinking", "yes."),
        Delta("text", "Yes"),
    ]
    response = assembler.response()
    official.validate_response(response)
    assert response == {
        "id": "r1",
        "message": {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Hmm, yes."},
                {"type": "text", "text": "Yes"},
            ],
        },
        "finish_reason": "COMPLETE",
        "usage": {"tokens": {"input_tokens": 3, "output_tokens": 4}},
    }
    assert reply_text(assembler.response()) == "Yes"


def test_blocks_are_ordered_by_index_and_missing_index_is_zero() -> None:
    assembler, _ = run(
        content("text", "B", 1, start=True),
        content("text", "A", None, start=True),
        content("text", "a", None),
        end(),
    )
    assert reply_text(assembler.response()) == "Aa" + "B"


def test_content_start_text_is_shown() -> None:
    _, deltas = run(content("text", "Hi", 0, start=True))
    assert deltas == [Delta("text", "Hi")]


def test_delta_without_start_makes_a_block() -> None:
    assembler, deltas = run(content("thinking", "t", 2), content("text", "x", 3), end())
    assert deltas[:2] == [Delta("thinking", "t"), Delta("text", "x")]
    assert assembler.response()["message"]["content"] == [
        {"type": "thinking", "thinking": "t"},
        {"type": "text", "text": "x"},
    ]


def test_unknown_content_type_is_left_out() -> None:
    assembler, deltas = run(
        {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "audio"}}}},
        content("text", "x", 0),
        end(),
    )
    assert deltas == [None, None, None]
    assert "content" not in assembler.response()["message"]


def test_message_end_error() -> None:
    assembler, _ = run(content("text", "par"), end("ERROR", error="model overloaded"))
    assert assembler.finished
    assert assembler.error == "model overloaded"
    assert assembler.response()["finish_reason"] == "ERROR"
    official.validate_response(assembler.response())


def test_message_end_without_finish_reason() -> None:
    assembler, _ = run(end(None, error="boom"))
    assert assembler.response()["finish_reason"] == "ERROR"
    assembler, _ = run(end(None))
    assert assembler.response()["finish_reason"] == "COMPLETE"
    assert "usage" not in assembler.response()


def test_response_before_message_end_is_incomplete() -> None:
    assembler, _ = run({"type": "message-start", "id": "x"}, content("text", "half"))
    assert not assembler.finished
    assert assembler.message()["content"] == [{"type": "text", "text": "half"}]
    with pytest.raises(IncompleteReplyError) as caught:
        assembler.response()
    assert caught.value.exit_code == 7


def test_debug_unknown_and_late_events_are_ignored() -> None:
    assembler, deltas = run(
        {"type": "debug", "prompt": "secret prompt"},
        {"type": "future-event", "delta": {"message": {"content": {"text": "no"}}}},
        {"no": "type"},
        {"type": 5},
        {"type": ["content-delta"]},
        content("text", "ok"),
        end(),
        content("text", "late"),
        {"type": "message-end", "delta": {"finish_reason": "MAX_TOKENS"}},
    )
    assert deltas == [None, None, None, None, None, Delta("text", "ok"), None, None, None]
    assert assembler.response()["finish_reason"] == "COMPLETE"
    assert reply_text(assembler.response()) == "ok"


def test_tool_calls_by_index() -> None:
    def start(index: int, call_id: str, name: str) -> dict[str, Any]:
        call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        delta = {"message": {"tool_calls": call}}
        return {"type": "tool-call-start", "index": index, "delta": delta}

    def piece(index: int | None, text: str) -> dict[str, Any]:
        event: dict[str, Any] = {"type": "tool-call-delta"}
        event["delta"] = {"message": {"tool_calls": {"function": {"arguments": text}}}}
        if index is not None:
            event["index"] = index
        return event

    assembler, deltas = run(
        start(0, "a", "f"),
        start(1, "b", "g"),
        piece(1, '{"y":'),
        piece(None, '{"x": 1}'),
        piece(1, " 2}"),
        {"type": "tool-call-end", "index": 0},
        {"type": "tool-call-end", "index": 1},
        end("TOOL_CALL"),
    )
    assert deltas == [None] * 8
    response = assembler.response()
    official.validate_response(response)
    assert response["message"] == {
        "role": "assistant",
        "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
            {"id": "b", "type": "function", "function": {"name": "g", "arguments": '{"y": 2}'}},
        ],
    }


def test_tool_plan_deltas() -> None:
    def plan(text: str) -> dict[str, Any]:
        return {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": text}}}

    assembler, deltas = run(plan("I will"), plan(""), plan(" look."), end("TOOL_CALL"))
    assert deltas == [Delta("tool_plan", "I will"), None, Delta("tool_plan", " look."), None]
    assert assembler.response()["message"] == {"role": "assistant", "tool_plan": "I will look."}


def test_citations_in_order() -> None:
    def cite(index: int, text: str) -> dict[str, Any]:
        citation = {"start": 0, "end": 1, "text": text, "sources": [], "type": "TEXT_CONTENT"}
        delta = {"message": {"citations": citation}}
        return {"type": "citation-start", "index": index, "delta": delta}

    assembler, _ = run(
        content("text", "ab"),
        cite(0, "a"),
        {"type": "citation-end", "index": 0},
        cite(1, "b"),
        {"type": "citation-end", "index": 1},
        end(),
    )
    response = assembler.response()
    official.validate_response(response)
    assert [c["text"] for c in response["message"]["citations"]] == ["a", "b"]


@pytest.mark.parametrize(
    "event",
    [
        {"type": "content-delta", "index": "0", "delta": {"message": {"content": {"text": "x"}}}},
        {"type": "content-delta", "index": -1, "delta": {"message": {"content": {"text": "x"}}}},
        {"type": "content-delta", "index": True, "delta": {"message": {"content": {"text": "x"}}}},
        {"type": "content-delta", "delta": {"message": {"content": {"text": 5}}}},
        {"type": "content-delta", "delta": {"message": {"content": ["x"]}}},
        {"type": "content-delta", "delta": "x"},
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": {}}}},
        {"type": "tool-call-start", "delta": {"message": {"tool_calls": [{"id": "a"}]}}},
        {"type": "tool-call-delta", "delta": {"message": {"tool_calls": {"function": "x"}}}},
        {"type": "citation-start", "delta": {"message": "x"}},
        {"type": "message-end", "delta": {"finish_reason": 1}},
        {"type": "message-end", "delta": {"usage": []}},
        {"type": "message-start", "id": 7},
    ],
)
def test_malformed_events(event: dict[str, Any]) -> None:
    with pytest.raises(NetworkError, match="malformed"):
        ReplyAssembler().apply(event)


# --- fuzzing: nothing escapes but the program's own errors ---------------------------

SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats()
JSON = st.recursive(
    SCALARS | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
TYPES = st.sampled_from(
    [
        "message-start", "content-start", "content-delta", "content-end", "tool-plan-delta",
        "tool-call-start", "tool-call-delta", "tool-call-end", "citation-start",
        "citation-end", "message-end", "debug", "other",
    ]
)  # fmt: skip
KEYS = st.sampled_from(["content", "tool_calls", "tool_plan", "citations", "role"])


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, JSON)


EVENTS = st.fixed_dictionaries(
    {"type": st.one_of(TYPES, TYPES, TYPES, JSON)},
    optional={
        "id": maybe(st.text(max_size=4)),
        "index": maybe(st.integers(-2, 3)),
        "delta": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "message": maybe(st.dictionaries(KEYS, JSON, max_size=3)),
                    "finish_reason": maybe(st.sampled_from(["COMPLETE", "ERROR"])),
                    "usage": JSON,
                    "error": JSON,
                },
            )
        ),
    },
)


def drive(chunks: list[bytes]) -> None:
    decoder = EventStreamDecoder()
    assembler = ReplyAssembler()
    try:
        for chunk in chunks:
            for event in iter_chat_events(decoder.feed(chunk)):
                assembler.apply(event)
        decoder.close()
        assembler.message()
        _ = assembler.error, assembler.finished
        if assembler.finished:
            orjson.dumps(assembler.response())
            readable(check_response(assembler.response(), STREAMED_REPLY))
        else:
            with pytest.raises(IncompleteReplyError):
                assembler.response()
    except CohereChatError:
        pass


def readable(response: dict[str, Any]) -> None:
    """A rebuilt response that passed the check can be read whole without a crash."""
    reply_text(response), thinking_text(response), tool_calls(response)
    usage_counts(response), request_message(response), citations(response)
    api_warnings(response)


def cut(raw: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *sorted({p % (len(raw) + 1) for p in points}), len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(bounds)]


@fuzz_examples(300)
@given(raw=st.binary(max_size=300), points=st.lists(st.integers(0, 400), max_size=8))
def test_fuzz_random_bytes(raw: bytes, points: list[int]) -> None:
    drive(cut(raw, points))


@fuzz_examples(300)
@given(
    prefix=st.sampled_from([b"data: ", b"data:", b"event: x\ndata: ", b": c\ndata: "]),
    lines=st.lists(st.binary(max_size=40), max_size=6),
    points=st.lists(st.integers(0, 400), max_size=8),
)
def test_fuzz_random_data_lines(prefix: bytes, lines: list[bytes], points: list[int]) -> None:
    raw = b"".join(prefix + line + b"\n\n" for line in lines)
    drive(cut(raw, points))


@fuzz_examples(500)
@given(
    events=st.lists(EVENTS, max_size=10),
    points=st.lists(st.integers(0, 4000), max_size=8),
)
def test_fuzz_random_events(events: list[dict[str, Any]], points: list[int]) -> None:
    raw = b"".join(b"data: " + orjson.dumps(event) + b"\n\n" for event in events)
    drive(cut(raw, points))
