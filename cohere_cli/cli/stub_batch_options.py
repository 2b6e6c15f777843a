"""The `stub` options that drive its Batch API endpoints (issue 19), and the settings
they make."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cohere_cli.stub.batch_settings import BatchStubSettings

F = Callable[..., Any]

BATCH_STUB_OPTIONS: list[Callable[[F], F]] = []


def batch_stub_options(func: F) -> F:
    for option in reversed(BATCH_STUB_OPTIONS):
        func = option(func)
    return func


def batch_stub_settings(kw: dict[str, Any]) -> BatchStubSettings:
    """The batch settings from the parsed `stub` flags."""
    return BatchStubSettings()
