"""What the `stub` answers: chat replies, their streamed events, and the model list.

Pure functions without I/O; `stub.py` does the HTTP. Shapes follow the official examples
of `POST /v2/chat` (ChatResponseV2, StreamedChatResponseV2) and `GET /v1/models`.
"""
from __future__ import annotations

import base64
import os
import re
import threading
import uuid
from typing import Any

import orjson

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


def reply_problem(value: Any) -> str | None:
    """Why a `--replies` line cannot be a reply, or None."""
    if isinstance(value, str):
        return None
    if not isinstance(value, dict):
        return "a reply must be a JSON string (the text) or a response object"
    message = value.get("message")
    if not isinstance(message, dict):
        return 'a reply object needs a "message" object'
    content = message.get("content", [])
    for name, items in (
        ("content", [] if isinstance(content, str) else content),
        ("tool_calls", message.get("tool_calls", [])),
        ("citations", message.get("citations", [])),
    ):
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            return f'"message.{name}" must be a list of objects'
    return None


def load_replies(path: str | os.PathLike[str]) -> tuple[object, ...]:
    """The replies of a JSONL file: each line a JSON string (the text) or a response
    object with a "message". Blank lines are skipped; ValueError names FILE:LINE."""
    replies: list[object] = []
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                raise ValueError(f"{os.fspath(path)}:{number}: invalid JSON ({error})") from None
            problem = reply_problem(value)
            if problem:
                raise ValueError(f"{os.fspath(path)}:{number}: {problem}")
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

    def reply(self, body: dict[str, Any], advance: bool = True) -> dict[str, Any]:
        """The next response; `advance=False` (a cut reply) plays the same one again."""
        with self._lock:
            self.made += 1
            number, replies = self.made, self.replies
            spec = replies[min(self.played, len(replies) - 1)] if replies else None
            self.played += int(advance)
        return build_reply(body, spec, reply_id(number))

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
    start = {
        "id": call.get("id"),
        "type": call.get("type", "function"),
        "function": {"name": function.get("name"), "arguments": ""},
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
    homes: dict[int, list[tuple[int, dict]]] = {}
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
