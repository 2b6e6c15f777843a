"""Server text on the terminal, and output streams that fail (issue 20 items 8, 9, 17;
issue 12 item 9): odd citation shapes are shown, never fatal; control characters in
server text on stderr are escaped; a full stdout is exit 10, a full stderr is ignored.

The replies come from a raw loopback server (the stub refuses replies off the schema).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import official
import orjson
import pytest
from conftest import ROOT, assert_no_key, invoke

ODD_CITATIONS = [
    {"start": 4, "end": 7, "text": "sky", "sources": [
        "a plain string", ["a", "list"], 7, None,
        {"type": "document", "id": "d1", "document": "the document as a string"},
        {"type": "tool", "id": "t1", "tool_output": ["output", "as", "a", "list"]},
        {"type": "document", "document": {"id": "d2", "title": {"not": "a string"}}},
    ]},
    {"start": "4", "end": [7], "text": {"a": 1}, "sources": "one string source"},
    {"start": None, "text": 5, "sources": {"id": "an object, not a list"}},
    {"text": "no sources at all"},
    "a citation that is a string",
]


def _response(text: str, **message: Any) -> dict[str, Any]:
    return {"id": "r1", "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": [{"type": "text", "text": text}],
                        **message}}


def _sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(b"event: %s\ndata: %s\n\n" % (e["type"].encode(), orjson.dumps(e))
                    for e in events)


def _stream(text: str, citations: list[Any]) -> bytes:
    events: list[dict[str, Any]] = [
        {"type": "message-start", "id": "r1", "delta": {"message": {"role": "assistant"}}},
              {"type": "content-start", "index": 0,
               "delta": {"message": {"content": {"type": "text", "text": ""}}}},
              {"type": "content-delta", "index": 0,
               "delta": {"message": {"content": {"text": text}}}}]
    events += [{"type": "citation-start", "index": n, "delta": {"message": {"citations": c}}}
               for n, c in enumerate(citations) if isinstance(c, dict)]
    events += [{"type": "content-end", "index": 0},
               {"type": "message-end", "delta": {"finish_reason": "COMPLETE"}}]
    return _sse(events)


def _lines(path: Path) -> list[Any]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


# --- issue 20 item 8: citations of any shape -----------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_citations_of_any_shape_are_shown_and_the_turn_saved(
    raw_server: Any, tmp_path: Path, stream: bool
) -> None:
    if stream:
        raw_server(200, "text/event-stream", _stream("The sky is blue.", ODD_CITATIONS))
    else:
        body = orjson.dumps(_response("The sky is blue.", citations=ODD_CITATIONS))
        raw_server(200, "application/json", body)
    conversation = tmp_path / "c.jsonl"
    flag = "--stream" if stream else "--no-stream"
    result = invoke([flag, "--show-citations", "-c", str(conversation), "why?"])
    assert (result.exit_code, result.stdout) == (0, "The sky is blue.\n")
    lines = result.stderr.splitlines()
    assert lines[0] == ('[1] "sky" (4-7): a plain string, ["a","list"], 7, d1, t1, d2')
    assert lines[1] == '[2] "{"a":1}" (4-[7]): one string source'
    assert lines[2] == '[3] "5" (?-?): an object, not a list'
    assert lines[3] == '[4] "no sources at all" (?-?): ?'
    assert "  d1  the document as a string" in lines
    assert '  t1  ["output","as","a","list"]' in lines
    assert '  d2  {"not":"a string"}' in lines
    assert [m["role"] for m in _lines(conversation)] == ["user", "assistant"]


def test_citation_text_with_a_newline_stays_on_one_line(raw_server: Any) -> None:
    cited = {"start": 0, "end": 3, "text": "a\nb\x1b[2J", "sources": [
        {"type": "document", "id": "x\ny", "document": {"title": "t\x1b]0;owned\x07"}}]}
    raw_server(200, "application/json", orjson.dumps(_response("a\nb", citations=[cited])))
    result = invoke(["--no-stream", "--show-citations", "q"])
    assert (result.exit_code, result.stdout) == (0, "a\nb\n")
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert result.stderr.splitlines() == [
        '[1] "a\\nb\\x1b[2J" (0-3): x\\ny', "sources:", "  x\\ny  t\\x1b]0;owned\\x07"]


# --- issue 20 item 9: server text on stderr is escaped -------------------------------

def test_api_error_message_is_one_line_without_escape_codes(raw_server: Any) -> None:
    message = "bad\nsecond line\u001b[2J\r\u2028\u0085\x7f\tend"
    raw_server(400, "application/json", orjson.dumps({"message": message}))
    result = invoke(["--no-stream", "hi"])
    assert result.exit_code == 5 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n")
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert result.stderr.startswith(  # then "; " and the hint for a 400
        "cohere-chat: error: HTTP 400: bad\\nsecond line\\x1b[2J\\r\\u2028\\x85\\x7f\\tend")


def test_api_warning_with_escape_codes_is_one_line(raw_server: Any) -> None:
    reply = {**_response("ok"), "meta": {"warnings": ["careful\x1b[2J\nnow", "fine"]}}
    raw_server(200, "application/json", orjson.dumps(reply))
    result = invoke(["--no-stream", "hi"])
    assert (result.exit_code, result.stdout) == (0, "ok\n")
    assert result.stderr.splitlines() == [
        "cohere-chat: warning: careful\\x1b[2J\\nnow", "cohere-chat: warning: fine"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_thinking_keeps_its_lines_but_not_escape_codes(raw_server: Any, stream: bool) -> None:
    thinking = "step one\n\tstep two\x1b[2J\x07\r"
    if stream:
        events: list[dict[str, Any]] = [{"type": "message-start", "id": "r1"},
                  {"type": "content-start", "index": 0,
                   "delta": {"message": {"content": {"type": "thinking", "thinking": ""}}}},
                  {"type": "content-delta", "index": 0,
                   "delta": {"message": {"content": {"thinking": thinking}}}},
                  {"type": "content-start", "index": 1,
                   "delta": {"message": {"content": {"type": "text", "text": "A\x1b[2J"}}}},
                  {"type": "message-end", "delta": {"finish_reason": "COMPLETE"}}]
        raw_server(200, "text/event-stream", _sse(events))
    else:
        reply = _response("A\x1b[2J")
        reply["message"]["content"].insert(0, {"type": "thinking", "thinking": thinking})
        raw_server(200, "application/json", orjson.dumps(reply))
    result = invoke(["--stream" if stream else "--no-stream", "--show-thinking", "hi"])
    assert result.exit_code == 0
    assert result.stdout_bytes == b"A\x1b[2J\n"  # stdout is data: byte for byte
    assert result.stderr == "step one\n\tstep two\\x1b[2J\\x07\\r\n"


# --- issue 20 item 17: where warnings come from --------------------------------------

def test_no_stream_event_has_a_place_for_warnings() -> None:
    """The docs say a streamed reply carries no warnings: no official stream event (nor
    the message-end delta) has a `meta` or `warnings` field. If one ever gets one, the
    renderer must show it and this test must change."""
    events = official.schema()["$defs"]
    for name, definition in events.items():
        if name.endswith("Event") or name == "StreamedChatResponseV2":
            text = orjson.dumps(definition).decode()
            assert '"warnings"' not in text and '"meta"' not in text, name
    end = events["ChatMessageEndEvent"]["allOf"][1]["properties"]["delta"]["properties"]
    assert sorted(end) == ["error", "finish_reason", "usage"]
    assert "warnings" not in events["Usage"]["properties"]


# --- issue 12 item 9: stdout that cannot be written, stderr that cannot be written ---

def _run(args: list[str], stdout: Any, stderr: Any) -> subprocess.CompletedProcess[bytes]:
    """A real process with buffered streams, as users run it (a write that failed leaves
    its bytes in the buffer, and Python's exit flush would fail again: exit 120)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = subprocess.run([sys.executable, "-m", "cohere_cli", *args], stdin=subprocess.DEVNULL,
                          stdout=stdout, stderr=stderr, env=env, cwd=ROOT, timeout=30,
                          check=False)
    assert_no_key(done.stdout or b"", done.stderr or b"")
    return done


@pytest.mark.slow
@pytest.mark.parametrize("args", [["hi"], ["--no-stream", "hi"], ["--json", "hi"],
                                  ["--dry-run", "hi"]])
def test_stdout_on_a_full_disk_is_exit_10(stub: Any, args: list[str]) -> None:
    with open("/dev/full", "wb") as full:
        done = _run(args, stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 10
    assert done.stderr == b"cohere-chat: error: cannot write to stdout: No space left on device\n"


@pytest.mark.slow
@pytest.mark.parametrize("args", [["hi"], ["--no-stream", "hi"]])
def test_a_reply_that_cannot_be_shown_is_still_saved(stub: Any, tmp_path: Path,
                                                     args: list[str]) -> None:
    """The turn was paid for: with stdout on a full disk, -c still keeps it (exit 10)."""
    path = tmp_path / "chat.jsonl"
    with open("/dev/full", "wb") as full:
        done = _run(["-c", str(path), *args], stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 10
    assert done.stderr == b"cohere-chat: error: cannot write to stdout: No space left on device\n"
    assert [orjson.loads(line) for line in path.read_bytes().splitlines()] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "echo: hi"}]}]


@pytest.mark.slow
@pytest.mark.parametrize("args", [["--usage", "hi"], ["--no-stream", "--usage", "hi"],
                                  ["--dry-run", "hi"]])
def test_stderr_on_a_full_disk_is_ignored(stub: Any, args: list[str]) -> None:
    with open("/dev/full", "wb") as full:
        done = _run(args, stdout=subprocess.PIPE, stderr=full)
    assert done.returncode == 0
    if "--dry-run" in args:
        assert orjson.loads(done.stdout)["messages"] == [{"role": "user", "content": "hi"}]
    else:
        assert done.stdout == b"echo: hi\n"


@pytest.mark.slow
def test_an_error_with_stderr_on_a_full_disk_keeps_its_exit_status(raw_server: Any) -> None:
    raw_server(400, "application/json", b'{"message": "bad request"}')
    with open("/dev/full", "wb") as full:
        done = _run(["--no-stream", "hi"], stdout=subprocess.PIPE, stderr=full)
    assert (done.returncode, done.stdout) == (5, b"")


@pytest.mark.slow
def test_stdout_and_stderr_both_full(stub: Any) -> None:
    with open("/dev/full", "wb") as full:
        done = _run(["--usage", "hi"], stdout=full, stderr=full)
    assert done.returncode == 10


# --- issue 17 item 6: citations in the thinking and the plan are not in the reply ----------

PLACED = {"id": "r1", "finish_reason": "COMPLETE", "message": {
    "role": "assistant", "tool_plan": "I look it up",
    "content": [{"type": "thinking", "thinking": "Think about the sky."},
                {"type": "text", "text": "Part one. "}, {"type": "text", "text": "Part two."}],
    "citations": [
        {"start": 5, "end": 8, "text": "two", "content_index": 2, "type": "TEXT_CONTENT",
         "sources": [{"type": "document", "id": "d1", "document": {"title": "T"}}]},
        {"start": 0, "end": 5, "text": "Think", "content_index": 0, "type": "THINKING_CONTENT"},
        {"start": 2, "end": 6, "text": "look", "type": "PLAN"},
        {"start": 10, "end": 13, "text": "sky", "content_index": 0},
    ]}}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_citations_say_where_they_point(make_stub: Any, stream: bool) -> None:
    make_stub(replies=(PLACED,))
    flag = "--stream" if stream else "--no-stream"
    result = invoke([flag, "--show-citations", "q"])
    assert (result.exit_code, result.stdout) == (0, "Part one. Part two.\n")
    assert result.stdout[15:18] == "two"  # the span as it falls in the printed reply
    lines = result.stderr.splitlines()
    assert lines[-2:] == ["sources:", "  d1  T"]
    numbered = sorted(line.split(" ", 1) for line in lines[:-2])  # a stream may reorder
    assert [number for number, _ in numbered] == ["[1]", "[2]", "[3]", "[4]"]
    assert sorted(shown for _, shown in numbered) == [
        '"Think" (in the thinking, 0-5): ?',
        '"look" (in the tool plan, 2-6): ?',
        '"sky" (in the thinking, 10-13): ?',
        '"two" (15-18): d1']


def test_a_citation_of_an_unknown_type_is_named(raw_server: Any) -> None:
    cited = {"start": 0, "end": 4, "text": "Part", "type": "FUTURE_KIND", "content_index": 0}
    raw_server(200, "application/json", orjson.dumps(_response("Part", citations=[cited])))
    result = invoke(["--no-stream", "--show-citations", "q"])
    assert result.stderr == '[1] "Part" (in FUTURE_KIND, 0-4): ?\n'
