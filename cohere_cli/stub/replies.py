"""Loading and checking `--replies`: a JSONL file, each line a JSON string (the reply
text) or an object of the official ChatResponseV2 shape. A bad line stops the stub at
start-up with a `RepliesError` naming FILE:LINE, so every reply it plays can be served.
"""
from __future__ import annotations

import os
from typing import Any

import orjson

from cohere_cli.base.errors import UsageError
from cohere_cli.base.files import MAX_INPUT_BYTES, decode_utf8, read_file_bytes, split_lines

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
              "tokens": dict.fromkeys((*_COUNTS[:2], "reasoning_tokens"), float)},
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
    problem = _fields(value, _REPLY, "")
    content = value["message"].get("content")
    if problem is None and value.get("logprobs") and content in (None, []):
        return '"logprobs" need a "message.content": its content-delta events carry them'
    return problem


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
