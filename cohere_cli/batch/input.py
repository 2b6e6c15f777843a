"""Reading a batch's lines: its input opened (INPUT or stdin, for the local, remote
and estimating runs alike), its lines read lazily, each at most MAX_LINE_BYTES (an
endless line, as from /dev/zero, is an InputError, not all the memory)."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import IO, BinaryIO, TypeVar

from cohere_cli.base.errors import InputError
from cohere_cli.base.files import MAX_INPUT_BYTES
from cohere_cli.base.named_files import open_named

MAX_LINE_BYTES = MAX_INPUT_BYTES  # one input line, its newline included
S = TypeVar("S", bound=IO[bytes])


def open_input(path: str, stdin: S | None) -> AbstractContextManager[S | BinaryIO]:
    """A batch's input: STDIN when given (left open after), else the file PATH; one that
    cannot be opened is an InputError (exit 3)."""
    if stdin is not None:
        return nullcontext(stdin)
    try:  # through named_files: a FIFO, a folder or a device is refused, never waited on
        return os.fdopen(open_named(path), "rb")
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror}") from None


def bounded_lines(stream: Iterable[bytes], source: str) -> Iterator[bytes]:
    """Lines of a stream as they are (newline kept), none longer than MAX_LINE_BYTES; a
    read that fails is an InputError naming the line it was reading."""
    readline = getattr(stream, "readline", None)
    lines = iter(lambda: readline(MAX_LINE_BYTES + 1), b"") if readline else iter(stream)
    number = 0
    try:
        for number, data in enumerate(lines, 1):
            if len(data) > MAX_LINE_BYTES:
                raise InputError(source, f"a line longer than {MAX_LINE_BYTES >> 20} MiB",
                                 number)
            yield data
    except OSError as exc:
        raise InputError(source, f"cannot read: {exc.strerror or exc}", number + 1) from None


def iter_lines(stream: Iterable[bytes], source: str = "stdin") -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of each non-blank line, read lazily (a leading BOM dropped)."""
    for number, data in enumerate(bounded_lines(stream, source), 1):
        if number == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if data.strip():
            yield number, data
