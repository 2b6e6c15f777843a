"""The Avro schemas of Cohere's Batch API for chat (issue 19; see docs/remote-batch.md).

`OUTPUT_SCHEMA` (`cohere.batch_chat_v2_output`) is the schema of the output records as the
live service wrote it (decoded from a recorded output file). `INPUT_SCHEMA`
(`cohere.batch_chat_v2_input`) is the input line: its field names are those of the live
service's validated input dataset; which fields may be null is this program's reading of
it (every field but `custom_id`, `messages`, `role`, `type`, a tool's `function`, `name`,
`parameters` is optional). Both are shared with the stub, which validates uploads against
the input schema and writes output parts with the output schema.
"""
from __future__ import annotations

from typing import Any


def _opt(kind: Any) -> list[Any]:
    return ["null", kind]


def _field(name: str, kind: Any) -> dict[str, Any]:
    return {"name": name, "type": kind}


def _record(name: str, *fields: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "type": "record", "fields": list(fields)}


def _array(items: Any) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _tokens(name: str) -> dict[str, Any]:
    return _record(name, _field("input_tokens", "int"), _field("output_tokens", "int"))


def _tool_calls(prefix: str) -> dict[str, Any]:
    function = _record(f"{prefix}.tool_call_function_object",
                       _field("name", _opt("string")), _field("arguments", _opt("string")))
    return _array(_record(f"{prefix}.assistant_tool_calls", _field("id", _opt("string")),
                          _field("type", _opt("string")), _field("function", function)))


OUTPUT_SCHEMA: dict[str, Any] = _record(
    "cohere.batch_chat_v2_output",
    _field("custom_id", "string"),
    _field("body", _opt(_record(
        "cohere.body",
        _field("message", _opt(_record(
            "cohere.response_message",
            _field("role", "string"),
            _field("content", _opt(_array(_record(
                "cohere.response_content_object", _field("type", "string"),
                _field("text", _opt("string")), _field("thinking", _opt("string")))))),
            _field("tool_calls", _opt(_tool_calls("cohere"))),
            _field("tool_plan", _opt("string"))))),
        _field("id", _opt("string")),
        _field("finish_reason", _opt("string")),
        _field("prompt", _opt("string")),
        _field("raw_generation", _opt("string")),
        _field("logprobs", _opt(_array(_record(
            "cohere.logprob_item", _field("text", _opt("string")),
            _field("token_ids", _opt(_array("int"))),
            _field("logprobs", _opt(_array("double"))))))),
        _field("usage", _record("cohere.usage",
                                _field("billed_units", _tokens("cohere.billed_units")),
                                _field("tokens", _tokens("cohere.tokens"))))))),
    _field("error", "string"),
)

INPUT_SCHEMA: dict[str, Any] = _record(
    "cohere.batch_chat_v2_input",
    _field("custom_id", "string"),
    _field("body", _record(
        "cohere.input_body",
        _field("messages", _array(_record(
            "cohere.input_message",
            _field("role", "string"),
            _field("content", _opt(_array(_record(
                "cohere.input_content_object", _field("type", "string"),
                _field("text", _opt("string")), _field("thinking", _opt("string")),
                _field("image_url", _opt("string")))))),
            _field("tool_calls", _opt(_tool_calls("cohere.input"))),
            _field("tool_plan", _opt("string")),
            _field("tool_call_id", _opt("string"))))),
        _field("tools", _opt(_array(_record(
            "cohere.input_tool", _field("type", _opt("string")),
            _field("function", _record(
                "cohere.input_tool_function", _field("name", "string"),
                _field("parameters", "string"), _field("description", _opt("string")))))))),
        *(_field(name, _opt("double"))
          for name in ("temperature", "p", "frequency_penalty", "presence_penalty")),
        *(_field(name, _opt("boolean")) for name in ("reasoning", "return_prompt", "logprobs")),
        *(_field(name, _opt("long")) for name in (
            "thinking_budget", "max_tokens", "max_input_tokens", "k", "seed")))),
)
