"""`batch --remote`: the lines run as one batch on Cohere's Batch API, and their result
lines written as local `batch` writes them (docs/remote-batch.md).

Upload the records, wait for the dataset's validation, create the batch (once: a create
that got no clear answer is looked for by name before another is sent), poll it with
backoff, download every output part (its records spilled to disk by input position:
spill.py) and write one result line per input line, in input order, as a stream. Each id
the service gives is saved in the state file the moment it exists (state.py), so a rerun
of the same command continues where a killed one stopped.
"""
from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from cohere_cli.base.atomic_write import sync_directory
from cohere_cli.base.errors import (
    CohereChatError,
    ExitCode,
    InputError,
    LocalWriteError,
    NetworkError,
    RateLimitError,
    ServiceError,
    UsageError,
)
from cohere_cli.batch.output import refuse_same_file
from cohere_cli.batch.remote.cleanup import batch_datasets, delete_datasets
from cohere_cli.batch.remote.prepare import LineSource, input_digest, prepare
from cohere_cli.batch.remote.records import failure_line, result_line
from cohere_cli.batch.remote.spill import Spill, in_order
from cohere_cli.batch.remote.state import RemoteState, StateFiles, new_name
from cohere_cli.batch.summary import Summary
from cohere_cli.chat.usage import Prices
from cohere_cli.settings.names import time_limit
from cohere_cli.wire.batch_api import BatchAPI
from cohere_cli.wire.connection import Connection
from cohere_cli.wire.deadline import Deadline
from cohere_cli.wire.retry import retry_wait

POLL_FIRST, POLL_GROWTH, POLL_MAX = 0.2, 1.5, 30.0  # seconds between status reads
CREATE_ATTEMPTS = 4
DONE = ("BATCH_STATUS_COMPLETED", "BATCH_STATUS_FAILED", "BATCH_STATUS_CANCELED")
REFUSED = ("failed", "skipped", "unknown")
PIP_HINT = "pip install 'cohere-chat[remote]'"


class DatasetRejected(CohereChatError):
    """The Batch API refused the uploaded lines (the dataset's validation failed)."""

    exit_code = ExitCode.REJECTED


@dataclass(frozen=True)
class RemoteJob:
    """Everything one `batch --remote` needs, from the command line."""

    lines: LineSource
    output: str
    connection: Connection
    raw: bool = False
    prices: Prices | None = None
    detach: bool = False  # submit, and leave the batch to run
    attach: str | None = None  # a batch submitted before: wait for it and collect
    max_time: float | None = None  # --max-time: the longest wait; the batch goes on after
    keep_datasets: bool = False  # --keep-datasets: leave the input and output on the account


@dataclass
class Outcome:
    """How the run ended: the batch id when detached, else the summary."""

    batch_id: str
    summary: Summary | None = None


Progress = Callable[[dict[str, Any], Summary], None]


def require_fastavro() -> None:
    """The output parts are Avro: without fastavro, stop before anything is sent."""
    try:
        import fastavro  # noqa: F401
    except ImportError:
        raise UsageError("batch --remote needs fastavro to read the results",
                         hint=f"install it: {PIP_HINT}") from None


def _state(job: RemoteJob, stdin: IO[bytes] | None, files: StateFiles,
           note: Callable[[str], None]) -> RemoteState:
    """The saved state, checked against the input; or a new one, the lines converted."""
    state = files.read()
    if job.attach is not None:
        if state is not None and state.batch_id not in (None, job.attach):
            raise UsageError(f"{files.state} is the state of batch {state.batch_id}, not "
                             f"{job.attach}", hint="give another -o FILE")
        if state is None or not files.index.exists():
            with _input(job.lines.input_path, stdin) as stream:
                found = prepare(job.lines, stream, files, write_upload=False)
            state = RemoteState("", found.input_sha256, found.model, found.records)
        return files.write(state.but(batch_id=job.attach))
    if state is not None:
        with _input(job.lines.input_path, stdin) as stream:
            digest = input_digest(stream, "stdin" if stdin else job.lines.input_path)
        if digest != state.input_sha256 or not files.index.exists():
            raise UsageError(f"{files.state} holds a remote batch of another input",
                             hint="give the same input to continue it, or delete the file "
                             "to start anew")
        note(f"continuing the remote batch of {files.state}")
        return state
    with _input(job.lines.input_path, stdin) as stream:
        found = prepare(job.lines, stream, files)
    return files.write(RemoteState(new_name(found.input_sha256), found.input_sha256,
                                   found.model, found.records))


def _refuse_output(output: Path, input_path: str, stdin: IO[bytes] | None) -> None:
    """-o FILE is replaced whole at the end: it may be a new or a regular file (not a
    device such as /dev/full, not a folder), and never the input under another name."""
    try:
        written = output.stat()
    except OSError:
        return  # a new file (a folder that cannot be written is reported when written)
    if not stat.S_ISREG(written.st_mode):
        raise UsageError(f"{output} is not a regular file",
                         hint="batch --remote replaces -o FILE whole: give a file's path")
    if stdin is not None:
        refuse_same_file(stdin, output, None)
        return
    try:
        with open(input_path, "rb") as source:
            refuse_same_file(source, output, None)
    except OSError:
        return  # an unreadable input is reported where the input is read


def _input(path: str, stdin: IO[bytes] | None) -> AbstractContextManager[IO[bytes]]:
    if stdin is not None:
        return nullcontext(stdin)
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror}") from None


def run_remote_job(job: RemoteJob, stdin: IO[bytes] | None, progress: Progress,
                   log: Callable[[str], None], note: Callable[[str], None]) -> Outcome:
    """Submit (or continue) the batch; unless detached, wait and write the results."""
    _refuse_output(Path(job.output), job.lines.input_path, stdin)
    files = StateFiles(Path(job.output))
    summary = Summary(to_file=True, from_stdin=stdin is not None)
    state = _state(job, stdin, files, note)
    summary.total = state.records
    deadline = time_limit(job.max_time).start()
    with BatchAPI(job.connection, log, deadline) as api:
        if state.records and state.batch_id is None:
            state = _submit(api, files, state, job.connection.max_wait, deadline)
        if job.detach:
            return Outcome(state.batch_id or "")
        batch = (_wait(api, state.batch_id, progress, summary, deadline)
                 if state.records else {})
        spill = _download(api, batch, files)
    with spill:
        _write_results(job, files, spill, _missing_text(batch), summary)
    files.remove()
    if not job.keep_datasets:  # every line is written: no prompt or reply stays (cleanup.py)
        with BatchAPI(job.connection, log) as api:
            delete_datasets(api, batch_datasets(batch, state.dataset_id),
                            lambda text: note(f"warning: {text}"))
    return Outcome(state.batch_id or "", summary)


def _submit(api: BatchAPI, files: StateFiles, state: RemoteState,
            max_wait: float, deadline: Deadline) -> RemoteState:
    if state.dataset_id is None:
        state = files.write(state.but(dataset_id=api.upload(str(files.upload), state.name)))
    _validated(api, files, state.dataset_id or "", deadline)
    if state.creating and (found := _find(api, state.name)):
        return files.write(state.but(batch_id=found, creating=False))
    state = files.write(state.but(creating=True))
    attempt = 0
    while True:
        try:
            batch = api.create(state.name, state.dataset_id or "", state.model)
            break
        except (ServiceError, NetworkError, RateLimitError):
            # no answer, or one that does not say: look before sending another create
            if found := _find(api, state.name):
                return files.write(state.but(batch_id=found, creating=False))
            if attempt == CREATE_ATTEMPTS - 1:
                raise
            time.sleep(retry_wait({}, attempt, max_wait))
            attempt += 1
    batch_id = batch.get("id")
    if not isinstance(batch_id, str) or not batch_id:
        raise NetworkError("the created batch has no id")
    return files.write(state.but(batch_id=batch_id, creating=False))


def _find(api: BatchAPI, name: str) -> str | None:
    """The id of the account's batch named NAME (ours: the name is this run's)."""
    for batch in api.batches():
        if batch.get("name") == name and isinstance(batch.get("id"), str):
            return str(batch["id"])
    return None


def _poll(read: Callable[[], dict[str, Any]], ended: Callable[[dict[str, Any]], bool],
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


def _validated(api: BatchAPI, files: StateFiles, dataset_id: str, deadline: Deadline) -> None:
    dataset = _poll(lambda: api.dataset(dataset_id),
                    lambda d: d.get("validation_status") in ("validated", *REFUSED),
                    deadline, f"the validation of dataset {dataset_id}")
    status = dataset.get("validation_status")
    if status in REFUSED:
        files.remove()  # nothing to continue: a rerun uploads the corrected lines
        reason = dataset.get("validation_error") or "no reason given"
        raise DatasetRejected(f"the Batch API refused the lines (dataset {dataset_id} "
                              f"{status}): {reason}")


def _wait(api: BatchAPI, batch_id: str | None, progress: Progress,
          summary: Summary, deadline: Deadline) -> dict[str, Any]:
    """Poll the batch until it ends; its last state."""
    def read() -> dict[str, Any]:
        batch = api.batch(batch_id or "")
        progress(batch, summary)
        return batch

    return _poll(read, lambda b: b.get("status") in DONE, deadline, f"batch {batch_id}")


def _missing_text(batch: dict[str, Any]) -> str:
    status = str(batch.get("status", "")).removeprefix("BATCH_STATUS_")
    reason = batch.get("status_reason")
    ended = f"the batch ended {status}" + (f" ({reason})" if reason else "")
    return f"{ended}; the Batch API returned no result for this line"


def _download(api: BatchAPI, batch: dict[str, Any], files: StateFiles) -> Spill:
    """Every output part, its records (as JSON) spilled by input position."""
    spill = Spill(files.spill)
    try:
        output_id = batch.get("output_dataset_id")
        if output_id:
            _claim_positions(spill, files)
            for number, part in enumerate(api.output_parts(str(output_id))):
                _read_part(api, str(part.get("url", "")), files.part(number), number, spill)
    except BaseException:
        spill.close()
        raise
    return spill


def _claim_positions(spill: Spill, files: StateFiles) -> None:
    """Each sent line's custom_id at its position in the index."""
    try:
        with open(files.index, "rb") as index:
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
        with open(path, "rb") as handle:
            for record in fastavro.reader(handle):
                if isinstance(record, dict) and isinstance(record.get("custom_id"), str):
                    spill.put(record["custom_id"], api.hidden(orjson.dumps(record)))
    except (ValueError, EOFError, TypeError) as exc:  # fastavro's errors for a bad file
        raise NetworkError(f"output part {number + 1} is not a readable Avro file "
                           f"({type(exc).__name__})", "run the command again") from None
    path.unlink(missing_ok=True)  # read: its disk space goes before the next part's


def _write_results(job: RemoteJob, files: StateFiles, spill: Spill, missing: str,
                   summary: Summary) -> None:
    """FILE replaced by one result line per input line, in input order, as a stream."""
    temporary = files.output.with_name(files.output.name + ".remote.result")
    try:
        _write_lines(job, files, spill, missing, summary, temporary)
        os.replace(temporary, files.output)
    except OSError as exc:
        raise LocalWriteError(f"{files.output}: cannot write: {exc.strerror or exc}",
                              hint="the batch's results stay on the service: run the "
                              "command again") from None
    sync_directory(files.output.parent)


def _write_lines(job: RemoteJob, files: StateFiles, spill: Spill, missing: str,
                 summary: Summary, temporary: Path) -> None:
    with open(files.index, "rb") as index, open(temporary, "wb") as out:
        for entry_line, record in zip(index, in_order(spill), strict=False):  # no end
            entry = orjson.loads(entry_line)
            line, line_id = entry["line"], entry["id"]
            if "error" in entry:
                result = failure_line(line, line_id, entry["error"])
            elif record is None:
                result = failure_line(line, line_id, missing)
            else:
                result = result_line(line, line_id, orjson.loads(record), job.raw, job.prices)
            out.write(orjson.dumps(result) + b"\n")
            summary.count(result)
        out.flush()
        os.fsync(out.fileno())
