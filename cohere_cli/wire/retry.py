"""How long to wait before a retry: the server's headers first, else backoff with jitter
(README: Reliability)."""
from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

WAIT_HEADERS = ("retry-after", "retry-after-ms", "x-ratelimit-reset")
# Cohere's 429 for a trial key whose monthly calls are spent: "You are using a Trial key,
# which is limited to 1000 API calls / month." (a per-minute limit says "/ minute")
MONTHLY_LIMIT = re.compile(rb"\bcalls?\s*(?:/|per)\s*month\b", re.IGNORECASE)


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


def monthly_limit_spent(status: int, body: bytes) -> bool:
    """A 429 that says a monthly allowance of calls is spent: no wait within reach clears
    it, so it is not retried (the per-minute rate limit is)."""
    return status == 429 and MONTHLY_LIMIT.search(body) is not None


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
