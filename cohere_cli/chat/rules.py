"""What `/v2/chat` accepts in a request body, from the official OpenAPI schema.

Both sides use these rules: the client checks a body before it sends anything (exit 2
or 3 locally instead of a 400 later), and the `stub` answers 400 with the same words,
as the real service would. The client checks a body with `body_problem` (request.py
`build_request`, batch/jobs.py), each message of its input with `message_problem`
and the fields of an -i json request document with `fields_problem` (messages.py); the
stub's handler answers 400 with `body_problem`'s words.
"""
# Every rule sentence ("cannot", "must", "only", "not supported", "required", "up to",
# "min/max value") of the POST /v2/chat request in the official OpenAPI, and where it is
# enforced. Refused rules: exit 2 before sending (exit 3 for a message or a request
# document's field read from input; a failed line in a batch); the stub answers 400.
#
# | rule (field: what the OpenAPI says)                    | enforced by                    |
# |--------------------------------------------------------|--------------------------------|
# | model, messages: required                              | body_problem                   |
# | messages: role user/assistant/system/tool; user and    | message_problem                |
# |   system need content, tool needs tool_call_id and     |                                |
# |   content (schema "required")                          |                                |
# | content blocks: which types each role may use, and     | not checked: the API answers   |
# |   each block's required fields (schema only)           |   400/422, which names it      |
# | tools: items {type, function: {name, parameters}}      | _list_problem                  |
# |   (ToolV2Function "required")                          |                                |
# | documents: string or Document ("data" required)        | _list_problem                  |
# | documents: "should be under 300 words"                 | not checked: advice            |
# | stop_sequences: "a list of up to 5 strings"            | _option_problem                |
# | temperature 0-1, seed 0-2**64-1, k 0-500, p 0.01-0.99, | _range_problem (RANGES)        |
# |   frequency/presence_penalty "min 0.0, max 1.0",       |                                |
# |   priority 0-999                                       |                                |
# | max_tokens: capped at the model's limit by the API     | _range_problem: at least 1     |
# | safety_mode, tool_choice, citation_options.mode: enums | _option_problem, _structure_.. |
# | thinking.type enabled/disabled; token_budget "must be  | _structure_problem             |
# |   set to a positive integer"                           |                                |
# | response_format.type text/json_object (required)       | _structure_problem             |
# | json_schema "must not be specified when the type is    | _structure_problem             |
# |   set to text"                                         |                                |
# | response_format "not supported ... with documents or   | combination_problem (refused)  |
# |   tools" (json_schema with them: its own message)      |                                |
# | safety_mode "not yet configurable in combination with  | combination_problem (refused)  |
# |   tools and documents"                                 |                                |
# | tool_choice: "the tools parameter must be passed"      | combination_problem (refused,  |
# |   (REQUIRED; NONE names "the specified tools" too)     |   whatever its value)          |
# | frequency_penalty with presence_penalty "not supported | _option_problem (from the v1   |
# |   on newer models" (v1 /chat description)              |   chat; every v2 model is new) |
# | safety_mode "only compatible newer models"; OFF not on | not checked: depends on the    |
# |   command-r7b-12-2024 and newer; tool_choice "only     |   model, which only the API    |
# |   compatible with Command-r7b and newer";              |   knows (400 from the API)     |
# |   response_format "supported on Command R ... newer"   |                                |
# | json_object: the message "should" ask for JSON         | not checked: advice            |
# | tool message content "should" be a JSON object string | not checked: advice            |
# | seed: "determinism cannot be totally guaranteed"       | not a rule of the request      |
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
        if message.get("content") is None and message.get("tool_calls"):
            return None  # "content": null beside tool calls: the API answers 200 to it
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
        if "json_schema" in fmt and fmt["type"] == "text":
            return 'response_format json_schema must not be given with type "text"'
    return _list_problem(body)


def _list_problem(body: dict[str, Any]) -> str | None:
    for field in ("tools", "documents"):
        if field in body and not isinstance(body[field], list):
            return f"{field} must be a list"
    for index, tool in enumerate(body.get("tools") or ()):
        function = tool.get("function") if isinstance(tool, dict) else None
        if (not isinstance(function, dict) or not isinstance(function.get("name"), str)
                or not isinstance(function.get("parameters"), dict)):
            return (f'tools[{index}]: each tool must be {{"type": "function", "function": '
                    '{"name": ..., "parameters": {...}}}')
    for index, document in enumerate(body.get("documents") or ()):
        if not isinstance(document, str) and not (
                isinstance(document, dict) and isinstance(document.get("data"), dict)):
            return f'documents[{index}]: each document must be a string or {{"data": {{...}}}}'
    return None


def combination_problem(body: dict[str, Any]) -> str | None:
    """Fields the API documents as not going together (a body whose fields each passed)."""
    if "tool_choice" in body and not body.get("tools"):
        return "tool_choice (--tool-choice) needs tools (--tools FILE)"
    if not (body.get("tools") or body.get("documents")):
        return None
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and "json_schema" in fmt:
        return "a JSON schema (--json-schema) cannot go with tools or documents"
    if fmt is not None:
        return "response_format (--response-format) cannot go with tools or documents"
    if "safety_mode" in body:
        return "safety_mode (--safety-mode) cannot go with tools or documents"
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
    return fields_problem(body) or combination_problem(body)


def fields_problem(fields: dict[str, Any]) -> str | None:
    """Why a request field other than model and messages would be refused, each field
    (and each tool and document) on its own, or None: also the check of a request
    document's own fields (-i json), whose fields flags may complete."""
    for field in RANGES:
        if field in fields:
            problem = _range_problem(field, fields[field])
            if problem:
                return problem
    return _option_problem(fields)
