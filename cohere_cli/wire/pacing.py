"""Pacing shared by concurrent requests: a minimum gap between starts, and pauses.

A `Pacer` is what the client asks before each attempt; a 429's wait pauses every worker
of a batch, not only the one that was told to wait.
"""
from __future__ import annotations

import threading
import time
from typing import Protocol


class Pacer(Protocol):
    def before_attempt(self) -> None: ...

    def pause(self, seconds: float) -> None: ...


class RateGate:
    """Starts requests at least `60 / rpm` seconds apart (no bursts); honours pauses."""

    def __init__(self, rpm: float | None = None) -> None:
        self.interval = 60.0 / rpm if rpm else 0.0
        self._lock = threading.Lock()
        self._next_start = 0.0
        self._paused_until = 0.0

    def before_attempt(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                start = max(now, self._next_start, self._paused_until)
                if start <= now:
                    self._next_start = now + self.interval
                    return
            time.sleep(start - now)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)
