"""A catalogue of bad inputs: flags, stdin, files, config and server replies.

Each row gives the exit code and a fragment of the one-line message; for every input
error, the stub proves that nothing was sent. Server replies the stub does not make
(HTML error pages, empty or huge bodies) come from a raw loopback server below.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import invoke

from cohere_cli.base.errors import ExitCode
from cohere_cli.cli import cli

TOOL_OK = b'{"type":"function","function":{"name":"f","parameters":{}}}'


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    fragment: str
    stdin: bytes | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    config: bytes | None = None
    env: dict[str, str] = field(default_factory=dict)


INPUT_CASES = {
    "temperature-high": Case(("-t", "1.5", "hi"), 2, "temperature must be between 0 and 1"),
    "temperature-text": Case(("-t", "abc", "hi"), 2, "'abc' is not a valid float"),
    "top-p-zero": Case(("-p", "0", "hi"), 2, "p must be between 0.01 and 0.99"),
    "top-k-high": Case(("-k", "501", "hi"), 2, "k must be between 0 and 500"),
    "priority-negative": Case(("--priority", "-1", "hi"), 2, "priority must be between 0 and 999"),
    "max-tokens-zero": Case(("--max-tokens", "0", "hi"), 2, "max_tokens must be between 1"),
    "seed-negative": Case(("--seed", "-3", "hi"), 2, "seed must be between 0"),
    "six-stops": Case(("--stop", "a") * 6 + ("hi",), 2, "at most 5 stop sequences"),
    "both-penalties": Case(("--frequency-penalty", ".1", "--presence-penalty", ".1", "hi"), 2,
                           "cannot both be set"),
    "safety-mode": Case(("--safety-mode", "loud", "hi"), 2, "Invalid value for '--safety-mode'"),
    "format": Case(("--format", "xml", "hi"), 2, "Invalid value for '-F' / '--format'"),
    "thinking-budget-zero": Case(("--thinking-budget", "0", "hi"), 2, "at least 1"),
    "budget-without-thinking": Case(("--no-thinking", "--thinking-budget", "5", "hi"), 2,
                                    "cannot go with --no-thinking"),
    "param-no-equals": Case(("--param", "novalue", "hi"), 2, "--param needs KEY=VALUE"),
    "param-stream": Case(("--param", "stream=true", "hi"), 2, "--param stream is not allowed"),
    "param-bad-type": Case(("--param", "temperature=hot", "hi"), 2, "temperature must be a number"),
    "param-bad-enum": Case(("--param", "tool_choice=auto", "hi"), 2, "tool_choice must be one of"),
    "two-systems": Case(("--system", "x", "--system-file", "{tmp}/s.txt", "hi"), 2, "not both",
                        files={"s.txt": b"y"}),
    "events-unstreamed": Case(("-F", "events", "--no-stream", "hi"), 2, "needs --stream"),
    "unknown-flag": Case(("--bogus", "hi"), 2, "No such option '--bogus'"),
    "plain-http": Case(("--base-url", "http://example.com", "hi"), 2, "refusing to send the API"),
    "bad-scheme": Case(("--base-url", "ftp://x", "hi"), 2, "bad base URL"),
    "no-key": Case(("hi",), 2, "no API key", env={"CO_API_KEY": ""}),
    "header-no-colon": Case(("--header", "X-Key abc", "hi"), 2, "must be NAME: VALUE"),
    "header-smuggled": Case(("--header", "X-A: b\r\nX-B: c", "hi"), 2, "has a line break"),
    "header-host": Case(("--header", "Host: x", "hi"), 2, "may not set Host"),
    "header-authorization": Case(("--header", "Authorization: x", "hi"), 2,
                                 "goes only with --no-auth"),
    "header-plain-http": Case(("--no-auth", "--header", "X-A: b", "--base-url",
                               "http://example.com", "hi"), 2, "custom headers' values",
                              env={"CO_API_KEY": ""}),
    "config-headers": Case(("hi",), 2, "a line of headers must be NAME: VALUE",
                           config=b"[default]\nheaders = abc\n"),
    "config-auth": Case(("hi",), 2, "auth must be none or bearer",
                        config=b"[default]\nauth = basic\n"),
    "no-auth-env": Case(("hi",), 2, "CO_NO_AUTH must be yes or no", env={"CO_NO_AUTH": "x"}),
    "nothing": Case((), 2, "nothing to send", stdin=b" \n"),
    "input-format": Case(("--input", "yaml"), 2, "Invalid value for '-i' / '--input'"),
    "jsonl-bad-json": Case(("--jsonl",), 3, "stdin:2: invalid JSON",
                           stdin=b'{"role":"user","content":"a"}\n{"role":\n'),
    "jsonl-array-line": Case(("--jsonl",), 3, "stdin:1: expected a message object, got array",
                             stdin=b"[1, 2]\n"),
    "jsonl-unknown-role": Case(("--jsonl",), 3, 'stdin:3: unknown role "usr"',
                               stdin=b'{"role":"user","content":"a"}\n\n{"role":"usr"}\n'),
    "jsonl-tool-no-id": Case(("--jsonl",), 3, 'stdin:1: tool message without "tool_call_id"',
                             stdin=b'{"role":"tool","content":"42"}\n'),
    "jsonl-no-content": Case(("--jsonl",), 3, 'stdin:1: user message without "content"',
                             stdin=b'{"role":"user"}\n'),
    "jsonl-bad-utf8": Case(("--jsonl",), 3, "stdin:2: invalid UTF-8",
                           stdin=b'{"role":"user","content":"a"}\n{"x":"\xff"}\n'),
    "text-bad-utf8": Case(("hi",), 3, "stdin:1: invalid UTF-8", stdin=b"caf\xe9\n"),
    "json-no-messages": Case(("--input", "json"), 3, 'needs a "messages" array',
                             stdin=b'{"model":"m"}'),
    "json-truncated": Case(("--input", "json"), 3, "stdin:1: invalid JSON", stdin=b'[{"role":'),
    "json-bad-role": Case(("--input", "json"), 3, 'messages[1]: unknown role "bot"',
                          stdin=b'[{"role":"user","content":"a"},{"role":"bot"}]'),
    "system-file-missing": Case(("--system-file", "{tmp}/none.txt", "hi"), 3,
                                "none.txt: cannot read: No such file"),
    "system-file-binary": Case(("--system-file", "{tmp}/s.bin", "hi"), 3, "s.bin:1: invalid UTF-8",
                               files={"s.bin": b"\x80\x81"}),
    "image-missing": Case(("--image", "{tmp}/none.png", "hi"), 3,
                          "none.png: cannot read: No such file"),
    "document-missing": Case(("--document", "{tmp}/none.txt", "hi"), 3,
                             "none.txt: cannot read: No such file"),
    "documents-missing": Case(("--documents", "{tmp}/none.jsonl", "hi"), 3,
                              "none.jsonl: cannot read: No such file"),
    "preset-missing": Case(("--preset", "{tmp}/none.json", "hi"), 3,
                           "none.json: cannot read: No such file"),
    "preset-unknown": Case(("--preset", "nosuchname", "hi"), 3, "no such preset"),
    "ca-bundle-missing": Case(("--ca-bundle", "{tmp}/none.pem", "hi"), 2,
                              "Invalid value for '--ca-bundle'"),
    "conversation-torn": Case(("-c", "{tmp}/chat.jsonl", "hi"), 3, "chat.jsonl:1: a torn last line",
                              files={"chat.jsonl": b'{"role":'}),
    "tools-bad-json": Case(("--tools", "{tmp}/t.json", "hi"), 3, "t.json:1: invalid JSON",
                           files={"t.json": b"[{"}),
    "tools-no-name": Case(("--tools", "{tmp}/t.jsonl", "hi"), 3, "t.jsonl: tool 2 is not",
                          files={"t.jsonl": TOOL_OK + b'\n{"function":{}}\n'}),
    "schema-not-object": Case(("--json-schema", "{tmp}/s.json", "hi"), 3,
                              "JSON object schema", files={"s.json": b'{"type":"array"}'}),
    "key-file-missing": Case(("--api-key-file", "{tmp}/nokey", "hi"), 3,
                             "nokey: cannot read the key file"),
    "key-file-empty": Case(("--api-key-file", "{tmp}/key", "hi"), 3, "key: the key file is empty",
                           files={"key": b"\n"}),
    "config-syntax": Case(("hi",), 3, "bad config", config=b"[default\nmodel = m\n"),
    "config-binary": Case(("hi",), 3, "cannot read config: invalid UTF-8", config=b"\xff\xfe"),
    "config-timeout": Case(("hi",), 2, "timeout must be a number",
                           config=b"[default]\ntimeout=x\n"),
    "config-profile": Case(("--profile", "nope", "hi"), 2, 'no profile "nope"',
                           config=b"[default]\n"),
    "config-missing": Case(("hi",), 2, "does not exist",
                           env={"COHERE_CHAT_CONFIG": "/nonexistent/c.ini"}),
}


@pytest.mark.parametrize("name", list(INPUT_CASES))
def test_bad_input_is_refused_before_sending(name: str, stub: Any, tmp_path: Path,
                                             clean_env: Path, monkeypatch: Any) -> None:
    case = INPUT_CASES[name]
    for file_name, content in case.files.items():
        (tmp_path / file_name).write_bytes(content)
    if case.config is not None:
        config = clean_env / ".config" / "cohere-chat" / "config.ini"
        config.parent.mkdir(parents=True)
        config.write_bytes(case.config)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    result = invoke([a.replace("{tmp}", str(tmp_path)) for a in case.args], stdin=case.stdin)
    assert result.exit_code == case.code, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("cohere-chat: error: ")
    assert case.fragment in result.stderr
    assert result.stderr.count("\n") == 1
    assert stub.requests == []


HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>" \
           b"<hr><center>nginx</center></body></html>"
SSE = "text/event-stream"
SERVER_CASES = {
    "html-502": (502, "text/html", HTML_502, ("--no-stream",), 7,
                 "HTTP 502: Bad Gateway (not the API's JSON: 502 Bad Gateway 502 Bad Gateway", 3),
    "json-400-with-id": (400, "application/json", b'{"id":"err-7","message":"invalid model"}',
                         ("--no-stream",), 5, "HTTP 400: invalid model (id err-7)", 1),
    "empty-500": (500, "application/json", b"", ("--no-stream",), 7,
                  "HTTP 500: Internal Server Error", 3),
    "text-401": (401, "text/plain", b"nope", ("--no-stream",), 4,
                 "HTTP 401: Unauthorized (not the API's JSON: nope); check the API key", 1),
    "json-429": (429, "application/json", b'{"message":"slow down"}', ("--no-stream",), 6,
                 "HTTP 429: slow down; rate limited", 3),
    "empty-200": (200, "application/json", b"", ("--no-stream",), 7,
                  "the API answered with a body that is not JSON", 1),
    "array-200": (200, "application/json", b"[]", ("--no-stream",), 7,
                  "the API answered 200 with a body that is not a chat response", 1),
    "stream-garbage": (200, SSE, b"event: content-delta\ndata: {oops\n\n", ("--stream",), 7,
                       "the stream sent an event that is not JSON", 1),
    "stream-no-end": (200, SSE, b'event: message-start\ndata: {"type":"message-start"}\n\n',
                      ("--stream",), 7, "the stream ended before message-end", 1),
}


@pytest.mark.parametrize("name", list(SERVER_CASES))
def test_bad_server_replies(name: str, raw_server: Any) -> None:
    status, content_type, body, args, code, fragment, attempts = SERVER_CASES[name]
    server = raw_server(status, content_type, body)
    result = invoke([*args, "--max-wait", "0", "hi"])
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.startswith(f"cohere-chat: error: {fragment}")
    assert result.stderr.count("\n") == 1
    assert server.count == attempts


def test_a_huge_reply_comes_through_whole(raw_server: Any) -> None:
    text = "word " * 1_000_000
    body = ('{"id":"x","finish_reason":"COMPLETE","message":{"role":"assistant",'
            f'"content":[{{"type":"text","text":"{text}"}}]}}}}').encode()
    raw_server(200, "application/json", body)
    result = invoke(["--no-stream", "hi"])
    assert result.exit_code == 0
    assert result.stdout == text + "\n"
    assert invoke(["--json", "hi"]).stdout_bytes == body + b"\n"


# The options of send that read a file the user names (not -c, --log or --save-preset,
# which it writes; -c is read too, and has its case).
READ_FILES = ("--system-file", "--image", "--document", "--documents", "--preset",
              "--json-schema", "--tools", "--api-key-file", "--ca-bundle", "-c")


def test_the_catalogue_covers_each_source_of_bad_input_and_each_status() -> None:
    """What the docstring promises: flags, stdin in each input format, every file the
    program reads, the config file, the environment and the server's replies each have
    cases; together they end in each status a bad input (2, 3) or reply (4-7) can."""
    cases = list(INPUT_CASES.values())
    flags_only = [c for c in cases if not (c.stdin or c.files or c.config or c.env)]
    assert {c.code for c in flags_only} == {2, 3}
    formats = {"text" if c.args in ((), ("hi",)) else " ".join(c.args)
               for c in cases if c.stdin is not None}
    assert formats == {"text", "--jsonl", "--input json"}
    named = {arg for c in cases for arg in c.args}
    assert [option for option in READ_FILES if option not in named] == []
    send = cli.commands["send"]
    readers = {param.opts[-1] for param in send.params if isinstance(param, click.Option)
               and param.metavar in ("FILE", "PATH", "PATH|URL", "NAME|PATH")}
    assert readers - {"--conversation", "--log", "--save-preset"} == {
        option for option in READ_FILES if option.startswith("--")}, "a new file option"
    assert any(c.config for c in cases) and any(c.env for c in cases)
    assert {c.code for c in cases} == {ExitCode.USAGE, ExitCode.INPUT}
    assert {case[4] for case in SERVER_CASES.values()} == {
        ExitCode.AUTH, ExitCode.REJECTED, ExitCode.RATE_LIMITED, ExitCode.UNAVAILABLE}
