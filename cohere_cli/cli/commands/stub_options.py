"""The `stub` options that drive its Batch API endpoints (issue 19), and the settings
they make."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from cohere_cli.base import values
from cohere_cli.cli.options import Checked
from cohere_cli.stub.batch_settings import BatchStubSettings, parse_batch_fault

F = Callable[..., Any]
MAX_PARTS = 1000


def _fault(text: str) -> tuple[str, int]:
    try:
        return parse_batch_fault(text)
    except ValueError as exc:
        raise values.ValueProblem(str(exc).partition(": ")[2]) from None


BATCH_STUB_OPTIONS: list[Callable[[F], F]] = [
    click.option("--batch-time", type=Checked("seconds", values.seconds), default=1.0,
                 show_default=True, metavar="SECONDS",
                 help="Batch API: seconds from create to the end of a batch, half QUEUED "
                 "and half IN_PROGRESS (at most 86400)."),
    click.option("--batch-validation-time", type=Checked("seconds", values.seconds),
                 default=0.2, show_default=True, metavar="SECONDS",
                 help="Batch API: seconds an uploaded dataset is processing before it is "
                 "validated or failed (at most 86400)."),
    click.option("--batch-parts", type=Checked("count", lambda v: values.whole_number(
                     v, 1, MAX_PARTS)), default=1, show_default=True, metavar="N",
                 help=f"Batch API: output Avro files a batch writes (1 to {MAX_PARTS})."),
    click.option("--batch-fail", "batch_faults", type=Checked("rule", _fault), multiple=True,
                 metavar="RULE",
                 help="Batch API fault: validation, failed, create-502 (before creating), "
                 "create-502-after (after creating), missing=N or error=N (repeatable)."),
]


def batch_stub_options(func: F) -> F:
    for option in reversed(BATCH_STUB_OPTIONS):
        func = option(func)
    return func


def batch_stub_settings(kw: dict[str, Any]) -> BatchStubSettings:
    """The batch settings from the parsed `stub` flags."""
    rules: list[tuple[str, int]] = list(kw.get("batch_faults") or ())
    counts = {name: number for name, number in rules if number}
    return BatchStubSettings(
        time=kw.get("batch_time", 1.0), validation_time=kw.get("batch_validation_time", 0.2),
        parts=kw.get("batch_parts", 1), faults=frozenset(n for n, c in rules if not c),
        missing=counts.get("missing", 0), errored=counts.get("error", 0))
