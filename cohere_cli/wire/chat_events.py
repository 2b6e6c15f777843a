"""Chat API v2 stream events: parse them, and rebuild the non-streamed response.

`iter_chat_events` turns decoded Server-Sent Events into event objects; `ReplyAssembler`
takes them in order, says what to show as each arrives, and rebuilds the
`ChatResponseV2` body the same request would have had without streaming.

Shapes follow the `StreamedChatResponseV2` events of the official OpenAPI document. A
missing `index` means 0 (the official image example has none). A field of the wrong
type is a body that is not the API's: `NetworkError`. Unknown event types, `debug`
events, and events after `message-end` are ignored. With `logprobs` asked for, each
`content-delta` event carries one `LogprobItem` beside its `delta`; they are kept in
the order they came, as the non-streamed response's `logprobs` list.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from cohere_cli.base.errors import IncompleteReplyError, NetworkError
from cohere_cli.wire.sse import ServerSentEvent

DONE = "[DONE]"
CONTENT_KINDS = ("text", "thinking")
CONTENT = ("delta", "message", "content")
TOOL_CALL = ("delta", "message", "tool_calls")


def iter_chat_events(sse_events: Iterable[ServerSentEvent]) -> Iterator[dict[str, Any]]:
    """Each event's data as a JSON object, up to the end or a `[DONE]` event.

    An event without a `type` takes the SSE event name as its type.
    """
    for sse in sse_events:
        if sse.data == DONE:
            return
        try:
            event = orjson.loads(sse.data)
        except ValueError:
            raise NetworkError(
                f"the stream sent an event that is not JSON: {_snippet(sse.data)}"
            ) from None
        if not isinstance(event, dict):
            raise NetworkError(
                "the stream sent an event that is not JSON of an object:"
                f" {_snippet(sse.data)}"
            )
        if "type" not in event and sse.event != "message":
            event["type"] = sse.event
        yield event


def _snippet(text: str, limit: int = 80) -> str:
    shown = text if len(text) <= limit else text[:limit] + "..."
    return repr(shown)


def _malformed(event_type: str, where: str) -> NetworkError:
    return NetworkError(f"the stream sent a malformed {event_type} event (bad {where})")


def _get(event: dict[str, Any], path: tuple[str, ...], kind: type) -> Any:
    """The value at `path` in `event`, None if absent; NetworkError if of the wrong type."""
    value: Any = event
    for depth, key in enumerate(path):
        if not isinstance(value, dict):
            raise _malformed(str(event.get("type")), ".".join(path[:depth]))
        value = value.get(key)
        if value is None:
            return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _malformed(str(event.get("type")), ".".join(path))
    return value


def _index(event: dict[str, Any]) -> int:
    index = _get(event, ("index",), int)
    if index is None:
        return 0
    if index < 0:
        raise _malformed(str(event.get("type")), "index")
    return int(index)


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of the reply to show as it arrives."""

    kind: str  # "text", "thinking" or "tool_plan"
    text: str


@dataclass(slots=True)
class _Block:
    kind: str  # "text", "thinking", or a type this client does not know (kept out)
    parts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _ToolCall:
    fields: dict[str, Any]  # id, type, function.name as given by tool-call-start
    arguments: list[str] = field(default_factory=list)


class ReplyAssembler:
    """Feed it the stream's events in order; then `response()` is the whole reply."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._blocks: dict[int, _Block] = {}
        self._tool_plan: list[str] = []
        self._tool_calls: dict[int, _ToolCall] = {}
        self._citations: list[dict[str, Any]] = []
        self._logprobs: list[dict[str, Any]] = []
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None
        self._error: str | None = None
        self._finished = False
        self._handlers: dict[str, Callable[[dict[str, Any]], Delta | None]] = {
            "message-start": self._message_start,
            "content-start": self._content_start,
            "content-delta": self._content_delta,
            "tool-plan-delta": self._tool_plan_delta,
            "tool-call-start": self._tool_call_start,
            "tool-call-delta": self._tool_call_delta,
            "citation-start": self._citation_start,
            "message-end": self._message_end,
        }

    def apply(self, event: dict[str, Any]) -> Delta | None:
        """Take the next event; return the piece of text to show now, if any."""
        if self._finished:
            return None
        event_type = event.get("type")
        handler = self._handlers.get(event_type) if isinstance(event_type, str) else None
        if handler is None:
            return None  # *-end events, debug, and types added after this client
        return handler(event)

    @property
    def finished(self) -> bool:
        """Whether a `message-end` event was seen."""
        return self._finished

    @property
    def error(self) -> str | None:
        """The `message-end` event's error text, if it had one."""
        return self._error

    def _message_start(self, event: dict[str, Any]) -> None:
        self._id = _get(event, ("id",), str) or self._id
        return None

    def _content_start(self, event: dict[str, Any]) -> Delta | None:
        content = _get(event, CONTENT, dict) or {}
        kind = _get(event, (*CONTENT, "type"), str)
        if kind is None:
            kind = "thinking" if "thinking" in content else "text"
        block = self._blocks[_index(event)] = _Block(kind)
        return self._add(block, event)

    def _content_delta(self, event: dict[str, Any]) -> Delta | None:
        content = _get(event, CONTENT, dict) or {}
        logprobs = _get(event, ("logprobs",), dict)
        if logprobs is not None:
            self._logprobs.append(logprobs)
        index = _index(event)
        block = self._blocks.get(index)
        if block is None:  # no content-start: guess the kind from the delta
            kind = "thinking" if "thinking" in content and "text" not in content else "text"
            block = self._blocks[index] = _Block(kind)
        return self._add(block, event)

    def _add(self, block: _Block, event: dict[str, Any]) -> Delta | None:
        if block.kind not in CONTENT_KINDS:
            return None
        piece = _get(event, (*CONTENT, block.kind), str)
        if not piece:
            return None
        block.parts.append(piece)
        return Delta(block.kind, piece)

    def _tool_plan_delta(self, event: dict[str, Any]) -> Delta | None:
        piece = _get(event, ("delta", "message", "tool_plan"), str)
        if not piece:
            return None
        self._tool_plan.append(piece)
        return Delta("tool_plan", piece)

    def _tool_call_start(self, event: dict[str, Any]) -> None:
        _get(event, TOOL_CALL, dict)
        fields: dict[str, Any] = {"id": _get(event, (*TOOL_CALL, "id"), str) or ""}
        fields["type"] = _get(event, (*TOOL_CALL, "type"), str) or "function"
        name = _get(event, (*TOOL_CALL, "function", "name"), str)
        fields["function"] = {} if name is None else {"name": name}
        tool_call = self._tool_calls[_index(event)] = _ToolCall(fields)
        arguments = _get(event, (*TOOL_CALL, "function", "arguments"), str)
        if arguments:
            tool_call.arguments.append(arguments)
        return None

    def _tool_call_delta(self, event: dict[str, Any]) -> None:
        arguments = _get(event, (*TOOL_CALL, "function", "arguments"), str)
        index = _index(event)
        tool_call = self._tool_calls.get(index)
        if tool_call is None:  # no tool-call-start: keep the arguments anyway
            tool_call = self._tool_calls[index] = _ToolCall(
                {"id": "", "type": "function", "function": {}}
            )
        if arguments:
            tool_call.arguments.append(arguments)
        return None

    def _citation_start(self, event: dict[str, Any]) -> None:
        citation = (_get(event, ("delta", "message"), dict) or {}).get("citations")
        if isinstance(citation, dict):  # citations are only shown: another shape is skipped
            self._citations.append(citation)
        return None

    def _message_end(self, event: dict[str, Any]) -> None:
        self._error = _get(event, ("delta", "error"), str)
        self._usage = _get(event, ("delta", "usage"), dict)
        reason = _get(event, ("delta", "finish_reason"), str)
        self._finish_reason = reason or ("ERROR" if self._error else "COMPLETE")
        self._id = self._id or _get(event, ("id",), str)
        self._finished = True
        return None

    def message(self) -> dict[str, Any]:
        """The assistant message rebuilt so far, in the non-streamed response's shape."""
        message: dict[str, Any] = {"role": "assistant"}
        content = [
            {"type": block.kind, block.kind: "".join(block.parts)}
            for _, block in sorted(self._blocks.items())
            if block.kind in CONTENT_KINDS
        ]
        if content:
            message["content"] = content
        if self._tool_plan:
            message["tool_plan"] = "".join(self._tool_plan)
        if self._tool_calls:
            message["tool_calls"] = [
                _tool_call_body(call) for _, call in sorted(self._tool_calls.items())
            ]
        if self._citations:
            message["citations"] = list(self._citations)
        return message

    def response(self) -> dict[str, Any]:
        """The rebuilt non-streamed `ChatResponseV2`.

        Raises IncompleteReplyError when no `message-end` event was seen.
        """
        if not self._finished:
            raise IncompleteReplyError("the stream ended before the reply was complete")
        body: dict[str, Any] = {
            "id": self._id or "",
            "message": self.message(),
            "finish_reason": self._finish_reason,
        }
        if self._usage is not None:
            body["usage"] = self._usage
        if self._logprobs:
            body["logprobs"] = list(self._logprobs)
        return body


def _tool_call_body(call: _ToolCall) -> dict[str, Any]:
    """A tool call as the non-streamed reply has it: a call without arguments (a tool
    without parameters, streamed as `"arguments": ""` and no delta) has "{}"."""
    body = dict(call.fields)
    body["function"] = {**call.fields["function"], "arguments": "".join(call.arguments) or "{}"}
    return body
