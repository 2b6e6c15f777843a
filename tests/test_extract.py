"""`-x/--extract` and `--extract-last` (issue 16): only a fenced code block of the reply,
without its fences, found as the text streams (cohere_cli/chat/extract.py), and end to end
against the stub."""
from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import ROOT, assert_no_key, invoke, stub_stream
from hypothesis import given
from hypothesis import strategies as st

from cohere_cli.chat.extract import FIRST, LAST, FenceExtractor

ISSUE_REPLY = "Here:\n```sh\nls -la\n```\nDone."


def extract(text: str, which: str = FIRST, size: int = 0) -> str | None:
    """All that the extractor shows for TEXT fed in pieces of SIZE (0: at once)."""
    extractor = FenceExtractor(which)
    pieces = [text[i:i + size] for i in range(0, len(text), size)] if size else [text]
    shown = "".join(extractor.feed(piece) for piece in pieces)
    rest = extractor.end()
    return None if rest is None else shown + rest


# --- the rules of a fence ----------------------------------------------------------------

@pytest.mark.parametrize(("reply", "first", "last"), [
    (ISSUE_REPLY, "ls -la\n", "ls -la\n"),
    ("a\n```\none\n```\nb\n~~~python\ntwo\n~~~\n", "one\n", "two\n"),
    ("````md\n```sh\nx\n```\n````", "```sh\nx\n```\n", "```sh\nx\n```\n"),  # a longer fence
    ("~~~\n```\n~~~", "```\n", "```\n"),  # the other character does not close it
    ("```\na\n``` not a close\n```", "a\n``` not a close\n", "a\n``` not a close\n"),
    ("```\n\n  lead\n\nmid\n\n\n```", "\n  lead\n\nmid\n", "\n  lead\n\nmid\n"),
    ("  ```\n    four\n  two\n two\n```", "  four\ntwo\ntwo\n", "  four\ntwo\ntwo\n"),
    ("1. Install:\n\n     ```bash\n     pip install x\n     ```\n2. Run", "pip install x\n",
     "pip install x\n"),  # in a list item, indented further than CommonMark's three
    ("```\nnever closed\n", "never closed\n", "never closed\n"),  # runs to the end
    ("```\n```", "\n", "\n"),  # an empty block: one newline
    ("x\n```a\r\nb\r\n```\r\n", "b\r\n", "b\r\n"),
])
def test_the_block_without_its_fences(reply: str, first: str, last: str) -> None:
    assert extract(reply) == first
    assert extract(reply, LAST) == last


@pytest.mark.parametrize("reply", [
    "no code here",
    "inline ```sh ls``` is not a fence",
    "Here: ```sh\nls",  # a fence starts a line
    "```a`b\nan info string with a backtick\n```x`y",
    "``\ntwo backticks\n``",
    "",
])
def test_no_block(reply: str) -> None:
    assert extract(reply) is None
    assert extract(reply, LAST) is None


def test_first_shows_the_block_as_it_comes_and_stops_at_its_fence() -> None:
    extractor = FenceExtractor(FIRST)
    assert extractor.feed("Here is the command:\n``") == ""
    assert extractor.feed("`sh\n") == ""
    assert extractor.feed("ls") == "ls"  # cannot be the closing fence: shown at once
    assert extractor.feed(" -la\n") == " -la"  # its newline is held until more comes
    assert extractor.feed("``") == ""  # could still close the block
    assert extractor.feed("`\nDone. ```\nmore\n```\n") == ""  # closed; the rest is not shown
    assert extractor.end() == "\n"


def test_last_waits_for_the_end() -> None:
    extractor = FenceExtractor(LAST)
    assert extractor.feed("```\none\n```\n") == ""
    assert extractor.feed("~~~\ntwo\n") == ""
    assert extractor.end() == "two\n"


# --- properties ----------------------------------------------------------------------------

LINE = st.text(alphabet="ab `~\t", max_size=8)
PLAIN = LINE.filter(lambda line: not line.lstrip(" ").startswith(("```", "~~~")))


@given(st.text(alphabet="ab `~\n \t", max_size=80), st.integers(1, 9),
       st.sampled_from([FIRST, LAST]))
def test_pieces_of_any_size_show_the_same(reply: str, size: int, which: str) -> None:
    assert extract(reply, which, size) == extract(reply, which)


@given(st.lists(PLAIN, max_size=4), st.sampled_from(["```", "~~~~", "```sh"]),
       st.lists(PLAIN, max_size=5), st.lists(LINE, max_size=4), st.integers(1, 5))
def test_the_block_with_one_newline(prefix: list[str], fence: str, body: list[str],
                                    after: list[str], size: int) -> None:
    close = fence.rstrip("sh")
    block = "\n".join([*prefix, fence, *body, close])
    lines = list(body)
    while lines and not lines[-1].strip():
        lines.pop()  # blank lines at the block's end are dropped
    expected = "".join(line + "\n" for line in lines) or "\n"
    assert extract("\n".join([block, *after]), FIRST, size) == expected  # after: anything
    assert extract(f"{fence}\nan earlier block\n{close}\n{block}", LAST, size) == expected


# --- end to end --------------------------------------------------------------------------

def _replies(tmp_path: Path, *replies: Any) -> Path:
    path = tmp_path / "replies.jsonl"
    path.write_bytes(b"".join(orjson.dumps(reply) + b"\n" for reply in replies))
    return path


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_the_issue_example_prints_exactly_the_command(make_stub: Any, stream: str,
                                                      tmp_path: Path) -> None:
    make_stub(replies=(ISSUE_REPLY,))
    conversation = tmp_path / "c.jsonl"
    result = invoke(["-x", stream, "-c", str(conversation), "list files"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "ls -la\n", "")
    saved = [orjson.loads(line) for line in conversation.read_bytes().splitlines()]
    assert saved[-1]["content"] == [{"type": "text", "text": ISSUE_REPLY}]  # kept whole


def test_extract_last_and_the_long_form(make_stub: Any) -> None:
    make_stub(replies=("```\nfirst\n```\nthen\n~~~sh\nsecond\n~~~\n",))
    assert invoke(["--extract-last", "q"]).stdout == "second\n"
    assert invoke(["--extract", "q"]).stdout == "first\n"


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_no_block_prints_the_whole_reply_and_warns(make_stub: Any, stream: str) -> None:
    make_stub(replies=("Just words,\nno code.\n\n",))
    result = invoke(["-x", stream, "q"])
    assert (result.exit_code, result.stdout) == (0, "Just words,\nno code.\n")
    assert result.stderr == ("cohere-chat: warning: the reply has no fenced code block: "
                             "printed it whole\n")


def test_the_block_streams_and_the_rest_is_not_shown(held_stream: Any) -> None:
    """The block's text reaches a pipe while the reply still streams (the server holds
    the 25 words after the closing fence until the block is seen); the text after the
    fence never does."""
    wire = stub_stream("Run:\n```\nuptime\n```\n" + "after " * 25)
    # held from the second word after the fence: the fence's line has ended by then
    second = wire.rfind(b"event: ", 0, wire.index(b'"text":" after"'))
    server = held_stream(wire, second)
    proc = subprocess.Popen([sys.executable, "-m", "cohere_cli", "-x", "q"], cwd=ROOT,
                            env=dict(os.environ), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    shown = b""
    try:
        while b"uptime" not in shown:
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            assert ready, f"no block while the rest of the reply was held: {shown!r}"
            chunk = os.read(proc.stdout.fileno(), 4096)
            assert chunk, f"the run ended first: {proc.communicate(timeout=30)[1]!r}"
            shown += chunk
        assert proc.poll() is None  # the rest of the reply is still held
    finally:
        server.release.set()
        out, err = proc.communicate(timeout=60)
    assert_no_key(shown + out, err)
    assert (proc.returncode, shown + out, err) == (0, b"uptime\n", b"")
