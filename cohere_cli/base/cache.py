"""The program's cache on disk: `$XDG_CACHE_HOME/cohere-chat/` (else `~/.cache/cohere-chat/`),
for what is slow to fetch and rarely changes (a model's details, its tokenizer file).

An entry is a file named by a hash of its key, in the folder of its kind, kept for
`MAX_AGE` seconds. Reading never fails: an entry that is missing, older than that, too
big, not a regular file or unreadable is a miss, fetched again (the caller checks what it
reads, and a corrupt entry is a miss too). Writing replaces the entry whole
(atomic_write.py), removes the kind's expired entries, and never stops the run: a cache
folder that is a file or cannot be written is a problem in words, for one warning.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from cohere_cli.base.atomic_write import replace_whole

MAX_AGE = 24 * 3600.0  # seconds an entry is used


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


@dataclass(frozen=True)
class Cache:
    """The cache folder (None: no cache, every read a miss, every write skipped)."""

    folder: Path | None
    max_age: float = MAX_AGE

    def path(self, kind: str, key: str) -> Path | None:
        """Where the entry KEY of KIND lives."""
        if self.folder is None:
            return None
        name = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]
        return self.folder / kind / name

    def read(self, kind: str, key: str, limit: int) -> bytes | None:
        """The entry's bytes, or None (a miss) for any reason."""
        path = self.path(kind, key)
        if path is None:
            return None
        try:  # never blocks on a FIFO, never follows a link planted at the entry
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except (OSError, ValueError):
            return None
        try:
            info = os.fstat(fd)
            age = time.time() - info.st_mtime
            if (not stat.S_ISREG(info.st_mode) or info.st_size > limit
                    or not -60 <= age <= self.max_age):
                return None
            with os.fdopen(os.dup(fd), "rb") as handle:
                data = handle.read(limit + 1)
            return data if len(data) <= limit else None
        except OSError:
            return None
        finally:
            os.close(fd)

    def write(self, kind: str, key: str, data: bytes) -> str | None:
        """Store the entry; None when it was stored, else the problem in words."""
        path = self.path(kind, key)
        if path is None:
            return "no cache folder (no HOME or XDG_CACHE_HOME)"
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            replace_whole(path, data, 0o600)
        except OSError as exc:
            return (f"cannot write the cache in {self.folder} ({_reason(exc)}): what it "
                    "would hold is fetched again next time")
        self._prune(path.parent, keep=path.name)
        return None

    def _prune(self, folder: Path, keep: str) -> None:
        """Remove the expired entries of a kind (and temporary files a crash left), so
        that the folder holds no more than a day's entries."""
        now = time.time()
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    old = now - entry.stat(follow_symlinks=False).st_mtime > self.max_age
                    if entry.name != keep and old:
                        os.unlink(entry.path)
