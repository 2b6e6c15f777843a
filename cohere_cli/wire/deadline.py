"""--max-time: a wall-clock limit on a whole exchange (a `send`, or one batch line).

The core makes a `Deadline` and hands it down; the client caps each attempt's timeouts
and each retry's wait by the time left, and stops reading a reply past it; the tool loop
caps a tool's timeout the same way; a lock is waited for (`lock_wait`) no longer
either. Past it, `TimeLimitError` (exit 7).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from cohere_cli.base.errors import LockTimeoutError, TimeLimitError

LATE = 0.005  # a timeout that fired within this of the deadline was the deadline's


class Deadline:
    """A limit of `seconds` (None: no limit) from `start()`; started once, by the first
    call (the core starts a `send`'s at once; a batch line's starts with its first
    request, once --rpm lets it go). `name` is what the user calls the limit: its
    TimeLimitError says "stopped after NAME 2s" (settings/names.py gives the flag)."""

    def __init__(self, seconds: float | None = None, name: str = "the time limit") -> None:
        self.seconds = seconds
        self.name = name
        self._at: float | None = None

    def start(self) -> Deadline:
        if self.seconds is not None and self._at is None:
            self._at = time.monotonic() + self.seconds
        return self

    def left(self) -> float | None:
        """Seconds left (never below 0); None without a limit or before the start."""
        if self._at is None:
            return None
        return max(0.0, self._at - time.monotonic())

    def cap(self, seconds: float) -> float:
        """`seconds`, or the time left when that is shorter."""
        left = self.left()
        return seconds if left is None else min(seconds, left)

    def passed(self) -> bool:
        left = self.left()
        return left is not None and left <= LATE

    def check(self, during: str) -> None:
        """Raise TimeLimitError when the limit has passed; `during` says what was going on."""
        if self.passed():
            raise self.error(during)

    def error(self, during: str) -> TimeLimitError:
        return TimeLimitError(self.seconds or 0.0, during, self.name)

    @contextmanager
    def lock_wait(self, path: object) -> Iterator[None]:
        """Around a lock on PATH made to wait `cap(--lock-timeout)` (a conversation's, a
        batch's -o FILE's): a wait the limit cut short is TimeLimitError, not
        LockTimeoutError, since --max-time is what ran out."""
        try:
            yield
        except LockTimeoutError:
            self.check(f"waiting for another run's lock on {path}")
            raise


NO_DEADLINE = Deadline()
