"""What the `stub` answers: chat replies, their streamed events, and the model list.

Pure functions without I/O (but reading the `--replies` file); `stub.py` does the HTTP.
Shapes follow the official schema and examples of `POST /v2/chat` (ChatResponseV2,
StreamedChatResponseV2) and `GET /v1/models`; `--replies` lines are checked against
ChatResponseV2 when loaded, so a bad one stops the stub at start-up, naming its line.
"""
from __future__ import annotations

import base64
import os
import re
import threading
import uuid
from typing import Any

import orjson

from cohere_cli.errors import UsageError
from cohere_cli.files import MAX_INPUT_BYTES, decode_utf8, read_file_bytes, split_lines

Event = tuple[str, dict[str, Any]]

# A token is a word or one other sign, with the spaces before it: joined, they give
# back the exact text ("LLMs stand," -> "LLMs", " stand", ",").
_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")
_WORD = re.compile(r"\S+")
_ID_SPACE = uuid.UUID("6b1f6f0e-3c39-4a52-9d43-7d0c1e0b5a21")

ENDPOINTS = ("chat", "embed", "classify", "summarize", "rerank", "rate", "generate")
DEFAULT_PAGE_SIZE = 2
GARBAGE = (  # what `--fail garbage` answers, with a 200 and Content-Type JSON
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>502 Bad Gateway</h1><p>stub: injected garbage</p></body></html>\n"
)


def _model(name: str, endpoints: tuple[str, ...], context: int, default: bool) -> dict[str, Any]:
    return {
        "name": name,
        "is_deprecated": False,
        "endpoints": list(endpoints),
        "finetuned": False,
        "context_length": context,
        "default_endpoints": [endpoints[0]] if default else [],
    }


MODELS = (
    _model("command-a-plus-05-2026", ("chat",), 256000, True),
    _model("command-a-vision-07-2025", ("chat",), 128000, False),
    _model("command-a-reasoning-08-2025", ("chat",), 256000, False),
    _model("embed-v4.0", ("embed",), 128000, True),
    _model("command-r-plus-08-2024", ("chat",), 128000, False),
    _model("command-r", ("chat", "generate", "summarize"), 128000, False),
)


def reply_id(number: int) -> str:
    """A uuid-looking response id, the same for the same number in every run."""
    return str(uuid.uuid5(_ID_SPACE, f"cohere-chat-stub/{number}"))


def split_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


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


# --- what a --replies line may hold -----------------------------------------------------
# ChatResponseV2's shape from the official schema, checked by hand. A shape is a type (str,
# int, float for any number, dict for any object, object for anything), a tuple of the
# allowed strings, [shape] for a list of them, {key: shape} for an object (other keys pass,
# as in the schema), _Required(shape) for a key that must be there, _Either(shape, ...), or
# _ByType({type: {key: shape}}) for objects told apart by their "type".


class _Required:
    def __init__(self, shape: object) -> None:
        self.shape = shape


class _Either:
    def __init__(self, *options: object) -> None:
        self.options = options


class _ByType:
    def __init__(self, kinds: dict[str, dict[str, object]]) -> None:
        self.kinds = kinds


_BLOCK = _ByType({"text": {"text": _Required(str)}, "thinking": {"thinking": _Required(str)}})
_SOURCE = _ByType({"document": {"id": str, "document": dict},
                   "tool": {"id": str, "tool_output": dict}})
_CITATION = {"start": int, "end": int, "text": str, "content_index": int, "sources": [_SOURCE],
             "type": ("TEXT_CONTENT", "THINKING_CONTENT", "PLAN")}
_TOOL_CALL = {"id": str, "type": ("function",),  # the stub fills in a missing id or type
              "function": {"name": str, "arguments": object}}  # arguments: text, or JSON
_COUNTS = ("input_tokens", "output_tokens", "search_units", "classifications")
_REPLY = {
    "id": str,
    "finish_reason": ("COMPLETE", "STOP_SEQUENCE", "MAX_TOKENS", "TOOL_CALL", "ERROR", "TIMEOUT"),
    "message": {
        "role": ("assistant",), "content": _Either(str, [_BLOCK]), "tool_plan": str,
        "tool_calls": [_TOOL_CALL], "citations": [_CITATION],
    },
    "usage": {"billed_units": dict.fromkeys(_COUNTS, float), "cached_tokens": float,
              "tokens": dict.fromkeys(_COUNTS[:2], float)},
    "logprobs": [{"token_ids": _Required([int]), "text": str, "logprobs": [float]}],
}
_KINDS = ((bool, "true/false"), (str, "a string"), (int, "an integer"), (float, "a number"),
          (list, "a list"), (dict, "an object"))


def _fits(value: Any, shape: object) -> bool:
    """Whether `value` is of the shape's kind (its parts are checked apart)."""
    if isinstance(shape, tuple):
        return value in shape
    if isinstance(value, bool) or shape is object:
        return shape is object
    if isinstance(shape, list):
        return isinstance(value, list)
    if isinstance(shape, (dict, _ByType)):
        return isinstance(value, dict)
    return isinstance(value, (int, float) if shape is float else shape)  # type: ignore[arg-type]


def _name(shape: object) -> str:
    if isinstance(shape, tuple):
        return "one of " + ", ".join(shape)
    if isinstance(shape, _Either):
        return " or ".join(_name(option) for option in shape.options)
    if isinstance(shape, list):
        return "a list"
    return next((name for kind, name in _KINDS if kind is shape), "an object")


def _wrong(where: str, shape: object, value: Any) -> str:
    if isinstance(value, str):
        got = "a string " + orjson.dumps(value[:40]).decode()
    else:
        got = next((name for kind, name in _KINDS if isinstance(value, kind)), "null")
    return f'"{where}" must be {_name(shape)} (got {got})'


def _problem(value: Any, shape: object, where: str) -> str | None:
    if isinstance(shape, _Either):
        option = next((option for option in shape.options if _fits(value, option)), None)
        return _wrong(where, shape, value) if option is None else _problem(value, option, where)
    if not _fits(value, shape):
        return _wrong(where, shape, value)
    if isinstance(shape, list):
        for index, item in enumerate(value):
            if problem := _problem(item, shape[0], f"{where}[{index}]"):
                return problem
    elif isinstance(shape, _ByType):
        kinds = tuple(shape.kinds)
        if "type" not in value:
            return f'"{where}" needs a "type" ({_name(kinds)})'
        return _problem(value["type"], kinds, f"{where}.type") or _fields(
            value, shape.kinds[value["type"]], where)
    elif isinstance(shape, dict):
        return _fields(value, shape, where)
    return None


def _fields(value: dict[str, Any], shape: dict[str, object], where: str) -> str | None:
    for key, field in shape.items():
        inner = field.shape if isinstance(field, _Required) else field
        if key not in value:
            if isinstance(field, _Required):
                return f'"{where}" needs a "{key}" ({_name(inner)})'
            continue
        if problem := _problem(value[key], inner, f"{where}.{key}" if where else key):
            return problem
    return None


def reply_problem(value: Any) -> str | None:
    """Why a `--replies` line cannot be a reply, or None: a reply is a JSON string (the
    text) or an object of the official response shape, of which "message" is required."""
    if isinstance(value, str):
        return None
    if not isinstance(value, dict):
        return "a reply must be a JSON string (the text) or a response object"
    if not isinstance(value.get("message"), dict):
        return 'a reply object needs a "message" object'
    return _fields(value, _REPLY, "")


class RepliesError(UsageError):
    """A `--replies` file the stub cannot play: names the file and line (exit 2)."""


def load_replies(path: str | os.PathLike[str]) -> tuple[object, ...]:
    """The replies of a JSONL file: each line a JSON string (the text) or a response
    object. Blank lines are skipped; a bad line is a RepliesError naming FILE:LINE."""
    source = os.fspath(path)
    too_big = f"more than {MAX_INPUT_BYTES >> 20} MiB: too big for --replies"
    data = read_file_bytes(source, too_big=too_big)
    text = decode_utf8(data, source)
    replies: list[object] = []
    for number, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            raise RepliesError(f"--replies: {source}:{number}: invalid JSON ({error})") from None
        if problem := reply_problem(value):
            raise RepliesError(f"--replies: {source}:{number}: {problem}")
        replies.append(value)
    return tuple(replies)


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


def build_reply(body: dict[str, Any], spec: object, response_id: str) -> dict[str, Any]:
    """The ChatResponseV2 body for a valid request: `spec` is a reply text, a response
    object (used as is, but for an id and defaults for required fields), or None for the
    echo. `max_tokens` cuts the text to that many words."""
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
    if not isinstance(spec, dict):
        response["usage"] = _usage(body, response["message"])
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


def sse(kind: str, data: dict[str, Any]) -> bytes:
    """One event in the wire format: `event: TYPE`, `data: JSON`, a blank line."""
    return b"event: %s\ndata: %s\n\n" % (kind.encode(), orjson.dumps(data))


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"stub:{offset}".encode()).decode().rstrip("=")


def _page_start(token: str) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except ValueError:
        text = ""
    prefix, _, offset = text.partition(":")
    if prefix != "stub" or not offset.isdigit():
        raise ValueError(f"invalid page_token {token!r}")
    return int(offset)


def models_page(query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
    """(status, body) for `GET /v1/models` with these query parameters."""
    endpoint = query.get("endpoint", [None])[-1]
    if endpoint is not None and endpoint not in ENDPOINTS:
        return 400, {"message": f"endpoint must be one of {', '.join(ENDPOINTS)}"}
    try:
        start = _page_start(query.get("page_token", [""])[-1])
    except ValueError as error:
        return 400, {"message": str(error)}
    try:
        size = float(query.get("page_size", [str(DEFAULT_PAGE_SIZE)])[-1])
    except ValueError:
        size = 0.5
    if not (size.is_integer() and 1 <= size <= 1000):
        return 400, {"message": "page_size must be an integer between 1 and 1000"}
    models = [m for m in MODELS if endpoint is None or endpoint in m["endpoints"]]
    if endpoint is not None and query.get("default_only", [""])[-1].lower() == "true":
        models = [m for m in models if endpoint in m["default_endpoints"]]
    end = start + int(size)
    page: dict[str, Any] = {"models": models[start:end]}
    if end < len(models):
        page["next_page_token"] = _page_token(end)
    return 200, page
