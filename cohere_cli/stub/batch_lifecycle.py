"""The stub's datasets and batches, and where a batch is in its life at a given moment:
QUEUED for the first half of `--batch-time`, IN_PROGRESS for the second, then COMPLETED
(or FAILED with `--batch-fail failed`); a cancel makes it CANCELING, then CANCELED.
A batch's output dataset is validated at once (with `--batch-fail output-processing`,
only `--batch-validation-time` after the batch is first seen COMPLETED: until then it is
`processing`, without parts)."""
from __future__ import annotations

import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from cohere_cli.stub.batch_avro import avro_file, output_record, record_tokens
from cohere_cli.stub.batch_settings import BatchStubSettings

INPUT_TYPE = "batch-chat-v2-input"
OUTPUT_TYPE = "batch-chat-v2-output"
FAILED_REASON = "stub: injected batch failure"


def _now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dataset_id(name: str) -> str:
    """`<slug-of-name>-<6 chars>`, as the live service answers."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "dataset"
    return f"{slug}-{secrets.token_hex(3)}"


@dataclass
class Dataset:
    """An uploaded input dataset, or a batch's output (its Avro parts)."""

    id: str
    name: str
    kind: str
    ready_at: float  # when validation ends (monotonic)
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    error: str = ""  # the validation error: the dataset failed
    parts: list[bytes] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    created_at: str = field(default_factory=_now_text)

    def status(self, now: float) -> str:
        if now < self.ready_at:
            return "processing"
        return "failed" if self.error else "validated"

    def view(self, now: float, part_url: Any) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "id": self.id, "name": self.name, "dataset_type": self.kind,
            "validation_status": self.status(now), "created_at": self.created_at,
            "updated_at": self.created_at,
        }
        if self.status(now) == "failed":
            shown["validation_error"] = self.error
        if self.kind == OUTPUT_TYPE:
            shown["dataset_parts"] = [
                {"id": f"{self.id}-part-{index}", "name": f"part-{index}.avro",
                 "url": part_url(self.id, index), "size_bytes": len(part),
                 "num_rows": self.rows[index]}
                for index, part in enumerate(self.parts)
            ] if self.status(now) == "validated" else []
        return shown


@dataclass
class Batch:
    """One batch job: its outcome is fixed at create, shown as time passes."""

    id: str
    name: str
    model: str
    input: Dataset
    created: float
    settings: BatchStubSettings
    output_id: str
    canceled: float | None = None
    tokens: tuple[int, int] = (0, 0)  # the output's totals, once it is written
    output: Dataset | None = None  # written when the batch is first seen COMPLETED
    echoed: tuple[str, ...] = ()  # what its replies echo (stub --echo-key)
    created_at: str = field(default_factory=_now_text)

    def status(self, now: float) -> str:
        span = self.settings.time
        if self.canceled is not None:
            return "CANCELING" if now < self.canceled + span / 10 else "CANCELED"
        if now < self.created + span / 2:
            return "QUEUED"
        if now < self.created + span:
            return "IN_PROGRESS"
        return "FAILED" if "failed" in self.settings.faults else "COMPLETED"

    def outcome(self) -> tuple[int, int]:
        """(successful, failed) records at the end."""
        total = len(self.input.records)
        missing = min(self.settings.missing, total)
        errored = min(self.settings.errored, total - missing)
        return total - missing - errored, errored

    def view(self, now: float) -> dict[str, Any]:
        status = self.status(now)
        ok, failed = self.outcome() if status == "COMPLETED" else (0, 0)
        if status == "IN_PROGRESS":  # the counters grow through the second half
            share = min(1.0, (now - self.created - self.settings.time / 2) /
                        max(self.settings.time / 2, 1e-9))
            ok, failed = (int(n * share) for n in self.outcome())
        if status == "COMPLETED":
            self.finished_output()  # its token totals
        tokens = self.tokens if status == "COMPLETED" else (0, 0)
        return {
            "id": self.id, "name": self.name, "creator_id": "stub-user",
            "org_id": "stub-org", "status": f"BATCH_STATUS_{status}",
            "created_at": self.created_at, "updated_at": _now_text(),
            "input_dataset_id": self.input.id,
            "output_dataset_id": self.output_id if status in ("IN_PROGRESS", "COMPLETED") else "",
            "input_tokens": str(tokens[0]), "output_tokens": str(tokens[1]),
            "model": self.model, "num_records": len(self.input.records),
            "num_successful_records": ok, "num_failed_records": failed,
            "status_reason": FAILED_REASON if status == "FAILED" else "",
        }

    def finished_output(self) -> Dataset:
        """The output dataset: every kept record's reply, in `parts` Avro files (written
        once, when first asked for)."""
        if self.output is None:
            self.output = self._write_output()
        return self.output

    def _write_output(self) -> Dataset:
        kept = self.input.records[: len(self.input.records) - min(
            self.settings.missing, len(self.input.records))]
        errored = self.settings.errored
        records = [output_record(custom_id, body, number, number < errored, self.echoed)
                   for number, (custom_id, body) in enumerate(kept)]
        totals = [record_tokens(record) for record in records]
        self.tokens = (sum(t[0] for t in totals), sum(t[1] for t in totals))
        count = max(1, min(self.settings.parts, len(records) or 1))
        size = -(-len(records) // count) if records else 0
        chunks = [records[i * size:(i + 1) * size] for i in range(count)]
        ready = (time.monotonic() + self.settings.validation_time
                 if "output-processing" in self.settings.faults else 0.0)
        return Dataset(self.output_id, f"{self.name}-output", OUTPUT_TYPE, ready,
                       parts=[avro_file(chunk) for chunk in chunks],
                       rows=[len(chunk) for chunk in chunks])


def new_batch(name: str, model: str, source: Dataset, settings: BatchStubSettings,
              echoed: tuple[str, ...] = ()) -> Batch:
    return Batch(str(uuid.uuid4()), name, model, source, time.monotonic(), settings,
                 dataset_id(f"{name}-output"), echoed=echoed)
