"""How to reach the API (`Connection`), and where the API key may be sent.

The face builds a `Connection` from the settings (config.Settings.connection); the wire
takes it as it is and reads no settings of its own. `check_base_url` is the rule the
client applies before anything is sent: https, or plain http only to this machine.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from cohere_cli.base import values
from cohere_cli.base.errors import UsageError

DEFAULT_MAX_WAIT = 60.0
DEFAULT_POOL_SIZE = 10


class KeySource(Protocol):
    """Where the API key comes from: `reveal` gives it, or raises a typed error that says
    why there is none (secret.Secret is one)."""

    def reveal(self) -> str: ...


@dataclass(frozen=True)
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

    def secrets(self) -> tuple[str, ...]:
        """Every secret the client sends (the key; a header value that is one): the client
        hides each in all text a server returns (redact.py)."""
        return (self.key.reveal(),)


def check_base_url(url: str) -> None:
    """Refuse a URL the key must not be sent to: a malformed one, or plain http to a host
    that is not this machine (only https, or http to a loopback host)."""
    try:
        values.base_url(url)
    except values.ValueProblem as problem:
        raise UsageError(f"bad base URL {url!r}: it {problem}") from None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "http" and not is_loopback(host):
        raise UsageError(
            f"refusing to send the API key over plain http to {host}",
            hint="use https, or http only to a loopback host (127.0.0.1, ::1, localhost)",
        )


def is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
