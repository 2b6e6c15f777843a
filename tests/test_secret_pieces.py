"""A secret cut into pieces (redact.TextStream, chat_events.hidden_events,
response.hide_reply): a server that echoes the key one piece an event, or cut across two
content blocks, never gets it shown -- streamed text, --json --stream, -F message and
events, -x, --logprobs, the run log, the conversation file, batch result lines local and
remote -- while text that cannot begin a secret is shown at once. And the secrets too
short to hide: a key (or a --header credential) under 8 characters is refused for
another machine.

The server is the stub with `--echo-key` (each reply ends with the request's key, its
halves in two text blocks, streamed 3 characters an event), over loopback HTTP."""
from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import official
import orjson
import pytest
from conftest import (
    ROOT,
    TEST_HEADER_VALUE,
    TEST_KEY,
    assert_no_key,
    invoke,
    start_stub,
    stub_stream,
)
from hypothesis import given
from hypothesis import strategies as st

from cohere_cli.stub.batch_settings import BatchStubSettings
from cohere_cli.stub.events import sse_frames, stream_events
from cohere_cli.stub.server import StubServer
from cohere_cli.wire.redact import MASK, Redactor, TextStream

HIDE = Redactor([TEST_KEY, "another-secret-value"])
ECHO = f"echo: hi sent {MASK}"  # the stub's echo of "hi" with the key, hidden


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A stub that echoes the key (`stub --echo-key`; one sent no key is served too), and
    the environment pointing at it."""
    batch = BatchStubSettings(time=0.05, validation_time=0.01, faults=frozenset())
    server = start_stub(echo_key=True, no_auth=True, batch=batch)
    monkeypatch.setenv("CO_API_URL", server.url)
    monkeypatch.setenv("CO_API_KEY", TEST_KEY)
    yield server
    server.stop()


def without_key(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert TEST_KEY.encode() not in path.read_bytes(), path


# --- the mechanism --------------------------------------------------------------------


def test_a_text_stream_holds_back_only_what_could_begin_a_secret() -> None:
    stream = TextStream(HIDE)
    shown = [stream.feed(piece) for piece in
             ["hello ", "co-", "te", "st-0000-not-a-real", "-key", " and co", "mmon", " co-"]]
    assert shown == ["hello ", "", "", "", MASK, " and ", "common", " "]
    assert stream.end() == "co-"  # the end of the text: it begins no secret after all


PIECES = st.lists(st.sampled_from([TEST_KEY, "another-secret-value", "co-", "another-",
                                   "c", "x", " ", "-key"]) | st.text(max_size=6), max_size=12)


@given(PIECES, st.lists(st.integers(1, 30), max_size=20))
def test_any_cutting_hides_as_the_whole_text_does(parts: list[str], sizes: list[int]) -> None:
    text = "".join(parts).replace("\\", "/")  # escapes of a key are not the key in text
    pieces, start = [], 0
    for size in sizes:
        pieces.append(text[start:start + size])
        start += size
    pieces.append(text[start:])
    shown = HIDE.hide_pieces(pieces)
    assert len(shown) == len(pieces)
    assert "".join(shown) == HIDE.hide_text(text)
    assert all(TEST_KEY not in piece for piece in shown)


@pytest.mark.slow  # processes
def test_the_stub_program_takes_echo_key(tmp_path: Path) -> None:
    """`cohere-chat stub --echo-key`, as a program: what it echoes is hidden."""
    env = {**os.environ, "CO_API_KEY": TEST_KEY}
    stub = subprocess.Popen([sys.executable, "-m", "cohere_cli", "stub", "--echo-key"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert stub.stdout is not None
        url = stub.stdout.readline().decode().strip()
        done = subprocess.run([sys.executable, "-m", "cohere_cli", "--no-stdin", "hi"],
                              cwd=ROOT, env={**env, "CO_API_URL": url}, capture_output=True,
                              timeout=60, check=False)
    finally:
        stub.kill()
        stub.communicate(timeout=60)
    assert_no_key(done.stdout, done.stderr)
    assert done.stdout == (ECHO + "\n").encode()


# --- every output of a reply ----------------------------------------------------------


def test_the_stub_echoes_the_key_in_pieces(echo: StubServer) -> None:
    """The seam itself: the key in two text blocks; streamed, no event holds it whole."""
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    from cohere_cli.stub import answers

    response = answers.build_reply(body, None, "id", (TEST_KEY,))
    texts = [block["text"] for block in response["message"]["content"]]
    assert "".join(texts) == f"echo: hi sent {TEST_KEY}" and len(texts) == 2
    frames = sse_frames(stream_events(response, answers.echo_cuts((TEST_KEY,))))
    assert all(TEST_KEY.encode() not in frame for _, frame in frames)
    assert sum(frame.count(b"content-delta") for _, frame in frames) > 10


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_text_json_and_message_never_show_the_key(echo: StubServer, stream: str) -> None:
    assert invoke([stream, "hi"]).stdout == ECHO + "\n"
    for fmt in ("json", "message"):
        shown = orjson.loads(invoke([stream, "-F", fmt, "hi"]).stdout)
        message = shown.get("message", shown)
        assert "".join(block["text"] for block in message["content"]) == ECHO


def test_events_carry_the_pieces_that_may_be_shown(echo: StubServer) -> None:
    """Each event with the part of its piece that may be shown then: joined, the deltas
    are the hidden text; every event is still of the official shape."""
    events = invoke(["-F", "events", "--logprobs", "hi"]).lines()
    for event in events:
        official.validate_event(event)
    deltas = [e for e in events if e["type"] == "content-delta"]
    assert "".join(e["delta"]["message"]["content"]["text"] for e in deltas) == ECHO
    assert "".join(e["logprobs"]["text"] for e in deltas) == ECHO


def test_logprobs_texts_are_one_text(echo: StubServer) -> None:
    for stream in ("--stream", "--no-stream"):
        shown = orjson.loads(invoke([stream, "--json", "--logprobs", "hi"]).stdout)
        assert "".join(item["text"] for item in shown["logprobs"]) == ECHO


def test_events_are_as_sent_unless_a_secret_was_hidden(make_stub: Any) -> None:
    """Pieces that could begin the key but do not are held back only until that shows:
    the events are printed as sent. A secret hidden: the events since nothing was held
    as taken, the end of the text held back in a content-delta of its own before
    message-end (the stub sends "...-", "keyco", "-", "te")."""
    sent = "a co-test-0000 b co-te"
    make_stub(replies=(sent, f"{TEST_KEY}co-te"))
    wire = stub_stream(sent)
    assert invoke(["-F", "events", "hi"]).stdout_bytes == b"".join(
        line[len(b"data: "):] + b"\n" for line in wire.splitlines()
        if line.startswith(b"data: {"))
    events = invoke(["-F", "events", "hi"]).lines()
    for event in events:
        official.validate_event(event)
    texts = [e["delta"]["message"]["content"]["text"] for e in events
             if e["type"] == "content-delta"]
    assert "".join(texts) == f"{MASK}co-te" and texts[-1] == "co-te"
    assert [e["type"] for e in events][-3:] == ["content-end", "content-delta", "message-end"]
    assert invoke(["--stream", "hi"]).stdout == f"{MASK}co-te\n"


def test_tool_calls_and_the_plan_never_show_it(make_stub: Any) -> None:
    """A tool call's arguments and the tool plan, streamed a token an event."""
    reply = {"message": {"tool_plan": f"I pass {TEST_KEY} on", "tool_calls": [
        {"function": {"name": "get", "arguments": {"token": TEST_KEY}}}]}}
    make_stub(replies=(reply,))
    for stream in ("--stream", "--no-stream"):
        result = invoke([stream, "--show-plan", "hi"])
        assert result.lines() == [{"id": "get_0", "name": "get", "arguments": {"token": MASK}}]
        assert f"I pass {MASK} on" in result.stderr
    events = invoke(["-F", "events", "hi"]).lines()
    assert "".join(e["delta"]["message"]["tool_calls"]["function"]["arguments"]
                   for e in events if e["type"] == "tool-call-delta") == f'{{"token":"{MASK}"}}'


def test_extract_streams_the_block_with_the_key_hidden(echo: StubServer) -> None:
    result = invoke(["--stream", "-x", "\n```sh\nrun"])
    assert result.stdout == f"run sent {MASK}\n"


def test_the_run_log_and_the_conversation_file_never_hold_it(
        echo: StubServer, tmp_path: Path) -> None:
    log, conversation = tmp_path / "runs.jsonl", tmp_path / "talk.jsonl"
    for stream in ("--stream", "--no-stream"):
        result = invoke([stream, "--log", str(log), "--log-content", "-c", str(conversation),
                         "hi"])
        assert result.exit_code == 0, result.stderr
    assert [orjson.loads(line)["reply"] for line in log.read_bytes().splitlines()] == [ECHO] * 2
    assert MASK in conversation.read_text()
    without_key(tmp_path)


def test_batch_result_lines_never_hold_it(echo: StubServer, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('"a"\n"b"\n')
    for how in (["--raw"], ["--remote"]):
        out = tmp_path / f"out{how[0]}.jsonl"
        result = invoke(["batch", *how, "-o", str(out), str(source)])
        assert result.exit_code == 0, result.stderr
        lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        assert [line["text"] for line in lines] == [f"echo: {p} sent {MASK}" for p in "ab"]
    without_key(tmp_path)


def test_text_that_cannot_begin_the_key_is_shown_at_once(held_stream: Any) -> None:
    """The server holds its stream after "co-test-0000": the text before it reaches the
    pipe while the program waits (the space that came with " co" too), the beginning of
    the key does not; after the rest, the key is hidden."""
    wire = stub_stream(f"said {TEST_KEY} done")
    server = held_stream(wire, wire.index(b'"0000"') + 10)
    proc = subprocess.Popen([sys.executable, "-m", "cohere_cli", "hi"], cwd=ROOT,
                            env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    first = b""
    try:
        assert proc.stdout is not None
        while b"said " not in first:
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            assert ready, "the text before the key did not reach the pipe"
            first += os.read(proc.stdout.fileno(), 65536)
        assert proc.poll() is None  # the stream is still held
    finally:
        server.release.set()
        rest, err = proc.communicate(timeout=60)
    assert_no_key(first, rest, err)
    assert first == b"said "  # " co" was one delta: without the hold, "co" came with it
    assert (proc.returncode, first + rest) == (0, f"said {MASK} done\n".encode())


# --- secrets too short to hide, and --header ------------------------------------------


ELSEWHERE = "https://0.0.0.0:1"  # not this machine by its name: nothing listens there


def test_a_key_too_short_to_be_real_is_refused_for_another_machine(
        echo: StubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key under 8 characters could not be hidden where a server sends it back: for
    another machine it is refused before anything is sent (exit 2, never shown); to this
    machine it is a placeholder (`CO_API_KEY=test` for the stub), and 8 are hidden. A
    header value that short that is no credential goes anywhere."""
    monkeypatch.setenv("CO_API_KEY", "s3cr3t!")
    result = invoke(["--base-url", ELSEWHERE, "hi"])
    assert result.exit_code == 2, result.stderr
    assert "s3cr3t!" not in result.stdout + result.stderr
    assert result.stderr.startswith("cohere-chat: error: the API key is shorter than 8 "
                                    "characters, too short to be a real one: refusing to "
                                    "send it to 0.0.0.0")
    assert invoke(["hi"]).exit_code == 0  # the stub, on this machine
    monkeypatch.setenv("CO_API_KEY", "s3cr3t!!")
    assert invoke(["--stream", "hi"]).stdout == ECHO + "\n"
    monkeypatch.setenv("CO_API_KEY", TEST_KEY)  # a short header that is no credential:
    result = invoke(["--base-url", ELSEWHERE, "--retries", "0", "--header", "X-Version: 2",
                     "hi"])
    assert result.exit_code == 7, result.stderr  # sent, and nothing listens there


@pytest.mark.parametrize("header", ["X-Api-Key: k3y-v4l", "Authorization: Bearer t0k3n",
                                    "X-Auth-Token: 1234"])
def test_a_header_credential_too_short_to_be_real_is_refused(header: str) -> None:
    result = invoke(["--base-url", ELSEWHERE, "--no-auth", "--header", header, "hi"])
    assert result.exit_code == 2, result.stderr
    assert header.rsplit(" ", 1)[1] not in result.stderr
    assert f"the credential in the {header.split(':')[0]} header is shorter" in result.stderr


def test_an_authorization_header_token_is_hidden_alone(echo: StubServer) -> None:
    """--no-auth with the key as `Authorization: Bearer TOKEN`: a server that echoes the
    token without its scheme does not get it shown."""
    result = invoke(["--no-auth", "--header", f"Authorization: Bearer {TEST_KEY}", "hi"])
    assert result.stdout == ECHO + "\n"


def test_an_api_key_header_is_hidden(echo: StubServer) -> None:
    result = invoke(["--no-auth", "--header", f"X-Api-Key: {TEST_HEADER_VALUE}", "hi"])
    assert result.stdout == ECHO + "\n"
