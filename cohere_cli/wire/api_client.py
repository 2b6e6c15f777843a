"""The one HTTP path: every request the program makes goes through `ApiClient._send`
(README: Reliability; docs/reliability.md, "One HTTP path").

Chat (streamed or not), the model list, dataset uploads and reads, batches, and the
output parts' signed URLs: whatever the request, `_send`
- sends the key only where it may go (connection.py) and the client's headers
  (`api_headers`; a signed URL gets neither: its query is its authority);
- retries as the policy allows (retry.py, status.py): only a failure before any answer,
  or a retried status, is sent again;
- keeps within the request's Deadline (--max-time): the connect and each read wait at
  most the time left, a body is read no longer, a retry whose wait would end past it is
  not waited for (TimeLimitError, exit 7);
- hides every secret it sends (Connection.secrets) in everything a server returns --
  each body, streamed or not, error messages, reason phrases, the words of a transport
  error -- before any of it reaches the caller (redact.py).
Listings follow their pages through paginate.py.

`requests` is imported here, lazily, so that `--help` and `--version` never load it.
"""
from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Generator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from cohere_cli import __version__
from cohere_cli.base.errors import (
    APIError,
    CohereChatError,
    Fault,
    NetworkError,
    TimeLimitError,
)
from cohere_cli.wire.bodies import BodyReader
from cohere_cli.wire.connection import Connection, check_connection
from cohere_cli.wire.deadline import NO_DEADLINE, Deadline
from cohere_cli.wire.headers import api_session
from cohere_cli.wire.pacing import Pacer
from cohere_cli.wire.redact import Redactor
from cohere_cli.wire.retry import asks_everyone_to_wait, monthly_limit_spent, retry_wait
from cohere_cli.wire.status import error_for_status, is_retried_status
from cohere_cli.wire.transport import (
    causes,
    parse_error_body,
    parse_json_body,
    proxies_for,
    short,
)

if TYPE_CHECKING:
    import requests

__all__ = ["ApiClient", "api_headers", "parse_json_body"]

CONNECT_TIMEOUT = 10.0
ERROR_BODY_LIMIT = 1 << 20  # of an error answer, only this much is read
USER_AGENT = f"cohere-chat/{__version__}"
SIGNED_HEADERS = {"User-Agent": USER_AGENT}  # all a signed URL is sent
Log = Callable[[str], None]
Body = bytes | Callable[[], Any] | None  # bytes, or a maker of a fresh body per attempt


def _silent(_: str) -> None:
    return None


def api_headers(connection: Connection) -> dict[str, str]:
    """The headers of every request to the API (never of a signed part URL or a
    download): the client's, each --header, and the key as a Bearer token unless
    --no-auth. Reading the key here stops a missing or unusable one before anything is
    sent."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
        "X-Client-Name": connection.client_name,
        **dict(connection.headers),
    }
    if connection.auth:
        headers["Authorization"] = f"Bearer {connection.key.reveal()}"
    return headers


def named_headers(connection: Connection) -> str:
    """For a -v request line: the names of the --header headers it carries (never their
    values), or nothing."""
    names = ", ".join(name for name, _ in connection.headers)
    return f" [headers: {names}]" if names else ""


@dataclass(frozen=True, eq=False)
class _Call:
    """One request, as `_send` makes it, attempt after attempt."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: Body = None
    params: Mapping[str, str] | None = None
    retries: int = 0
    signed: bool = False  # a signed URL: no key was sent, its errors are not the API's


@dataclass(eq=False)
class _Outcome:
    """One attempt: the answer (None when there was none) and what to call it in words."""

    response: requests.Response | None
    reason: str  # "HTTP 503", or the failure in words
    error_body: bytes = b""  # a 4xx/5xx answer's body (hidden), read before the next try
    failure: NetworkError | None = None  # no answer: raised when the retries run out


class ApiClient:
    """One pooled HTTP session; every request goes through `_send`. The URL and the key
    are checked here, before anything is sent."""

    def __init__(
        self, connection: Connection, log: Log = _silent, pacer: Pacer | None = None
    ) -> None:
        from requests.adapters import HTTPAdapter

        check_connection(connection)
        self._headers = api_headers(connection)
        self.redactor = Redactor(connection.secrets())
        self._bodies = BodyReader(connection, self.redactor)
        self._connection = connection
        self._log = log
        self._session = api_session([name for name, _ in connection.headers])
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=connection.pool_size)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._pacer = pacer
        # An explicit --ca-bundle outranks $REQUESTS_CA_BUNDLE; None lets requests read it.
        self._verify: str | None = connection.ca_bundle

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self, method: str, path: str, body: Body = None, *,
        params: Mapping[str, str] | None = None, stream: bool = False,
        deadline: Deadline = NO_DEADLINE, retries: int | None = None,
        content_type: str = "application/json",
    ) -> requests.Response:
        """A request to the API (PATH under the base URL), with the key; the response is
        2xx, else a typed error. `retries`: the connection's unless given (0: sent once)."""
        headers = {**self._headers, "Content-Type": content_type}
        if stream:
            headers.update({"Accept": "text/event-stream", "Accept-Encoding": "identity"})
        tries = self._connection.retries if retries is None else retries
        call = _Call(method, self._connection.base_url + path, headers, body, params, tries)
        return self._send(call, deadline)

    def _send(self, call: _Call, deadline: Deadline) -> requests.Response:
        """Send, retrying as the policy allows; the response is 2xx, else a typed error.

        Only a failure before any answer, or a retried status, is sent again: a request
        that got a 200 is never sent twice, whatever then happens to its body. With a
        `deadline` (--max-time), each attempt waits at most the time left and a retry
        whose wait would end past it is not waited for: TimeLimitError."""
        attempt = 0
        while True:
            if self._pacer is not None:
                self._pacer.before_attempt()
            deadline.start()  # a batch line's clock starts once --rpm lets it go
            deadline.check("before the request could be sent")
            outcome = self._attempt(call, deadline)
            response = outcome.response
            if response is not None and response.status_code < 400:
                return response
            if response is not None and (
                    attempt == call.retries or not is_retried_status(response.status_code)
                    or monthly_limit_spent(response.status_code, outcome.error_body)):
                raise self._error(call, response, outcome.error_body)
            if deadline.passed():
                raise deadline.error(f"after {outcome.reason}" if response is not None
                                     else f"no answer yet from {_host(call.url)}")
            if attempt == call.retries:
                raise outcome.failure or NetworkError(outcome.reason)
            headers = response.headers if response is not None else {}
            wait = retry_wait(headers, attempt, self._connection.max_wait)
            attempt += 1
            fits = deadline.cap(wait) == wait  # else the retry would start past --max-time
            if fits:
                self._log(f"retry {attempt}/{call.retries} in {wait:.2f}s after "
                          f"{outcome.reason}")
            if self._pacer is not None and response is not None and asks_everyone_to_wait(
                    response.status_code, response.headers):
                self._pacer.pause(wait)  # every request of the batch waits, not only this one
            elif fits:
                time.sleep(wait)
            if not fits:
                raise deadline.error(f"the retry after {outcome.reason} would wait {wait:.2f}s")

    def _attempt(self, call: _Call, deadline: Deadline) -> _Outcome:
        import requests

        body = call.body() if callable(call.body) else call.body
        size = getattr(body, "len", None) if not isinstance(body, bytes) else len(body)
        named = "" if call.signed else named_headers(self._connection)
        self._log(f"{call.method} {_shown(call.url)}" + (f" ({size} bytes)" if size else "")
                  + named)
        started = time.monotonic()
        timeout = (deadline.cap(CONNECT_TIMEOUT), deadline.cap(self._connection.timeout))
        try:
            response = self._session.request(
                call.method, call.url, data=body, params=call.params, headers=call.headers,
                timeout=timeout, stream=True, verify=self._verify, proxies=proxies_for(call.url),
            )
        except requests.exceptions.SSLError as exc:
            raise NetworkError(f"TLS error talking to {_host(call.url)}: "
                               f"{self.redactor.hide_text(short(exc))}", fault=Fault.TLS) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            failure = self._failure(call, exc)
            return _Outcome(None, failure.message, failure=failure)
        except requests.RequestException as exc:  # a URL or header requests will not send
            raise NetworkError(f"cannot send the request to {_host(call.url)}: "
                               f"{self.redactor.hide_text(short(exc))}") from None
        elapsed = time.monotonic() - started
        self._log(f"HTTP {response.status_code} in {elapsed:.3f}s")
        outcome = _Outcome(response, f"HTTP {response.status_code}")
        if response.status_code >= 400:  # read the error body before the connection goes back
            with suppress(NetworkError, TimeLimitError):
                outcome.error_body = self.read(response, deadline, "an error answer was "
                                               "still arriving", ERROR_BODY_LIMIT)
        return outcome

    def _failure(self, call: _Call, exc: Exception) -> NetworkError:
        """What went wrong before any answer: the error raised if the retries run out
        (its message names the failure, its hint or fault the next step)."""
        import requests

        host = _host(call.url)
        unreached = None if call.signed else (f"is a server listening there? check "
                                              f"{self._base_url_origin()}")
        if isinstance(exc, requests.ConnectTimeout):
            return NetworkError(f"cannot reach {host}: no connection within "
                                f"{CONNECT_TIMEOUT:g}s", unreached)
        if isinstance(exc, requests.Timeout):
            return NetworkError(f"the server at {host} accepted the connection but sent "
                                f"nothing for {self._connection.timeout:g}s "
                                f"({self._connection.timeout_name})", fault=Fault.SILENT)
        found = causes(exc)
        if any(isinstance(cause, ConnectionResetError) for cause in found):
            return NetworkError(f"the server at {host} reset the connection without "
                                "answering", fault=Fault.DROPPED)
        if any(isinstance(cause, http.client.RemoteDisconnected) for cause in found):
            return NetworkError(f"the server at {host} closed the connection without "
                                "answering", fault=Fault.DROPPED)
        return NetworkError(f"cannot reach {host}: {self.redactor.hide_text(short(exc))}",
                            unreached)

    def _base_url_origin(self) -> str:
        """The base URL and the setting it came from, for a hint (never the key)."""
        source = self._connection.base_url_source
        source = "the built-in default" if source == "built-in default" else source
        parts = urlsplit(self._connection.base_url)
        shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # no user:pass
        return f"the base URL {shown} (from {source})"

    def _error(self, call: _Call, response: requests.Response, body: bytes) -> CohereChatError:
        """The error of a final status: a typed APIError, or for a signed URL (not the
        API) a NetworkError that says its status and message."""
        message, error_id = parse_error_body(body, self.redactor.hide_text(response.reason or ""))
        if call.signed:
            return NetworkError(f"HTTP {response.status_code}: {message}")
        error: APIError = error_for_status(
            response.status_code, message, error_id, self._base_url_origin(),
            monthly_limit_spent(response.status_code, body))
        return error

    def read(
        self, response: requests.Response, deadline: Deadline = NO_DEADLINE,
        during: str = "the reply was still arriving", limit: int | None = None,
    ) -> bytes:
        """A whole body (at most `limit` bytes), every secret hidden (bodies.py)."""
        return self._bodies.read(response, deadline, during, limit)

    def call_json(
        self, method: str, path: str, payload: Any = None, *,
        params: Mapping[str, str] | None = None, deadline: Deadline = NO_DEADLINE,
        retries: int | None = None,
    ) -> tuple[bytes, Any]:
        """A JSON call (PAYLOAD as its body, unless None): the body's bytes as received
        (secrets hidden), and their parsed value."""
        body = None if payload is None else orjson.dumps(payload)
        response = self.request(method, path, body, params=params, deadline=deadline,
                                retries=retries)
        raw = self.read(response, deadline)
        return raw, parse_json_body(raw)

    def post_json(
        self, path: str, payload: Any, deadline: Deadline = NO_DEADLINE
    ) -> tuple[bytes, Any]:
        """A non-streamed call: the body's bytes as received, and their parsed value."""
        return self.call_json("POST", path, payload, deadline=deadline)

    def get_json(self, path: str, params: Mapping[str, str] | None = None,
                 deadline: Deadline = NO_DEADLINE) -> Any:
        return self.call_json("GET", path, params=params, deadline=deadline)[1]

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
            return self.read(response, deadline)
        return self._bodies.chunks(response, deadline)

    def download(self, url: str, write: Callable[[bytes], object],
                 deadline: Deadline = NO_DEADLINE, limit: int | None = None) -> int:
        """A signed URL's body (sent no key and no client header) handed to WRITE as it
        arrives, every secret hidden with the body's length kept; its size."""
        call = _Call("GET", url, SIGNED_HEADERS, retries=self._connection.retries,
                     signed=True)
        return self._bodies.save(self._send(call, deadline), write, deadline, limit)


def _host(url: str) -> str:
    return urlsplit(url).netloc.rpartition("@")[2]


def _shown(url: str) -> str:
    """A URL as the log shows it: no user:pass, no query (a signed URL's signature)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{_host(url)}{parts.path}"
