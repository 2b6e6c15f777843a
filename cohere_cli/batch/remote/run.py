"""`batch --remote`: the lines run as one batch on Cohere's Batch API, and their result
lines written as local `batch` writes them (docs/remote-batch.md).

Upload the records, wait for the dataset's validation, create the batch (once: a create
that got no clear answer is looked for by name before another is sent), poll it with
backoff, wait for its output dataset's validation, download every output part (its
records spilled to disk by input position: spill.py) and write one result line per input
line, in input order, as a stream. Each id the service gives is saved in the state file
the moment it exists (state.py), so a rerun of the same command continues where a killed
one stopped; the state file goes only once every result line is written.

The whole run holds the lock on `-o FILE` (`FILE.lock`, the lock a conversation has,
removed at the end: batch/lock.py, which local `batch -o FILE` takes too), so two runs
on one FILE make one batch: the second waits, then finds the first one's results. A
FILE that already holds results is never replaced by a new batch without `overwrite`.
"""
from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cohere_cli.base.errors import (
    CohereChatError,
    ExitCode,
    InputError,
    NetworkError,
    RateLimitError,
    ServiceError,
    UsageError,
)
from cohere_cli.base.named_files import open_named
from cohere_cli.batch.input import open_input
from cohere_cli.batch.lock import OutputLock
from cohere_cli.batch.output import refuse_results, refuse_same_file
from cohere_cli.batch.remote.cleanup import batch_datasets, delete_datasets
from cohere_cli.batch.remote.collect import REFUSED, download, missing_text, poll, write_results
from cohere_cli.batch.remote.prepare import LineSource, input_digest, prepare
from cohere_cli.batch.remote.state import RemoteState, StateFiles, new_name
from cohere_cli.batch.summary import Summary
from cohere_cli.chat.usage import Prices
from cohere_cli.settings.names import time_limit
from cohere_cli.wire.batch_api import BatchAPI
from cohere_cli.wire.connection import Connection
from cohere_cli.wire.deadline import Deadline
from cohere_cli.wire.retry import retry_wait

CREATE_ATTEMPTS = 4
DONE = ("BATCH_STATUS_COMPLETED", "BATCH_STATUS_FAILED", "BATCH_STATUS_CANCELED")
OVERWRITE_HINT = ("--overwrite submits a new batch of every line (billed again); or give "
                  "another -o FILE")


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
    overwrite: bool = False  # -o FILE may hold results: a new batch replaces them
    lock_timeout: float = 300.0  # how long to wait for another run's lock on -o FILE


@dataclass
class Outcome:
    """How the run ended: the batch id when detached, else the summary (the batch id
    empty: no line could be sent, so no batch was submitted, even with `detach`)."""

    batch_id: str
    summary: Summary | None = None


Progress = Callable[[dict[str, Any], Summary], None]


def _state(job: RemoteJob, stdin: IO[bytes] | None, files: StateFiles,
           note: Callable[[str], None], api: BatchAPI) -> RemoteState:
    """The saved state, checked against the input; or a new one, the lines converted
    (never over results FILE holds, unless `overwrite`)."""
    state = files.read()
    if state is None and not job.overwrite:
        refuse_results(files.output, OVERWRITE_HINT)
    if job.attach is not None:
        return _attached(job, stdin, files, state, api)
    if state is not None:
        with open_input(job.lines.input_path, stdin) as stream:
            digest = input_digest(stream, "stdin" if stdin else job.lines.input_path)
        if digest != state.input_sha256 or not files.index.exists():
            raise UsageError(f"{files.state} holds a remote batch of another input",
                             hint="give the same input to continue it, or delete the file "
                             "to start anew")
        note(f"continuing the remote batch of {files.state}")
        return state
    with open_input(job.lines.input_path, stdin) as stream:
        found = prepare(job.lines, stream, files)
    return files.write(RemoteState(new_name(found.input_sha256), found.input_sha256,
                                   found.model, found.records))


def _attached(job: RemoteJob, stdin: IO[bytes] | None, files: StateFiles,
              state: RemoteState | None, api: BatchAPI) -> RemoteState:
    """The state of `--attach ID`: the batch is read first, so an ID the service does
    not know (a typo, a 404) is never written into the state file."""
    attach = job.attach or ""
    if state is not None and state.batch_id not in (None, attach):
        raise UsageError(f"{files.state} is the state of batch {state.batch_id}, not "
                         f"{attach}", hint="give another -o FILE")
    if state is not None and state.batch_id == attach and files.index.exists():
        return state
    api.batch(attach)  # a batch ID that is not there stops here, nothing written
    if state is None or not files.index.exists():
        with open_input(job.lines.input_path, stdin) as stream:
            found = prepare(job.lines, stream, files, write_upload=False)
        state = RemoteState("", found.input_sha256, found.model, found.records)
    return files.write(state.but(batch_id=attach))


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
    if not os.access(output, os.W_OK):
        raise InputError(str(output), "the file is read-only; batch --remote replaces it "
                         "whole at the end")
    if stdin is not None:
        refuse_same_file(stdin, output, None)
        return
    try:
        descriptor = open_named(input_path)  # a FIFO, a folder: refused here (exit 3)
    except OSError:
        return  # an unreadable input is reported where the input is read
    with os.fdopen(descriptor, "rb") as source:
        refuse_same_file(source, output, None)


def run_remote_job(job: RemoteJob, stdin: IO[bytes] | None, progress: Progress,
                   log: Callable[[str], None], note: Callable[[str], None]) -> Outcome:
    """Submit (or continue) the batch; unless detached, wait and write the results (at
    once when no line can be sent: no batch is submitted). The whole run holds the lock
    on -o FILE."""
    output = Path(job.output)
    _refuse_output(output, job.lines.input_path, stdin)
    deadline = time_limit(job.max_time).start()
    with (deadline.lock_wait(output), OutputLock(output, deadline.cap(job.lock_timeout)),
          BatchAPI(job.connection, log, deadline) as api):
        files = StateFiles(output)
        state = _state(job, stdin, files, note, api)
        summary = Summary(to_file=True, from_stdin=stdin is not None, total=state.records)
        if state.records and state.batch_id is None:
            state = _submit(api, files, state, job.connection.max_wait, deadline)
        if job.detach and state.records:  # no line to send: nothing to submit, and
            return Outcome(state.batch_id or "")  # the failed lines written as below
        batch = (_wait(api, state.batch_id, progress, summary, deadline)
                 if state.records else {})
        with download(api, batch, files, deadline) as spill:
            write_results(files, spill, missing_text(batch), summary, job.raw, job.prices)
        files.remove()  # every result line is in FILE: nothing is left to continue
    if not job.keep_datasets and not job.detach:  # every line is written (cleanup.py)
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


def _validated(api: BatchAPI, files: StateFiles, dataset_id: str, deadline: Deadline) -> None:
    dataset = poll(lambda: api.dataset(dataset_id),
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

    return poll(read, lambda b: b.get("status") in DONE, deadline, f"batch {batch_id}")

