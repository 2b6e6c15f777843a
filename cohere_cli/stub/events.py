"""A chat response as the stream of events that carries it, as in the official examples of
StreamedChatResponseV2, and those events as SSE frames on the wire. A response's
`logprobs` ride on the `content-delta` events of its text, one item each, in order, so
that the items of a stream, joined, are the non-streamed list. A text the stub echoes
as a server may (`stub --echo-key`: the request's key) is cut into pieces of CUT_SIZE
characters, a delta each (`cuts`), so that it spans several events whatever it is made
of."""
from __future__ import annotations

import re
import zlib
from typing import Any

import orjson

Event = tuple[str, dict[str, Any]]  # (type, data)
Frame = tuple[bool, bytes]  # (is a delta: the token delay comes before it, the bytes)
Piece = tuple[str, dict[str, Any] | None]  # a delta's text, and the logprobs item it carries

# A token is a word or one other sign, with the spaces before it: joined, they give
# back the exact text ("LLMs stand," -> "LLMs", " stand", ",").
_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")
CUT_SIZE = 3


def split_tokens(text: str, cuts: tuple[str, ...] = ()) -> list[str]:
    """TEXT's tokens; each of CUTS in it, in pieces of CUT_SIZE characters instead."""
    cuts = tuple(cut for cut in cuts if cut)
    if not cuts:
        return _TOKEN.findall(text)
    tokens: list[str] = []
    parts = re.split("(" + "|".join(map(re.escape, cuts)) + ")", text)
    for number, part in enumerate(parts):  # the odd ones are CUTS
        tokens += ([part[at:at + CUT_SIZE] for at in range(0, len(part), CUT_SIZE)]
                   if number % 2 else _TOKEN.findall(part))
    return tokens


def _logprob(token: str) -> dict[str, Any]:
    """A made-up LogprobItem for one token: its id and log probability depend on its text only."""
    number = zlib.crc32(token.encode())
    return {"text": token, "token_ids": [number % 100_000], "logprobs": [-(number % 1000) / 100]}


def _block_text(block: dict[str, Any]) -> str:
    return str(block.get("thinking" if block.get("type") == "thinking" else "text", ""))


def make_logprobs(message: dict[str, Any], cuts: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The logprobs of a message's text blocks (thinking has none), one item a token."""
    return [_logprob(token) for block in message.get("content") or []
            if block.get("type") != "thinking"
            for token in split_tokens(_block_text(block), cuts)]


def _tiled(texts: dict[int, str], items: list[Any]) -> dict[int, list[Piece]] | None:
    """Each text block's deltas as the items' own texts, when those texts, in order, make up
    the text blocks exactly (as `make_logprobs` items do); None otherwise."""
    pieces: dict[int, list[Piece]] = {}
    taken = 0
    for index, text in texts.items():
        pieces[index], done = [], 0
        while done < len(text):
            item = items[taken] if taken < len(items) else None
            piece = item.get("text") if isinstance(item, dict) else None
            if not isinstance(piece, str) or not piece or not text.startswith(piece, done):
                return None
            pieces[index].append((piece, item))
            done, taken = done + len(piece), taken + 1
    return pieces if taken == len(items) else None


def delta_pieces(content: list[dict[str, Any]], items: list[Any],
                 cuts: tuple[str, ...] = ()) -> list[list[Piece]]:
    """The deltas of each content block, each with the logprobs item it carries: the items'
    texts when they make up the text blocks; otherwise each block's tokens, with the items
    in order on those of the text blocks and the ones left over on empty deltas that end
    the last text block (or the last block: replies.py refuses logprobs without one)."""
    texts = {i: _block_text(b) for i, b in enumerate(content) if b.get("type") != "thinking"}
    tiled = _tiled(texts, items)
    left = iter(items if tiled is None else ())
    pieces: list[list[Piece]] = []
    for index, block in enumerate(content):
        if tiled is not None and index in tiled:
            pieces.append(tiled[index])
        else:
            pieces.append([(token, next(left, None) if index in texts else None)
                           for token in split_tokens(_block_text(block), cuts)])
    if rest := list(left):
        pieces[max(texts, default=len(content) - 1)] += [("", item) for item in rest]
    return pieces


def _event(kind: str, index: int | None = None, delta: Any = None,
           logprobs: dict[str, Any] | None = None) -> Event:
    data: dict[str, Any] = {"type": kind}
    if index is not None:
        data["index"] = index
    if delta is not None:
        data["delta"] = delta
    if logprobs is not None:  # beside the delta, as in ChatContentDeltaEvent
        data["logprobs"] = logprobs
    return kind, data


def _citation_events(number: int, citation: dict[str, Any]) -> list[Event]:
    start = _event("citation-start", number, {"message": {"citations": citation}})
    return [start, _event("citation-end", number)]


def _content_events(
    index: int, block: dict[str, Any], pieces: list[Piece],
    cited: list[tuple[int, dict[str, Any]]],
) -> list[Event]:
    """content-start, the deltas (`pieces`, with citations once their text is out),
    content-end."""
    kind = "thinking" if block.get("type") == "thinking" else "text"
    events = [_event("content-start", index, {"message": {"content": {"type": kind, kind: ""}}})]
    waiting = sorted(cited, key=lambda item: item[1].get("end") or 0)
    done = 0
    for piece, logprobs in pieces:
        delta = {"message": {"content": {kind: piece}}}
        events.append(_event("content-delta", index, delta, logprobs))
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
    arguments = str(function.get("arguments", ""))
    if arguments.strip() == "{}":  # no arguments: "" at the start and no delta, as Cohere does
        arguments = ""
    for piece in split_tokens(arguments):
        delta = {"message": {"tool_calls": {"function": {"arguments": piece}}}}
        events.append(_event("tool-call-delta", index, delta))
    events.append(_event("tool-call-end", index))
    return events


def stream_events(response: dict[str, Any], cuts: tuple[str, ...] = ()) -> list[Event]:
    """The streamed events (type, data) that carry `response`, as in the official examples
    (CUTS: texts cut into pieces of CUT_SIZE characters)."""
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
    pieces = delta_pieces(content, response.get("logprobs") or [], cuts)
    for index, block in enumerate(content):
        events += _content_events(index, block, pieces[index], homes.pop(index, []))
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
