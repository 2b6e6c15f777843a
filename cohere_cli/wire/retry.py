"""How long to wait before a retry: the server's headers first, else backoff with jitter
(README: Reliability)."""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

WAIT_HEADERS = ("retry-after", "retry-after-ms", "x-ratelimit-reset")


def retry_wait(
    headers: Mapping[str, str],
    attempt: int,
    max_wait: float,
    now: Callable[[], float] = time.time,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before attempt `attempt + 1`, from the server's headers or backoff."""
    wait: float | None = None
    if headers.get("retry-after-ms"):
        wait = _seconds_from(headers["retry-after-ms"], 1000)
    if wait is None and headers.get("retry-after"):
        wait = _seconds_from(headers["retry-after"], 1)
        if wait is None:
            wait = _http_date_delay(headers["retry-after"], now)
    if wait is None and headers.get("x-ratelimit-reset"):
        reset = _seconds_from(headers["x-ratelimit-reset"], 1)
        wait = None if reset is None else reset - now()
    if wait is None:
        wait = 2.0**attempt * (1 - 0.25 * jitter())
    return max(0.0, min(wait, max_wait))


def asks_everyone_to_wait(status: int, headers: Mapping[str, str]) -> bool:
    """A 429, or any answer that names a wait, slows every request, not only this one."""
    return status == 429 or any(name in headers for name in WAIT_HEADERS)


def _seconds_from(text: str, per_second: float) -> float | None:
    """A header's number, in seconds; None when it is not a number."""
    try:
        return float(text) / per_second
    except ValueError:
        return None


def _http_date_delay(text: str, now: Callable[[], float]) -> float | None:
    try:
        return parsedate_to_datetime(text).timestamp() - now()
    except (TypeError, ValueError, IndexError):
        return None
