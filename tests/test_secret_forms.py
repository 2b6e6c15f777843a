"""The key in the forms JSON gives it, cut where the plain key is not (attack2): a tool
call's arguments (JSON text) with the key's first character escaped (`\\u0063o-...`),
streamed a token an event so that `\\` and `u0063o` come apart, and a body with it
(JSON in a JSON string: `\\\\u0063`); and a stream whose every delta ends as the key
begins, whose events are not all kept (memory) yet joined are the hidden text."""
from __future__ import annotations

from typing import Any

import orjson
import pytest
from conftest import TEST_KEY, invoke
from hypothesis import given
from hypothesis import strategies as st

from cohere_cli.wire import hidden_events
from cohere_cli.wire.hidden_events import EventHider
from cohere_cli.wire.redact import MASK, Redactor

ESCAPED_KEY = "\\u0063" + TEST_KEY[1:]  # JSON for the key, its "c" escaped
HIDE = Redactor([TEST_KEY])


def test_tool_call_arguments_with_the_key_escaped_never_show_it(make_stub: Any) -> None:
    reply = {"message": {"tool_calls": [{"function": {
        "name": "get", "arguments": '{"token":"' + ESCAPED_KEY + '"}'}}]}}
    make_stub(replies=(reply,))
    for stream in ("--stream", "--no-stream"):
        result = invoke([stream, "hi"])
        assert result.exit_code == 0, result.stderr
        assert result.lines() == [{"id": "get_0", "name": "get", "arguments": {"token": MASK}}]
    events = invoke(["-F", "events", "hi"]).lines()
    arguments = "".join(e["delta"]["message"]["tool_calls"]["function"]["arguments"]
                        for e in events if e["type"] == "tool-call-delta")
    assert orjson.loads(arguments) == {"token": MASK}


@pytest.mark.parametrize("cut", range(1, 60))
def test_json_in_a_json_string_stays_json(cut: int) -> None:
    """The escaped escape goes with the key (a lone `\\` left would break the body),
    wherever the stream of bytes is cut."""
    body = orjson.dumps({"arguments": '{"token":"' + ESCAPED_KEY + '"}'})
    assert b"\\\\u0063" in body
    assert orjson.loads(HIDE.hide(body)) == {"arguments": '{"token":"' + MASK + '"}'}
    assert b"".join(HIDE.hide_stream([body[:cut], body[cut:]])) == HIDE.hide(body)


def _delta(text: str) -> dict[str, Any]:
    return {"type": "content-delta", "index": 0,
            "delta": {"message": {"content": {"text": text}}}}


def _printed_text(pieces: list[str]) -> tuple[str, int]:
    """The text of the events printed for PIECES, and how many were printed before the
    last piece."""
    hider, printed, early = EventHider(HIDE), [], 0
    for piece in pieces:
        hider.take(_delta(piece))
        printed += hider.settled()
        early = len(printed)
    hider.take({"type": "message-end", "delta": {"finish_reason": "COMPLETE"}})
    printed += hider.settled()
    return "".join(e["delta"]["message"]["content"]["text"]
                   for e in printed if e["type"] == "content-delta"), early


def test_a_stream_that_keeps_a_text_held_is_printed_as_it_goes() -> None:
    """Every delta ends with "c" (the key's first character): its events are not all kept
    until the end of the stream (memory); printed, they still join to the text."""
    pieces = ["abc"] * (3 * hidden_events.MOST_PENDING)
    text, early = _printed_text(pieces)
    assert text == "abc" * len(pieces)
    assert early >= 2 * hidden_events.MOST_PENDING


@given(st.lists(st.sampled_from([TEST_KEY, "co-", "c", "x", "-key", "ab", "co-test"]),
                max_size=30), st.integers(1, 4))
def test_events_printed_early_join_to_the_hidden_text(parts: list[str], most: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hidden_events, "MOST_PENDING", most)
        text, _ = _printed_text(parts)
    assert text == HIDE.hide_text("".join(parts))
