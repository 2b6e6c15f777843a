"""What an HTTP status means to the client: whether it is worth another attempt (the
retry policy, man RETRIES), and the typed error a final one becomes (its exit status).
The next step for the user is the face's to say (cli/hints.py), keyed on the status."""
from __future__ import annotations

from cohere_cli.base.errors import (
    APIError,
    AuthError,
    RateLimitError,
    RejectedError,
    ServiceError,
)

RETRIED_STATUSES = frozenset({408, 409, 429})
NOT_TRANSIENT = frozenset({501, 505})  # Not Implemented, HTTP Version Not Supported
AUTH_STATUSES = frozenset({401, 403, 498})
MONTHLY_LIMIT_HINT = ("the key's monthly trial limit of API calls is spent, which no retry "
                      "or wait clears before next month: use a production key "
                      "(https://dashboard.cohere.com/api-keys)")


def is_retried_status(status: int) -> bool:
    """Whether an HTTP status is worth another attempt (man RETRIES): 408, 409, 429 and
    5xx, but not 501 or 505, which say the server will never do this request."""
    return status in RETRIED_STATUSES or (status >= 500 and status not in NOT_TRANSIENT)


def error_for_status(
    status: int, message: str, error_id: str | None = None, where: str = "the base URL",
    monthly_limit: bool = False,
) -> APIError:
    """The typed error for a final (not retried, or retries spent) HTTP status. `where`
    names the base URL and where it came from ("http://... (from flag --base-url)"),
    for the hint; never the key. A 429 whose monthly trial limit is spent has its own
hint: no retry or wait helps."""
    if status in AUTH_STATUSES:
        return AuthError(status, message, error_id, where=where)
    if status == 429:
        hint = MONTHLY_LIMIT_HINT if monthly_limit else None
        return RateLimitError(status, message, error_id, hint, where=where)
    if status in RETRIED_STATUSES or status >= 500:
        return ServiceError(status, message, error_id, where=where)
    return RejectedError(status, message, error_id, where=where)
