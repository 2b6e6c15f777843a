"""What the stub answers a valid chat request: the echo of the last user message, or the
next `--replies` reply (`ReplyBook`), as a ChatResponseV2 body, cut to `max_tokens` words,
with made-up `logprobs` when asked for and the reply has none; with `stub --echo-key`,
the credentials the request carried at the end of its text (`credentials`, `echo_cuts`).
No I/O: handler.py does the HTTP, events.py streams a response.
"""
from __future__ import annotations

import re
import threading
import uuid
from typing import Any

import orjson

from cohere_cli.conversation.window import estimate_tokens
from cohere_cli.stub.events import make_logprobs
from cohere_cli.stub.replies import reply_problem

_WORD = re.compile(r"\S+")
_ID_SPACE = uuid.UUID("6b1f6f0e-3c39-4a52-9d43-7d0c1e0b5a21")


def credentials(headers: Any) -> tuple[str, ...]:
    """What `stub --echo-key` echoes: the credentials a request carried, as a server that
    quotes them may -- the token of its Authorization header (without its scheme), and
    its X-Api-Key."""
    scheme, _, token = str(headers.get("Authorization") or "").partition(" ")
    found = (token.strip() or scheme, str(headers.get("X-Api-Key") or ""))
    return tuple(secret for secret in found if secret)


def _halves(secret: str) -> tuple[str, str]:
    return secret[: len(secret) // 2], secret[len(secret) // 2:]


def echo_cuts(echoed: tuple[str, ...]) -> tuple[str, ...]:
    """The halves of each echoed credential: `_echo` puts them in two text blocks, and a
    stream cuts each into pieces (events.split_tokens)."""
    return tuple(half for secret in echoed for half in _halves(secret))


def _echo(message: dict[str, Any], echoed: tuple[str, ...]) -> None:
    """Each of ECHOED at the end of the reply's text: ` sent ` and its first half end the
    last text block, its second half is a text block of its own after it (a key cut
    across two blocks, and across events when streamed)."""
    content = message.setdefault("content", [])
    for first, second in map(_halves, echoed):
        last = max((at for at, block in enumerate(content) if block.get("type") == "text"),
                   default=None)
        if last is None:
            content.append({"type": "text", "text": ""})
            last = len(content) - 1
        content[last]["text"] = f"{content[last].get('text') or ''} sent {first}"
        content.insert(last + 1, {"type": "text", "text": second})


def context_problem(body: dict[str, Any], limit: int | None) -> str | None:
    """Cohere's 400 text for a prompt over `limit` tokens, estimated as
    conversation/window.py does (the messages only); None when it fits or there is no
    limit."""
    if limit is None:
        return None
    received = estimate_tokens(body["messages"])
    if received <= limit:
        return None
    return (f"too many tokens: total number of tokens in the prompt cannot exceed {limit} - "
            f"received {received}. Try using a shorter prompt, or enabling prompt "
            "truncations. See https://docs.cohere.com/reference/chat for more details.")


def reply_id(number: int) -> str:
    """A uuid-looking response id, the same for the same number in every run."""
    return str(uuid.uuid5(_ID_SPACE, f"cohere-chat-stub/{number}"))


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def cut_words(text: str, limit: int) -> str:
    """`text` up to the end of its `limit`-th word (unchanged when it has no more)."""
    words = list(_WORD.finditer(text))
    if len(words) <= limit:
        return text
    return text[: words[limit - 1].end()] if limit > 0 else ""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n".join(str(b.get("text", "")) for b in content if b.get("type") == "text")


def echo_text(body: dict[str, Any]) -> str:
    """`echo: TEXT`, TEXT being the last user message's text."""
    for message in reversed(body["messages"]):
        if message.get("role") == "user":
            return "echo: " + _text_of(message.get("content"))
    return "echo: "


def _from_object(spec: dict[str, Any], response_id: str) -> dict[str, Any]:
    response = orjson.loads(orjson.dumps(spec))
    message = {"role": "assistant", **response["message"]}
    if isinstance(message.get("content"), str):
        message["content"] = [{"type": "text", "text": message["content"]}]
    for number, call in enumerate(message.get("tool_calls") or []):
        function = call.setdefault("function", {})
        if not isinstance(function.get("arguments", ""), str):
            function["arguments"] = orjson.dumps(function["arguments"]).decode()
        call.setdefault("id", f"{function.get('name', 'tool')}_{number}")
        call.setdefault("type", "function")
    response["message"] = message
    response.setdefault("finish_reason", "TOOL_CALL" if message.get("tool_calls") else "COMPLETE")
    return {"id": response_id, **response}


def _limit_words(message: dict[str, Any], limit: int) -> bool:
    """Cut the text blocks to `limit` words in all; whether anything was cut."""
    cut = False
    for block in message.get("content") or []:
        if block.get("type") == "text":
            text = str(block.get("text", ""))
            kept = cut_words(text, limit)
            limit -= count_words(kept)
            if kept != text:
                block["text"], cut = kept, True
    return cut


def _usage(body: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """Word counts: all the request's message text in, the reply's text out."""
    words_in = sum(count_words(_text_of(m.get("content"))) for m in body["messages"])
    words_out = count_words(_text_of(message["content"]))
    counts = {"input_tokens": words_in, "output_tokens": words_out}
    return {"billed_units": counts, "tokens": dict(counts)}


def build_reply(body: dict[str, Any], spec: object, response_id: str,
                echoed: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ChatResponseV2 body for a valid request: `spec` is a reply text, a response
    object (used as is, but for an id and defaults for required fields), or None for the
    echo. `max_tokens` cuts the text to that many words; ECHOED (--echo-key) then ends
    it; `"logprobs": true` adds an item for each token of the text, unless the reply
    object has its own `logprobs`."""
    if isinstance(spec, dict):
        response = _from_object(spec, response_id)
    else:
        text = spec if isinstance(spec, str) else echo_text(body)
        response = {
            "id": response_id,
            "message": {"role": "assistant", "content": [{"type": "text", "text": text}]},
            "finish_reason": "COMPLETE",
        }
    limit = body.get("max_tokens")
    if limit is not None and _limit_words(response["message"], limit):
        response["finish_reason"] = "MAX_TOKENS"
    _echo(response["message"], echoed)
    if not isinstance(spec, dict):
        response["usage"] = _usage(body, response["message"])
    if body.get("logprobs") is True and "logprobs" not in response:
        response["logprobs"] = make_logprobs(response["message"], echo_cuts(echoed))
    return response


class ReplyBook:
    """The replies to play, in order, one per chat request, the last one repeating;
    none: the echo. Thread-safe."""

    def __init__(self, replies: tuple[object, ...]) -> None:
        for number, reply in enumerate(replies, 1):
            if problem := reply_problem(reply):
                raise ValueError(f"reply {number}: {problem}")
        self.replies = replies
        self.played = 0  # replies given in full
        self.made = 0  # responses made (ids), cut ones included
        self._lock = threading.Lock()

    def take(self, advance: bool = True) -> tuple[int, int, object]:
        """(response number, reply position from 1 or 0 for the echo, reply) for the next
        chat request; `advance=False` (a cut reply) plays the same one again."""
        with self._lock:
            self.made += 1
            position = min(self.played, len(self.replies) - 1) + 1 if self.replies else 0
            self.played += int(advance)
            return self.made, position, self.replies[position - 1] if position else None
