"""Which part of a long conversation to send: history windows and a fit to the context.

Pure functions on the message list (no I/O, no printing); nothing here copies the
history, only the part to send.
- A *turn* starts at a user message and runs to the next one, so an assistant message
  with `tool_calls` and the `tool` messages answering it share a turn. History before
  the first user message (a stray assistant) joins the first turn. The leading system
  message(s) are no turn and are always sent.
- The *new input* (the last `new_count` messages) is always sent whole. If it does not
  start with a user message (tool results), it continues the last turn, always sent too.

`new_input_count(brought)`: the new input of what a run brings.
`window(messages, new_count, turns=, tokens=)`: system + the most recent whole turns the
budgets allow + new input. `leave_out(messages, new_count, count)`: all but the `count`
oldest turns. `turn_spans(messages, new_count)`: where each history turn lies (what
--compact folds). `estimate_tokens(messages)`: the estimate below (the stub's too);
`message_texts(message)`: the texts it counts, for a tokenizer to count exactly
(chat/token_count.py); `window` takes such a count instead of the estimate.
`parse_too_many_tokens(text)`: Cohere's 400 read. `fit_next(...)`: turns to leave out
on the next try after that 400.

The estimate (cheap, offline, not the model's tokenizer): each message costs 4 tokens +
ceil(B / 4), B the UTF-8 bytes of its text, + 1600 per `image_url` block whatever its
size (rough: 512x512 pixels is about 1,610 tokens on Command A Vision; the URL's bytes do
not count). Its text: string content, the `text` of text blocks and `thinking` of
thinking blocks, other blocks (documents) as compact JSON, `tool_plan`, and each tool
call's function name and arguments. A request's estimate is the sum over its messages.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

Message = dict[str, Any]
Count = Callable[[Any], int]  # the tokens of one message

MESSAGE_TOKENS = 4
BYTES_PER_TOKEN = 4
IMAGE_TOKENS = 1600
FIT_MARGIN = 0.05  # a fit aims this far (a fraction of the limit) under the limit


@dataclass(frozen=True, eq=False)
class Windowed:
    """The messages to send, and how many history turns they hold or leave out.

    `over_budget`: the system message and the new input alone exceed `tokens`; they are
    sent anyway, with no history turn the new input does not continue.
    """

    messages: list[Message]
    turns_sent: int
    turns_left_out: int
    over_budget: bool = False


class TooManyTokens(NamedTuple):
    """The numbers of a `too many tokens` 400 (None where the message gives none)."""

    limit: int | None
    received: int | None
    excess: int | None


@dataclass(frozen=True, eq=False)
class _Layout:
    """Indexes into the message list: nothing is copied."""

    head: int  # messages[:head] are the leading system messages
    new: int  # messages[new:] are the new input
    starts: list[int]  # where each history turn starts, oldest first
    pinned: bool  # the new input continues the last turn: it is always sent

    @property
    def droppable(self) -> int:
        return len(self.starts) - self.pinned

    def end(self, turn: int) -> int:
        return self.starts[turn + 1] if turn + 1 < len(self.starts) else self.new

    def kept_from(self, left_out: int) -> int:
        """Where the sent history starts when the `left_out` oldest turns are left out."""
        return self.starts[left_out] if left_out < len(self.starts) else self.new


def _role(message: Any) -> Any:
    return message.get("role") if isinstance(message, dict) else None


def _layout(messages: Sequence[Message], new_count: int) -> _Layout:
    if not 0 <= new_count <= len(messages):
        raise ValueError(f"new_count {new_count} is not within 0..{len(messages)}")
    new = len(messages) - new_count
    head = 0
    while head < new and _role(messages[head]) == "system":
        head += 1
    starts = [i for i in range(head, new) if _role(messages[i]) == "user"]
    if head < new:  # messages before the first user message belong to the first turn
        starts[:1] = [head]
    pinned = bool(starts) and new < len(messages) and _role(messages[new]) != "user"
    return _Layout(head, new, starts, pinned)


def _build(
    messages: Sequence[Message], layout: _Layout, left_out: int, over_budget: bool = False
) -> Windowed:
    sent = [*messages[: layout.head], *messages[layout.kept_from(left_out) :]]
    return Windowed(sent, len(layout.starts) - left_out, left_out, over_budget)


def new_input_count(brought: Sequence[Message]) -> int:
    """How many of the messages a run brings (stdin and prompt, or a batch line's) are
    its new input: from the last user message to the end, or all of them when none is a
    user message (tool results). Those before it are history, like a file's."""
    for index in range(len(brought) - 1, -1, -1):
        if _role(brought[index]) == "user":
            return len(brought) - index
    return len(brought)


def _check_count(name: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{name} must be at least 0 (got {value})")


def window(messages: Sequence[Message], new_count: int, turns: int | None = None,
           tokens: int | None = None, count: Count | None = None) -> Windowed:
    """System + the most recent whole history turns that the budgets allow + new input.

    `turns`: at most this many history turns (a turn the new input continues counts and
    is sent even with 0). `tokens`: as many as fit in this many tokens, the system
    message and the new input included, each message's tokens by `count` (by default the
    estimate, `message_tokens`). Neither: the whole history.
    """
    count = count or message_tokens
    _check_count("turns", turns)
    _check_count("tokens", tokens)
    layout = _layout(messages, new_count)
    keep = layout.droppable
    if turns is not None:
        keep = min(keep, max(turns - layout.pinned, 0))
    if tokens is None:
        return _build(messages, layout, layout.droppable - keep)
    used = _sent_tokens(messages, layout, layout.droppable, count)
    if used > tokens:
        return _build(messages, layout, layout.droppable, over_budget=True)
    kept = 0
    while kept < keep:
        turn = layout.droppable - 1 - kept
        used += _span_tokens(messages, layout.starts[turn], layout.end(turn), count)
        if used > tokens:
            break
        kept += 1
    return _build(messages, layout, layout.droppable - kept)


def leave_out(messages: Sequence[Message], new_count: int, count: int) -> Windowed:
    """Everything but the `count` oldest history turns (never system or new input)."""
    _check_count("count", count)
    layout = _layout(messages, new_count)
    return _build(messages, layout, min(count, layout.droppable))


def turn_spans(messages: Sequence[Message], new_count: int) -> list[tuple[int, int]]:
    """(start, stop) of each history turn, oldest first: `messages[start:stop]` (a turn
    the new input continues included; never the system message or the new input)."""
    layout = _layout(messages, new_count)
    return [(start, layout.end(turn)) for turn, start in enumerate(layout.starts)]


def _value_text(value: Any) -> str:
    """A string as it is; anything else but None as compact JSON."""
    if isinstance(value, str):
        return value
    return "" if value is None else orjson.dumps(value).decode()


def _value_size(value: Any) -> int:
    """UTF-8 bytes of a string; of compact JSON for anything else but None."""
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    return 0 if value is None else len(orjson.dumps(value))


def _message_values(message: Any) -> tuple[list[Any], int]:
    """The values that hold a message's text (see the module docstring), and its images."""
    if not isinstance(message, dict):
        return [message], 0
    found, images = [message.get("tool_plan")], 0
    content = message.get("content")
    for block in content if isinstance(content, list) else ():
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "image_url":
            images += 1
        else:
            found.append(block.get(kind) if kind in ("text", "thinking") else block)
    if not isinstance(content, list):
        found.append(content)
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            found += [function.get("name"), function.get("arguments")]
    return found, images


def message_texts(message: Any) -> tuple[list[str], int]:
    """The texts of one message that count (those the estimate counts the bytes of, for
    a tokenizer to count exactly), and its images."""
    found, images = _message_values(message)
    return [text for text in map(_value_text, found) if text], images


def _message_size(message: Any) -> tuple[int, int]:
    """(text bytes, images) of one message."""
    found, images = _message_values(message)
    return sum(map(_value_size, found)), images


def message_tokens(message: Any) -> int:
    """The estimated tokens of one message (see the module docstring)."""
    size, images = _message_size(message)
    return MESSAGE_TOKENS + -(-size // BYTES_PER_TOKEN) + IMAGE_TOKENS * images


def estimate_tokens(messages: Sequence[Any]) -> int:
    """The estimated tokens of a list of messages: the sum of `message_tokens`."""
    return sum(message_tokens(message) for message in messages)


def _span_tokens(messages: Sequence[Any], start: int, stop: int,
                 count: Count = message_tokens) -> int:
    return sum(count(messages[i]) for i in range(start, stop))


def _sent_tokens(messages: Sequence[Message], layout: _Layout, left_out: int,
                 count: Count = message_tokens) -> int:
    """The tokens of what is sent when the `left_out` oldest turns are left out."""
    start = layout.kept_from(left_out)
    return (_span_tokens(messages, 0, layout.head, count)
            + _span_tokens(messages, start, len(messages), count))


_TOO_MANY = re.compile(r"\s*too many tokens\b", re.IGNORECASE)
_OUTPUT_CAP = re.compile(r"max(imum)?[ _]tokens must be", re.IGNORECASE)
_LIMIT = re.compile(r"(?:cannot exceed|limit of) (\d{1,18})\b", re.IGNORECASE)
_RECEIVED = re.compile(r"received (\d{1,18})\b", re.IGNORECASE)
_EXCESS = re.compile(r"exceeded by (\d{1,18})\b", re.IGNORECASE)


def _captured_int(pattern: re.Pattern[str], text: str) -> int | None:
    found = pattern.search(text)
    return int(found.group(1)) if found else None


def parse_too_many_tokens(message: str) -> TooManyTokens | None:
    """The numbers of Cohere's `too many tokens` 400 for a prompt too long; else None.

    None too for the `too many tokens: max tokens must be ...` variant: that one is about
    the requested output, and leaving history out does not help.
    """
    if not _TOO_MANY.match(message) or _OUTPUT_CAP.search(message):
        return None
    return TooManyTokens(*(_captured_int(pattern, message)
                           for pattern in (_LIMIT, _RECEIVED, _EXCESS)))


def _tokens_to_shed(sent: int, overflow: TooManyTokens) -> int | None:
    """How many estimated tokens the next request should shed; None when unknown."""
    limit, received, excess = overflow
    keep = 1 - FIT_MARGIN
    if limit is not None and received:  # the server's count, scaled to our estimate
        if received > limit * keep:
            return math.ceil((received - limit * keep) * sent / received)
    elif excess:  # the limit is what was sent less the excess, if it counts as we do
        return math.ceil(sent - max(sent - excess, 0) * keep)
    if limit is not None and sent > limit * keep:  # limit alone: as if it counts as we do
        return math.ceil(sent - limit * keep)
    return None


def fit_next(
    messages: Sequence[Message], new_count: int, left_out: int, overflow: TooManyTokens
) -> int | None:
    """How many of the oldest turns to leave out next, after `left_out` were: too many.

    Aims FIT_MARGIN under the 400's limit, the server's count scaled by our estimate of
    what was sent over that count; without numbers, leaves out half of the turns still
    sent. Always at least one more turn; None when no turn is left to leave out.
    """
    layout = _layout(messages, new_count)
    if left_out >= layout.droppable:
        return None
    shed = _tokens_to_shed(_sent_tokens(messages, layout, left_out), overflow)
    if shed is None:
        return left_out + (layout.droppable - left_out + 1) // 2
    drop, shed_so_far = left_out, 0
    while drop < layout.droppable and (drop == left_out or shed_so_far < shed):
        shed_so_far += _span_tokens(messages, layout.starts[drop], layout.end(drop))
        drop += 1
    return drop
