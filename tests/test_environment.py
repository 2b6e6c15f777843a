"""The streams a run is handed (cli/streams.py, httpie's `Environment` idea): a closed, a
full and a broken stdout, a stdin given or not, a stderr that fails, all in-process (no
subprocess): `run` takes the streams, and every command and the renderer write to them.
The real descriptors (`>&-`, /dev/full, a reader that goes away) are tested with real
processes in test_values_and_env.py, test_render_untrusted.py and test_streaming.py."""
from __future__ import annotations

import errno
import io
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO, cast

import orjson
import pytest
from conftest import assert_no_key

from cohere_cli.base.errors import ExitCode
from cohere_cli.cli import cli
from cohere_cli.cli.main import run
from cohere_cli.cli.streams import Streams, process_streams

CLOSED = OSError(errno.EBADF, os.strerror(errno.EBADF))
FULL = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
BROKEN = BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


class Failing(io.RawIOBase):
    """An output whose every write fails with ERROR; it counts the tries."""

    def __init__(self, error: OSError) -> None:
        super().__init__()
        self.error = error
        self.tries = 0

    def writable(self) -> bool:
        return True

    def write(self, _data: Any) -> int:
        self.tries += 1
        raise self.error


def failing(error: OSError) -> BinaryIO:
    return cast(BinaryIO, Failing(error))


def ran(args: list[str], stdout: BinaryIO | None = None, stdin: bytes | None = None,
        stderr: BinaryIO | None = None, **terminals: bool) -> tuple[int, bytes, bytes]:
    """Run the program in-process on the given streams: (status, stdout, stderr)."""
    out, err = io.BytesIO(), io.BytesIO()
    streams = Streams(io.BytesIO(stdin) if stdin is not None else None, stdout or out,
                      stderr or err, **terminals)
    status = run(cli, args, streams=streams)
    assert_no_key(out.getvalue(), err.getvalue())
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("error", "reason"), [(CLOSED, "Bad file descriptor"),
                                               (FULL, "No space left on device")])
@pytest.mark.parametrize("args", [["--dry-run", "hi"], ["hi"], ["--no-stream", "hi"],
                                  ["--json", "hi"], ["config"], ["models"], ["presets"],
                                  ["completion", "bash"], ["help"]])
def test_a_closed_or_full_stdout_is_lost_output(stub: Any, args: list[str], error: OSError,
                                                reason: str) -> None:
    assert ran(["--save-preset", "mine", "-s", "be brief"])[0] == 0  # for `presets`
    stdout = failing(error)
    status, _, stderr = ran(args, stdout)
    assert status == ExitCode.NOT_SAVED
    assert stderr == f"cohere-chat: error: cannot write to stdout: {reason}\n".encode()
    assert cast(Failing, stdout).tries == 1  # the rest of the output was dropped


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["send", "--help"],
                                  ["batches", "--help"], ["batches", "list", "--help"],
                                  ["help", "batch"]])
def test_help_and_version_are_output_like_any_other(args: list[str]) -> None:
    """click would echo them itself: a full stdout was an internal error (exit 1)."""
    status, stdout, stderr = ran(args)
    assert (status, stderr) == (0, b"") and stdout.endswith(b"\n")
    status, _, stderr = ran(args, failing(FULL))
    assert (status, stderr) == (ExitCode.NOT_SAVED, b"cohere-chat: error: cannot write to "
                                b"stdout: No space left on device\n")
    assert ran(args, failing(BROKEN))[::2] == (ExitCode.BROKEN_PIPE, b"")


@pytest.mark.parametrize("error", [CLOSED, FULL])
@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_a_reply_that_cannot_be_shown_is_still_saved(stub: Any, tmp_path: Path,
                                                     error: OSError, stream: str) -> None:
    """The turn was paid for: with stdout lost, -c FILE keeps it (exit 10)."""
    path = tmp_path / "chat.jsonl"
    status, _, stderr = ran(["-c", str(path), stream, "hi"], failing(error))
    assert status == ExitCode.NOT_SAVED and b"cannot write to stdout" in stderr
    assert [orjson.loads(line) for line in path.read_bytes().splitlines()] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "echo: hi"}]}]
    assert ran(["-c", str(path), "--no-stream", "again"])[:2] == (0, b"echo: again\n")


@pytest.mark.parametrize("args", [["hi"], ["--no-stream", "hi"], ["--dry-run", "hi"],
                                  ["config"], ["presets"]])
def test_a_broken_pipe_is_141_and_quiet(stub: Any, args: list[str]) -> None:
    assert ran(["--save-preset", "mine", "-s", "be brief"])[0] == 0  # for `presets`
    assert ran(args, failing(BROKEN))[::2] == (ExitCode.BROKEN_PIPE, b"")


def test_a_batch_on_a_full_or_broken_stdout(stub: Any) -> None:
    lines = b"".join(orjson.dumps({"id": str(n), "prompt": f"p{n}"}) + b"\n" for n in range(5))
    status, _, stderr = ran(["batch", "-j", "1"], failing(FULL), stdin=lines)
    assert status == ExitCode.NOT_SAVED
    assert b"stdout: cannot write: No space left on device; the batch stopped" in stderr
    status, _, stderr = ran(["batch", "-j", "1"], failing(BROKEN), stdin=lines)
    assert status == ExitCode.BROKEN_PIPE and b"Traceback" not in stderr
    status, stdout, _ = ran(["batch", "-j", "1"], stdin=lines)
    assert status == 0 and [orjson.loads(line)["id"] for line in stdout.splitlines()] == [
        "0", "1", "2", "3", "4"]


@pytest.mark.parametrize("error", [CLOSED, FULL, BROKEN])
def test_a_failing_stderr_spoils_nothing(stub: Any, error: OSError) -> None:
    assert ran(["--usage", "--no-stream", "hi"], stderr=failing(error))[:2] == (
        0, b"echo: hi\n")
    assert ran(["--timeout", "0", "hi"], stderr=failing(error))[:2] == (ExitCode.USAGE, b"")


def test_stdin_is_the_streams_stdin(stub: Any) -> None:
    status, stdout, _ = ran(["--dry-run", "hi"], stdin=b"from stdin")
    assert status == 0
    assert orjson.loads(stdout)["messages"] == [
        {"role": "user", "content": "from stdin\n\nhi"}]
    status, stdout, _ = ran(["--dry-run", "hi"], stdin=b"from stdin", stdin_isatty=True)
    assert (status, orjson.loads(stdout)["messages"]) == (
        0, [{"role": "user", "content": "hi"}])  # a terminal is never read
    status, _, stderr = ran(["batch"], stdin=b"", stdin_isatty=True)
    assert (status, stderr) == (ExitCode.USAGE, b"cohere-chat: error: no input; give INPUT, "
                                b"or pipe JSONL on stdin\n")


def test_a_terminal_stdout_gets_its_line_ended_after_a_cut(make_stub: Any) -> None:
    """A cut stream's partial text ends its line only on a terminal (the renderer asks
    the streams, not the file object)."""
    make_stub(fail=("cut=4x2",), token_delay_ms=0)
    args = ["--stream", "one two three four five"]
    status, stdout, _ = ran(args, stdout_isatty=True)
    assert status == ExitCode.UNAVAILABLE
    assert stdout.startswith(b"echo") and stdout.endswith(b"\n")
    status, stdout, _ = ran(args)
    assert status == ExitCode.UNAVAILABLE
    assert stdout.startswith(b"echo") and not stdout.endswith(b"\n")


def test_the_process_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `run` uses when handed nothing: a stdout the program started without (`>&-`:
    Python's sys.stdout is None) refuses every write; a missing stderr is /dev/null."""
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    monkeypatch.setattr(sys, "stdin", None)
    streams = process_streams()
    assert streams.stdin is None
    with pytest.raises(OSError, match="closed when the program started"):
        streams.stdout.write(b"x")
    assert streams.stderr.name == os.devnull  # type: ignore[attr-defined]
    assert run(cli, ["--dry-run", "hi"]) == ExitCode.NOT_SAVED
