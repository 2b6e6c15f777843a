"""The `stub` options that drive its Batch API endpoints (issue 19), and the settings
they make."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import click

from cohere_cli.base import values
from cohere_cli.cli.flags import parsed
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
                 "create-502-after (after creating), delete-500 (every dataset delete), "
                 "output-processing (a completed batch's output not validated yet), "
                 "missing=N or error=N (repeatable)."),
]


def batch_stub_options(func: F) -> F:
    for option in reversed(BATCH_STUB_OPTIONS):
        func = option(func)
    return func


@dataclass(frozen=True)
class BatchStubFlags:
    """The values of BATCH_STUB_OPTIONS."""

    batch_time: float
    batch_validation_time: float
    batch_parts: int
    batch_faults: tuple[tuple[str, int], ...]

    def settings(self) -> BatchStubSettings:
        """The stub's batch settings these flags make."""
        counts = {name: number for name, number in self.batch_faults if number}
        return BatchStubSettings(
            time=self.batch_time, validation_time=self.batch_validation_time,
            parts=self.batch_parts, faults=frozenset(n for n, c in self.batch_faults if not c),
            missing=counts.get("missing", 0), errored=counts.get("error", 0))


def batch_stub_settings(given: Mapping[str, object]) -> BatchStubSettings:
    """The batch settings from the parsed values of BATCH_STUB_OPTIONS, by name."""
    return parsed(BatchStubFlags, given).settings()
