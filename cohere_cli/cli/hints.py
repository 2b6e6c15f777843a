"""The next step an error's line ends with, where it names a flag: the face's to say.
The wire and the base name no flag; their errors carry what happened (an HTTP status,
a kind of network fault), and `hint_for` turns that into the hint `run` shows."""
from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


def install_hint(package: str) -> str:
    """How to add PACKAGE to this very install: `pipx inject` when it runs from a pipx
    virtualenv, else pip run by this interpreter (so it lands where it is imported from)."""
    prefix = Path(sys.prefix)
    if prefix.parent.name == "venvs" and "pipx" in prefix.parent.parent.name:
        return f"install it: pipx inject {shlex.quote(prefix.name)} {package}"
    return f"install it: {shlex.quote(sys.executable)} -m pip install {package}"


def batch_status_hint(status: int, where: str, batch_id: str | None = None,
                      cancel: bool = False) -> str:
    """The next step for a final HTTP status from the Batch API (datasets, batches): no
    model there, and no --dry-run; the batch's ID and `batches` instead."""
    named = f"the batch ID {batch_id}" if batch_id else "the batch or dataset ID"
    if status == 404:
        return f"check {named} (cohere-chat batches list shows the account's batches) and {where}"
    if status == 403:
        return ("the key is valid but may not do this: check its plan and permissions "
                "(the Batch API may not be open to it)")
    if status in (400, 409, 422) and cancel:
        return (f"only a queued or running batch can be canceled: cohere-chat batches show "
                f"{batch_id} gives its status")
    if status in (400, 409, 422):
        return "the Batch API refused the request as sent: -v shows the requests"
    return status_hint(status, where)


@contextmanager
def batch_api_hints(batch_id: str | None = None, cancel: bool = False) -> Iterator[None]:
    """Around every use of the Batch API in the face (`batch --remote`, `batches`): an
    HTTP error without a hint of its own gets the Batch API's (`batch_status_hint`).
    BATCH_ID: the batch the command names; CANCEL: the request is its cancel."""
    try:
        yield
    except APIError as error:
        if error.hint is None:
            error.hint = batch_status_hint(error.status, error.where, batch_id, cancel)
        raise
