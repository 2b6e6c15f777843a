"""A chat response as the stream of events that carries it, as in the official examples of
StreamedChatResponseV2, and those events as SSE frames on the wire."""
from __future__ import annotations

import re
from typing import Any

import orjson

Event = tuple[str, dict[str, Any]]  # (type, data)
Frame = tuple[bool, bytes]  # (is a delta: the token delay comes before it, the bytes)

# A token is a word or one other sign, with the spaces before it: joined, they give
# back the exact text ("LLMs stand," -> "LLMs", " stand", ",").
_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")


def split_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _event(kind: str, index: int | None = None, delta: Any = None) -> Event:
    data: dict[str, Any] = {"type": kind}
    if index is not None:
        data["index"] = index
    if delta is not None:
        data["delta"] = delta
    return kind, data


def _citation_events(number: int, citation: dict[str, Any]) -> list[Event]:
    start = _event("citation-start", number, {"message": {"citations": citation}})
    return [start, _event("citation-end", number)]


def _content_events(
    index: int, block: dict[str, Any], cited: list[tuple[int, dict[str, Any]]]
) -> list[Event]:
    """content-start, deltas (with citations once their text is out), content-end."""
    kind = "thinking" if block.get("type") == "thinking" else "text"
    events = [_event("content-start", index, {"message": {"content": {"type": kind, kind: ""}}})]
    waiting = sorted(cited, key=lambda item: item[1].get("end") or 0)
    done = 0
    for piece in split_tokens(str(block.get(kind, ""))):
        events.append(_event("content-delta", index, {"message": {"content": {kind: piece}}}))
        done += len(piece)
        while waiting and (waiting[0][1].get("end") or 0) <= done:
            events += _citation_events(*waiting.pop(0))
    for item in waiting:
        events += _citation_events(*item)
    events.append(_event("content-end", index))
    return events


def _tool_call_events(index: int, call: dict[str, Any]) -> list[Event]:
    function = call.get("function") or {}
    named = {"name": function["name"]} if "name" in function else {}
    start = {
        "id": call.get("id"),
        "type": call.get("type", "function"),
        "function": {**named, "arguments": ""},
    }
    events = [_event("tool-call-start", index, {"message": {"tool_calls": start}})]
    for piece in split_tokens(str(function.get("arguments", ""))):
        delta = {"message": {"tool_calls": {"function": {"arguments": piece}}}}
        events.append(_event("tool-call-delta", index, delta))
    events.append(_event("tool-call-end", index))
    return events


def stream_events(response: dict[str, Any]) -> list[Event]:
    """The streamed events (type, data) that carry `response`, as in the official examples."""
    message = response["message"]
    start = {"type": "message-start", "id": response["id"]}
    start["delta"] = {"message": {"role": "assistant"}}
    events: list[Event] = [("message-start", start)]
    for piece in split_tokens(str(message.get("tool_plan") or "")):
        events.append(_event("tool-plan-delta", None, {"message": {"tool_plan": piece}}))
    content = message.get("content") or []
    first_text = next((i for i, b in enumerate(content) if b.get("type") == "text"), 0)
    homes: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for number, citation in enumerate(message.get("citations") or []):
        homes.setdefault(citation.get("content_index", first_text), []).append((number, citation))
    for index, block in enumerate(content):
        events += _content_events(index, block, homes.pop(index, []))
    for item in sorted(item for items in homes.values() for item in items):
        events += _citation_events(*item)
    for index, call in enumerate(message.get("tool_calls") or []):
        events += _tool_call_events(index, call)
    end = {"finish_reason": response.get("finish_reason", "COMPLETE")}
    if "usage" in response:
        end["usage"] = response["usage"]
    events.append(_event("message-end", None, end))
    return events


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    """One event in the wire format: `event: TYPE`, `data: JSON`, a blank line."""
    return b"event: %s\ndata: %s\n\n" % (kind.encode(), orjson.dumps(data))


def sse_frames(events: list[Event]) -> list[Frame]:
    """The events as SSE frames, ended by `data: [DONE]`."""
    frames = [(kind.endswith("-delta"), _sse(kind, data)) for kind, data in events]
    return [*frames, (False, b"data: [DONE]\n\n")]
