"""The program's standard streams, as one object (httpie's `Environment` idea): stdin,
stdout and stderr as byte streams, and whether each is a terminal. `run` makes it from
the process's streams, or is handed one (a test's closed, full or broken stdout); every
command and the renderer take their streams from it, never from `sys`."""
from __future__ import annotations

import errno
import functools
import io
import os
import sys
from typing import Any, BinaryIO, NamedTuple, TextIO, cast

import click


class _ClosedOutput(io.RawIOBase):
    """Stdout when the program started with it closed (`>&-`): every write fails as a
    write to a closed descriptor does, so the output is reported lost (exit 10)."""

    def writable(self) -> bool:
        return True

    def write(self, _data: Any) -> int:
        raise OSError(errno.EBADF, "it was closed when the program started")


@functools.cache
def _devnull() -> BinaryIO:
    return open(os.devnull, "wb")  # kept open for the rest of the run


def is_terminal(stream: BinaryIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class Streams(NamedTuple):  # not a dataclass: `--version` imports no `dataclasses`
    """stdin (None: there is none to read), stdout and stderr, and which are terminals."""

    stdin: BinaryIO | None
    stdout: BinaryIO
    stderr: BinaryIO
    stdin_isatty: bool = False
    stdout_isatty: bool = False
    stderr_isatty: bool = False

    @classmethod
    def of(cls, stdin: BinaryIO | None, stdout: BinaryIO, stderr: BinaryIO) -> Streams:
        """The three streams, each asked whether it is a terminal."""
        return cls(stdin, stdout, stderr, is_terminal(stdin), is_terminal(stdout),
                   is_terminal(stderr))


def _binary(stream: TextIO | None) -> BinaryIO | None:
    if stream is None:
        return None
    return cast(BinaryIO, getattr(stream, "buffer", None))


def process_streams() -> Streams:
    """The process's streams as they are now. A stdout the program started without
    refuses writes; a missing stderr is /dev/null (diagnostics have nowhere to go, the
    run goes on); a stdin the program started without, or one closed since, is None."""
    stdin = None if sys.stdin is None or sys.stdin.closed else _binary(sys.stdin)
    stdout = _binary(sys.stdout) or cast(BinaryIO, _ClosedOutput())
    return Streams.of(stdin, stdout, _binary(sys.stderr) or _devnull())


def streams_of(ctx: click.Context | None) -> Streams:
    """The streams `run` handed click's context (the process's when there are none)."""
    found = ctx.find_object(Streams) if ctx is not None else None
    return found if found is not None else process_streams()


def current_streams() -> Streams:
    """The streams of the running command."""
    return streams_of(click.get_current_context(silent=True))
