"""Request building (README "Request options"): each flag to its field, --param, local
range checks."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import official
import orjson
import pytest

from cohere_cli.base.errors import InputError, UsageError
from cohere_cli.chat.request import RequestOptions, build_request, parse_param

USER = [{"role": "user", "content": "hi"}]


def build(**kw: Any) -> dict[str, Any]:
    body = build_request(USER, RequestOptions(**kw), fallback_model="fallback")
    official.validate_request(body)
    return body


@pytest.mark.parametrize(("options", "fields"), [
    ({"model": "command-r"}, {"model": "command-r"}),
    ({"temperature": 0.2}, {"temperature": 0.2}),
    ({"max_tokens": 10}, {"max_tokens": 10}),
    ({"stop": ("a", "b")}, {"stop_sequences": ["a", "b"]}),
    ({"seed": 7}, {"seed": 7}),
    ({"frequency_penalty": 0.5}, {"frequency_penalty": 0.5}),
    ({"presence_penalty": 0.5}, {"presence_penalty": 0.5}),
    ({"k": 5, "p": 0.5}, {"k": 5, "p": 0.5}),
    ({"safety_mode": "off"}, {"safety_mode": "OFF"}),
    ({"thinking": True}, {"thinking": {"type": "enabled"}}),
    ({"thinking": False}, {"thinking": {"type": "disabled"}}),
    ({"thinking_budget": 500}, {"thinking": {"type": "enabled", "token_budget": 500}}),
    ({"response_format": "json"}, {"response_format": {"type": "json_object"}}),
    ({"response_format": "text"}, {"response_format": {"type": "text"}}),
    ({"tool_choice": "none", "params": (
        'tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]',)},
     {"tool_choice": "NONE"}),
    ({"strict_tools": True}, {"strict_tools": True}),
    ({"citations": "fast"}, {"citation_options": {"mode": "FAST"}}),
    ({"logprobs": True}, {"logprobs": True}),
    ({"priority": 3}, {"priority": 3}),
    ({"params": ("seed=5", "model=x", "safety_mode=STRICT")},
     {"seed": 5, "model": "x", "safety_mode": "STRICT"}),
])
def test_each_flag_maps_to_its_field(options: dict[str, Any], fields: dict[str, Any]) -> None:
    body = build(**options)
    for key, value in fields.items():
        assert body[key] == value


def test_defaults_from_a_document_rank_below_flags() -> None:
    defaults = {"model": "doc-model", "temperature": 0.9, "seed": 1}
    body = build_request(USER, RequestOptions(temperature=0.1), defaults, "fallback")
    assert (body["model"], body["temperature"], body["seed"]) == ("doc-model", 0.1, 1)
    body = build_request(USER, RequestOptions(), {}, "fallback")
    assert body["model"] == "fallback"


def test_param_values_are_json_when_they_parse() -> None:
    assert parse_param("k=5") == ("k", 5)
    assert parse_param('x={"a": [1]}') == ("x", {"a": [1]})
    assert parse_param("name=hello world") == ("name", "hello world")
    assert parse_param("empty=") == ("empty", "")
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_param("novalue")


@pytest.mark.parametrize(("options", "message"), [
    ({"temperature": 1.5}, "temperature must be between 0 and 1 (got 1.5)"),
    ({"temperature": -0.1}, "temperature must be between 0 and 1"),
    ({"p": 0.0}, "p must be between 0.01 and 0.99"),
    ({"p": 1.0}, "p must be between 0.01 and 0.99"),
    ({"k": 501}, "k must be between 0 and 500"),
    ({"priority": 1000}, "priority must be between 0 and 999"),
    ({"seed": -1}, "seed must be between 0"),
    ({"max_tokens": 0}, "max_tokens must be between 1"),
    ({"stop": tuple("abcdef")}, "at most 5 stop sequences"),
    ({"frequency_penalty": 0.1, "presence_penalty": 0.1}, "cannot both be set"),
    ({"thinking": False, "thinking_budget": 10}, "--thinking-budget cannot go with --no-thinking"),
    ({"thinking_budget": 0}, "token_budget must be an integer of at least 1"),
    ({"params": ("temperature=hot",)}, 'temperature must be a number (got "hot")'),
    ({"params": ("safety_mode=off",)}, "safety_mode must be one of CONTEXTUAL, STRICT, OFF"),
    ({"params": ("stream=true",)}, "--param stream is not allowed"),
    ({"params": ('messages=[]',)}, "--param messages is not allowed"),
])
def test_range_checks_are_usage_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        build_request(USER, RequestOptions(**options), fallback_model="m")
    assert message in caught.value.message
    assert caught.value.exit_code == 2


def test_tools_from_json_array_and_jsonl(tmp_path: Path) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    array = tmp_path / "tools.json"
    array.write_bytes(orjson.dumps([tool]))
    lines = tmp_path / "tools.jsonl"
    lines.write_bytes(orjson.dumps(tool) + b"\n\n" + orjson.dumps(tool) + b"\n")
    assert build(tools=str(array))["tools"] == [tool]
    assert build(tools=str(lines))["tools"] == [tool, tool]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type":"function","function":{"name":"f"}}\n{"name": "g"}\n')
    with pytest.raises(InputError, match="tool 2 is not"):
        build(tools=str(bad))


def test_json_schema_implies_json_and_is_checked(tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object", "properties": {"a": {"type": "string"}}}')
    body = build(json_schema=str(schema))
    assert body["response_format"]["type"] == "json_object"
    assert body["response_format"]["json_schema"]["properties"] == {"a": {"type": "string"}}
    with pytest.raises(UsageError, match="needs --response-format json"):
        build(json_schema=str(schema), response_format="text")
    schema.write_text('{"type": "array"}')
    with pytest.raises(InputError, match="JSON object schema"):
        build(json_schema=str(schema))
