"""HTTP to the API (chat, models, the Batch API): headers, authentication, timeouts and
the one retry loop (README: Reliability).

`requests` is imported here, lazily, so that `--help` and `--version` never load it.
"""
from __future__ import annotations

import http.client
import re
import socket
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from cohere_cli import __version__
from cohere_cli.base.errors import APIError, Fault, IncompleteReplyError, NetworkError
from cohere_cli.wire.connection import Connection, check_base_url, is_loopback
from cohere_cli.wire.deadline import NO_DEADLINE, Deadline
from cohere_cli.wire.pacing import Pacer
from cohere_cli.wire.retry import asks_everyone_to_wait, monthly_limit_spent, retry_wait
from cohere_cli.wire.status import error_for_status, is_retried_status

if TYPE_CHECKING:
    import requests

CONNECT_TIMEOUT = 10.0
CHUNK_SIZE = 65536
USER_AGENT = f"cohere-chat/{__version__}"
Log = Callable[[str], None]


def _silent(_: str) -> None:
    return None


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


def client_headers(client_name: str) -> dict[str, str]:
    """The headers of every JSON request to the API (the key is added per request)."""
    return {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
        "X-Client-Name": client_name,
    }


class ApiClient:
    """One pooled HTTP session to the API; `request` is the one retry loop (README:
    Reliability). The URL and the key are checked here, before anything is sent."""

    def __init__(
        self, connection: Connection, log: Log = _silent, pacer: Pacer | None = None
    ) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        check_base_url(connection.base_url)
        connection.key.reveal()  # a missing or unusable key stops here, not mid-batch
        self._connection = connection
        self._log = log
        self._session = requests.Session()
        self._session.headers.update(client_headers(connection.client_name))
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=connection.pool_size)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._pacer = pacer
        # An explicit --ca-bundle outranks $REQUESTS_CA_BUNDLE; None lets requests read it.
        self._verify: str | None = connection.ca_bundle
        # The key never goes through a proxy in clear text: plain http is loopback only.
        host = urlsplit(connection.base_url).hostname or ""
        self._proxies: Any = dict.fromkeys(("http", "https", "all")) if is_loopback(host) else None

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _url(self, path: str) -> str:
        return self._connection.base_url + path

    def request(
        self, method: str, path: str, body: bytes | None = None,
        params: Mapping[str, str] | None = None, stream: bool = False,
        deadline: Deadline = NO_DEADLINE,
    ) -> requests.Response:
        """Send, retrying as the policy allows; the response is 2xx, else a typed error.

        Only a failure before any answer, or a retried status, is sent again: a request
        that got a 200 is never sent twice, whatever then happens to its body. With a
        `deadline` (--max-time), each attempt waits at most the time left and a retry
        whose wait would end past it is not waited for: TimeLimitError."""
        retries = self._connection.retries
        attempt = 0
        while True:
            if self._pacer is not None:
                self._pacer.before_attempt()
            deadline.start()  # a batch line's clock starts once --rpm lets it go
            deadline.check("before the request could be sent")
            outcome = self._attempt(method, path, body, params, stream, deadline)
            response = outcome.response
            if response is not None and response.status_code < 400:
                return response
            if response is not None and (
                    attempt == retries or not is_retried_status(response.status_code)
                    or monthly_limit_spent(response.status_code, outcome.error_body)):
                raise self._error(response, outcome.error_body)
            if deadline.passed():
                raise deadline.error(f"after {outcome.reason}" if response is not None
                                     else f"no answer yet from {self._host()}")
            if attempt == retries:
                raise outcome.failure or NetworkError(outcome.reason)
            headers = response.headers if response is not None else {}
            wait = retry_wait(headers, attempt, self._connection.max_wait)
            attempt += 1
            fits = deadline.cap(wait) == wait  # else the retry would start past --max-time
            if fits:
                self._log(f"retry {attempt}/{retries} in {wait:.2f}s after {outcome.reason}")
            if self._pacer is not None and response is not None and asks_everyone_to_wait(
                    response.status_code, response.headers):
                self._pacer.pause(wait)  # every request of the batch waits, not only this one
            elif fits:
                time.sleep(wait)
            if not fits:
                raise deadline.error(f"the retry after {outcome.reason} would wait {wait:.2f}s")

    def _attempt(
        self, method: str, path: str, body: bytes | None,
        params: Mapping[str, str] | None, stream: bool, deadline: Deadline,
    ) -> _Outcome:
        import requests

        headers = {"Authorization": f"Bearer {self._connection.key.reveal()}"}
        if stream:
            headers["Accept"] = "text/event-stream"
            headers["Accept-Encoding"] = "identity"
        size = f" ({len(body)} bytes)" if body is not None else ""
        self._log(f"{method} {self._url(path)}{size}")
        started = time.monotonic()
        timeout = (deadline.cap(CONNECT_TIMEOUT), deadline.cap(self._connection.timeout))
        try:
            response = self._session.request(
                method, self._url(path), data=body, params=params, headers=headers,
                timeout=timeout, stream=True, verify=self._verify, proxies=self._proxies,
            )
        except requests.exceptions.SSLError as exc:
            raise NetworkError(f"TLS error talking to {self._host()}: {_short(exc)}",
                               fault=Fault.TLS) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            failure = self._failure(exc)
            return _Outcome(None, failure.message, failure=failure)
        elapsed = time.monotonic() - started
        self._log(f"HTTP {response.status_code} in {elapsed:.3f}s")
        outcome = _Outcome(response, f"HTTP {response.status_code}")
        if response.status_code >= 400:  # read the error body before the connection goes back
            try:
                outcome.error_body = response.content
            except _transport_errors():
                response.close()
        return outcome

    def _failure(self, exc: Exception) -> NetworkError:
        """What went wrong before any answer: the error raised if the retries run out
        (its message names the failure, its hint or fault the next step)."""
        import requests

        host = self._host()
        unreached = f"is a server listening there? check {self._base_url_origin()}"
        if isinstance(exc, requests.ConnectTimeout):
            return NetworkError(f"cannot reach {host}: no connection within "
                                f"{CONNECT_TIMEOUT:g}s", unreached)
        if isinstance(exc, requests.Timeout):
            return NetworkError(f"the server at {host} accepted the connection but sent "
                                f"nothing for {self._connection.timeout:g}s "
                                f"({self._connection.timeout_name})", fault=Fault.SILENT)
        causes = _causes(exc)
        if any(isinstance(cause, ConnectionResetError) for cause in causes):
            return NetworkError(f"the server at {host} reset the connection without "
                                "answering", fault=Fault.DROPPED)
        if any(isinstance(cause, http.client.RemoteDisconnected) for cause in causes):
            return NetworkError(f"the server at {host} closed the connection without "
                                "answering", fault=Fault.DROPPED)
        return NetworkError(f"cannot reach {host}: {_short(exc)}", unreached)

    def _host(self) -> str:
        return urlsplit(self._connection.base_url).netloc

    def _base_url_origin(self) -> str:
        """The base URL and the setting it came from, for a hint (never the key)."""
        source = self._connection.base_url_source
        source = "the built-in default" if source == "built-in default" else source
        parts = urlsplit(self._connection.base_url)
        shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # no user:pass
        return f"the base URL {shown} (from {source})"

    def _error(self, response: requests.Response, body: bytes) -> APIError:
        message, error_id = parse_error_body(body, response.reason or "")
        return error_for_status(response.status_code, message, error_id,
                                self._base_url_origin(),
                                monthly_limit_spent(response.status_code, body))

    def _read_body(self, response: requests.Response, deadline: Deadline = NO_DEADLINE) -> bytes:
        """A whole 200 body; a transport fault while reading it is a NetworkError, in words."""
        try:
            if deadline.left() is None:
                return response.content
            return b"".join(self._within(deadline, response, response.iter_content(CHUNK_SIZE),
                                         "the reply was still arriving"))
        except _transport_errors() as exc:
            if deadline.passed():
                raise deadline.error("the reply was still arriving") from None
            cut = _incomplete_read(exc)
            if cut is not None:
                got, total = cut
                raise NetworkError(f"the connection was cut after {got} of {total} bytes "
                                   "of the reply") from None
            raise NetworkError(f"the reply was cut short ({self._why(exc)})") from None
        finally:
            response.close()

    def _why(self, exc: BaseException) -> str:
        """Why a body stopped arriving, in words."""
        causes = _causes(exc)
        if any(isinstance(cause, TimeoutError) for cause in causes):
            return (f"nothing more arrived within {self._connection.timeout_name} "
                    f"{self._connection.timeout:g}s")
        if any(isinstance(cause, ConnectionResetError) for cause in causes):
            return "the connection was reset"
        return "the connection closed"

    def post_json(
        self, path: str, payload: Any, deadline: Deadline = NO_DEADLINE
    ) -> tuple[bytes, Any]:
        """A non-streamed call: the body's bytes exactly as received, and their parsed value."""
        response = self.request("POST", path, orjson.dumps(payload), deadline=deadline)
        raw = self._read_body(response, deadline)
        return raw, parse_json_body(raw)

    def get_json(
        self, path: str, params: Mapping[str, str], deadline: Deadline = NO_DEADLINE
    ) -> Any:
        response = self.request("GET", path, params=params, deadline=deadline)
        return parse_json_body(self._read_body(response, deadline))

    def post_stream(
        self, path: str, payload: Any, deadline: Deadline = NO_DEADLINE
    ) -> Generator[bytes, None, None] | bytes:
        """A streamed call (retried only before its answer): a generator of the body's
        chunks as they arrive, or the whole body's bytes when the server answered with
        JSON instead of a stream."""
        response = self.request("POST", path, orjson.dumps(payload), stream=True,
                                deadline=deadline)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type == "application/json" or media_type.endswith("+json"):
            return self._read_body(response, deadline)
        return self._chunks(response, deadline)

    def _within(
        self, deadline: Deadline, response: requests.Response, pieces: Iterator[bytes],
        during: str,
    ) -> Iterator[bytes]:
        """`pieces` of a body, each read waiting at most the time left (the socket's
        timeout is lowered before each read); past the limit, TimeLimitError."""
        sock = _socket_of(response)
        while True:
            deadline.check(during)
            if sock is not None and deadline.left() is not None:
                with suppress(OSError):
                    sock.settimeout(deadline.cap(self._connection.timeout))
            piece = next(pieces, None)
            if piece is None:
                return
            yield piece

    def _chunks(
        self, response: requests.Response, deadline: Deadline
    ) -> Generator[bytes, None, None]:
        """Each piece of a streamed body as soon as it arrives. Close the generator to stop
        reading (the connection is then closed, not waited on); a transport fault is an
        IncompleteReplyError that says what happened."""
        raw = response.raw
        during = "the reply was still streaming: it is incomplete"
        try:
            if raw.chunked and raw.supports_chunked_reads():
                pieces: Iterator[bytes] = raw.read_chunked(decode_content=True)
            else:
                pieces = iter(lambda: raw.read1(CHUNK_SIZE), b"")
            yield from self._within(deadline, response, pieces, during)
        except _transport_errors() as exc:
            if deadline.passed():
                raise deadline.error(during) from None
            raise IncompleteReplyError(
                f"the stream stopped before the reply was complete ({self._why(exc)})"
            ) from None
        finally:
            response.close()


@dataclass
class _Outcome:
    """One attempt: the answer (None when there was none) and what to call it in words."""

    response: requests.Response | None
    reason: str  # "HTTP 503", or the failure in words
    error_body: bytes = b""  # a 4xx/5xx answer's body, read before the connection goes back
    failure: NetworkError | None = None  # no answer: raised when the retries run out


def _socket_of(response: requests.Response) -> socket.socket | None:
    """The socket a response is read from (http.client's reader in urllib3's response),
    or None where it cannot be found: reads then wait at most the timeout set when the
    attempt began."""
    reader = getattr(getattr(response.raw, "_fp", None), "fp", None)
    sock = getattr(getattr(reader, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _transport_errors() -> tuple[type[BaseException], ...]:
    """What a broken connection raises while a body is read; anything else is a bug."""
    import requests
    import urllib3

    return (requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
            http.client.HTTPException, OSError)


def parse_json_body(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        snippet = " ".join(raw[:80].decode("utf-8", "replace").split())
        raise NetworkError(f"the API answered with a body that is not JSON: {snippet!r}") from None


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and every exception behind it (urllib3 keeps the real one in its args)."""
    found: list[BaseException] = []
    reason: BaseException | None = exc
    while reason is not None and all(reason is not seen for seen in found):
        found.append(reason)
        inner = reason.__cause__ or reason.__context__
        reason = inner or next((a for a in reason.args if isinstance(a, BaseException)), None)
    return found


def _incomplete_read(exc: BaseException) -> tuple[int, int] | None:
    """(bytes read, bytes announced) when a body with a known length was cut short."""
    import urllib3

    for cause in _causes(exc):
        if isinstance(cause, (urllib3.exceptions.IncompleteRead, http.client.IncompleteRead)):
            got = cause.partial if isinstance(cause.partial, int) else len(cause.partial)
            if isinstance(cause.expected, int):
                return got, got + cause.expected
    return None


def _short(exc: BaseException) -> str:
    """A one-line reason from the innermost cause (never a header, never urllib3's repr)."""
    reason = _causes(exc)[-1]
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    text = str(reason).split(": ", 1)[-1] if ": " in str(reason) else str(reason)
    text = re.sub(r"\(Caused by .*", "", text).strip(" :(),'\"")
    return text.splitlines()[0][:200] if text else type(reason).__name__
