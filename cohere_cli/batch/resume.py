"""--resume: what an earlier run of the batch left in `-o FILE`. Reading it
(`read_finished`) never writes; a torn last line a crash left is cut off by its own
step (`cut_torn_line`), which the run takes before it appends. FILE is opened through
named_files: a FIFO, a folder or a device is refused, never waited on."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from cohere_cli.base.errors import InputError
from cohere_cli.base.named_files import open_named
from cohere_cli.batch.ids import IdSet
from cohere_cli.batch.input import bounded_lines


@dataclass(frozen=True)
class Finished:
    """The ids that already succeeded in the output, and where its whole lines end."""

    ids: IdSet = field(default_factory=IdSet)
    whole: int = 0  # bytes up to the end of the last complete line
    torn: bool = False  # a torn last line (no newline) follows `whole`


def read_finished(path: Path) -> Finished:
    """The ids that already succeeded in FILE, read line by line; FILE is not changed.
    A torn last line is noted (`torn`); damage anywhere else is an InputError. No FILE:
    nothing finished."""
    done = IdSet()
    whole = 0
    try:
        with os.fdopen(open_named(path), "rb") as handle:
            for number, line in enumerate(bounded_lines(handle, str(path)), 1):
                if not line.endswith(b"\n"):
                    break  # a torn last line
                whole += len(line)
                _note_success(line, path, number, done)
            torn = handle.tell() > whole
    except FileNotFoundError:
        return Finished(done)
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror}") from None
    return Finished(done, whole, torn)


def cut_torn_line(path: Path, finished: Finished) -> None:
    """Cut off the torn last line `read_finished` found in FILE (a crash's half write),
    so that the results appended after it start on a line of their own."""
    if not finished.torn:
        return
    try:
        with os.fdopen(open_named(path, flags=os.O_RDWR), "r+b") as handle:
            handle.truncate(finished.whole)
    except OSError as exc:
        raise InputError(str(path), f"cannot open: {exc.strerror}") from None  # as Sink.to_file


def _note_success(line: bytes, path: Path, number: int, done: IdSet) -> None:
    if not line.strip():
        return
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        record = None
    if not (isinstance(record, dict) and "id" in record):
        # JSON that no batch wrote (an input line, say): results appended would mix in
        raise InputError(str(path), "not a result line; cannot resume", number)
    if "error" not in record:
        done.add(record["id"])
