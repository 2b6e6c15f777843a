"""The program's standard output streams as byte streams."""
from __future__ import annotations

import errno
import functools
import io
import os
import sys
from typing import Any, BinaryIO, cast


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


def output_streams() -> tuple[BinaryIO, BinaryIO]:
    """stdout and stderr as byte streams. A closed stdout refuses writes; a closed
    stderr is /dev/null (diagnostics have nowhere to go, the run goes on)."""
    stdout = sys.stdout.buffer if sys.stdout is not None else cast(BinaryIO, _ClosedOutput())
    return stdout, sys.stderr.buffer if sys.stderr is not None else _devnull()
