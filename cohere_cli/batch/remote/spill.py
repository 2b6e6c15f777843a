"""`batch --remote`'s spill (issue 26): custom_ids and output records on disk, keyed by
input position, so that a batch of any length is prepared and collected in flat memory.

A SQLite file beside `-o FILE` (`StateFiles.spill`). It is a scratch table, never state:
each use makes it anew (a stale one, left by a killed run, is replaced), nothing is kept
from one run to the next, and `close` removes it; the end of the run removes every
companion of the state file besides. It is not journaled nor synced: a crash loses only
what the next run rebuilds from the index and the output parts.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from cohere_cli.base.errors import LocalWriteError, UsageError

try:
    import sqlite3
except ImportError:  # a Python built without it
    sqlite3 = None  # type: ignore[assignment]

T = TypeVar("T")
TABLES = ("CREATE TABLE ids (custom_id TEXT PRIMARY KEY, position INTEGER NOT NULL) "
          "WITHOUT ROWID",
          "CREATE TABLE records (position INTEGER PRIMARY KEY, record BLOB NOT NULL)")


class Spill:
    """Which input position each custom_id belongs to, and the output record of each
    position: written in any order, read back in input order."""

    def __init__(self, path: Path) -> None:
        if sqlite3 is None:
            raise UsageError("batch --remote needs Python's sqlite3 module",
                             hint="use a Python built with sqlite3")
        self.path = path
        self._guard(self._remove)
        self._db = self._guard(self._open)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), isolation_level=None)
        for pragma in ("journal_mode = OFF", "synchronous = OFF",
                       "locking_mode = EXCLUSIVE", "cache_size = -4096"):
            db.execute(f"PRAGMA {pragma}")
        db.execute("BEGIN")
        for table in TABLES:
            db.execute(table)
        return db

    def _guard(self, action: Callable[..., T], *args: object) -> T:
        """ACTION(*ARGS), a SQLite error (a full disk, a folder in the way) as the
        LocalWriteError of the spill file."""
        try:
            return action(*args)
        except (sqlite3.Error, OSError) as exc:
            raise LocalWriteError(f"{self.path}: cannot write: {exc}",
                                  hint="the spill needs room beside -o FILE: free some space "
                                  "(or give -o in another folder), then run the command "
                                  "again") from None

    def claim(self, custom_id: str, position: int) -> bool:
        """CUSTOM_ID belongs to the line at POSITION; False when an earlier line has it."""
        cursor = self._guard(self._db.execute, "INSERT OR IGNORE INTO ids VALUES (?, ?)",
                             (custom_id, position))
        return cursor.rowcount == 1

    def put(self, custom_id: str, record: bytes) -> None:
        """RECORD is the output of the line that claimed CUSTOM_ID (a later record for the
        same line replaces it; one no line claimed is dropped)."""
        self._guard(self._db.execute, "INSERT OR REPLACE INTO records "
                    "SELECT position, ? FROM ids WHERE custom_id = ?", (record, custom_id))

    def records(self) -> Iterator[tuple[int, bytes]]:
        """(position, record) of every line that has one, in input order, as a stream."""
        cursor = self._guard(self._db.execute,
                             "SELECT position, record FROM records ORDER BY position")
        while rows := self._guard(cursor.fetchmany, 256):
            yield from rows

    def close(self) -> None:
        """Close and remove the file."""
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        self._guard(self._remove)

    def _remove(self) -> None:
        for path in (self.path, self.path.with_name(self.path.name + "-journal")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def in_order(spill: Spill) -> Iterator[bytes | None]:
    """The record of position 0, 1, 2, ... (None for a position without one), without
    end: zip it with the lines."""
    position = 0
    for found, record in spill.records():
        while position < found:
            yield None
            position += 1
        yield record
        position += 1
    while True:
        yield None
