"""What the stub is told to do: `StubSettings`, checked when made, and the `--fail` rules
(`FailRule`, `parse_fail_rule`) it injects into the next requests, in order."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cohere_cli.base.errors import UsageError
from cohere_cli.base.values import MAX_DELAY_MS, MAX_PORT, MAX_SECONDS
from cohere_cli.stub.batch_settings import BatchStubSettings

READ_TIMEOUT = 5.0  # seconds a connection may keep the stub waiting for (part of) a request
MAX_CONNECTIONS = 256  # open at once; over it, the one waiting longest for a request goes

_RULE = re.compile(
    r"(?:(?P<status>\d{3})|(?P<kind>drop|hang|garbage)|cut=(?P<events>\d+))(?:\s*x(?P<count>\d+))?",
    re.IGNORECASE,
)
_RULE_HELP = "expected STATUS (400-599), drop, hang, cut=K or garbage, optionally with xN"


@dataclass(frozen=True)
class FailRule:
    """One parsed `--fail RULE`."""

    kind: str  # "status", "drop", "hang", "cut", "garbage"
    status: int | None = None
    events: int | None = None  # for cut=K
    count: int = 1  # from the optional xN suffix


def parse_fail_rule(text: str) -> FailRule:
    """`429`, `500x3`, `drop`, `hang`, `cut=3`, `garbagex2` ... as a FailRule."""
    match = _RULE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"bad fail rule {text!r}: {_RULE_HELP}")
    count = int(match["count"] or 1)
    if count < 1:
        raise ValueError(f"bad fail rule {text!r}: the count after x must be at least 1")
    if match["status"]:
        status = int(match["status"])
        if not 400 <= status <= 599:
            raise ValueError(f"bad fail rule {text!r}: a status must be between 400 and 599")
        return FailRule("status", status=status, count=count)
    if match["events"] is not None:
        return FailRule("cut", events=int(match["events"]), count=count)
    return FailRule(match["kind"].lower(), count=count)


@dataclass(frozen=True)
class StubSettings:
    """What the stub does; checked when made, so no bad value reaches a socket or a wait."""

    host: str = "127.0.0.1"
    port: int = 0
    replies: tuple[object, ...] = ()  # from replies.load_replies; empty: echo
    latency_ms: float = 0
    latency_max_ms: float | None = None  # with it, each answer waits a random MS..MAX
    token_delay_ms: float = 0
    fail_rules: tuple[FailRule, ...] = ()
    retry_after: float = 1
    read_timeout: float = READ_TIMEOUT
    max_connections: int = MAX_CONNECTIONS
    context_limit: int | None = None  # estimated tokens (window.py) a request may hold
    models: tuple[dict[str, Any], ...] | None = None  # from models.load_models; None: built in,
    # and a chat request may name any model
    verbose: bool = False  # a line on stderr for each request
    no_auth: bool = False  # a private deployment: a request without a key is served
    echo_key: bool = False  # each reply ends with the request's credentials (a leaky server)
    list_models: bool = True  # False: no /v1/models (nor /v1/models/NAME), as on Azure
    batch_api: bool = True  # False: no /v1/datasets, /v2/batches (nor their signed URLs)
    batch: BatchStubSettings = field(default_factory=BatchStubSettings)  # the Batch API

    def __post_init__(self) -> None:
        if not (isinstance(self.port, int) and 0 <= self.port <= MAX_PORT):
            raise UsageError(f"stub: the port must be 0 to {MAX_PORT} (got {self.port!r})")
        delays = (("latency", self.latency_ms), ("latency maximum", self.latency_max_ms),
                  ("token delay", self.token_delay_ms))
        for name, value in delays:
            if value is not None and not 0 <= value <= MAX_DELAY_MS:  # NaN fails too
                raise UsageError(
                    f"stub: the {name} must be 0 to {MAX_DELAY_MS:.15g} ms (got {value!r})")
        if self.latency_max_ms is not None and self.latency_max_ms < self.latency_ms:
            raise UsageError("stub: the latency maximum is below the latency")
        if not 0 <= self.retry_after <= MAX_SECONDS:
            raise UsageError(
                f"stub: Retry-After must be 0 to {MAX_SECONDS:.15g} s (got {self.retry_after!r})")
        if self.context_limit is not None and self.context_limit < 1:
            raise UsageError(f"stub: the context limit must be at least 1 (got "
                             f"{self.context_limit!r})")
        if not 0 < self.read_timeout <= 3600 or self.max_connections < 1:
            raise UsageError("stub: the read timeout and the connection cap must be positive")
