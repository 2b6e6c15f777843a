"""Downloads from a public or signed URL (a Batch API output part, a model's tokenizer
file): a plain GET that never carries the key.

The one rule for every such download: https, or plain http only to this machine (no
proxy then); no Authorization header; at most `limit` bytes (a bigger answer is refused,
by its Content-Length or as it arrives); within --timeout between bytes and, with a
deadline (--max-time), each read waiting at most the time left.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

from cohere_cli.base.errors import NetworkError, UsageError
from cohere_cli.wire.api_client import CONNECT_TIMEOUT, USER_AGENT
from cohere_cli.wire.bodies import CHUNK_SIZE
from cohere_cli.wire.connection import Connection, is_loopback
from cohere_cli.wire.deadline import NO_DEADLINE, Deadline
from cohere_cli.wire.transport import socket_of as _socket_of

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


def _size(headers: Any) -> int | None:
    with suppress(TypeError, ValueError):
        return int(headers.get("Content-Length"))
    return None


def download(
    url: str, write: Callable[[bytes], object], connection: Connection, log: Log, *,
    what: str, limit: int | None = None, deadline: Deadline = NO_DEADLINE,
) -> int:
    """GET `url` (without the key), each piece of its body handed to `write` (which
    raises no OSError: it says what failed in its own error); the body's size. A failure
    is a NetworkError (a TimeLimitError past the deadline) that names `what`."""
    import requests

    from cohere_cli.wire.transport import transport_errors as _transport_errors

    check_download_url(url, what)
    parts = urlsplit(url)
    loopback = is_loopback(parts.hostname or "")
    proxies: Any = dict.fromkeys(("http", "https", "all")) if loopback else None
    log(f"GET {parts.scheme}://{parts.netloc}{parts.path}")
    deadline.start()
    during = f"downloading {what}"
    deadline.check(during)
    timeout = (deadline.cap(CONNECT_TIMEOUT), deadline.cap(connection.timeout))
    try:
        with requests.get(url, stream=True, proxies=proxies, headers={"User-Agent": USER_AGENT},
                          timeout=timeout, verify=connection.ca_bundle or True) as response:
            if response.status_code >= 400:
                raise NetworkError(f"{what} could not be downloaded: HTTP "
                                   f"{response.status_code}", "run the command again")
            announced = _size(response.headers)
            if limit is not None and announced is not None and announced > limit:
                raise NetworkError(f"{what} is {announced} bytes: more than {limit}")
            sock = _socket_of(response)
            size = 0
            for chunk in response.iter_content(CHUNK_SIZE):
                deadline.check(during)
                size += len(chunk)
                if limit is not None and size > limit:
                    raise NetworkError(f"{what} is more than {limit} bytes")
                write(chunk)
                if sock is not None and deadline.left() is not None:
                    with suppress(OSError):
                        sock.settimeout(deadline.cap(connection.timeout))
            return size
    except requests.RequestException as exc:
        if deadline.passed():
            raise deadline.error(during) from None
        raise NetworkError(f"{what} could not be downloaded: {type(exc).__name__}",
                           "run the command again") from None
    except _transport_errors() as exc:
        if deadline.passed():
            raise deadline.error(during) from None
        raise NetworkError(f"{what} could not be downloaded: {type(exc).__name__}",
                           "run the command again") from None
