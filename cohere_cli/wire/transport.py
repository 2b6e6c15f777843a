"""What the one HTTP call (api_client.py) needs to know about requests, urllib3 and
sockets: the errors a broken connection raises and their causes in words, the socket a
body is read from, the proxies a URL may go through, and the text of a body.

Nothing here sees a secret: the client hides them (redact.py) before any text from here
is shown."""
from __future__ import annotations

import http.client
import re
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from cohere_cli.base.errors import NetworkError
from cohere_cli.wire.connection import is_loopback

if TYPE_CHECKING:
    import requests


def parse_error_body(body: bytes, reason: str) -> tuple[str, str | None]:
    """The API's own `message` and `id`, or a short description of a body that is not JSON."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        error_id = data.get("id")
        return data["message"], error_id if isinstance(error_id, str) else None
    text = re.sub(r"<[^>]*>", " ", body.decode("utf-8", "replace"))
    text = " ".join(text.split())[:120]
    if not text:
        return reason or "no message", None
    return f"{reason or 'error'} (not the API's JSON: {text})", None


def parse_json_body(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        snippet = " ".join(raw[:80].decode("utf-8", "replace").split())
        raise NetworkError(f"the API answered with a body that is not JSON: {snippet!r}") from None


def proxies_for(url: str) -> Any:
    """None (requests' own: the environment's proxies), or no proxy at all for a loopback
    host: the key never goes through a proxy in clear text (plain http is loopback only)."""
    host = urlsplit(url).hostname or ""
    return dict.fromkeys(("http", "https", "all")) if is_loopback(host) else None


def socket_of(response: requests.Response) -> socket.socket | None:
    """The socket a response is read from (http.client's reader in urllib3's response),
    or None where it cannot be found: reads then wait at most the timeout set when the
    attempt began."""
    reader = getattr(getattr(response.raw, "_fp", None), "fp", None)
    sock = getattr(getattr(reader, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def transport_errors() -> tuple[type[BaseException], ...]:
    """What a broken connection raises while a body is read; anything else is a bug."""
    import requests
    import urllib3

    return (requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
            http.client.HTTPException, OSError)


def causes(exc: BaseException) -> list[BaseException]:
    """`exc` and every exception behind it (urllib3 keeps the real one in its args)."""
    found: list[BaseException] = []
    reason: BaseException | None = exc
    while reason is not None and all(reason is not seen for seen in found):
        found.append(reason)
        inner = reason.__cause__ or reason.__context__
        reason = inner or next((a for a in reason.args if isinstance(a, BaseException)), None)
    return found


def incomplete_read(exc: BaseException) -> tuple[int, int] | None:
    """(bytes read, bytes announced) when a body with a known length was cut short."""
    import urllib3

    for cause in causes(exc):
        if isinstance(cause, (urllib3.exceptions.IncompleteRead, http.client.IncompleteRead)):
            got = cause.partial if isinstance(cause.partial, int) else len(cause.partial)
            if isinstance(cause.expected, int):
                return got, got + cause.expected
    return None


def short(exc: BaseException) -> str:
    """A one-line reason from the innermost cause (never a header, never urllib3's repr;
    it may quote what the server sent: the client hides secrets in it)."""
    reason = causes(exc)[-1]
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    text = str(reason).split(": ", 1)[-1] if ": " in str(reason) else str(reason)
    text = re.sub(r"\(Caused by .*", "", text).strip(" :(),'\"")
    return text.splitlines()[0][:200] if text else type(reason).__name__
