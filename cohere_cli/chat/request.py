"""Building the `/v2/chat` request body from messages and request options (README
"Request options")."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from cohere_cli.base.errors import InputError, UsageError
from cohere_cli.base.files import decode_utf8, iter_jsonl, read_file_bytes
from cohere_cli.chat.media import document_from_file, documents_from_jsonl
from cohere_cli.chat.rules import REQUEST_FIELDS, body_problem
from cohere_cli.settings.preset_apply import apply_preset

if TYPE_CHECKING:
    from cohere_cli.settings.presets import Preset


@dataclass(frozen=True, eq=False)  # never compared: no __eq__ to compile
class RequestOptions:
    """Every request-shaping flag; None (or empty) means "not given"."""

    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    k: int | None = None
    p: float | None = None
    safety_mode: str | None = None
    thinking: bool | None = None
    thinking_budget: int | None = None
    response_format: str | None = None
    json_schema: str | None = None
    tools: str | None = None
    tool_choice: str | None = None
    strict_tools: bool = False
    citations: str | None = None
    logprobs: bool = False
    priority: int | None = None
    params: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    documents_file: str | None = None
    # not flags: the preset's fields and messages, and stdin's bytes for `--image -` or
    # `--document -` (then stdin is not a message)
    preset: Preset | None = None
    stdin_media: bytes | None = None


NOT_FLAGS = ("preset", "stdin_media")


def param_warnings(params: tuple[str, ...]) -> list[str]:
    """A warning for each --param KEY the API's request does not know (it is still
    sent, so that new API fields work), with a close known name if there is one."""
    warnings = []
    for key in dict.fromkeys(key for key, _ in map(parse_param, params)):
        if key not in REQUEST_FIELDS:
            import difflib  # only for a key it does not know

            close = difflib.get_close_matches(key, REQUEST_FIELDS, 1)
            meant = f' (did you mean "{close[0]}"?)' if close else ""
            warnings.append(f'--param {key}: not a request field the API documents{meant}; '
                            "sent all the same")
    return warnings


def parse_param(text: str) -> tuple[str, Any]:
    """KEY=VALUE; VALUE is JSON when it parses as JSON, else the string itself."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--param needs KEY=VALUE (got {text!r})")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = raw
    return key.strip(), value


def param_fields(params: tuple[str, ...]) -> dict[str, Any]:
    """The --param KEY=VALUE fields; `stream` and `messages` are refused (the command
    line decides them)."""
    fields: dict[str, Any] = {}
    for key, value in map(parse_param, params):
        if key in ("stream", "messages"):
            raise UsageError(f"--param {key} is not allowed; the command line decides {key}")
        fields[key] = value
    return fields


def load_json_file(path: str) -> Any:
    """A JSON file's value, or an InputError naming the file."""
    text = decode_utf8(read_file_bytes(path), path)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON ({exc.msg})", exc.lineno) from None


def load_tools(path: str) -> list[Any]:
    """Tool definitions from a JSON array or from JSONL (one definition a line)."""
    text = decode_utf8(read_file_bytes(path), path)
    tools: list[Any]
    if text.lstrip().startswith("["):
        try:
            tools = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InputError(path, f"invalid JSON ({exc.msg})", exc.lineno) from None
    else:
        tools = [value for _, value in iter_jsonl(text, path)]
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InputError(path, f'tool {index + 1} is not {{"type": "function", '
                             '"function": {"name": ..., "parameters": {...}}}')
        tool.setdefault("type", "function")
        function.setdefault("parameters", {"type": "object", "properties": {}})
    return tools


def _thinking(options: RequestOptions) -> dict[str, Any] | None:
    if options.thinking_budget is not None:
        if options.thinking is False:
            raise UsageError("--thinking-budget cannot go with --no-thinking")
        return {"type": "enabled", "token_budget": options.thinking_budget}
    if options.thinking is None:
        return None
    return {"type": "enabled" if options.thinking else "disabled"}


def _response_format(options: RequestOptions) -> dict[str, Any] | None:
    if options.json_schema is None:
        if options.response_format is None:
            return None
        return {"type": "json_object" if options.response_format == "json" else "text"}
    if options.response_format == "text":
        raise UsageError("--json-schema needs --response-format json")
    schema = load_json_file(options.json_schema)
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        raise InputError(options.json_schema, 'the schema must be a JSON object schema '
                         '({"type": "object", ...})')
    return {"type": "json_object", "json_schema": schema}


def _documents(options: RequestOptions) -> list[Any] | None:
    documents = [document_from_file(path, options.stdin_media) for path in options.documents]
    if options.documents_file:
        documents += documents_from_jsonl(options.documents_file)
    return documents or None


def _flag_fields(options: RequestOptions) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "temperature": options.temperature,
        "max_tokens": options.max_tokens,
        "stop_sequences": list(options.stop) or None,
        "seed": options.seed,
        "frequency_penalty": options.frequency_penalty,
        "presence_penalty": options.presence_penalty,
        "k": options.k,
        "p": options.p,
        "safety_mode": options.safety_mode.upper() if options.safety_mode else None,
        "thinking": _thinking(options),
        "response_format": _response_format(options),
        "tools": load_tools(options.tools) if options.tools else None,
        "tool_choice": options.tool_choice.upper() if options.tool_choice else None,
        "strict_tools": True if options.strict_tools else None,
        "citation_options": {"mode": options.citations.upper()} if options.citations else None,
        "logprobs": True if options.logprobs else None,
        "priority": options.priority,
        "documents": _documents(options),
    }
    return {key: value for key, value in fields.items() if value is not None}


def preset_document(
    options: RequestOptions, system: str | None, settings: dict[str, Any]
) -> dict[str, Any]:
    """--save-preset: the request flags given (and --param), --system as its message,
    and the settings flags given (presets.PRESET_SETTINGS)."""
    document: dict[str, Any] = {"model": options.model} if options.model else {}
    document.update(_flag_fields(options))
    document.update(param_fields(options.params))
    document.update(settings)
    if system is not None:
        document["messages"] = [{"role": "system", "content": system}]
    return document


def build_request(
    messages: list[dict[str, Any]],
    options: RequestOptions,
    defaults: dict[str, Any] | None = None,
    fallback_model: str = "",
    stream: bool = False,
) -> dict[str, Any]:
    """The request body: the preset's fields, document defaults, then flags, then
    --param; checked locally. The preset's messages go first.

    `defaults` are a JSON request document's own fields (above a preset, below flags);
    `fallback_model` is the model from the environment, config or built-in default.
    """
    applied = apply_preset(options.preset, messages, {**(defaults or {}),
                                                      **_flag_fields(options)})
    body = applied.fields
    body["model"] = options.model or body.get("model") or fallback_model
    body["messages"] = applied.messages
    body.update(param_fields(options.params))
    body["stream"] = stream
    problem = body_problem(body)
    if problem:
        raise UsageError(problem)
    return body
