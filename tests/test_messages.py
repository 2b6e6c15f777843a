"""Message assembly (README "Input"): stdin as text/JSONL/JSON, prompt, system; bad input."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cohere_cli.base.errors import InputError, UsageError
from cohere_cli.chat.messages import MessageInputs, assemble_messages


def assemble(**kw: Any) -> list[dict[str, Any]]:
    return assemble_messages(MessageInputs(**kw)).messages


def test_text_stdin_drops_trailing_newlines() -> None:
    assert assemble(stdin=b"hi\n\n") == [{"role": "user", "content": "hi"}]
    assert assemble(stdin=b"  indented\r\n") == [{"role": "user", "content": "  indented"}]


def test_text_stdin_and_prompt_make_one_message() -> None:
    messages = assemble(stdin=b"DATA\n", prompt=("explain", "this"))
    assert messages == [{"role": "user", "content": "DATA\n\nexplain this"}]


def test_whitespace_only_stdin_counts_as_no_input() -> None:
    assert assemble(stdin=b" \n\t\n", prompt=("hi",)) == [{"role": "user", "content": "hi"}]
    with pytest.raises(UsageError, match="nothing to send"):
        assemble(stdin=b"\n\n")


def test_utf8_bom_is_dropped_and_non_ascii_kept() -> None:
    assert assemble(stdin="\ufeffgrüße ✓".encode()) == [{"role": "user", "content": "grüße ✓"}]


def test_system_goes_first_and_replaces_an_opening_system() -> None:
    stdin = b'{"role":"system","content":"old"}\n{"role":"user","content":"q"}\n'
    messages = assemble(input_format="jsonl", stdin=stdin, system="new")
    assert messages == [{"role": "system", "content": "new"}, {"role": "user", "content": "q"}]


def test_system_file(tmp_path: Path) -> None:
    path = tmp_path / "system.txt"
    path.write_text("Be terse.\n")
    messages = assemble(prompt=("hi",), system_file=str(path))
    assert messages[0] == {"role": "system", "content": "Be terse."}
    with pytest.raises(UsageError, match="not both"):
        assemble(prompt=("hi",), system="x", system_file=str(path))


def test_jsonl_passes_every_api_field_through_and_prompt_is_last() -> None:
    assistant = ('{"role":"assistant","tool_plan":"look","tool_calls":[{"id":"c1","type":'
                 '"function","function":{"name":"f","arguments":"{}"}}]}')
    tool = '{"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"42"}]}'
    stdin = f'{{"role":"user","content":"q"}}\n\n{assistant}\n{tool}\n'.encode()
    messages = assemble(input_format="jsonl", stdin=stdin, prompt=("and", "then?"))
    assert messages[1]["tool_calls"][0]["id"] == "c1"
    assert messages[2]["tool_call_id"] == "c1"
    assert messages[-1] == {"role": "user", "content": "and then?"}


def test_json_array_and_request_object() -> None:
    assert assemble(input_format="json", stdin=b'[{"role":"user","content":"a"}]') == [
        {"role": "user", "content": "a"}]
    assembled = assemble_messages(MessageInputs(
        input_format="json",
        stdin=b'{"model":"m","temperature":0.1,"messages":[{"role":"user","content":"a"}]}',
    ))
    assert assembled.defaults == {"model": "m", "temperature": 0.1}


def test_a_tool_result_without_a_new_user_message_may_be_sent() -> None:
    stdin = (b'{"role":"user","content":"q"}\n{"role":"assistant","tool_calls":[]}\n'
             b'{"role":"tool","tool_call_id":"c","content":"r"}\n')
    assert len(assemble(input_format="jsonl", stdin=stdin)) == 3


@pytest.mark.parametrize(("fmt", "stdin", "message"), [
    ("jsonl", b'{"role":"user","content":"a"}\n{"role":"user",\n', "stdin:2: invalid JSON"),
    ("jsonl", b'{"role":"user","content":"a"}\n\n[1]\n', "stdin:3: expected a message object"),
    ("jsonl", b'"hi"\n', "stdin:1: expected a message object, got str"),
    ("jsonl", b'{"role":"usr","content":"a"}\n', 'stdin:1: unknown role "usr"'),
    ("jsonl", b'{"content":"a"}\n', "stdin:1: message has no role"),
    ("jsonl", b'{"role":"tool","content":"a"}\n', 'stdin:1: tool message without "tool_call_id"'),
    ("jsonl", b'{"role":"user"}\n', 'stdin:1: user message without "content"'),
    ("jsonl", b'{"role":"user","content":3}\n', "stdin:1: user message \"content\" must be"),
    ("jsonl", b'{"role":"user","content":"a"}\n\xff\n', "stdin:2: invalid UTF-8"),
    ("text", b"ok\n\xc3(", "stdin:2: invalid UTF-8"),
    ("json", b'{"model":"m"}', 'stdin: a JSON object needs a "messages" array'),
    ("json", b"42", "stdin: expected an array of messages"),
    ("json", b'[{"role":"user","content":"a"},{"role":"bot"}]', 'messages[1]: unknown role "bot"'),
    ("json", b"[\n1,\n", "stdin:3: invalid JSON"),
])
def test_bad_input_names_source_and_line(fmt: str, stdin: bytes, message: str) -> None:
    with pytest.raises(InputError) as caught:
        assemble(input_format=fmt, stdin=stdin, prompt=("p",))
    assert message in caught.value.message
    assert caught.value.exit_code == 3


def test_unreadable_system_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(InputError, match=f"{missing}: cannot read: No such file"):
        assemble(prompt=("hi",), system_file=str(missing))
