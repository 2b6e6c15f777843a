"""On a real terminal (a pseudo-terminal), issue 18: batch progress with its total,
percentage and ETA, cleared before a result line goes to the same terminal; Ctrl-C in a
batch says what is left and the exact command that continues it; Ctrl-C while a reply
streams to the terminal ends its line. Every wait has a deadline on what is shown."""
from __future__ import annotations

import os
import pty
import re
import select
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import pytest
from conftest import ROOT, assert_no_key, run_process, wait_for

CLEAR = b"\r\x1b[K"
PROGRESS = rb"(\d+)/(\d+|\?)(?: \((\d+)%\))? ok=(\d+) failed=(\d+) [\d.]+/s(?: ETA (\S+))?"


class Terminal:
    """A pseudo-terminal: the program writes to its follower end; the test reads what a
    user would see from the leader end, with a deadline."""

    def __init__(self) -> None:
        self.leader, self.follower = pty.openpty()
        self.shown = b""

    def start(self, args: list[str], stdout: int | IO[Any] | None = None,
              stdin: int | IO[Any] | None = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
        """Run cohere-chat with stderr (and stdout, unless given) on the terminal."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "cohere_cli", *args], cwd=ROOT, env=dict(os.environ),
            stdin=stdin, stdout=self.follower if stdout is None else stdout,
            stderr=self.follower)
        os.close(self.follower)
        return proc

    def _read(self) -> bytes:
        try:
            chunk = os.read(self.leader, 65536)
        except OSError:  # EIO: no process holds the terminal any more
            chunk = b""
        self.shown += chunk
        return chunk

    def wait_for(self, shown: Callable[[bytes], object], what: str, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while not shown(self.shown):
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {what}: {self.shown!r}"
            if select.select([self.leader], [], [], left)[0]:
                assert self._read(), f"the terminal closed before {what}: {self.shown!r}"

    def read_to_end(self, seconds: float = 20) -> bytes:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if select.select([self.leader], [], [], left)[0] and not self._read():
                assert_no_key(self.shown)
                return self.shown
        raise AssertionError(f"the terminal stayed open: {self.shown!r}")


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    shown = Terminal()
    yield shown
    os.close(shown.leader)


def jsonl_file(path: Path, count: int, blank_at: int | None = None) -> Path:
    lines = [orjson.dumps(f"prompt {n}") + b"\n" for n in range(1, count + 1)]
    if blank_at is not None:
        lines.insert(blank_at, b"\n")  # a blank line is skipped: not in the total
    path.write_bytes(b"".join(lines))
    return path


def results(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


# --- the progress line -------------------------------------------------------------------

@pytest.mark.slow
def test_progress_shows_the_total_percentage_and_eta(make_stub: Any, tmp_path: Path,
                                                     terminal: Terminal) -> None:
    make_stub(latency_ms=60)
    source = jsonl_file(tmp_path / "in.jsonl", 12, blank_at=5)
    started = time.monotonic()
    proc = terminal.start(["batch", str(source), "-j", "1", "-o", str(tmp_path / "out.jsonl")],
                          stdout=subprocess.DEVNULL)
    shown = terminal.read_to_end()
    seconds = time.monotonic() - started
    assert proc.wait(timeout=20) == 0
    drawn = re.findall(re.escape(CLEAR) + PROGRESS, shown)
    assert drawn, shown
    # the total is counted beside the run: `?` until it is known (a busy machine may draw
    # a line first), then 12: the blank line is not counted
    known = [line for line in drawn if line[1] != b"?"]
    assert known and {total for _, total, *_ in known} == {b"12"}, drawn
    for done, _, percent, ok, _, eta in known:
        assert int(percent) == 100 * int(done) // 12 and int(ok) == int(done)
        assert re.fullmatch(rb"\d+:\d\d|\?", eta)
    assert drawn.index(known[0]) + len(known) == len(drawn), "once known, always shown"
    assert any(int(done) >= 3 and eta != b"?" for done, *_, eta in known)
    assert len(drawn) <= 5 * seconds + 2, "redrawn at most 5 times a second"
    assert re.search(re.escape(CLEAR) + rb"cohere-chat: batch: ok=12 failed=0 skipped=0 "
                     rb"tokens=\d+ seconds=[\d.]+\r\n$", shown), shown[-200:]


@pytest.mark.slow
def test_result_lines_on_the_same_terminal_clear_the_progress_first(
        make_stub: Any, tmp_path: Path, terminal: Terminal) -> None:
    make_stub(latency_ms=80)
    source = jsonl_file(tmp_path / "in.jsonl", 8)
    proc = terminal.start(["batch", str(source), "-j", "1"])
    shown = terminal.read_to_end()
    assert proc.wait(timeout=20) == 0
    starts = [m.start() for m in re.finditer(rb'\{"id":', shown)]
    assert len(starts) == 8
    for start in starts:  # never glued to a progress line (`4 done, 0 failed, 15.8/s{"id"`)
        assert shown[:start].endswith((CLEAR, b"\n")), shown[max(start - 60, 0):start + 10]
    redrawn = re.findall(rb'\}\r\n' + re.escape(CLEAR) + PROGRESS, shown)
    assert redrawn, "the progress comes back under the result line"
    seen = re.sub(re.escape(CLEAR) + b"(?:" + PROGRESS + b")?", b"", shown)
    records = [orjson.loads(line) for line in seen.split(b"\r\n") if line.startswith(b"{")]
    assert [r["id"] for r in records] == list(range(1, 9))


# --- Ctrl-C in a batch -------------------------------------------------------------------

@pytest.mark.slow
def test_ctrl_c_says_what_is_left_and_the_command_that_continues(
        make_stub: Any, tmp_path: Path, terminal: Terminal) -> None:
    make_stub(latency_ms=40)
    source = jsonl_file(tmp_path / "my input.jsonl", 100)
    output = tmp_path / "out.jsonl"
    args = ["batch", str(source), "-j", "1", "-o", str(output)]
    proc = terminal.start(args, stdout=subprocess.DEVNULL)
    wait_for(lambda: output.exists() and output.read_bytes().count(b"\n") >= 3,
             "three results in the output")
    os.kill(proc.pid, signal.SIGINT)
    shown = terminal.read_to_end()
    assert proc.wait(timeout=20) == 130
    written = len(results(output))
    command = "cohere-chat " + " ".join(map(shlex.quote, [*args, "--resume"]))
    assert f"'{source}'" in command
    line = (f"cohere-chat: interrupted: {100 - written} of 100 lines not done; "
            f"to continue: {command}\r\n").encode()
    assert shown.endswith(line), shown[-400:]
    make_stub()  # the rest without the latency
    again = run_process(shlex.split(command)[1:])
    assert again.returncode == 0, again.stderr
    assert sorted(r["id"] for r in results(output)) == list(range(1, 101))


@pytest.mark.slow
def test_ctrl_c_without_output_file_says_how_to_resume(
        make_stub: Any, tmp_path: Path, terminal: Terminal) -> None:
    make_stub(latency_ms=40)
    source = jsonl_file(tmp_path / "in.jsonl", 100)
    with source.open("rb") as stdin:
        proc = terminal.start(["batch", "-j", "1"], stdout=subprocess.PIPE, stdin=stdin)
        terminal.wait_for(lambda shown: re.search(rb"[1-9]\d*/\? ok=", shown),
                          "a line done, the total unknown (stdin)")
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    shown = terminal.read_to_end()
    assert proc.returncode == 130
    done = len(out.splitlines())
    assert shown.endswith(
        f"cohere-chat: interrupted: {done} lines done, the rest not; --resume needs the "
        "results in a file: if stdout went to FILE, continue with: cohere-chat batch -j 1 "
        "--resume -o FILE (with the same input on stdin)\r\n".encode()), shown[-400:]


# --- Ctrl-C while a reply streams ----------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("stderr_to_file", [False, True], ids=["shared", "stderr-file"])
def test_ctrl_c_while_streaming_ends_the_line(make_stub: Any, terminal: Terminal,
                                              tmp_path: Path, stderr_to_file: bool) -> None:
    make_stub(replies=("word " * 300,), token_delay_ms=20)
    if stderr_to_file:  # the reply's line still ends on the terminal; the file gets nothing
        log = (tmp_path / "err").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "cohere_cli", "--no-stdin", "q"],
                                cwd=ROOT, env=dict(os.environ), stdout=terminal.follower,
                                stderr=log)
        os.close(terminal.follower)
    else:
        proc = terminal.start(["--no-stdin", "q"])
    terminal.wait_for(lambda shown: shown.count(b"word") >= 3, "some of the reply")
    os.kill(proc.pid, signal.SIGINT)
    shown = terminal.read_to_end()
    assert proc.wait(timeout=20) == 130
    assert shown.startswith(b"word word word") and shown.endswith(b"word\r\n"), shown[-80:]
    if stderr_to_file:
        log.close()
        assert (tmp_path / "err").read_bytes() == b""
