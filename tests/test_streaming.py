"""Streaming `send` (README "Output", "Reliability"): same bytes as non-streamed, no
buffering, honest endings."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from typing import Any

import official
import orjson
import pytest
from conftest import ROOT, TEST_KEY, assert_no_key, invoke, wait_for

CUT = ("cohere-chat: error: the stream stopped before the reply was complete"
       " (the connection closed)\n")
REPLIES = ("plain words", "ünïcödé ✓ 日本語 🎉", "two\nlines\n", "tabs\tand  spaces  ")


@pytest.mark.parametrize("reply", REPLIES)
def test_streamed_text_is_byte_for_byte_the_non_streamed_text(make_stub: Any, reply: str) -> None:
    make_stub(replies=(reply,))
    streamed = invoke(["--stream", "hi"])
    plain = invoke(["--no-stream", "hi"])
    assert streamed.exit_code == plain.exit_code == 0
    assert streamed.stdout_bytes == plain.stdout_bytes == (reply + "\n").encode()


def test_events_format_prints_each_event_as_it_arrives(stub: Any) -> None:
    result = invoke(["-F", "events", "hello world"])
    events = result.lines()
    for event in events:
        official.validate_event(event)
    assert [e["type"] for e in events][:2] == ["message-start", "content-start"]
    assert events[-1]["type"] == "message-end"
    deltas = [e["delta"]["message"]["content"]["text"] for e in events
              if e["type"] == "content-delta"]
    assert "".join(deltas) == "echo: hello world"


def test_events_cannot_be_unstreamed(stub: Any) -> None:
    result = invoke(["-F", "events", "--no-stream", "hi"])
    assert result.exit_code == 2 and "--format events needs --stream" in result.stderr
    assert stub.requests == []


@pytest.mark.parametrize("fmt", ["json", "message"])
def test_streamed_json_and_message_are_rebuilt_in_the_plain_shape(stub: Any, fmt: str) -> None:
    streamed = orjson.loads(invoke(["--stream", "-F", fmt, "hi there"]).stdout)
    plain = orjson.loads(invoke(["--no-stream", "-F", fmt, "hi there"]).stdout)
    if fmt == "json":
        official.validate_response(streamed)
        streamed.pop("id"), plain.pop("id")
    assert streamed == plain
    assert [r.json["stream"] for r in stub.requests] == [True, False]


def test_thinking_goes_to_stderr_only_when_asked(make_stub: Any) -> None:
    reply = {"message": {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "Let me think."}, {"type": "text", "text": "Done."}]}}
    make_stub(replies=(reply,))
    for stream in ("--stream", "--no-stream"):
        shown = invoke([stream, "--show-thinking", "q"])
        assert (shown.stdout, shown.stderr) == ("Done.\n", "Let me think.\n")
        hidden = invoke([stream, "q"])
        assert (hidden.stdout, hidden.stderr) == ("Done.\n", "")


def test_citations_survive_streaming(make_stub: Any) -> None:
    example = official.example("documents")["response"]["body"]
    make_stub(replies=(example,))
    message = orjson.loads(invoke(["--stream", "-F", "message", "q"]).stdout)
    assert len(message["citations"]) == len(example["message"]["citations"])
    result = invoke(["--stream", "--show-citations", "q"])
    assert result.stderr.startswith("[1] ")


def test_a_stream_cut_after_output_keeps_the_text_and_exits_7(make_stub: Any) -> None:
    make_stub(fail=("cut=4",), token_delay_ms=0)
    result = invoke(["--stream", "one two three four five"])
    assert result.exit_code == 7
    assert result.stdout.startswith("echo")
    assert not result.stdout.endswith("\n")
    assert result.stderr == CUT


def test_a_stream_cut_before_output_is_not_sent_again(make_stub: Any) -> None:
    server = make_stub(fail=("cut=1",))
    result = invoke(["--stream", "--max-wait", "0", "again"])
    assert (result.exit_code, result.stdout, result.stderr) == (7, "", CUT)
    assert len(server.requests) == 1  # a request that got a 200 is never sent again


def test_a_stream_cut_before_output_with_no_retries_left_exits_7(make_stub: Any) -> None:
    server = make_stub(fail=("cut=1x3",))
    result = invoke(["--stream", "--retries", "1", "--max-wait", "0", "again"])
    assert result.exit_code == 7 and result.stdout == ""
    assert result.stderr == CUT
    assert len(server.requests) == 1


def _spawn(args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cohere_cli", *args], cwd=ROOT,
                            env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


def test_deltas_reach_a_pipe_before_the_stream_ends(held_stream: Any) -> None:
    """The server holds the rest of the stream after the first delta: that delta's text
    is on the pipe while the program still waits (buffered, it would show only at the
    end, and the read below would time out)."""
    wire, events = official_stream("stream")
    first = wire.index(b"\n\n", wire.index(b"event: content-delta")) + 2
    server = held_stream(wire, first)
    texts = [e["delta"]["message"]["content"]["text"] for e in events
             if e["type"] == "content-delta"]
    proc = _spawn(["hi"])
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "the first delta did not reach the pipe while the stream was held"
        first_out = os.read(proc.stdout.fileno(), 65536)
        assert proc.poll() is None  # the stream is still held
    finally:
        server.release.set()
        rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert first_out == texts[0].encode()
    assert first_out + rest == ("".join(texts) + "\n").encode()


def test_head_closing_the_pipe_is_quiet(make_stub: Any) -> None:
    make_stub(replies=("x" * 50 + " " + "y" * 50 + " more words " * 200,), token_delay_ms=1)
    script = f"{sys.executable} -m cohere_cli hi | head -c 10; echo \"rc=${{PIPESTATUS[0]}}\" >&2"
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, timeout=60, check=False)
    assert_no_key(done.stdout, done.stderr)
    assert done.stdout == b"x" * 10
    assert done.stderr == b"rc=141\n"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["--stream", "--no-stream"])
def test_ctrl_c_exits_130_without_a_traceback(make_stub: Any, mode: str) -> None:
    server = make_stub(fail=("hang",))
    proc = _spawn([mode, "hi"])
    wait_for(lambda: server.requests, "the request to reach the stub (which holds it)")
    proc.send_signal(signal.SIGINT)  # mid-request: sent, not answered
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert (out, err) == (b"", b"")
    assert TEST_KEY not in err.decode()


STREAMED = ["stream", "documents-stream", "tools-stream", "image-stream"]


def official_stream(name: str) -> tuple[bytes, list[dict[str, Any]]]:
    """The official example's events in the wire format, ending with [DONE]."""
    events = [item["data"] for item in official.example(name)["response"]["stream"]]
    wire = b"".join(b"event: %s\ndata: %s\n\n" % (e["type"].encode(), orjson.dumps(e))
                    for e in events)
    return wire + b"data: [DONE]\n\n", events


@pytest.mark.parametrize("name", STREAMED)
def test_official_streams_replay_through_the_cli(raw_server: Any, name: str) -> None:
    wire, events = official_stream(name)
    raw_server(200, "text/event-stream", wire)
    texts = "".join(e["delta"]["message"]["content"].get("text", "") for e in events
                    if e["type"] == "content-delta")
    text = invoke(["hi"])
    assert text.exit_code == 0, text.stderr
    head = texts + "\n" if texts else ""
    assert text.stdout.startswith(head)
    calls = [orjson.loads(line) for line in text.stdout[len(head):].splitlines()]
    starts = [e for e in events if e["type"] == "tool-call-start"]
    assert [c["name"] for c in calls] == [
        e["delta"]["message"]["tool_calls"]["function"]["name"] for e in starts]
    assert all(isinstance(c["arguments"], dict) for c in calls)
    assert invoke(["-F", "events", "hi"]).lines() == events
    rebuilt = orjson.loads(invoke(["--stream", "--json", "hi"]).stdout)
    official.validate_response(rebuilt)
    cited = [e for e in events if e["type"] == "citation-start"]
    assert len(rebuilt["message"].get("citations", [])) == len(cited)


@pytest.mark.slow
def test_a_cut_stream_in_a_real_process_keeps_the_partial_text(make_stub: Any) -> None:
    make_stub(fail=("cut=5",))
    proc = _spawn(["--stream", "one two three four five six"])
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 7
    assert out.startswith(b"echo") and not out.endswith(b"\n")
    assert err == CUT.encode()
