"""The derived official schema: it accepts Cohere's examples and rejects what the API rejects."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import official
import pytest
from jsonschema import ValidationError

REPO_ROOT = Path(__file__).resolve().parent.parent
OPENAPI = REPO_ROOT.parent / "shared" / "cohere" / "cohere-openapi.yaml"
SCHEMA_DIR = REPO_ROOT / "tests" / "schema"
EXAMPLE_NAMES = [
    "default", "documents", "stream", "tools",
    "image", "documents-stream", "tools-stream", "image-stream",
]


def body(**fields: Any) -> dict[str, Any]:
    """A minimal valid request, with ``fields`` set (a value of None removes the field)."""
    request = {"model": "command-a-plus-05-2026", "messages": [{"role": "user", "content": "hi"}]}
    request.update(fields)
    return {key: value for key, value in request.items() if value is not None}


def streamed(name: str) -> list[dict[str, Any]]:
    return official.example(name)["response"]["stream"]


# (a) the official examples ------------------------------------------------------------


def test_the_eight_examples_are_named() -> None:
    assert [item["name"] for item in official.load_examples()] == EXAMPLE_NAMES
    assert official.example_names() == EXAMPLE_NAMES


def test_example_lookup_returns_copies_and_rejects_unknown_names() -> None:
    official.example("default")["request"]["model"] = "changed"
    assert official.example("default")["request"]["model"] != "changed"
    with pytest.raises(KeyError, match="nope"):
        official.example("nope")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_request_is_valid(name: str) -> None:
    request = official.example(name)["request"]
    official.validate_request(request)
    assert request.get("stream", False) == name.endswith("stream")


@pytest.mark.parametrize("name", ["default", "documents", "tools", "image"])
def test_example_response_body_is_valid(name: str) -> None:
    official.validate_response(official.example(name)["response"]["body"])


@pytest.mark.parametrize("name", ["stream", "documents-stream", "tools-stream", "image-stream"])
def test_example_stream_events_are_valid(name: str) -> None:
    events = streamed(name)
    assert events[0]["event"] == "message-start"
    assert events[-1]["event"] == "message-end"
    for event in events:
        assert event["event"] == event["data"]["type"]
        official.validate_event(event["data"])


def test_examples_cover_citations_and_tool_calls() -> None:
    kinds = {event["event"] for event in streamed("documents-stream")}
    assert {"citation-start", "citation-end"} <= kinds
    kinds = {event["event"] for event in streamed("tools-stream")}
    assert {"tool-plan-delta", "tool-call-start", "tool-call-delta", "tool-call-end"} <= kinds


def test_yaml_1_1_off_survives() -> None:
    defs = official.schema()["$defs"]
    assert defs["ChatRequest"]["properties"]["safety_mode"]["enum"] == [
        "CONTEXTUAL", "STRICT", "OFF",
    ]
    assert "OFF" in defs["CitationOptions"]["properties"]["mode"]["enum"]


# (b) what the API rejects --------------------------------------------------------------

REJECTED = {
    "unknown role": body(messages=[{"role": "usr", "content": "hi"}]),
    "message without role": body(messages=[{"content": "hi"}]),
    "tool message without tool_call_id": body(messages=[{"role": "tool", "content": "{}"}]),
    "temperature above 1": body(temperature=1.5),
    "temperature below 0": body(temperature=-0.1),
    "p of 0": body(p=0),
    "p of 1": body(p=1),
    "k of 501": body(k=501),
    "k not an integer": body(k=2.5),
    "lowercase safety mode": body(safety_mode="off"),
    "boolean safety mode": body(safety_mode=False),
    "unknown response format": body(response_format={"type": "xml"}),
    "response format without type": body(response_format={}),
    "lowercase citation mode": body(citation_options={"mode": "off"}),
    "unknown content block type": body(
        messages=[{"role": "user", "content": [{"type": "audio", "text": "hi"}]}]
    ),
    "messages not a list": body(messages="hi"),
    "missing model": body(model=None),
    "missing messages": body(messages=None),
}


@pytest.mark.parametrize("request_body", REJECTED.values(), ids=REJECTED.keys())
def test_request_is_rejected(request_body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        official.validate_request(request_body)


ACCEPTED = {
    "safety mode OFF": body(safety_mode="OFF"),
    "safety mode STRICT": body(safety_mode="STRICT"),
    "citation mode OFF": body(citation_options={"mode": "OFF"}),
    "text response format": body(response_format={"type": "text"}),
    "json object": body(response_format={"type": "json_object"}),
    "json object with schema": body(response_format={
        "type": "json_object",
        "json_schema": {"type": "object", "properties": {"a": {"type": "string"}}},
    }),
    "tool round trip": body(messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_plan": "look it up", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": [
            {"type": "document", "document": {"data": {"t": 20}}},
        ]},
    ]),
    "system text blocks": body(messages=[
        {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
        {"role": "user", "content": "hi"},
    ]),
    "range limits": body(temperature=0, p=0.99, k=500, priority=999, seed=0),
}


@pytest.mark.parametrize("request_body", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_request_is_accepted(request_body: dict[str, Any]) -> None:
    official.validate_request(request_body)


def citation(*sources: dict[str, Any]) -> dict[str, Any]:
    return {"start": 0, "end": 2, "text": "hi", "sources": list(sources), "type": "TEXT_CONTENT"}


def reply(**message: Any) -> dict[str, Any]:
    return {"id": "r1", "finish_reason": "COMPLETE", "message": {"role": "assistant", **message}}


def test_overlapping_citation_sources_pick_their_branch() -> None:
    document = {"type": "document", "id": "doc:0", "document": {"snippet": "hi"}}
    tool = {"type": "tool", "id": "c1:0", "tool_output": {"t": 20}}
    official.validate_response(reply(citations=[citation(document, tool)]))
    for bad in ({"type": "web", "id": "x"}, {"id": "doc:0"}):
        with pytest.raises(ValidationError):
            official.validate_response(reply(citations=[citation(bad)]))


def test_response_rejects_unknown_content_and_finish_reason() -> None:
    official.validate_response(reply(content=[{"type": "thinking", "thinking": "hm"}]))
    with pytest.raises(ValidationError):
        official.validate_response(reply(content=[{"type": "image_url", "text": "x"}]))
    with pytest.raises(ValidationError):
        official.validate_response({**reply(content=[]), "finish_reason": "DONE"})
    with pytest.raises(ValidationError):
        official.validate_response({"id": "r1", "message": {"role": "assistant"}})


def test_response_logprobs_use_their_declared_fields() -> None:
    item = {"text": "hi", "token_ids": [1], "logprobs": [-0.1]}
    official.validate_response({**reply(content=[]), "logprobs": [item]})


def test_event_rejects_unknown_or_missing_type() -> None:
    official.validate_event({"type": "content-end", "index": 0})
    for bad in ({"type": "content-stop", "index": 0}, {"index": 0}, {"type": 3}):
        with pytest.raises(ValidationError):
            official.validate_event(bad)


def test_models_page() -> None:
    page = {"models": [{"name": "command-a-plus-05-2026", "endpoints": ["chat"]}]}
    official.validate_models_page(page)
    official.validate_models_page({**page, "next_page_token": "abc"})
    with pytest.raises(ValidationError):
        official.validate_models_page({})
    with pytest.raises(ValidationError):
        official.validate_models_page({"models": [{"endpoints": ["telepathy"]}]})


# (c) the committed files are what derive.py makes ----------------------------------------


def derive_module() -> Any:
    script = REPO_ROOT / "tests" / "schema" / "derive.py"
    spec = importlib.util.spec_from_file_location("derive", script)
    assert spec is not None and spec.loader is not None
    derive = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(derive)
    return derive


@pytest.mark.slow
def test_regenerating_gives_identical_files() -> None:
    """From the committed excerpt of the OpenAPI document: in any clone, in CI."""
    derive = derive_module()
    for name, text in derive.render(SCHEMA_DIR / derive.EXCERPT_FILE).items():
        committed = (SCHEMA_DIR / name).read_bytes()
        assert text.encode("utf-8") == committed, f"{name} is stale: rerun derive.py"


@pytest.mark.slow  # over a second
def test_the_excerpt_is_the_shared_documents() -> None:
    """The excerpt is what derive.py cuts from the whole document, where that is at hand
    (beside the repository); the checks above need only the excerpt."""
    if not OPENAPI.exists():
        pytest.skip(f"no OpenAPI document at {OPENAPI} (it lives beside the repository)")
    derive = derive_module()
    committed = (SCHEMA_DIR / derive.EXCERPT_FILE).read_text(encoding="utf-8")
    assert derive.render_excerpt(OPENAPI) == committed, "the excerpt is stale: rerun derive.py"
