"""How to reach the API (`Connection`), and where the API key may be sent.

The face builds a `Connection` from the settings (config.Settings.connection); the wire
takes it as it is and reads no settings of its own. `check_base_url` is the rule the
client applies before anything is sent: https, or plain http only to this machine
unless nothing secret is sent (--no-auth and no --header; with --header, only with
--insecure-http). The secrets a connection sends (`Connection.secrets`): the key, and
the value of every --header (and an Authorization header's token alone).

`check_connection` also refuses a credential too short to be a real one -- the key, or
the value of a header that carries one (`is_credential_header`) -- that would go to
another machine: no real key has fewer than values.SHORTEST_SECRET characters, and one
that short could not be hidden where the server sends it back. To this machine (the stub, a
local server) a shorter one is a placeholder (`CO_API_KEY=test`): sent, not hidden.
"""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from cohere_cli.base import values
from cohere_cli.base.errors import CohereChatError, UsageError
from cohere_cli.base.named_files import check_named

DEFAULT_MAX_WAIT = 60.0
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # requests reads the first set
DEFAULT_POOL_SIZE = 10
AUTH_HEADERS = ("authorization", "proxy-authorization")  # SCHEME TOKEN, or TOKEN
CREDENTIAL_ENDINGS = ("key", "token", "secret", "password")  # X-Api-Key, X-Auth-Token
SHORT_HINT = "check where it comes from; a placeholder key is for a server on this machine"


class KeySource(Protocol):
    """Where the API key comes from: `reveal` gives it, or raises a typed error that says
    why there is none (secret.Secret is one)."""

    def reveal(self) -> str: ...


@dataclass(frozen=True, eq=False)  # never compared: no __eq__ to compile
class Connection:
    """Everything the client needs to reach the API; the key is never in the repr."""

    base_url: str
    key: KeySource = field(repr=False)
    timeout: float  # seconds without a byte, before and during a reply (--timeout)
    retries: int  # attempts after the first
    client_name: str  # the X-Client-Name header
    max_wait: float = DEFAULT_MAX_WAIT  # the longest single wait between attempts
    ca_bundle: str | None = None  # None: requests' default ($REQUESTS_CA_BUNDLE, certifi)
    pool_size: int = DEFAULT_POOL_SIZE  # connections kept open: at least the concurrency
    base_url_source: str = "built-in default"  # where base_url came from, for error hints
    timeout_name: str = "the timeout"  # what the user calls `timeout`, in messages
    auth: bool = True  # False (--no-auth): no Authorization header, no key needed
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # --header: secret
    insecure_http: bool = False  # --insecure-http: --header values over plain http

    def secrets(self) -> tuple[str, ...]:
        """Everything secret this connection sends: the key (unless --no-auth) and the
        value of every --header (`header_secrets`); never to be shown."""
        key: tuple[str, ...] = ()
        if self.auth:
            with suppress(CohereChatError):  # no usable key: none is sent
                key = (self.key.reveal(),)
        return key + tuple(secret for name, value in self.headers
                           for secret in header_secrets(name, value))


def header_secrets(name: str, value: str) -> tuple[str, ...]:
    """What is secret in a header: its value, and in an Authorization header's `SCHEME
    TOKEN` the token alone too (a server may echo it without its scheme)."""
    scheme, _, token = value.partition(" ")
    token = token.strip(" ")
    if name.lower() in AUTH_HEADERS and scheme and token:
        return value, token
    return (value,)


def is_credential_header(name: str) -> bool:
    """Whether a header carries a credential: Authorization, Proxy-Authorization, or a
    name that ends in key, token, secret or password (X-Api-Key, api-key, X-Auth-Token)."""
    lower = name.lower()
    return lower in AUTH_HEADERS or lower.endswith(CREDENTIAL_ENDINGS)


def _short_credential(connection: Connection) -> str | None:
    """What credential of CONNECTION is too short to be a real one, in words, or None."""
    shortest = values.SHORTEST_SECRET
    too_short = f"is shorter than {shortest} characters, too short to be a real one"
    if connection.auth and len(connection.key.reveal()) < shortest:
        return f"the API key {too_short}"
    for name, value in connection.headers:
        if is_credential_header(name) and len(header_secrets(name, value)[-1]) < shortest:
            return f"the credential in the {name} header {too_short}"
    return None


class PlainHttpRefused(UsageError):
    """A secret would go over plain http to another machine: the KEY (never allowed), or
    the custom headers' values (allowed when told); the face's hint says how."""

    def __init__(self, message: str, key: bool) -> None:
        super().__init__(message)
        self.key = key


def check_base_url(url: str, key: bool = True, headers: bool = False,
                   insecure_http: bool = False) -> None:
    """Refuse a URL a secret must not be sent to: a malformed one, or plain http to a
    host that is not this machine when the request carries the KEY (never), or HEADERS
    (--header values: only with INSECURE_HTTP). Without either, any host will do."""
    try:
        values.base_url(url)
    except values.ValueProblem as problem:
        raise UsageError(f"bad base URL {url!r}: it {problem}") from None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "http" or is_loopback(host):
        return
    if key:
        raise PlainHttpRefused(f"refusing to send the API key over plain http to {host}",
                               key=True)
    if headers and not insecure_http:
        raise PlainHttpRefused(
            f"refusing to send the custom headers' values over plain http to {host}", key=False)


def check_connection(connection: Connection) -> None:
    """The base URL rule for what this connection sends (check_base_url); to another
    machine, no credential too short to be real (the module's docstring); and the CA
    bundle requests would take from the environment (check_ca_variables)."""
    check_base_url(connection.base_url, key=connection.auth, headers=bool(connection.headers),
                   insecure_http=connection.insecure_http)
    if not is_loopback(urlsplit(connection.base_url).hostname or ""):
        problem = _short_credential(connection)
        if problem:
            host = urlsplit(connection.base_url).hostname
            raise UsageError(f"{problem}: refusing to send it to {host}", hint=SHORT_HINT)
    if connection.ca_bundle is None:  # --ca-bundle outranks them (checked where given)
        check_ca_variables(os.environ)


def check_ca_variables(environ: Mapping[str, str]) -> None:
    """The CA bundle requests reads from the environment without --ca-bundle (the first
    of CA_VARIABLES set): a FIFO, a socket or a device there is exit 3 (the TLS library
    would wait on a FIFO), nothing there exit 2 (requests would raise an OSError), each
    naming the variable; a regular file or a folder of certificates will do."""
    name = next((name for name in CA_VARIABLES if environ.get(name)), None)
    if name is None:
        return
    path = environ[name]
    try:
        found = check_named(path, f"{name} {path}", folders=True)
    except OSError:
        return  # no permission, say: the TLS library's error names it
    if found is None:
        raise UsageError(f"{name} {path}: no such file or folder",
                         hint=f"unset {name}, or point it at CA certificates")


def is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
