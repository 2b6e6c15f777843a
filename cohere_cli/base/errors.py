"""Exit codes and the typed errors that carry them.

The core raises these; only the click face turns them into a message and an exit
status, in one place: `run` in cli/group.py.
"""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit status the program can end with (README "Exit codes", man EXIT STATUS)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    INPUT = 3
    AUTH = 4
    REJECTED = 5
    RATE_LIMITED = 6
    UNAVAILABLE = 7
    INCOMPLETE = 8
    BATCH_FAILED = 9
    NOT_SAVED = 10  # the reply came, but a local file (or stdout) could not be written
    INTERRUPTED = 130
    BROKEN_PIPE = 141


class CohereChatError(Exception):
    """Base of every error the program reports; `exit_code` says how it ends."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(CohereChatError):
    """A bad flag, nothing to send, a missing key or a refused URL."""

    exit_code = ExitCode.USAGE


class InputError(CohereChatError):
    """Bad input data; names its source (and line, when there is one)."""

    exit_code = ExitCode.INPUT

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line


class JSONLineError(InputError):
    """A line of JSONL that is not JSON (at the end of a file, perhaps a torn write)."""


class APIError(CohereChatError):
    """An HTTP error answer from the API."""

    def __init__(
        self,
        status: int,
        message: str,
        error_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        text = f"HTTP {status}: {message}"
        if error_id:
            text += f" (id {error_id})"
        super().__init__(text, hint)
        self.status = status
        self.api_message = message
        self.error_id = error_id


class AuthError(APIError):
    exit_code = ExitCode.AUTH


class RejectedError(APIError):
    exit_code = ExitCode.REJECTED


class RateLimitError(APIError):
    exit_code = ExitCode.RATE_LIMITED


class ServiceError(APIError):
    """5xx, 408 or 409 once the retries are spent (501 and 505 at once: not retried)."""

    exit_code = ExitCode.UNAVAILABLE


class NetworkError(CohereChatError):
    """No usable answer: refused, reset, timed out, or a body that is not the API's."""

    exit_code = ExitCode.UNAVAILABLE


class IncompleteReplyError(CohereChatError):
    """A stream that stopped before `message-end`; what was printed stays."""

    exit_code = ExitCode.UNAVAILABLE


class TimeLimitError(CohereChatError):
    """--max-time passed: the send (or the batch line) stopped where it was; what was
    printed stays."""

    exit_code = ExitCode.UNAVAILABLE

    def __init__(self, limit: float, during: str) -> None:
        super().__init__(f"stopped after --max-time {limit:g}s ({during})")
        self.limit = limit


class LockTimeoutError(CohereChatError):
    """Another run held the conversation's lock for longer than --lock-timeout."""

    exit_code = ExitCode.UNAVAILABLE


class GenerationError(CohereChatError):
    """The model ended with `finish_reason` ERROR or TIMEOUT."""

    exit_code = ExitCode.INCOMPLETE


class ToolRoundsError(CohereChatError):
    """The model still asked for tools when --max-tool-rounds ran out."""

    exit_code = ExitCode.INCOMPLETE


class LocalWriteError(CohereChatError):
    """A local write failed after a paid request (disk full, read-only, /dev/full): the
    reply was shown where it could be, the file named was left as it was."""

    exit_code = ExitCode.NOT_SAVED


class InterruptError(CohereChatError):
    """Ctrl-C: stop at once, quietly."""

    exit_code = ExitCode.INTERRUPTED


class OutputClosedError(CohereChatError):
    """The reader of stdout went away (broken pipe): stop quietly, as SIGPIPE would."""

    exit_code = ExitCode.BROKEN_PIPE


RETRIED_STATUSES = frozenset({408, 409, 429})
NOT_TRANSIENT = frozenset({501, 505})  # Not Implemented, HTTP Version Not Supported
AUTH_STATUSES = frozenset({401, 403, 498})
AUTH_HINT = "check the API key (CO_API_KEY or --api-key-file)"
MONTHLY_LIMIT_HINT = ("the key's monthly trial limit of API calls is spent, which no retry "
                      "or wait clears before next month: use a production key "
                      "(https://dashboard.cohere.com/api-keys)")


def is_retried_status(status: int) -> bool:
    """Whether an HTTP status is worth another attempt (man RETRIES): 408, 409, 429 and
    5xx, but not 501 or 505, which say the server will never do this request."""
    return status in RETRIED_STATUSES or (status >= 500 and status not in NOT_TRANSIENT)


def status_hint(status: int, where: str = "the base URL") -> str:
    """The next step for a final HTTP status, in one line. `where` names the base URL
    and where it came from ("http://... (from flag --base-url)"); never the key."""
    if status in (401, 498):
        return AUTH_HINT
    if status == 403:
        return ("the key is valid but may not do this: check its plan and permissions, "
                "and the model (cohere-chat models)")
    if status == 404:
        return (f"check the model name (cohere-chat models) and {where}, "
                "which must not end in /v2")
    if status == 429:
        return "rate limited: slow down, or raise --retries/--max-wait"
    if status == 413:
        return "the request is too large: send fewer or smaller documents, images or turns"
    if status in NOT_TRANSIENT:
        return f"the server does not support this request (not retried): check {where}"
    if status in RETRIED_STATUSES or status >= 500:
        return "the service failed or was busy: try again later, or raise --retries/--max-wait"
    return "the API refused the request as sent: --dry-run prints the body"


def error_for_status(
    status: int, message: str, error_id: str | None = None, where: str = "the base URL",
    monthly_limit: bool = False,
) -> APIError:
    """The typed error for a final (not retried, or retries spent) HTTP status, with its
    hint (`status_hint`; a 429 whose monthly trial limit is spent has its own)."""
    hint = MONTHLY_LIMIT_HINT if monthly_limit else status_hint(status, where)
    if status in AUTH_STATUSES:
        return AuthError(status, message, error_id, hint)
    if status == 429:
        return RateLimitError(status, message, error_id, hint)
    if status in RETRIED_STATUSES or status >= 500:
        return ServiceError(status, message, error_id, hint)
    return RejectedError(status, message, error_id, hint)
