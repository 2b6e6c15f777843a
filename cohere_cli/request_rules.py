"""What `/v2/chat` accepts in a request body, from the official OpenAPI schema.

Both sides use these rules: the client checks a body before it sends anything (exit 2
or 3 locally instead of a 400 later), and the `stub` answers 400 with the same words,
as the real service would.
"""
from __future__ import annotations

from typing import Any

ROLES = ("user", "assistant", "system", "tool")

# The top-level fields of a POST /v2/chat request body, as in the official schema.
REQUEST_FIELDS = (
    "model", "messages", "stream", "tools", "strict_tools", "documents", "citation_options",
    "response_format", "safety_mode", "max_tokens", "stop_sequences", "temperature", "seed",
    "frequency_penalty", "presence_penalty", "k", "p", "logprobs", "tool_choice", "thinking",
    "priority",
)

# field: (type name, minimum, maximum), as in the schema of POST /v2/chat.
RANGES: dict[str, tuple[str, float, float]] = {
    "temperature": ("number", 0, 1),
    "p": ("number", 0.01, 0.99),
    "k": ("integer", 0, 500),
    "seed": ("integer", 0, 2**64 - 1),
    "priority": ("integer", 0, 999),
    "max_tokens": ("integer", 1, 2**31 - 1),
    "frequency_penalty": ("number", 0, 1),
    "presence_penalty": ("number", 0, 1),
}

ENUMS: dict[str, tuple[str, ...]] = {
    "safety_mode": ("CONTEXTUAL", "STRICT", "OFF"),
    "tool_choice": ("REQUIRED", "NONE"),
}

CITATION_MODES = ("ENABLED", "DISABLED", "FAST", "ACCURATE", "OFF")
MAX_STOP_SEQUENCES = 5
BOOLEANS = ("stream", "strict_tools", "logprobs")


def _is_number(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int)
    return isinstance(value, (int, float))


def _content_problem(role: str, content: Any) -> str | None:
    if isinstance(content, str):
        return None
    if not isinstance(content, list):
        return f'{role} message "content" must be a string or a list of content blocks'
    for block in content:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return f'{role} message content blocks must be objects with a "type"'
    return None


def message_problem(message: Any) -> str | None:
    """Why a message object would be refused, or None when it is acceptable."""
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    role = message.get("role")
    if role not in ROLES:
        return "message has no role" if role is None else f"unknown role {_quote(role)}"
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        return 'tool message without "tool_call_id"'
    if role == "assistant":
        if not any(key in message for key in ("content", "tool_calls", "tool_plan")):
            return 'assistant message needs "content" or "tool_calls"'
        if "tool_calls" in message and not isinstance(message["tool_calls"], list):
            return 'assistant "tool_calls" must be a list'
        return _content_problem(role, message["content"]) if "content" in message else None
    if "content" not in message:
        return f'{role} message without "content"'
    return _content_problem(role, message["content"])


def _quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _range_problem(field: str, value: Any) -> str | None:
    kind, low, high = RANGES[field]
    if not _is_number(value, kind):
        article = "an" if kind == "integer" else "a"
        return f"{field} must be {article} {kind} (got {_quote(value)})"
    if not low <= value <= high:
        lowest, highest, got = map(_format_number, (low, high, value))
        return f"{field} must be between {lowest} and {highest} (got {got})"
    return None


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _option_problem(body: dict[str, Any]) -> str | None:
    for field, allowed in ENUMS.items():
        if field in body and body[field] not in allowed:
            return f"{field} must be one of {', '.join(allowed)} (got {_quote(body[field])})"
    for field in BOOLEANS:
        if field in body and not isinstance(body[field], bool):
            return f"{field} must be true or false"
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            return "stop_sequences must be a list of strings"
        if len(stops) > MAX_STOP_SEQUENCES:
            return f"at most {MAX_STOP_SEQUENCES} stop sequences are allowed (got {len(stops)})"
    if "frequency_penalty" in body and "presence_penalty" in body:
        return "frequency_penalty and presence_penalty cannot both be set"
    return _structure_problem(body)


def _structure_problem(body: dict[str, Any]) -> str | None:
    thinking = body.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled"):
            return 'thinking must be {"type": "enabled"|"disabled"}'
        budget = thinking.get("token_budget")
        if budget is not None and (not _is_number(budget, "integer") or budget < 1):
            return "thinking token_budget must be an integer of at least 1"
    citations = body.get("citation_options", {})
    if not isinstance(citations, dict) or citations.get("mode", "ENABLED") not in CITATION_MODES:
        return f"citation_options.mode must be one of {', '.join(CITATION_MODES)}"
    fmt = body.get("response_format")
    if fmt is not None:
        if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object"):
            return 'response_format type must be "text" or "json_object"'
        if "json_schema" in fmt and not isinstance(fmt["json_schema"], dict):
            return "response_format json_schema must be an object"
        if "json_schema" in fmt and (body.get("tools") or body.get("documents")):
            return "a JSON schema (--json-schema) cannot go with tools or documents"
    for field in ("tools", "documents"):
        if field in body and not isinstance(body[field], list):
            return f"{field} must be a list"
    for tool in body.get("tools") or ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            return 'each tool must be {"type": "function", "function": {"name": ..., ...}}'
    return None


def body_problem(body: Any) -> str | None:
    """Why a whole request body would be refused, or None when it is acceptable."""
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return 'the request needs a "model"'
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return 'the request needs a non-empty "messages" list'
    for number, message in enumerate(messages, 1):
        problem = message_problem(message)
        if problem:
            return f"messages[{number - 1}]: {problem}"
    for field in RANGES:
        if field in body:
            problem = _range_problem(field, body[field])
            if problem:
                return problem
    return _option_problem(body)
