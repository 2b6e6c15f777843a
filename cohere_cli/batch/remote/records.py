"""`batch --remote` records: a `/v2/chat` request body (as local `batch` builds it from a
line) reshaped into a Batch API input record, and an output record back into the
result line local `batch` writes (docs/remote-batch.md).

The input record is not a `/v2/chat` body: content is always a list of blocks,
`image_url` a plain string, a tool's `parameters` a JSON string, `thinking` becomes
`reasoning` and `thinking_budget`, and there is no `model` (the batch has one). A field
the service cannot carry is refused (`Uncarried`), never dropped.
"""
from __future__ import annotations

from typing import Any

import orjson

from cohere_cli.chat.response import reply_text, request_message
from cohere_cli.chat.usage import Prices, usage_counts

# Each request field (rules.REQUEST_FIELDS) is PASSED as it is, reshaped (messages, tools,
# thinking), DROPPED or REFUSED: tests/test_flag_consistency.py checks that each is one.
PASSED = ("temperature", "p", "frequency_penalty", "presence_penalty", "max_tokens", "k",
          "seed", "logprobs")
DROPPED = ("model", "stream")  # the model goes on the batch; a batch never streams
REFUSED = ("documents", "citation_options", "response_format", "stop_sequences",
           "safety_mode", "tool_choice", "strict_tools", "priority")  # no place for them
MESSAGE_FIELDS = ("role", "content", "tool_calls", "tool_plan", "tool_call_id")
OUTPUT_ERRORS = ("ERROR", "TIMEOUT")  # finish reasons that fail a line, as in local batch


class Uncarried(ValueError):
    """A request field the Batch API cannot carry; `field` names it."""

    def __init__(self, field: str, why: str = "the Batch API cannot carry it") -> None:
        super().__init__(f'"{field}": {why}')
        self.field = field


def custom_id(line_id: Any) -> str:
    """The record's `custom_id` for a line id: a string id as it is, any other its JSON."""
    return line_id if isinstance(line_id, str) else orjson.dumps(line_id).decode()


def input_record(line_id: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The Batch API input record of one line's request body."""
    record: dict[str, Any] = {}
    for name, value in body.items():
        if name in DROPPED:
            continue
        if name == "messages":
            record["messages"] = [_message(m, i) for i, m in enumerate(value)]
        elif name == "tools":
            record["tools"] = [_tool(tool, i) for i, tool in enumerate(value)]
        elif name == "thinking":
            record.update(_thinking(value))
        elif name in PASSED:
            record[name] = value
        elif name in REFUSED:
            raise Uncarried(name)
        else:  # a field --param names that /v2/chat does not know either
            raise Uncarried(name, "not a field of the Batch API's input records")
    return {"custom_id": custom_id(line_id), "body": record}


def _thinking(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Uncarried("thinking", "must be an object")
    shaped: dict[str, Any] = {"reasoning": value.get("type") != "disabled"}
    if value.get("token_budget") is not None:
        shaped["thinking_budget"] = value["token_budget"]
    return shaped


def _tool(tool: Any, index: int) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict):
        raise Uncarried(f"tools[{index}]", "must be a function tool")
    shaped = {"name": function.get("name"),
              "parameters": orjson.dumps(function.get("parameters") or {}).decode()}
    if function.get("description") is not None:
        shaped["description"] = function["description"]
    return {"type": tool.get("type", "function"), "function": shaped}


def _message(message: dict[str, Any], index: int) -> dict[str, Any]:
    shaped: dict[str, Any] = {}
    for name, value in message.items():
        if name == "citations":
            continue  # what an earlier reply cited: it does not shape the next one
        if name not in MESSAGE_FIELDS:
            raise Uncarried(f"messages[{index}].{name}")
        if name == "content":
            value = _content(value, index)
        elif name == "tool_calls":
            value = [_tool_call(call) for call in value or []]
        shaped[name] = value
    return shaped


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if arguments is not None and not isinstance(arguments, str):
        arguments = orjson.dumps(arguments).decode()
    return {"id": call.get("id"), "type": call.get("type", "function"),
            "function": {"name": function.get("name"), "arguments": arguments}}


def _content(content: Any, index: int) -> list[dict[str, Any]] | None:
    if content is None:
        return None
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": block.get("text")})
        elif kind == "thinking":
            blocks.append({"type": "thinking", "thinking": block.get("thinking")})
        elif kind == "image_url":
            blocks.append({"type": "image_url", "image_url": _image_url(block, index)})
        else:
            raise Uncarried(f"messages[{index}].content", f'a "{kind}" block cannot be carried')
    return blocks


def _image_url(block: dict[str, Any], index: int) -> str:
    image = block.get("image_url")
    if isinstance(image, str):
        return image
    if isinstance(image, dict) and image.get("detail") is not None:
        raise Uncarried(f"messages[{index}].content.image_url.detail")
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str):
        raise Uncarried(f"messages[{index}].content.image_url", "has no url")
    return url


def _without_nulls(value: Any) -> Any:
    """An Avro record as JSON: its absent (null) fields left out, as the chat API does."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def result_line(line: int, line_id: Any, record: dict[str, Any], raw: bool = False,
                prices: Prices | None = None) -> dict[str, Any]:
    """The result line of one output record, as local `batch` writes it."""
    body = record.get("body")
    error = record.get("error")
    if error or not isinstance(body, dict):
        return failure_line(line, line_id, error or "the batch returned no body for this line")
    reason = body.get("finish_reason")
    if reason in OUTPUT_ERRORS:
        return failure_line(line, line_id, f"generation did not complete (finish_reason "
                            f"{reason})")
    response = _without_nulls(body)
    result = {"id": line_id, "line": line, "text": reply_text(response),
              "finish_reason": reason, "usage": usage_counts(response, prices),
              "message": request_message(response)}
    if raw:
        result["response"] = response
    return result


def failure_line(line: int, line_id: Any, message: str) -> dict[str, Any]:
    """The result line of a line that failed or never came back."""
    return {"id": line_id, "line": line, "error": {"status": None, "message": message}}
