"""Reading a chat response: its text, tool calls, usage, warnings and message form; and
hiding the secrets its pieces make joined (`hide_reply`)."""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, cast

import orjson

from cohere_cli.base.errors import NetworkError
from cohere_cli.chat.messages import sendable_message

if TYPE_CHECKING:
    from cohere_cli.wire.redact import Redactor

ANSWERED_REPLY = "the API answered 200 with a body"
STREAMED_REPLY = "the API streamed events that make a reply"
MESSAGE_KEYS = ("role", "content", "tool_plan", "tool_calls", "citations")


def _message(response: dict[str, Any]) -> dict[str, Any]:
    message = response.get("message")
    return message if isinstance(message, dict) else {}


def _blocks(response: dict[str, Any], kind: str) -> list[str]:
    content = _message(response).get("content")
    if isinstance(content, str):
        return [content] if kind == "text" else []
    if not isinstance(content, list):
        return []
    return [b.get(kind, "") for b in content if isinstance(b, dict) and b.get("type") == kind]


def reply_text(response: dict[str, Any]) -> str:
    """The reply's text: its text blocks, joined as the stream would have printed them."""
    return "".join(_blocks(response, "text"))


def hide_reply(raw: bytes, response: dict[str, Any], redactor: Redactor) -> bytes:
    """Hide in RESPONSE (in place) each secret its pieces make joined, as a stream's are
    (wire/hidden_events.py): its content blocks of each kind, joined as `reply_text`
    joins them, and its logprobs items' texts. RAW (the body as received, each string in
    it hidden whole), or when something more was hidden, the response's bytes anew."""
    content, items = _message(response).get("content"), response.get("logprobs")
    blocks = [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
    texts = [[(block, kind) for block in blocks if block.get("type") == kind]
             for kind in ("text", "thinking")]
    texts.append([(item, "text") for item in items if isinstance(item, dict)]
                 if isinstance(items, list) else [])
    changed = False
    for pieces in texts:
        pieces = [(holder, key) for holder, key in pieces if isinstance(holder.get(key), str)]
        shown = redactor.hide_pieces([holder[key] for holder, key in pieces])
        for (holder, key), piece in zip(pieces, shown, strict=True):
            changed = changed or holder[key] != piece
            holder[key] = piece
    return orjson.dumps(response) if changed else raw


def thinking_text(response: dict[str, Any]) -> str:
    return "".join(_blocks(response, "thinking"))


def tool_calls(response: dict[str, Any]) -> list[dict[str, Any]]:
    """Each tool call as {"id", "name", "arguments"} with the arguments parsed from JSON."""
    calls = []
    for call in _message(response).get("tool_calls") or []:
        function = call.get("function") or {}
        arguments: Any = function.get("arguments") or "{}"
        with contextlib.suppress(orjson.JSONDecodeError, TypeError):
            arguments = orjson.loads(arguments)  # when not JSON, keep the API's string
        calls.append({"id": call.get("id"), "name": function.get("name"), "arguments": arguments})
    return calls


def api_warnings(response: dict[str, Any]) -> list[str]:
    meta = response.get("meta")
    found = meta.get("warnings") if isinstance(meta, dict) else None
    return [str(w) for w in found] if isinstance(found, list) else []


def request_message(response: dict[str, Any]) -> dict[str, Any]:
    """The assistant message in the form a request accepts (ready for a conversation
    file): its fields that hold something, as `sendable_message` sends them back."""
    message = _message(response)
    shaped = {key: message[key] for key in MESSAGE_KEYS if message.get(key) not in (None, [], "")}
    shaped["role"] = "assistant"
    shaped = sendable_message(shaped)
    return {key: shaped[key] for key in MESSAGE_KEYS if key in shaped}


def logprobs(response: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The response's `logprobs` (one `LogprobItem` per piece of text), None when it has
    none: the API sends them only when the request asked (`--logprobs`)."""
    found = response.get("logprobs")
    return found if isinstance(found, list) else None


def citations(response: dict[str, Any]) -> list[dict[str, Any]]:
    found = _message(response).get("citations")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _typed(value: Any, kind: type | tuple[type, ...]) -> bool:
    return value is None or (isinstance(value, kind) and not isinstance(value, bool))


def _is_count(value: Any) -> bool:
    """None, or a number a token count can be: not negative, finite, below 2**63."""
    return _typed(value, (int, float)) and (value is None or 0 <= value < 2**63)


def _counts_problem(holder: Any, where: str) -> str | None:
    if not _typed(holder, dict):
        return f"{where} is not an object"
    for group in ("tokens", "billed_units"):
        counts = (holder or {}).get(group)
        if not _typed(counts, dict):
            return f"{where}.{group} is not an object"
        for name, value in (counts or {}).items():
            if not _is_count(value):
                return f"{where}.{group}.{name} is not a count of tokens"
    if not _is_count((holder or {}).get("cached_tokens")):
        return f"{where}.cached_tokens is not a count of tokens"
    return None


def _content_problem(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return None
    if not isinstance(content, list):
        return "message.content is not a list"
    for block in content:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return "a content block is not an object with a type"
        kind = block["type"]
        if kind in ("text", "thinking") and not isinstance(block.get(kind), str):
            return f"a {kind} block has no string {kind!r}"
    return None


def _calls_problem(calls: Any) -> str | None:
    if not _typed(calls, list):
        return "message.tool_calls is not a list"
    for call in calls or ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not _typed(function, dict):
            return "a tool call is not an object with a function object"
        if not _typed(call.get("id"), str) or not all(
                _typed((function or {}).get(key), str) for key in ("name", "arguments")):
            return "a tool call's id, name or arguments is not a string"
    return None


def response_problem(response: Any) -> str | None:
    """Why a 200 body is not a chat response this client can read, or None.

    Only the fields the client uses are checked; unknown fields pass."""
    if not isinstance(response, dict) or not isinstance(response.get("message"), dict):
        return "it has no message object"
    message = response["message"]
    problem = _content_problem(message.get("content")) or _calls_problem(
        message.get("tool_calls"))
    if problem:
        return problem
    for key, kind in (("tool_plan", str), ("citations", list)):
        if not _typed(message.get(key), kind):
            return f"message.{key} is not a {kind.__name__}"
    for key in ("id", "finish_reason"):
        if not _typed(response.get(key), str):
            return f"{key} is not a string"
    items = response.get("logprobs")
    if not _typed(items, list) or not all(isinstance(item, dict) for item in items or ()):
        return "logprobs is not a list of objects"
    meta = response.get("meta")
    if not _typed(meta, dict) or not _typed((meta or {}).get("warnings"), list):
        return "meta is not an object with a warnings list"
    return _counts_problem(response.get("usage"), "usage") or _counts_problem(meta, "meta")


def check_response(response: Any, source: str = ANSWERED_REPLY) -> dict[str, Any]:
    """`response` when it is a chat response this client can read; else a NetworkError
    (exit 7) of one line that says what is wrong with it."""
    problem = response_problem(response)
    if problem:
        raise NetworkError(f"{source} that is not a chat response: {problem}")
    return cast(dict[str, Any], response)  # response_problem found it to be an object
