"""Fuzzing the message reader: any bytes, any format, end in messages or a typed error."""
from __future__ import annotations

import official
import orjson
from conftest import fuzz_examples
from hypothesis import given
from hypothesis import strategies as st

from cohere_cli.base.errors import CohereChatError
from cohere_cli.chat.messages import MessageInputs, assemble_messages
from cohere_cli.chat.request import RequestOptions, build_request

FORMATS = st.sampled_from(["text", "jsonl", "json"])
VALID_LINES = [
    b'{"role": "system", "content": "s"}',
    b'{"role": "user", "content": "hi"}',
    b'{"role": "user", "content": [{"type": "text", "text": "x"}]}',
    b'{"role": "assistant", "content": "a", "tool_calls": []}',
    b'{"role": "tool", "tool_call_id": "c", "content": "r"}',
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)


def read(fmt: str, data: bytes, prompt: tuple[str, ...] = ()) -> None:
    try:
        assembled = assemble_messages(MessageInputs(input_format=fmt, stdin=data, prompt=prompt))
    except CohereChatError:
        return
    assert assembled.messages, "a reader that succeeds returns messages"
    try:
        body = build_request(assembled.messages, RequestOptions(), assembled.defaults, "m")
    except CohereChatError:
        return
    # build_request refuses what the project's rules refuse (body_problem): what it lets
    # through is checked here by something else, Cohere's official request schema. The
    # rules leave content blocks to the API (docs/request-rules.md: "not checked"), so
    # those are made plain before the check; everything else must be as the schema says.
    official.validate_request(with_plain_blocks(body))


def with_plain_blocks(body: dict[str, object]) -> dict[str, object]:
    """`body` with every content block of every message a plain text block."""
    plain = {"type": "text", "text": "x"}
    messages = [{**m, "content": [plain] * len(m["content"])}
                if isinstance(m, dict) and isinstance(m.get("content"), list) else m
                for m in body["messages"]]  # type: ignore[attr-defined]
    return {**body, "messages": messages}


@fuzz_examples(300)
@given(FORMATS, st.binary(max_size=300), st.lists(st.text(max_size=5), max_size=2))
def test_random_bytes_never_raise_an_untyped_error(fmt: str, data: bytes,
                                                   prompt: list[str]) -> None:
    read(fmt, data, tuple(prompt))


@fuzz_examples(300)
@given(st.lists(st.sampled_from(VALID_LINES), min_size=1, max_size=6),
       st.integers(min_value=0, max_value=400), st.binary(min_size=1, max_size=4))
def test_mutated_valid_jsonl_never_raises_an_untyped_error(lines: list[bytes], at: int,
                                                           junk: bytes) -> None:
    data = b"\n".join(lines)
    at %= len(data) + 1
    read("jsonl", data[:at] + junk + data[at:])
    read("json", b"[" + b",".join(lines)[:at] + junk + b"]")


@fuzz_examples(300)
@given(st.lists(json_values, max_size=4), json_values)
def test_any_json_values_as_messages_or_documents(values: list[object], document: object) -> None:
    read("jsonl", b"\n".join(orjson.dumps(v) for v in values))
    read("json", orjson.dumps(document))
    read("json", orjson.dumps({"messages": values, "model": document}))
