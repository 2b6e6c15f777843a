"""HTTP to the Chat API: headers, authentication, timeouts and retries (spec §7, §9).

`requests` is imported here, lazily, so that `--help` and `--version` never load it.
"""
from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from cohere_cli import __version__
from cohere_cli.config import Settings, check_base_url, is_loopback
from cohere_cli.errors import APIError, NetworkError, error_for_status, is_retried_status
from cohere_cli.pacing import Pacer

if TYPE_CHECKING:
    import requests

CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_WAIT = 60.0
CHUNK_SIZE = 65536
Log = Callable[[str], None]


def _silent(_: str) -> None:
    return None


def retry_wait(
    headers: Mapping[str, str],
    attempt: int,
    max_wait: float,
    now: Callable[[], float] = time.time,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before attempt `attempt + 1`, from the server's headers or backoff."""
    wait: float | None = None
    if headers.get("retry-after-ms"):
        wait = _number(headers["retry-after-ms"], 1000)
    if wait is None and headers.get("retry-after"):
        wait = _number(headers["retry-after"], 1)
        if wait is None:
            wait = _http_date_delay(headers["retry-after"], now)
    if wait is None and headers.get("x-ratelimit-reset"):
        reset = _number(headers["x-ratelimit-reset"], 1)
        wait = None if reset is None else reset - now()
    if wait is None:
        wait = 2.0**attempt * (1 - 0.25 * jitter())
    return max(0.0, min(wait, max_wait))


def _number(text: str, per_second: float) -> float | None:
    try:
        return float(text) / per_second
    except ValueError:
        return None


def _http_date_delay(text: str, now: Callable[[], float]) -> float | None:
    try:
        return parsedate_to_datetime(text).timestamp() - now()
    except (TypeError, ValueError, IndexError):
        return None


def _asks_everyone_to_wait(response: requests.Response | None) -> bool:
    """A 429, or any answer that names a wait, slows every request, not only this one."""
    if response is None:
        return False
    headers = response.headers
    return response.status_code == 429 or any(
        name in headers for name in ("retry-after", "retry-after-ms", "x-ratelimit-reset"))


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


@dataclass(frozen=True)
class Connection:
    """How to reach the API: the settings plus the retry cap and TLS options."""

    settings: Settings
    max_wait: float = DEFAULT_MAX_WAIT
    ca_bundle: str | None = None
    pool_size: int = 10  # connections kept open: at least the number of concurrent requests


class ChatClient:
    """One pooled HTTP session to the API; every call retries as spec §9 says."""

    def __init__(
        self, connection: Connection, log: Log = _silent, pacer: Pacer | None = None
    ) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        settings = connection.settings
        check_base_url(settings.base_url)
        self._key = settings.require_key()
        self._connection = connection
        self._log = log
        self._session = requests.Session()
        self._session.headers.update(self._headers(settings))
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=connection.pool_size)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._pacer = pacer
        # An explicit --ca-bundle outranks $REQUESTS_CA_BUNDLE; None lets requests read it.
        self._verify: str | None = connection.ca_bundle
        # The key never goes through a proxy in clear text: plain http is loopback only.
        host = urlsplit(settings.base_url).hostname or ""
        self._proxies = dict.fromkeys(("http", "https", "all")) if is_loopback(host) else None
        self.attempts = 0  # requests sent so far, retries included

    @staticmethod
    def _headers(settings: Settings) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"cohere-chat/{__version__}",
            "X-Client-Name": settings.client_name,
        }

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _url(self, path: str) -> str:
        return self._connection.settings.base_url + path

    def request(
        self, method: str, path: str, body: bytes | None = None,
        params: Mapping[str, str] | None = None, stream: bool = False,
        retries: int | None = None,
    ) -> requests.Response:
        """Send, retrying as the policy allows; the response is 2xx, else a typed error."""
        if retries is None:
            retries = self._connection.settings.retries
        for attempt in range(retries + 1):
            if self._pacer is not None:
                self._pacer.before_attempt()
            response, reason, headers = self._attempt(method, path, body, params, stream)
            if response is not None and response.status_code < 400:
                return response
            if response is not None and not is_retried_status(response.status_code):
                raise self._error(response)
            if attempt == retries:
                if response is not None:
                    raise self._error(response)
                raise NetworkError(f"cannot reach {self._host()}: {reason}")
            wait = retry_wait(headers, attempt, self._connection.max_wait)
            self._log(f"retry {attempt + 1}/{retries} in {wait:.2f}s after {reason}")
            if self._pacer is not None and _asks_everyone_to_wait(response):
                self._pacer.pause(wait)  # every request of the batch waits, not only this one
            else:
                time.sleep(wait)
        raise AssertionError("unreachable")

    def _attempt(
        self, method: str, path: str, body: bytes | None,
        params: Mapping[str, str] | None, stream: bool,
    ) -> tuple[requests.Response | None, str, Mapping[str, str]]:
        import requests

        headers = {"Authorization": f"Bearer {self._key.reveal()}"}
        if stream:
            headers["Accept"] = "text/event-stream"
            headers["Accept-Encoding"] = "identity"
        size = f" ({len(body)} bytes)" if body is not None else ""
        self._log(f"{method} {self._url(path)}{size}")
        started = time.monotonic()
        timeout = (CONNECT_TIMEOUT, self._connection.settings.timeout)
        self.attempts += 1
        try:
            response = self._session.request(
                method, self._url(path), data=body, params=params, headers=headers,
                timeout=timeout, stream=True, verify=self._verify, proxies=self._proxies,
            )
        except requests.exceptions.SSLError as exc:
            raise NetworkError(f"TLS error talking to {self._host()}: {_short(exc)}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            return None, self._failure(exc), {}
        elapsed = time.monotonic() - started
        self._log(f"HTTP {response.status_code} in {elapsed:.3f}s")
        if response.status_code >= 400:
            response.content  # noqa: B018 -- read the error body before the connection goes back
        return response, f"HTTP {response.status_code}", response.headers

    def _failure(self, exc: Exception) -> str:
        import requests

        if isinstance(exc, requests.ConnectTimeout):
            return f"no connection within {CONNECT_TIMEOUT:g}s"
        if isinstance(exc, requests.Timeout):
            return f"no answer within {self._connection.settings.timeout:g}s"
        return _short(exc)

    def _host(self) -> str:
        return urlsplit(self._connection.settings.base_url).netloc

    def _error(self, response: requests.Response) -> APIError:
        message, error_id = parse_error_body(response.content, response.reason or "")
        return error_for_status(response.status_code, message, error_id)

    def post_json(self, path: str, payload: Any) -> tuple[bytes, Any]:
        """A non-streamed call: the body's bytes exactly as received, and their parsed value."""
        response = self.request("POST", path, orjson.dumps(payload))
        raw = read_body(response)
        return raw, parse_json_body(raw)

    def get_json(self, path: str, params: Mapping[str, str]) -> Any:
        return parse_json_body(read_body(self.request("GET", path, params=params)))

    def post_stream(self, path: str, payload: Any, retries: int | None = None) -> Iterator[bytes]:
        """A streamed call: the body's chunks as they arrive (retried only before them)."""
        response = self.request("POST", path, orjson.dumps(payload), stream=True, retries=retries)
        return iter_chunks(response)


def read_body(response: requests.Response) -> bytes:
    import requests

    try:
        return response.content
    except (requests.RequestException, OSError) as exc:
        raise NetworkError(f"the reply was cut short: {_short(exc)}") from None


def parse_json_body(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        snippet = " ".join(raw[:80].decode("utf-8", "replace").split())
        raise NetworkError(f"the API answered with a body that is not JSON: {snippet!r}") from None


def iter_chunks(response: requests.Response) -> Iterator[bytes]:
    """Each piece of a streamed body as soon as it arrives; transport faults → NetworkError."""
    raw = response.raw
    try:
        if raw.chunked and raw.supports_chunked_reads():
            yield from raw.read_chunked(decode_content=True)
        else:
            while chunk := raw.read1(CHUNK_SIZE):
                yield chunk
    except Exception as exc:  # urllib3 and socket errors alike: the stream broke
        raise NetworkError(f"the connection broke: {_short(exc)}") from None
    finally:
        response.close()


def _short(exc: BaseException) -> str:
    """A one-line reason from the innermost cause (never a header, never urllib3's repr)."""
    reason = exc
    seen: set[int] = set()
    while id(reason) not in seen:
        seen.add(id(reason))
        inner = reason.__cause__ or reason.__context__
        inner = inner or next((a for a in reason.args if isinstance(a, BaseException)), None)
        if inner is None:
            break
        reason = inner
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    text = str(reason).split(": ", 1)[-1] if ": " in str(reason) else str(reason)
    text = re.sub(r"\(Caused by .*", "", text).strip(" :(),'\"")
    return text.splitlines()[0][:200] if text else type(reason).__name__
