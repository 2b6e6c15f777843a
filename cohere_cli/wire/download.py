"""A model's tokenizer file from its public URL: https, or plain http only to this
machine; never the key nor a --header; at most `limit` bytes; through the one HTTP path
(ApiClient.download, as a Batch API output part), so --max-time and the retries hold.
"""
from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from cohere_cli.base.errors import APIError, NetworkError, TimeLimitError, UsageError
from cohere_cli.wire.connection import Connection, is_loopback
from cohere_cli.wire.deadline import NO_DEADLINE, Deadline

Log = Callable[[str], None]


def check_download_url(url: str, what: str) -> None:
    """Refuse a URL that is not https, or plain http to this machine (a `file:` URL, a
    URL with no host, plain http elsewhere): UsageError."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise UsageError(f"refusing to download {what}: not a valid URL") from None
    if not host or not (parts.scheme == "https" or (parts.scheme == "http"
                                                    and is_loopback(host))):
        raise UsageError(f"refusing to download {what} from {parts.scheme or '?'}://{host} "
                         "(https only, or http to this machine)")


def download(
    url: str, write: Callable[[bytes], object], connection: Connection, log: Log, *,
    what: str, limit: int | None = None, deadline: Deadline = NO_DEADLINE,
) -> int:
    """GET `url` without the key and without any --header (a tokenizer file), each piece
    of its body handed to `write`, at most `limit` bytes; the body's size. It goes
    through the one HTTP path (ApiClient.download: retries, --max-time, secrets hidden).
    A failure is a NetworkError (a TimeLimitError past the deadline) that names `what`."""
    from cohere_cli.wire.api_client import ApiClient

    check_download_url(url, what)
    size = 0

    def capped(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)
        if limit is not None and size > limit:
            raise NetworkError(f"{what} is more than {limit} bytes")
        write(chunk)

    try:
        with ApiClient(connection, log) as client:
            return client.download(url, capped, deadline, limit)
    except TimeLimitError:
        raise
    except NetworkError as exc:
        text = exc.message.replace("the body is ", f"{what} is ", 1)
        raise NetworkError(text if text != exc.message else
                           f"{what} could not be downloaded: {exc.message}",
                           "run the command again") from None
    except APIError as exc:
        raise NetworkError(f"{what} could not be downloaded: HTTP {exc.status}",
                           "run the command again") from None
