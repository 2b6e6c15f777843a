"""The batch input records (`batch-chat-v2-input`): each line checked against the input
dataset's schema as batch-api.md gives it, and the upload's multipart body read."""
from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import orjson

_DOUBLE = (int, float)
_SCALARS: dict[str, tuple[type, ...]] = {
    "temperature": _DOUBLE, "p": _DOUBLE, "frequency_penalty": _DOUBLE,
    "presence_penalty": _DOUBLE, "reasoning": (bool,), "return_prompt": (bool,),
    "logprobs": (bool,), "thinking_budget": (int,), "max_tokens": (int,),
    "max_input_tokens": (int,), "k": (int,), "seed": (int,),
}
_BLOCK = {"type", "text", "thinking", "image_url"}
_MESSAGE = {"role", "content", "tool_calls", "tool_plan", "tool_call_id"}


class RecordProblem(ValueError):
    """Why one input record does not conform."""


def _strings(item: dict[str, Any], names: set[str], where: str) -> None:
    for name in names & item.keys():
        if item[name] is not None and not isinstance(item[name], str):
            raise RecordProblem(f"{where}.{name}: expected a string")


def _object(item: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise RecordProblem(f"{where}: expected an object")
    if extra := sorted(item.keys() - allowed):
        raise RecordProblem(f"{where}: unknown field {extra[0]!r}")
    return item


def _list(item: Any, where: str) -> list[Any]:
    if item is None:
        return []
    if not isinstance(item, list):
        raise RecordProblem(f"{where}: expected an array")
    return item


def _message(message: Any, where: str) -> None:
    message = _object(message, _MESSAGE, where)
    if not isinstance(message.get("role"), str):
        raise RecordProblem(f"{where}.role: expected a string")
    _strings(message, {"tool_plan", "tool_call_id"}, where)
    for number, block in enumerate(_list(message.get("content"), f"{where}.content")):
        block = _object(block, _BLOCK, f"{where}.content[{number}]")
        if not isinstance(block.get("type"), str):
            raise RecordProblem(f"{where}.content[{number}].type: expected a string")
        _strings(block, _BLOCK, f"{where}.content[{number}]")
    for number, call in enumerate(_list(message.get("tool_calls"), f"{where}.tool_calls")):
        at = f"{where}.tool_calls[{number}]"
        call = _object(call, {"id", "type", "function"}, at)
        _strings(call, {"id", "type"}, at)
        function = _object(call.get("function"), {"name", "arguments"}, f"{at}.function")
        _strings(function, {"name", "arguments"}, f"{at}.function")


def _tool(tool: Any, where: str) -> None:
    tool = _object(tool, {"type", "function"}, where)
    _strings(tool, {"type"}, where)
    function = _object(tool.get("function"), {"name", "parameters", "description"},
                       f"{where}.function")
    for name in ("name", "parameters"):
        if not isinstance(function.get(name), str):
            raise RecordProblem(f"{where}.function.{name}: expected a string")
    _strings(function, {"description"}, f"{where}.function")


def check_body(body: Any) -> None:
    """Raise RecordProblem if `body` does not fit the batch input schema."""
    body = _object(body, {"messages", "tools", *_SCALARS}, "body")
    messages = _list(body.get("messages"), "body.messages")
    if not messages:
        raise RecordProblem("body.messages: expected a non-empty array")
    for number, message in enumerate(messages):
        _message(message, f"body.messages[{number}]")
    for number, tool in enumerate(_list(body.get("tools"), "body.tools")):
        _tool(tool, f"body.tools[{number}]")
    for name, kinds in _SCALARS.items():
        value = body.get(name)
        if value is not None and (not isinstance(value, kinds) or
                                  (isinstance(value, bool) and bool not in kinds)):
            raise RecordProblem(f"body.{name}: expected a {kinds[0].__name__}")


def read_records(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The (custom_id, body) of each non-blank line; RecordProblem names the first bad one."""
    records = []
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise RecordProblem(f"row {number}: not a JSON object") from None
        try:
            record = _object(record, {"custom_id", "body"}, "record")
            if not isinstance(record.get("custom_id"), str):
                raise RecordProblem("custom_id: expected a string")
            check_body(record.get("body"))
        except RecordProblem as problem:
            raise RecordProblem(f"row {number}: {problem}") from None
        records.append((record["custom_id"], record["body"]))
    if not records:
        raise RecordProblem("the dataset has no rows")
    return records


def multipart_field(content_type: str, body: bytes, name: str) -> bytes | None:
    """The content of the form field `name` of a multipart/form-data body, or None."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == name:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    return None
