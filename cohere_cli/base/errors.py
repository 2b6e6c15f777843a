"""Exit codes and the typed errors that carry them.

The core raises these; only the click face turns them into a message and an exit
status, in one place: `run` in cli/group.py, with the hint that names a flag from
cli/hints.py (an error here says what happened: its status, its `Fault`).
"""
from __future__ import annotations

from enum import Enum, IntEnum


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
    BUDGET = 11  # --max-cost: a budget ran out (what was done is kept)
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
        where: str = "the base URL",
    ) -> None:
        text = f"HTTP {status}: {message}"
        if error_id:
            text += f" (id {error_id})"
        super().__init__(text, hint)
        self.status = status
        self.api_message = message
        self.error_id = error_id
        self.where = where  # the base URL and where it came from, for the face's hint


class AuthError(APIError):
    exit_code = ExitCode.AUTH


class RejectedError(APIError):
    exit_code = ExitCode.REJECTED


class RateLimitError(APIError):
    exit_code = ExitCode.RATE_LIMITED


class ServiceError(APIError):
    """5xx, 408 or 409 once the retries are spent (501 and 505 at once: not retried)."""

    exit_code = ExitCode.UNAVAILABLE


class Fault(Enum):
    """What kind of network failure a NetworkError is, for the face's hint (cli/hints.py):
    the wire says what happened, the face says which setting to change."""

    SILENT = "silent"  # the server took the connection and then sent nothing in time
    DROPPED = "dropped"  # the connection was reset or closed without an answer
    TLS = "tls"  # the certificate could not be checked


class NetworkError(CohereChatError):
    """No usable answer: refused, reset, timed out, or a body that is not the API's."""

    exit_code = ExitCode.UNAVAILABLE

    def __init__(self, message: str, hint: str | None = None,
                 fault: Fault | None = None) -> None:
        super().__init__(message, hint)
        self.fault = fault


class IncompleteReplyError(CohereChatError):
    """A stream that stopped before `message-end`; what was printed stays."""

    exit_code = ExitCode.UNAVAILABLE


class TimeLimitError(CohereChatError):
    """--max-time passed: the send (or the batch line) stopped where it was; what was
    printed stays. `name` is what the user calls the limit (wire/deadline.py)."""

    exit_code = ExitCode.UNAVAILABLE

    def __init__(self, limit: float, during: str, name: str) -> None:
        super().__init__(f"stopped after {name} {limit:g}s ({during})")
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


class BudgetError(CohereChatError):
    """--max-cost: the cost of the finished requests reached the budget, so no new one
    was started; what was done is kept."""

    exit_code = ExitCode.BUDGET


class ContextError(CohereChatError):
    """A request whose own input (system message, preset, new input) is over the model's
    context length: refused before it is sent (exit 5, as the API's 400 would be)."""

    exit_code = ExitCode.REJECTED


class InterruptError(CohereChatError):
    """Ctrl-C: stop at once, quietly."""

    exit_code = ExitCode.INTERRUPTED


class OutputClosedError(CohereChatError):
    """The reader of stdout went away (broken pipe): stop quietly, as SIGPIPE would."""

    exit_code = ExitCode.BROKEN_PIPE
