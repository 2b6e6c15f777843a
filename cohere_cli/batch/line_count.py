"""How many lines a batch's input file holds, for the total of its progress line.

Counted in chunks at the speed of a byte search, so a large file costs a read and no
memory: the newlines, less the blank lines (which a batch skips), plus a last line
without its newline.
"""
from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Callable, Iterable
from typing import BinaryIO

from cohere_cli.base.files import READ_CHUNK

MAX_COUNTED = 1 << 30  # a larger file is not counted: its total is shown as "?"
_BLANK = re.compile(rb"\n[ \t\r\x0b\x0c]*(?=\n)")  # a line end followed by a blank line


def count_lines(handle: BinaryIO) -> int | None:
    """The non-blank lines of an open regular file, read from its start without moving
    its position (on a descriptor of its own); None for anything that is not a regular
    file, a file over MAX_COUNTED bytes, or one that cannot be read."""
    fd = _own(handle)
    return None if fd is None else _count_closing(fd)


def count_aside(handle: BinaryIO, found: Callable[[int | None], None]) -> None:
    """`count_lines` in a thread of its own, then `found(count)`; the descriptor is
    taken now, so the caller may close `handle` at any time."""
    fd = _own(handle)
    if fd is not None:
        threading.Thread(target=lambda: found(_count_closing(fd)), daemon=True).start()


def _own(handle: BinaryIO) -> int | None:
    try:
        return os.dup(handle.fileno())
    except (OSError, ValueError, AttributeError):
        return None


def _count_closing(fd: int) -> int | None:
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_COUNTED:
            return None
        return count_in(_chunks(fd))
    except OSError:
        return None
    finally:
        os.close(fd)


def _chunks(fd: int) -> Iterable[bytes]:
    offset = 0
    while offset <= MAX_COUNTED and (chunk := os.pread(fd, READ_CHUNK, offset)):
        offset += len(chunk)
        yield chunk
    if offset > MAX_COUNTED:  # it grew past the cap while being counted
        raise OSError("too large to count")


def count_in(chunks: Iterable[bytes]) -> int:
    """The non-blank lines in the concatenation of `chunks`, split anywhere."""
    ends = blank = 0
    open_blank = True  # the line being read is blank so far (the first starts blank)
    for chunk in chunks:
        ends += chunk.count(b"\n")
        text = (b"\n" if open_blank else b"\nx") + chunk  # what the open line was so far
        blank += sum(1 for _ in _BLANK.finditer(text))
        open_blank = not text[text.rfind(b"\n") + 1:].strip()
    return ends - blank + (0 if open_blank else 1)
