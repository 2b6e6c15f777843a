"""`batch --remote` before and after the service (issue 19): lines into Batch API records,
output records back into result lines, the state file, and what is refused before
anything is sent."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest
from conftest import TEST_KEY, invoke, run_process

from cohere_cli.base.errors import ExitCode, InputError
from cohere_cli.batch.remote.prepare import LineSource, input_digest, prepare
from cohere_cli.batch.remote.records import Uncarried, custom_id, input_record, result_line
from cohere_cli.batch.remote.schema import INPUT_SCHEMA, OUTPUT_SCHEMA
from cohere_cli.batch.remote.state import RemoteState, StateFiles
from cohere_cli.chat.request import RequestOptions

TOOL = {"type": "function", "function": {"name": "f", "description": "d",
                                          "parameters": {"type": "object"}}}


def test_a_chat_body_is_reshaped_into_a_batch_record() -> None:
    body = {
        "model": "command-a", "stream": False, "temperature": 0.3, "max_tokens": 9,
        "thinking": {"type": "enabled", "token_budget": 50}, "tools": [TOOL],
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "look"}, {
                "type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]},
            {"role": "assistant", "tool_plan": "call f", "citations": [{"start": 0}],
             "tool_calls": [{"id": "c1", "type": "function",
                             "function": {"name": "f", "arguments": '{"a":1}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ],
    }
    record = input_record(7, body)
    assert record == {"custom_id": "7", "body": {
        "temperature": 0.3, "max_tokens": 9, "reasoning": True, "thinking_budget": 50,
        "tools": [{"type": "function", "function": {
            "name": "f", "parameters": '{"type":"object"}', "description": "d"}}],
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
            {"role": "user", "content": [{"type": "text", "text": "look"}, {
                "type": "image_url", "image_url": "data:image/png;base64,AA"}]},
            {"role": "assistant", "tool_plan": "call f", "tool_calls": [{
                "id": "c1", "type": "function",
                "function": {"name": "f", "arguments": '{"a":1}'}}]},
            {"role": "tool", "tool_call_id": "c1",
             "content": [{"type": "text", "text": "42"}]},
        ]}}
    fastavro.validate(record, fastavro.parse_schema(INPUT_SCHEMA), raise_errors=True)


def test_disabled_thinking_is_reasoning_false_and_ids_become_strings() -> None:
    record = input_record({"k": 1}, {"messages": [], "thinking": {"type": "disabled"}})
    assert record["body"] == {"messages": [], "reasoning": False}
    assert record["custom_id"] == '{"k":1}'
    assert custom_id("abc") == "abc" and custom_id(3) == "3"


@pytest.mark.parametrize(("body", "field"), [
    ({"documents": ["d"]}, "documents"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"stop_sequences": ["x"]}, "stop_sequences"),
    ({"safety_mode": "OFF"}, "safety_mode"),
    ({"tool_choice": "REQUIRED"}, "tool_choice"),
    ({"strict_tools": True}, "strict_tools"),
    ({"citation_options": {"mode": "FAST"}}, "citation_options"),
    ({"priority": 3}, "priority"),
    ({"messages": [{"role": "user", "content": [{"type": "document", "document": {}}]}]},
     "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "https://x/y.png", "detail": "high"}}]}]},
     "messages[0].content.image_url.detail"),
])
def test_a_field_the_service_cannot_carry_is_refused(body: dict[str, Any], field: str) -> None:
    with pytest.raises(Uncarried) as caught:
        input_record(1, {"messages": [], **body})
    assert caught.value.field == field


def _output(custom: str, text: str = "hi", error: str = "") -> dict[str, Any]:
    body = None if error else {
        "message": {"role": "assistant", "content": [{"type": "text", "text": text,
                                                      "thinking": None}],
                    "tool_calls": None, "tool_plan": None},
        "id": "r1", "finish_reason": "COMPLETE", "prompt": None, "raw_generation": None,
        "logprobs": None, "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 2},
                                    "tokens": {"input_tokens": 5, "output_tokens": 2}}}
    return {"custom_id": custom, "body": body, "error": error}


def test_an_output_record_becomes_the_result_line_local_batch_writes() -> None:
    record = _output("1", "hello")
    fastavro.validate(record, fastavro.parse_schema(OUTPUT_SCHEMA), raise_errors=True)
    assert result_line(1, 1, record) == {
        "id": 1, "line": 1, "text": "hello", "finish_reason": "COMPLETE",
        "usage": {"input_tokens": 5, "output_tokens": 2, "billed_input_tokens": 3,
                  "billed_output_tokens": 2},
        "message": {"role": "assistant", "content": [{"type": "text", "text": "hello"}]}}
    assert result_line(2, "b", _output("b", error="boom")) == {
        "id": "b", "line": 2, "error": {"status": None, "message": "boom"}}
    stopped = _output("c")
    stopped["body"]["finish_reason"] = "ERROR"
    assert "finish_reason ERROR" in result_line(3, "c", stopped)["error"]["message"]


def _source(tmp_path: Path, lines: list[Any], **options: Any) -> tuple[LineSource, Path]:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return LineSource(str(path), RequestOptions(**options), "command-a"), path


def test_prepare_gives_the_ids_and_failures_of_local_batch(tmp_path: Path) -> None:
    source, path = _source(tmp_path, ["one", {"id": "x", "prompt": "two"}, {"prompt": ""},
                                      {"id": "x", "prompt": "dup"}], max_tokens=5)
    files = StateFiles(tmp_path / "out.jsonl")
    with open(path, "rb") as stream:
        found = prepare(source, stream, files)
    index = [orjson.loads(line) for line in files.index.read_bytes().splitlines()]
    assert [(e["line"], e["id"], e.get("custom_id")) for e in index] == [
        (1, 1, "1"), (2, "x", "x"), (3, 3, None), (4, "x", None)]
    assert "non-empty" in index[2]["error"] and "same id" in index[3]["error"]
    uploaded = [orjson.loads(line) for line in files.upload.read_bytes().splitlines()]
    assert uploaded[0] == {"custom_id": "1", "body": {
        "max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "one"}]}]}}
    assert found.records == 2 and found.model == "command-a"
    with open(path, "rb") as stream:
        assert input_digest(stream, "in") == found.input_sha256


def test_a_line_naming_another_model_is_refused(tmp_path: Path) -> None:
    source, path = _source(tmp_path, ["a", {"prompt": "b", "model": "other"}])
    with open(path, "rb") as stream, pytest.raises(InputError, match=r"in.jsonl:2: \"model\""):
        prepare(source, stream, StateFiles(tmp_path / "out.jsonl"))


def test_the_state_file_is_replaced_whole_and_read_back(tmp_path: Path) -> None:
    tmp_path = tmp_path / "run"
    tmp_path.mkdir()
    files = StateFiles(tmp_path / "out.jsonl")
    assert files.read() is None
    state = files.write(RemoteState("n", "ab" * 32, "m", 3, dataset_id="d-1"))
    assert files.read() == state
    files.write(state.but(batch_id="b-1"))
    assert files.read() == state.but(batch_id="b-1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl.remote.json"]
    files.state.write_bytes(b'{"version": 99}')
    with pytest.raises(InputError, match="another version"):
        files.read()
    files.state.write_bytes(b"{torn")
    with pytest.raises(InputError, match="not a remote batch state file"):
        files.read()
    files.remove()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("line", "fragment"), [
    ({"prompt": "a", "documents": ["some text"]}, 'in.jsonl:2: cannot go to the Batch API: '
     '"documents"'),
    ({"prompt": "a", "response_format": {"type": "json_object"}}, '"response_format"'),
    ({"prompt": "a", "stop_sequences": ["x"]}, 'in.jsonl:2: cannot go to the Batch API: '
     '"stop_sequences"'),
])
def test_an_uncarried_line_stops_the_run_before_anything_is_sent(
        stub: Any, tmp_path: Path, line: dict[str, Any], fragment: str) -> None:
    (tmp_path / "in.jsonl").write_bytes(b'"fine"\n' + orjson.dumps(line) + b"\n")
    result = invoke(["batch", "--remote", "-o", str(tmp_path / "out.jsonl"),
                     str(tmp_path / "in.jsonl")])
    assert result.exit_code == 3, result.stderr
    assert fragment in result.stderr
    assert stub.requests == []


def test_a_flag_the_service_cannot_carry_is_refused_at_the_first_line(
        stub: Any, tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_bytes(b'"a"\n"b"\n')
    result = invoke(["batch", "--remote", "--stop", "END", "-o", str(tmp_path / "o"),
                     str(tmp_path / "in.jsonl")])
    assert result.exit_code == 3
    assert 'in.jsonl:1: cannot go to the Batch API: "stop_sequences"' in result.stderr
    assert stub.requests == []


@pytest.mark.parametrize(("args", "fragment"), [
    (["--remote"], "--remote needs -o/--output FILE"),
    (["--remote", "-o", "-"], "--remote needs -o/--output FILE"),
    (["--detach", "-o", "o"], "--detach needs --remote"),
    (["--remote", "--resume", "-o", "o"], "--resume does not go with --remote"),
    (["--remote", "--unordered", "-o", "o"], "--unordered does not go with --remote"),
    (["--remote", "--detach", "--attach", "x", "-o", "o"], "cannot go together"),
])
def test_flags_that_do_not_go_with_remote(stub: Any, tmp_path: Path, args: list[str],
                                          fragment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "in.jsonl").write_bytes(b'"a"\n')
    monkeypatch.chdir(tmp_path)
    result = invoke(["batch", *args, "in.jsonl"])
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert stub.requests == []


@pytest.mark.slow
def test_without_fastavro_remote_names_a_command_that_installs_it_here(tmp_path: Path) -> None:
    blocker = tmp_path / "block" / "fastavro"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('no fastavro here')\n")
    (tmp_path / "in.jsonl").write_bytes(b'"a"\n')
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "block"), "CO_API_KEY": "x"}
    done = run_process(["batch", "--remote", "-o", str(tmp_path / "o"),
                        str(tmp_path / "in.jsonl")], env=env)
    assert done.returncode == 2
    # this interpreter's pip: it installs where cohere-chat imports from (issue 25 case 16)
    assert f"install it: {sys.executable} -m pip install fastavro\n".encode() in done.stderr
    assert not (tmp_path / "o.remote.json").exists()


def test_under_pipx_the_fastavro_hint_injects_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from cohere_cli.cli.hints import install_hint

    monkeypatch.setattr(sys, "prefix", "/home/u/.local/share/pipx/venvs/cohere-chat")
    assert install_hint("fastavro") == "install it: pipx inject cohere-chat fastavro"
    monkeypatch.setattr(sys, "prefix", "/home/u/.local/pipx/venvs/cohere-chat")
    assert install_hint("fastavro") == "install it: pipx inject cohere-chat fastavro"
    monkeypatch.setattr(sys, "prefix", "/opt/venvs/cohere-chat")  # not pipx's
    monkeypatch.setattr(sys, "executable", "/opt/my tools/bin/python3")
    assert install_hint("fastavro") == "install it: '/opt/my tools/bin/python3' -m pip install " \
        "fastavro"


def test_fastavro_is_not_loaded_by_batch_help() -> None:
    code = ("import sys; from click.testing import CliRunner; from cohere_cli.cli import cli;"
            "CliRunner().invoke(cli, ['batch', '--help']); print('fastavro' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert done.stdout.strip() == b"False", done.stderr


def _env() -> dict[str, str]:
    """A key, and a base URL where nothing listens (nothing may be sent)."""
    return {**os.environ, "CO_API_KEY": TEST_KEY, "CO_API_URL": "http://127.0.0.1:9"}


@pytest.mark.slow
@pytest.mark.parametrize("how", ["same path", "symlink", "hard link", "stdin"])
def test_the_output_is_never_the_input(tmp_path: Path, how: str) -> None:
    """-o FILE is replaced whole at the end: the input under another name is refused
    before anything is uploaded, and the input is kept."""
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'"a"\n"b"\n')
    output = {"same path": source, "symlink": tmp_path / "link.jsonl",
              "hard link": tmp_path / "hard.jsonl", "stdin": source}[how]
    if how == "symlink":
        output.symlink_to(source)
    elif how == "hard link":
        os.link(source, output)
    args = ["batch", "--remote", "-o", str(output)]
    if how == "stdin":  # `< in.jsonl`: the file itself on stdin (a real descriptor)
        with open(source, "rb") as stdin:
            done = subprocess.run([sys.executable, "-m", "cohere_cli", *args], stdin=stdin,
                                  capture_output=True, env=_env(), timeout=30)
        code, stderr = done.returncode, done.stderr.decode()
    else:
        result = invoke([*args, str(source)], env=dict(_env()))
        code, stderr = result.exit_code, result.stderr
    assert code == ExitCode.USAGE, stderr
    assert "the output file is the input file" in stderr
    assert source.read_bytes() == b'"a"\n"b"\n'


def test_an_output_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_bytes(b'"a"\n')
    result = invoke(["batch", "--remote", "-o", "/dev/null", str(tmp_path / "in.jsonl")],
                    env=dict(_env()))
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "/dev/null is not a regular file" in result.stderr
