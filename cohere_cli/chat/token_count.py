"""Counting a request's input tokens: exactly with the model's tokenizer (tokenizer.py),
else with the estimate (conversation/window.py).

Each message costs MESSAGE_TOKENS (the chat template's own tokens around it, about) plus
its texts' tokens (the texts the estimate counts: content, text and thinking blocks,
other blocks as compact JSON, `tool_plan`, each tool call's name and arguments), plus
IMAGE_TOKENS an image whatever its size. Each document and each tool definition costs
MESSAGE_TOKENS plus the tokens of its compact JSON. `bound` is a count no tokenizer can
exceed (at most a token a byte, twice over for normalisers that grow the text): under a
limit, nothing needs counting.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from cohere_cli.chat.tokenizer import Tokenizer
from cohere_cli.conversation.window import (
    BYTES_PER_TOKEN,
    IMAGE_TOKENS,
    MESSAGE_TOKENS,
    Message,
    message_texts,
    message_tokens,
)


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _extras(body: dict[str, Any]) -> list[str]:
    """The documents and tool definitions of a request body, as compact JSON each."""
    found = []
    for key in ("documents", "tools"):
        items = body.get(key)
        for item in items if isinstance(items, list) else ():
            found.append(item if isinstance(item, str) else orjson.dumps(item).decode())
    return found


def bound(body: dict[str, Any]) -> int:
    """More tokens than the request's input can hold, whatever the tokenizer."""
    total = 0
    for message in body.get("messages") or ():
        texts, images = message_texts(message)
        total += MESSAGE_TOKENS + 2 * sum(map(_size, texts)) + IMAGE_TOKENS * images
    return total + sum(MESSAGE_TOKENS + 2 * _size(text) for text in _extras(body))


@dataclass(frozen=True)
class Counter:
    """Counts tokens: with `tokenizer`, exactly; without, the estimate."""

    tokenizer: Tokenizer | None = None

    @property
    def exact(self) -> bool:
        return self.tokenizer is not None

    def message(self, message: Any) -> int:
        """The tokens of one message (conversation/window.py's `Count`)."""
        if self.tokenizer is None:
            return message_tokens(message)
        texts, images = message_texts(message)
        return MESSAGE_TOKENS + sum(self.tokenizer.count(texts)) + IMAGE_TOKENS * images

    def messages(self, messages: Sequence[Message]) -> int:
        if self.tokenizer is None:
            return sum(map(message_tokens, messages))
        split = [message_texts(message) for message in messages]
        counts = iter(self.tokenizer.count([text for texts, _ in split for text in texts]))
        return sum(MESSAGE_TOKENS + IMAGE_TOKENS * images + sum(next(counts) for _ in texts)
                   for texts, images in split)

    def request(self, body: dict[str, Any]) -> int:
        """The input tokens of a request body: its messages, documents and tools."""
        extras = _extras(body)
        if self.tokenizer is None:
            tokens = sum(-(-_size(text) // BYTES_PER_TOKEN) for text in extras)
        else:
            tokens = sum(self.tokenizer.count(extras))
        return self.messages(body.get("messages") or []) + MESSAGE_TOKENS * len(extras) + tokens
