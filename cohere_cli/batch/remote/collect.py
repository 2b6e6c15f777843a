"""`batch --remote`, once the batch has ended: its output dataset waited for until it is
validated and has its parts, every part downloaded and its records spilled by input
position (spill.py), and one result line per input line written to FILE, in input
order, as a stream (the state file goes only after that: run.py). Also the polling
loop every wait of a remote batch goes through.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from cohere_cli.base.atomic_write import sync_directory
from cohere_cli.base.errors import InputError, LocalWriteError, NetworkError
from cohere_cli.base.named_files import WRITE_NEW, open_named
from cohere_cli.batch.remote.records import failure_line, result_line
from cohere_cli.batch.remote.spill import Spill, in_order
from cohere_cli.batch.remote.state import StateFiles
from cohere_cli.batch.summary import Summary
from cohere_cli.chat.response import hide_reply
from cohere_cli.chat.usage import Prices
from cohere_cli.wire.batch_api import BatchAPI
from cohere_cli.wire.deadline import Deadline

POLL_FIRST, POLL_GROWTH, POLL_MAX = 0.2, 1.5, 30.0  # seconds between status reads
REFUSED = ("failed", "skipped", "unknown")  # a dataset's validation_status that ends it
COMPLETED = "BATCH_STATUS_COMPLETED"


def poll(read: Callable[[], dict[str, Any]], ended: Callable[[dict[str, Any]], bool],
         deadline: Deadline, what: str) -> dict[str, Any]:
    """READ until ENDED says so, the waits growing; past the deadline, exit 7 with the
    state file kept (the batch goes on at Cohere: the same command collects it later)."""
    delay = POLL_FIRST
    while True:
        value = read()
        if ended(value):
            return value
        time.sleep(deadline.cap(delay))
        deadline.check(f"waiting for {what}; it goes on at Cohere: run the same command "
                       "again to collect it")
        delay = min(delay * POLL_GROWTH, POLL_MAX)


def missing_text(batch: dict[str, Any]) -> str:
    """The failure message of a line the ended batch returned no record for."""
    status = str(batch.get("status", "")).removeprefix("BATCH_STATUS_")
    reason = batch.get("status_reason")
    ended = f"the batch ended {status}" + (f" ({reason})" if reason else "")
    return f"{ended}; the Batch API returned no result for this line"


def download(api: BatchAPI, batch: dict[str, Any], files: StateFiles,
             deadline: Deadline) -> Spill:
    """Every output part, its records (as JSON) spilled by input position."""
    parts = _output_parts(api, batch, deadline)
    spill = Spill(files.spill)
    try:
        if parts:
            _claim_positions(spill, files)
            for number, part in enumerate(parts):
                _read_part(api, str(part.get("url", "")), files.part(number), number, spill)
    except BaseException:
        spill.close()
        raise
    return spill


def _has_parts(dataset: dict[str, Any]) -> bool:
    parts = dataset.get("dataset_parts")
    return isinstance(parts, list) and any(isinstance(part, dict) for part in parts)


def _output_parts(api: BatchAPI, batch: dict[str, Any],
                  deadline: Deadline) -> list[dict[str, Any]]:
    """The parts of the batch's output dataset, read only once it is validated and has
    parts: a COMPLETED batch's output is waited for (until --max-time; the service may
    still be writing it), a failed or canceled batch's taken as it is (none, unless it
    is ready)."""
    output_id = str(batch.get("output_dataset_id") or "")
    if not output_id:
        return []

    def ready(dataset: dict[str, Any]) -> bool:
        return dataset.get("validation_status") == "validated" and _has_parts(dataset)

    if batch.get("status") != COMPLETED:
        return api.output_parts(output_id) if ready(api.dataset(output_id)) else []
    dataset = poll(lambda: api.dataset(output_id),
                    lambda d: ready(d) or d.get("validation_status") in REFUSED,
                    deadline, f"the output dataset {output_id} of the completed batch")
    if not ready(dataset):
        raise NetworkError(f"the output dataset {output_id} of the completed batch is "
                           f"{dataset.get('validation_status')}: its results cannot be read",
                           "the state file is kept: run the same command again later, or "
                           "ask Cohere's support")
    return api.output_parts(output_id)


def _claim_positions(spill: Spill, files: StateFiles) -> None:
    """Each sent line's custom_id at its position in the index."""
    try:
        with os.fdopen(open_named(files.index), "rb") as index:
            for position, entry_line in enumerate(index):
                key = orjson.loads(entry_line).get("custom_id")
                if key is not None:
                    spill.claim(key, position)
    except OSError as exc:
        raise InputError(str(files.index), f"cannot read: {exc.strerror}") from None


def _read_part(api: BatchAPI, url: str, path: Path, number: int, spill: Spill) -> None:
    import fastavro

    api.download(url, str(path))
    try:
        with os.fdopen(open_named(path), "rb") as handle:
            for record in fastavro.reader(handle):
                if isinstance(record, dict) and isinstance(record.get("custom_id"), str):
                    if isinstance(record.get("body"), dict):  # its text, joined too
                        hide_reply(b"", record["body"], api.redactor)
                    spill.put(record["custom_id"], api.hidden(orjson.dumps(record)))
    except (ValueError, EOFError, TypeError) as exc:  # fastavro's errors for a bad file
        raise NetworkError(f"output part {number + 1} is not a readable Avro file "
                           f"({type(exc).__name__})", "run the command again") from None
    path.unlink(missing_ok=True)  # read: its disk space goes before the next part's


def write_results(files: StateFiles, spill: Spill, missing: str, summary: Summary,
                  raw: bool, prices: Prices | None) -> None:
    """FILE replaced by one result line per input line, in input order, as a stream."""
    temporary = files.output.with_name(files.output.name + ".remote.result")
    try:
        _write_lines(files, spill, missing, summary, temporary, (raw, prices))
        os.replace(temporary, files.output)
    except (OSError, InputError) as exc:  # InputError: a FIFO or a folder in the way
        reason = exc.message if isinstance(exc, InputError) else exc.strerror or exc
        raise LocalWriteError(f"{files.output}: cannot write: {reason}",
                              hint="the batch's results stay on the service: run the "
                              "command again") from None
    sync_directory(files.output.parent)


def _write_lines(files: StateFiles, spill: Spill, missing: str, summary: Summary,
                 temporary: Path, shape: tuple[bool, Prices | None]) -> None:
    with os.fdopen(open_named(files.index), "rb") as index, \
            os.fdopen(open_named(temporary, flags=WRITE_NEW), "wb") as out:
        for entry_line, record in zip(index, in_order(spill), strict=False):  # no end
            entry = orjson.loads(entry_line)
            line, line_id = entry["line"], entry["id"]
            if "error" in entry:
                result = failure_line(line, line_id, entry["error"])
            elif record is None:
                result = failure_line(line, line_id, missing)
            else:
                result = result_line(line, line_id, orjson.loads(record), *shape)
            out.write(orjson.dumps(result) + b"\n")
            summary.count(result)
        out.flush()
        os.fsync(out.fileno())
