"""`send` end to end against the stub over loopback (README "Usage", "Output", "Exit codes")."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import official
import orjson
import pytest
from conftest import TEST_KEY, chat_bodies, invoke

from cohere_cli import __version__
from cohere_cli.stub.batch_settings import BatchStubSettings


def test_default_command_is_send(stub: Any) -> None:
    result = invoke(["hello", "there"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "echo: hello there\n", "")
    assert invoke(["send", "hello"]).stdout == "echo: hello\n"


def test_stdin_text_and_prompt_and_system(stub: Any) -> None:
    result = invoke(["--system", "Be terse", "explain"], stdin=b"DATA\n")
    assert result.stdout == "echo: DATA\n\nexplain\n"
    body = chat_bodies(stub)[0]
    assert body["messages"] == [
        {"role": "system", "content": "Be terse"},
        {"role": "user", "content": "DATA\n\nexplain"},
    ]


def test_headers_of_every_request(make_stub: Any, tmp_path: Path) -> None:
    """Every request the program makes names the program and the client, and every
    request to the API carries the key: a retry, a stream, the model list, and each
    call of a remote batch (the upload, polls, the output's signed URL without the key)."""
    server = make_stub(fail=("503",), retry_after=0,
                       batch=BatchStubSettings(time=0.05, validation_time=0.01))
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'"a"\n"b"\n')
    for args in (["--no-stream", "hi"], ["--stream", "hi"], ["models"],
                 ["batch", "--remote", "-o", str(tmp_path / "out.jsonl"), str(source)],
                 ["batches", "list"]):
        result = invoke([*args, "--client-name", "nightly-job"])
        assert result.exit_code == 0, (args, result.stderr)
    seen = set()
    for request in server.requests:
        path, headers = request.path.split("?")[0], request.headers
        kind = (request.method, path if path in ("/v2/chat", "/v2/batches", "/v1/models",
                                                 "/v1/datasets") else path[:10])
        seen.add(kind)
        assert headers["User-Agent"] == f"cohere-chat/{__version__}", kind
        if path.startswith("/signed/"):  # the output's own URL: no key, as storage wants
            assert "Authorization" not in headers
            continue
        assert headers["Authorization"] == f"Bearer {TEST_KEY}", kind
        assert headers["X-Client-Name"] == "nightly-job", kind
        if kind == ("POST", "/v1/datasets"):
            assert headers["Content-Type"].startswith("multipart/form-data; boundary=")
        elif request.method == "POST":
            assert headers["Content-Type"] == "application/json", kind
    assert seen == {("POST", "/v2/chat"), ("GET", "/v1/models"), ("POST", "/v1/datasets"),
                    ("GET", "/v1/datase"), ("POST", "/v2/batches"), ("GET", "/v2/batche"),
                    ("GET", "/signed/co"), ("GET", "/v2/batches"), ("DELETE", "/v1/datase")}
    chats = [r for r in server.requests if r.path == "/v2/chat"]
    assert len(chats) == 3  # the 503, its retry, the stream
    assert chats[2].headers["Accept"] == "text/event-stream"


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_text_output_ends_in_exactly_one_newline(make_stub: Any, stream: str) -> None:
    make_stub(replies=("line one\n", "", "two"))
    assert invoke([stream, "a"]).stdout == "line one\n\n"
    assert invoke([stream, "b"]).stdout == ""
    assert invoke([stream, "c"]).stdout == "two\n"


def test_json_output_is_the_body_as_received(stub: Any) -> None:
    result = invoke(["--json", "hi"])
    assert result.exit_code == 0
    assert result.stdout.endswith("}\n") and result.stdout.count("\n") == 1
    response = orjson.loads(result.stdout)
    official.validate_response(response)
    assert response["message"]["content"][0]["text"] == "echo: hi"
    assert chat_bodies(stub)[0]["stream"] is False


def test_message_output_is_ready_for_a_conversation(stub: Any) -> None:
    result = invoke(["--format", "message", "hi"])
    message = orjson.loads(result.stdout)
    assert message == {"role": "assistant", "content": [{"type": "text", "text": "echo: hi"}]}
    official.validate_request({"model": "m", "messages": [message]})


def test_usage_line_on_stderr(stub: Any) -> None:
    result = invoke(["--usage", "one two three"])
    assert result.stdout == "echo: one two three\n"
    assert result.stderr.startswith("usage: input_tokens=")
    assert "billed_output_tokens=" in result.stderr


def test_usage_and_warnings_from_meta(make_stub: Any) -> None:
    reply = {"message": {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
             "finish_reason": "COMPLETE",
             "meta": {"billed_units": {"input_tokens": 3, "output_tokens": 1},
                      "warnings": ["model is deprecated"]}}
    make_stub(replies=(reply,))
    result = invoke(["--no-stream", "--usage", "hi"])
    assert result.stdout == "ok\n"
    assert "cohere-chat: warning: model is deprecated" in result.stderr
    assert "usage: billed_input_tokens=3 billed_output_tokens=1" in result.stderr


def test_max_tokens_cut_is_reported(stub: Any) -> None:
    result = invoke(["--no-stream", "--max-tokens", "2", "one two three four"])
    assert result.exit_code == 0
    assert result.stdout == "echo: one\n"
    assert "MAX_TOKENS" in result.stderr


@pytest.mark.parametrize("reason", ["ERROR", "TIMEOUT"])
def test_generation_error_exits_8(make_stub: Any, reason: str) -> None:
    reply = {"message": {"role": "assistant", "content": [{"type": "text", "text": "par"}]},
             "finish_reason": reason}
    make_stub(replies=(reply,))
    result = invoke(["--no-stream", "hi"])
    assert result.exit_code == 8
    assert result.stdout == "par\n"
    assert f"generation did not complete (finish_reason {reason})" in result.stderr


@pytest.mark.parametrize(("status", "code", "hint"), [
    (400, 5, None), (401, 4, "check the API key"), (403, 4, None), (404, 5, None),
    (413, 5, None), (422, 5, None), (498, 4, "check the API key"),
])
def test_http_errors_map_to_exit_codes(make_stub: Any, status: int, code: int,
                                       hint: str | None) -> None:
    make_stub(fail=(str(status),))
    result = invoke(["--no-stream", "hi"])
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.startswith(f"cohere-chat: error: HTTP {status}: stub: injected {status}")
    assert result.stderr.count("\n") == 1
    if hint:
        assert hint in result.stderr


def test_tool_calls_follow_the_text_as_json_lines(make_stub: Any) -> None:
    reply = {"finish_reason": "TOOL_CALL", "message": {
        "role": "assistant", "tool_plan": "I will look it up",
        "tool_calls": [{"id": "c1", "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": "x"}'}}]}}
    make_stub(replies=(reply,))
    for stream in ("--stream", "--no-stream"):
        result = invoke([stream, "hi"])
        assert result.stdout == '{"id":"c1","name":"lookup","arguments":{"q":"x"}}\n'


def test_dry_run_needs_no_key_and_sends_nothing(stub: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("CO_API_KEY")
    result = invoke(["--dry-run", "-s", "S", "-t", "0.5", "hi"])
    assert result.exit_code == 0
    body = orjson.loads(result.stdout)
    official.validate_request(body)
    assert body["messages"][0] == {"role": "system", "content": "S"}
    assert stub.requests == []


@pytest.mark.parametrize(("args", "stdin", "code", "message"), [
    (["--jsonl"], b'{"role":"usr","content":"a"}\n', 3, 'stdin:1: unknown role "usr"'),
    (["--jsonl"], b'{"role":"user","content":"a"}\nnot json\n', 3, "stdin:2: invalid JSON"),
    (["--jsonl"], b'{"role":"tool","content":"a"}\n', 3, 'without "tool_call_id"'),
    (["hi"], b"\xff\xfe\xfa", 3, "stdin:1: invalid UTF-8"),
    ([], b"", 2, "nothing to send"),
    (["--system-file", "/nonexistent/s.txt", "hi"], None, 3, "/nonexistent/s.txt: cannot read"),
    (["-t", "3", "hi"], None, 2, "temperature must be between 0 and 1"),
    (["--top-k", "x", "hi"], None, 2, "'x' is not a valid integer"),
    (["--param", "oops", "hi"], None, 2, "--param needs KEY=VALUE"),
])
def test_bad_input_sends_nothing(stub: Any, args: list[str], stdin: bytes | None, code: int,
                                 message: str) -> None:
    result = invoke(args, stdin=stdin)
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.startswith("cohere-chat: error: ")
    assert message in result.stderr
    assert stub.requests == []


NON_STREAMED = ["default", "documents", "tools", "image"]


@pytest.mark.parametrize("name", NON_STREAMED)
def test_official_examples_replay(make_stub: Any, name: str) -> None:
    example = official.example(name)
    expected = example["response"]["body"]
    server = make_stub(replies=(expected,))
    document = orjson.dumps(example["request"])
    result = invoke(["--input", "json", "--json"], stdin=document)
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout) == expected
    sent = chat_bodies(server)[0]
    assert sent == {**example["request"], "stream": False}
    text = invoke(["--input", "json", "--no-stream"], stdin=document).stdout
    texts = [b["text"] for b in expected["message"].get("content", []) if b["type"] == "text"]
    calls = [orjson.dumps({"id": c["id"], "name": c["function"]["name"],
                           "arguments": orjson.loads(c["function"]["arguments"])}).decode()
             for c in expected["message"].get("tool_calls", [])]
    assert text == "".join(f"{line}\n" for line in ["".join(texts)] * bool(texts) + calls)


def test_usage_without_counts_says_so(make_stub: Any) -> None:
    make_stub(replies=({"message": {"role": "assistant", "content": "ok"}},))
    result = invoke(["--usage", "hi"])
    assert (result.stdout, result.stderr) == ("ok\n", "usage: none reported\n")
