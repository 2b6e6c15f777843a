"""A chat stream's events with no secret in their pieces of text, even one cut across
events (a server that echoes the key a few characters an event): `EventHider`.

Each piece of text -- a content delta, the tool plan's, a tool call's arguments, a
logprobs item's text -- goes through the redact.TextStream of its text: a content kind's
deltas across its blocks (as the text output joins them), the tool plan, each tool
call's arguments, the logprobs items' texts. `take` gives the events to read, each piece
replaced by what of it may be shown then (text that cannot begin a secret at once); the
end of a text held back comes in an event of its own before the event that ends the text
(tool-call-end, message-end). `settled` gives the events to print as they are (-F
events) once nothing is held back: as sent when nothing was hidden in them, else as
taken (and as taken, so that memory stays bounded, once MOST_PENDING wait while a text
stays held back). A tool call's arguments are JSON: what could begin a secret there is
any of its JSON forms (`\\u0063o-...` cut after `\\u00`). A whole response's pieces
are hidden the same way by response.hide_reply.
"""
from __future__ import annotations

from typing import Any

from cohere_cli.wire.chat_events import CONTENT, TOOL_CALL
from cohere_cli.wire.redact import Redactor, TextStream

PLAN = ("delta", "message")
ARGUMENTS = (*TOOL_CALL, "function")
LOGPROBS = ("logprobs",)
# Where each event's pieces of text are: the path to the object that holds one, its key;
# and by that path, the type of the event that carries the end of a text held back.
_PIECES: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "content-start": ((CONTENT, "text"), (CONTENT, "thinking")),
    "content-delta": ((CONTENT, "text"), (CONTENT, "thinking"), (LOGPROBS, "text")),
    "tool-plan-delta": ((PLAN, "tool_plan"),),
    "tool-call-start": ((ARGUMENTS, "arguments"),),
    "tool-call-delta": ((ARGUMENTS, "arguments"),),
}
_REST_TYPES = {CONTENT: "content-delta", LOGPROBS: "content-delta",
               PLAN: "tool-plan-delta", ARGUMENTS: "tool-call-delta"}
# The most events kept to be printed as sent once nothing is held back: a stream each of
# whose deltas ends as a secret begins would keep them all (memory); beyond, as taken.
MOST_PENDING = 1000
Channel = tuple[tuple[str, ...], str, Any]  # a text: its pieces' path and key, a call's index


class EventHider:
    """Takes a stream's events in order; says which to read and which to print."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._texts: dict[Channel, tuple[TextStream, Any]] = {}  # with its last index
        self._sent: list[dict[str, Any]] = []  # the events since the last settled point,
        self._taken: list[dict[str, Any]] = []  # as sent and as taken
        self._masked = False  # a secret was hidden in a text ended since then
        self._split = False  # the last shown were taken while a text was held back

    def take(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """The events to read for EVENT: itself, with each piece of text replaced by what
        of it may be shown now, after those that end the texts it ends."""
        taken = self._ends(event)
        for path, key in _PIECES.get(str(event.get("type")), ()):
            piece = _piece(event, path, key)
            if piece is None:
                continue  # none, or a malformed event: the assembler says so
            index = event.get("index")
            channel = (path, key, index if path == ARGUMENTS else None)
            stream = self._texts[channel][0] if channel in self._texts \
                else TextStream(self._redactor, json=path == ARGUMENTS)  # arguments: JSON
            self._texts[channel] = (stream, index)
            shown = stream.feed(piece)
            if shown != piece:
                event = _with_piece(event, path, key, shown)
        taken.append(event)
        self._taken += taken
        return taken

    def settled(self) -> list[dict[str, Any]]:
        """The events to print now: none while the end of a text is held back (unless
        MOST_PENDING wait); then all since the last time, as sent unless a secret was
        hidden in them."""
        held = any(stream.held for stream, _ in self._texts.values())
        if held and len(self._taken) < MOST_PENDING:
            return []
        masked = self._masked or self._split or any(
            stream.masked for stream, _ in self._texts.values())
        shown = self._taken if masked or held else self._sent
        self._sent, self._taken, self._masked = [], [], False
        self._split = held  # shown as taken while a text is held: the next ones too
        for stream, _ in self._texts.values():
            stream.masked = False
        return shown

    def _ends(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """EVENT (as sent) noted; the events that carry the end of each text it ends."""
        self._sent.append(event)
        kind = event.get("type")
        if kind not in ("tool-call-end", "message-end"):
            return []
        rests = []
        for channel in [channel for channel in self._texts if kind == "message-end"
                        or channel == (ARGUMENTS, "arguments", event.get("index"))]:
            stream, index = self._texts.pop(channel)
            self._masked = self._masked or stream.masked
            if rest := stream.end():
                rests.append(_rest_event(channel, index, rest))
        return rests


def _piece(event: dict[str, Any], path: tuple[str, ...], key: str) -> str | None:
    value: Any = event
    for name in (*path, key):
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value if isinstance(value, str) else None


def _with_piece(event: dict[str, Any], path: tuple[str, ...], key: str,
                text: str) -> dict[str, Any]:
    """A copy of EVENT with TEXT as its piece at PATH, KEY (EVENT is left as it is)."""
    top = holder = dict(event)
    for name in path:
        holder[name] = dict(holder[name])
        holder = holder[name]
    holder[key] = text
    return top


def _rest_event(channel: Channel, index: Any, rest: str) -> dict[str, Any]:
    """An event that carries REST, the end of a text that was held back."""
    path, key, _ = channel
    event: dict[str, Any] = {"type": _REST_TYPES[path]}
    if index is not None:
        event["index"] = index
    holder = event
    for name in path:
        holder = holder.setdefault(name, {})
    holder[key] = rest
    if path == LOGPROBS:
        holder["token_ids"] = []  # a LogprobItem's required field
    return event
