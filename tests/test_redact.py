"""The redactor of the one HTTP path (wire/redact.py): a secret is hidden wherever it
shows whole in what a server sends -- as sent or JSON-escaped, in one piece or cut
across the pieces of a stream -- and nothing else is changed."""
from __future__ import annotations

import json

import orjson
from conftest import TEST_KEY
from hypothesis import given
from hypothesis import strategies as st

from cohere_cli.wire.redact import MASK, SHORTEST, Redactor

HIDE = Redactor([TEST_KEY, "another-secret-value"])
ESCAPED = [TEST_KEY.encode(), json.dumps(TEST_KEY, ensure_ascii=True)[1:-1].encode(),
           "".join(f"\\u{ord(c):04x}" for c in TEST_KEY).encode(),
           "".join(f"\\u{ord(c):04X}" if i % 2 else c for i, c in enumerate(TEST_KEY)).encode()]


def test_the_key_as_sent_or_escaped_is_hidden_and_its_json_still_parses() -> None:
    for form in ESCAPED:
        body = b'{"message": "invalid api token: Bearer ' + form + b'"}'
        hidden = HIDE.hide(body)
        assert orjson.loads(hidden) == {"message": f"invalid api token: Bearer {MASK}"}
        assert TEST_KEY not in orjson.loads(hidden)["message"]


def test_a_secret_with_json_special_characters_is_hidden_escaped() -> None:
    secret = 'a"b\\c/d-long-enough'
    body = json.dumps({"id": secret}).encode().replace(b"/", b"\\/")
    assert orjson.loads(Redactor([secret]).hide(body)) == {"id": MASK}


def test_nothing_else_changes_and_short_secrets_are_left() -> None:
    text = b'{"text": "co-test is not the key, nor is \\u0063o"}'
    assert HIDE.hide(text) == text
    short = "k" * (SHORTEST - 1)
    assert Redactor([short]).hide(short.encode()) == short.encode()
    assert not Redactor([]) and not Redactor([short]) and HIDE


def test_keep_length_hides_in_place() -> None:
    body = b"\x00\x02" + TEST_KEY.encode() + b"\xff"
    assert HIDE.hide(body, keep_length=True) == b"\x00\x02" + b"*" * len(TEST_KEY) + b"\xff"


def test_text_is_hidden_too() -> None:
    assert HIDE.hide_text(f"BadStatusLine('Bearer {TEST_KEY}\udcff')") == \
        f"BadStatusLine('Bearer {MASK}\udcff')"


def test_a_stream_holds_back_only_what_could_begin_a_secret() -> None:
    pieces = list(HIDE.hide_stream([b"data: one\n\n", b"data: co-te", b"st-0000-not",
                                    b"-a-real-key\n\n", b"data: c", b"ommon\n\n"]))
    assert pieces == [b"data: one\n\n", b"data: ", MASK.encode() + b"\n\n", b"data: ",
                      b"common\n\n"]


BODY_PARTS = st.lists(st.sampled_from([*ESCAPED, b"another-secret-value", b"co-", b"\\u00",
                                       b"\\", b"x", b'"', b"\n\n", b"another-"])
                      | st.binary(max_size=8), max_size=12)


@given(BODY_PARTS, st.lists(st.integers(1, 40), max_size=20))
def test_any_chunking_hides_as_the_whole_body_does(parts: list[bytes], sizes: list[int]) -> None:
    body = b"".join(parts)
    chunks, start = [], 0
    for size in sizes:
        chunks.append(body[start:start + size])
        start += size
    chunks.append(body[start:])
    streamed = b"".join(HIDE.hide_stream(chunks))
    assert streamed == HIDE.hide(body)
    assert TEST_KEY.encode() not in streamed and b"another-secret-value" not in streamed
    assert b"".join(HIDE.hide_stream(chunks, keep_length=True)) == HIDE.hide(body, True)
