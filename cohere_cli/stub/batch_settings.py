"""What the stub's Batch API endpoints are told to do (issue 19)."""
from __future__ import annotations

from dataclasses import dataclass

FAULTS = ("validation", "failed", "create-502", "create-502-after", "delete-500",
          "output-processing")
MAX_RECORD_FAULTS = 1_000_000_000


@dataclass(frozen=True)
class BatchStubSettings:
    """How the stub runs remote batches: `time` seconds from create to the end (half
    QUEUED, half IN_PROGRESS), `validation_time` seconds of dataset validation, the output
    in `parts` Avro files; `faults` from FAULTS; `missing` records left out of the output
    and `errored` records answered with an error instead of a body. With the fault
    `output-processing`, a COMPLETED batch's output dataset stays `processing`, without
    parts, for `validation_time` seconds after it is first shown (as the live service
    was recorded doing)."""

    time: float = 1.0
    validation_time: float = 0.2
    parts: int = 1
    faults: frozenset[str] = frozenset()
    missing: int = 0
    errored: int = 0


def parse_batch_fault(text: str) -> tuple[str, int]:
    """One `--batch-fail` rule: a name of FAULTS (count 0), or `missing=N` / `error=N`."""
    name, equals, count = text.partition("=")
    if not equals and name in FAULTS:
        return name, 0
    if equals and name in ("missing", "error") and count.isdigit():
        number = int(count)
        if 1 <= number <= MAX_RECORD_FAULTS:
            return name, number
    raise ValueError(f"--batch-fail: {text!r} is not {', '.join(FAULTS)}, missing=N or error=N"
                     " (N from 1)")
