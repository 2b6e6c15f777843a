"""Where a batch's result lines go: stdout or `-o FILE`, written a whole line at a time,
and never the input file under another name."""
from __future__ import annotations

import contextlib
import os
import select
import stat
from pathlib import Path
from typing import Any, BinaryIO

from cohere_cli.base.errors import InputError, LocalWriteError, OutputClosedError, UsageError
from cohere_cli.base.named_files import open_named

WRITE_WAIT = 0.5  # seconds a write to a full pipe (O_NONBLOCK) waits before trying again


def fstat_of(stream: Any) -> os.stat_result | None:
    """The stream's file status; None when it has no descriptor."""
    try:
        return os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # no descriptor (io.UnsupportedOperation)
        return None


class Sink:
    """Where the result lines go. Each line is written whole, straight to the file
    descriptor when there is one (nothing is left in a buffer to fail again at exit);
    a failed write names the file, and a half-written line is cut off again."""

    def __init__(self, stream: BinaryIO, name: str, owned: bool = False) -> None:
        self.stream, self.name, self.owned = stream, name, owned
        self.broken = False
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
        info = fstat_of(stream)
        self.fd = stream.fileno() if info is not None else None
        self.regular = info is not None and stat.S_ISREG(info.st_mode)

    @classmethod
    def to_file(cls, path: Path, append: bool) -> Sink:
        """FILE, emptied first unless APPEND; through named_files (a FIFO or a folder is
        refused, never waited on; a device such as /dev/full will do)."""
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        try:
            handle = os.fdopen(open_named(path, str(path), flags, devices=True), "wb",
                               buffering=0)
        except OSError as exc:
            raise InputError(str(path), f"cannot open: {exc.strerror}") from None
        return cls(handle, str(path), owned=True)

    def write(self, data: bytes) -> None:
        try:
            self._write(data)
        except BrokenPipeError:
            self.broken = True
            raise OutputClosedError("broken pipe") from None
        except OSError as exc:
            self.broken = True
            raise self._problem(exc) from None

    def _problem(self, exc: OSError) -> LocalWriteError:
        hint = "the lines written are kept; rerun with --resume" if self.owned else None
        return LocalWriteError(f"{self.name}: cannot write: {exc.strerror or exc}; "
                               "the batch stopped", hint)

    def _write(self, data: bytes) -> None:
        if self.fd is None:
            self.stream.write(data)
            self.stream.flush()
            return
        size = os.fstat(self.fd).st_size if self.regular else 0
        view = memoryview(data)
        try:
            while view:
                try:
                    view = view[os.write(self.fd, view):]
                except BlockingIOError:
                    select.select([], [self.fd], [], WRITE_WAIT)
        except BaseException:
            if self.regular:  # no torn line left behind
                with contextlib.suppress(OSError):
                    os.ftruncate(self.fd, size)
            raise

    def close(self) -> LocalWriteError | None:
        """Close FILE (never stdout); the problem if that failed."""
        if self.owned:
            try:
                self.stream.close()
            except OSError as exc:
                return self._problem(exc)
        return None


def refuse_same_file(source: Any, output: Path | None, stdout: Any) -> None:
    """The output may not be the input: compared by device and inode (a hard link, a
    symlink, stdin redirected from it all count), before it is emptied or appended to."""
    read = fstat_of(source)
    if read is None:
        return
    try:
        written = output.stat() if output is not None else fstat_of(stdout)
    except OSError:
        return
    if written is not None and stat.S_ISREG(written.st_mode) and (
            written.st_dev, written.st_ino) == (read.st_dev, read.st_ino):
        raise UsageError("the output file is the input file",
                         hint="write the results to another file")


def refuse_results(output: Path, hint: str) -> None:
    """-o FILE already holds what an earlier run wrote (a regular file, not empty): a run
    that would send its lines again and replace it stops before anything is sent (the
    caller knows whether --resume or --overwrite say otherwise; HINT names them)."""
    try:
        found = output.stat()
    except OSError:
        return  # a new file, or one reported where it is opened
    if stat.S_ISREG(found.st_mode) and found.st_size > 0:
        raise UsageError(f"{output} already holds results; nothing was sent", hint=hint)
