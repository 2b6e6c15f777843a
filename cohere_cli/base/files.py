"""Reading local input: files and streams read with a size cap, UTF-8 decoding that names
the bad line, and JSONL split on newlines only.

JSONL lines end at `\n` alone: U+2028, U+2029, U+0085 and the other characters that
`str.splitlines` treats as line ends are ordinary text inside a JSON string.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from cohere_cli.base.errors import InputError, JSONLineError
from cohere_cli.base.named_files import open_named

MAX_INPUT_BYTES = 64 * 1024 * 1024  # stdin, or one input file (--document, --tools, ...)
READ_CHUNK = 1 << 20


def _mib(size: int) -> str:
    return f"{size / (1 << 20):g} MiB"


def decode_utf8(data: bytes, source: str) -> str:
    """Decode UTF-8 (a BOM is dropped) or name the line of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(source, f"invalid UTF-8 (byte {exc.start})", line) from None


def read_stream(
    stream: BinaryIO, source: str, limit: int = MAX_INPUT_BYTES, too_big: str | None = None
) -> bytes:
    """All of a stream, counted while read: more than `limit` bytes is an InputError
    (so `/dev/zero` or an endless pipe ends with a message, not with all the memory)."""
    parts: list[bytes] = []
    size = 0
    try:
        while chunk := stream.read(min(READ_CHUNK, limit + 1 - size) or 1):
            size += len(chunk)
            if size > limit:
                raise InputError(source, too_big or f"more than {_mib(limit)}; too big to send")
            parts.append(chunk)
    except OSError as exc:
        raise InputError(source, f"cannot read: {exc.strerror or exc}") from None
    return b"".join(parts)


def read_file_bytes(
    path: str | Path, limit: int = MAX_INPUT_BYTES, too_big: str | None = None,
    source: str | None = None,
) -> bytes:
    """A regular file's bytes (opened by named_files.open_named: never a FIFO, a folder or
    a device; the null device is empty), at most `limit` of them; else an InputError
    naming `source` (else the path)."""
    shown = source or str(path)
    try:
        handle = os.fdopen(open_named(path, shown), "rb")
    except OSError as exc:
        raise InputError(shown, f"cannot read: {exc.strerror or exc}") from None
    with handle:
        return read_stream(handle, shown, limit, too_big)


def split_lines(text: str) -> list[str]:
    """JSONL lines: split on `\n` only (a `\r` before it is dropped)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def iter_jsonl(text: str, source: str) -> Iterable[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line of JSONL text."""
    for number, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        try:
            yield number, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise JSONLineError(source, f"invalid JSON ({exc.msg})", number) from None
