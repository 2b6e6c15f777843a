"""Reading a chat response: its text, tool calls, usage, warnings and message form."""
from __future__ import annotations

import contextlib
from typing import Any

import orjson

MESSAGE_KEYS = ("role", "content", "tool_plan", "tool_calls", "citations")
USAGE_FIELDS = (
    ("input_tokens", "tokens", "input_tokens"),
    ("output_tokens", "tokens", "output_tokens"),
    ("billed_input_tokens", "billed_units", "input_tokens"),
    ("billed_output_tokens", "billed_units", "output_tokens"),
)


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


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def usage_counts(response: dict[str, Any]) -> dict[str, Any]:
    """Token counts from `usage` (current API) or `meta` (older pages), whichever is there."""
    counts: dict[str, Any] = {}
    for holder in (response.get("usage"), response.get("meta")):
        if not isinstance(holder, dict):
            continue
        for name, group, key in USAGE_FIELDS:
            value = (holder.get(group) or {}).get(key)
            if name not in counts and isinstance(value, (int, float)):
                counts[name] = _whole(value)
    return counts


def api_warnings(response: dict[str, Any]) -> list[str]:
    meta = response.get("meta")
    found = meta.get("warnings") if isinstance(meta, dict) else None
    return [str(w) for w in found] if isinstance(found, list) else []


def request_message(response: dict[str, Any]) -> dict[str, Any]:
    """The assistant message in the form a request accepts (ready for a conversation file)."""
    message = _message(response)
    shaped = {key: message[key] for key in MESSAGE_KEYS if message.get(key) not in (None, [], "")}
    shaped["role"] = "assistant"
    if not any(key in shaped for key in ("content", "tool_calls", "tool_plan")):
        shaped["content"] = ""
    return {key: shaped[key] for key in MESSAGE_KEYS if key in shaped}


def citations(response: dict[str, Any]) -> list[dict[str, Any]]:
    found = _message(response).get("citations")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []
