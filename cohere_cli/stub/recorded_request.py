"""One request as the stub received it: what the tests read back (`StubServer.requests`)
and what the routes answer. Its headers hold Authorization: never in its repr."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


class Headers(dict[str, str]):
    """Request headers: names stored in lower case, looked up in any case."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received; `path` keeps the query string."""

    method: str
    path: str
    headers: Headers = field(repr=False)  # holds Authorization: kept out of the repr
    body: bytes
    json: Any = None  # the parsed body, None when it is not JSON
    received: float = field(default_factory=time.monotonic)  # when it arrived
