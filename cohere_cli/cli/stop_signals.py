"""SIGTERM and SIGHUP stop a batch as Ctrl-C does: what finished is written, the summary
says what is left and the command that continues it (batch_report.py), exit 130.

While `as_ctrl_c()` lasts, both go to SIGINT's handler: the entry point's (__main__.py:
a KeyboardInterrupt, or exit 130 at once while a module is being imported). A signal
the program was started ignoring (`nohup` ignores SIGHUP) stays ignored.
"""
from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

STOPS = (signal.SIGTERM, signal.SIGHUP)


def _like_ctrl_c(_signum: int, frame: FrameType | None) -> None:
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    raise KeyboardInterrupt  # SIGINT ignored or default: stop all the same


@contextmanager
def as_ctrl_c() -> Iterator[None]:
    """SIGTERM and SIGHUP as Ctrl-C until the end of the block (then as they were)."""
    saved: dict[signal.Signals, Any] = {}
    try:
        for stop in STOPS:
            before = signal.getsignal(stop)
            if before is not signal.SIG_IGN:
                signal.signal(stop, _like_ctrl_c)
                saved[stop] = signal.SIG_DFL if before is None else before
    except ValueError:  # not the main thread (a test's runner): signals stay as they are
        pass
    try:
        yield
    finally:
        for stop, before in saved.items():
            signal.signal(stop, before)
