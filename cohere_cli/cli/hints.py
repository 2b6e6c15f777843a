"""The next step an error's line ends with, where it names a flag: the face's to say.
The wire and the base name no flag; their errors carry what happened (an HTTP status,
a kind of network fault), and `hint_for` turns that into the hint `run` shows."""
from __future__ import annotations

from cohere_cli.base.errors import APIError, CohereChatError, Fault, NetworkError
from cohere_cli.wire.connection import PlainHttpRefused
from cohere_cli.wire.status import NOT_TRANSIENT, RETRIED_STATUSES

PLAIN_HTTP_HINTS = {
    True: "use https, or http only to a loopback host (127.0.0.1, ::1, localhost); "
          "a server that takes no key: --no-auth",
    False: "use https; or, knowing anyone on the way can read them, --insecure-http",
}
AUTH_HINT = "check the API key (CO_API_KEY or --api-key-file)"
FAULT_HINTS = {
    Fault.SILENT: "a slow model or a long prompt may need a larger --timeout",
    Fault.DROPPED: "try again later, or raise --retries",
    Fault.TLS: "for a private CA, give --ca-bundle FILE",
}


def status_hint(status: int, where: str = "the base URL", model: bool = True) -> str:
    """The next step for a final HTTP status, in one line. `where` names the base URL
    and where it came from ("http://... (from flag --base-url)"); never the key. MODEL:
    whether the request named a model (a command with --model), so that the model may
    be the cause. A base URL that ends in /v2 never gets here: it is refused before
    anything is sent (values.base_url)."""
    if status in (401, 498):
        return AUTH_HINT
    if status == 403:
        return ("the key is valid but may not do this: check its plan and permissions"
                + (", and the model (cohere-chat models)" if model else ""))
    if status == 404:
        return f"check the model name (cohere-chat models) and {where}" if model else (
            f"check {where}")
    if status == 429:
        return "rate limited: slow down, or raise --retries/--max-wait"
    if status == 413:
        return "the request is too large: send fewer or smaller documents, images or turns"
    if status in NOT_TRANSIENT:
        return f"the server does not support this request (not retried): check {where}"
    if status in RETRIED_STATUSES or status >= 500:
        return "the service failed or was busy: try again later, or raise --retries/--max-wait"
    return "the API refused the request as sent: --dry-run prints the body"


def hint_for(error: CohereChatError, model: bool = True) -> str | None:
    """The hint of an error's line: its own, else the one its status or fault calls for
    (MODEL: whether the command named a model, see `status_hint`)."""
    if error.hint is not None:
        return error.hint
    if isinstance(error, PlainHttpRefused):
        return PLAIN_HTTP_HINTS[error.key]
    if isinstance(error, APIError):
        return status_hint(error.status, error.where, model)
    if isinstance(error, NetworkError) and error.fault is not None:
        return FAULT_HINTS[error.fault]
    return None
