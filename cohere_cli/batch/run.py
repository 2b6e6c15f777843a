"""`batch`: many independent requests from JSONL, results as JSONL (README "Batch", man BATCH).

One reader thread turns input lines into jobs, `jobs` daemon workers send them over one
pooled client, and the calling thread writes each result as soon as its turn comes.
A window of `4 * jobs` lines bounds what is in flight or waiting to be written, so
memory stays flat however long the input is.

Nothing leaves a batch waiting without progress: a worker turns every failure into a
result (what every line would meet also stops the batch), the writer checks that the
workers live, and a failed write stops the batch. `Summary.error` says what stopped it.
"""
from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

import orjson

from cohere_cli.base.errors import (
    CohereChatError,
    LocalWriteError,
    OutputClosedError,
)
from cohere_cli.batch.ids import IdSet
from cohere_cli.batch.input import iter_lines, open_input
from cohere_cli.batch.jobs import Job, JobMaker
from cohere_cli.batch.line_count import count_aside
from cohere_cli.batch.lock import output_lock
from cohere_cli.batch.output import Sink, refuse_results, refuse_same_file
from cohere_cli.batch.results import failure
from cohere_cli.batch.resume import Finished, cut_torn_line, read_finished
from cohere_cli.batch.send_line import run_job
from cohere_cli.batch.summary import Summary
from cohere_cli.chat.budget import Budget
from cohere_cli.chat.context import ModelContext
from cohere_cli.chat.request import RequestOptions
from cohere_cli.chat.usage import Prices
from cohere_cli.conversation.fit import HistoryFit, HistoryLimits
from cohere_cli.wire.api_client import ApiClient
from cohere_cli.wire.connection import Connection
from cohere_cli.wire.pacing import RateGate
from cohere_cli.wire.status import AUTH_STATUSES

WINDOW_PER_JOB = 4
RESULTS_HINT = ("--resume sends only the lines without a success in it; --overwrite "
                "empties it and sends every line again")
TICK = 0.5  # how often a writer with nothing to write checks that its workers live
Result = tuple[int, dict[str, Any]]


@runtime_checkable
class Progress(Protocol):
    """A progress display that result lines written to stdout may collide with."""

    def __call__(self, summary: Summary) -> None: ...

    def hide(self) -> None:
        """Before a result line goes to stdout: clear the display if it is there too."""


def _stopping(exc: BaseException) -> CohereChatError:
    """What a worker met that every line would meet: a configuration error as it is,
    anything else as an internal error (never its text: it may quote a header)."""
    if isinstance(exc, CohereChatError):
        return exc
    error = CohereChatError(f"internal error: {type(exc).__name__} while sending a request",
                            hint="the batch stopped, as every line would meet it")
    error.__cause__ = exc
    return error


class BatchRun:
    """One batch: reader thread, worker threads, and the writer (the calling thread)."""

    def __init__(self, client: ApiClient, maker: JobMaker, finished: IdSet | None = None, *,
                 jobs: int = 4, ordered: bool = True, raw: bool = False,
                 history: HistoryLimits | None = None,
                 log: Callable[[str], None] = lambda _: None,
                 note: Callable[[str], None] = lambda _: None,
                 max_time: float | None = None, prices: Prices | None = None,
                 context: ModelContext | None = None, budget: Budget | None = None) -> None:
        self.client, self.maker = client, maker
        self.context, self.budget = context, budget  # chat/context.py; --max-cost
        self.concurrency, self.ordered, self.raw = jobs, ordered, raw
        self.history = history or HistoryLimits()
        self.max_time, self.prices = max_time, prices  # each line's --max-time; cost_usd
        self.log, self.note = log, note  # -v lines; lines always shown on stderr
        self.finished = finished if finished is not None else IdSet()
        self.window = threading.Semaphore(jobs * WINDOW_PER_JOB)
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.results: queue.Queue[Result | int] = queue.Queue()
        self.stop = threading.Event()
        self.summary = Summary()
        self.workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._hide: Callable[[], None] = lambda: None

    def _fail(self, error: BaseException, stop: bool = True) -> None:
        """The batch ends with ERROR (the first one wins); STOP: take no more lines."""
        with self._lock:
            if self.summary.error is None:
                self.summary.error = error
        if stop:
            self.stop.set()

    def _read(self, lines: Iterable[tuple[int, bytes]]) -> None:
        seq = 0
        try:
            for number, data in lines:
                job = self.maker.make(seq, number, data)
                if self.finished and job.id in self.finished:
                    self.summary.skipped += 1
                    continue
                while not self.window.acquire(timeout=0.1):
                    if self.stop.is_set():
                        return
                if self.stop.is_set():
                    return
                self.jobs.put(job)
                seq += 1
        except BaseException as exc:  # unreadable input: the lines read so far finish first
            self._fail(exc, stop=False)
        finally:
            self.results.put(seq)

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            if self.stop.is_set():
                continue  # the batch has stopped: nothing more is sent
            if self.budget is not None and self.budget.reached():
                self._fail(self.budget.error())  # --max-cost: no new line starts
                continue
            try:
                self.results.put((job.seq, self._run(job)))
            except BaseException as exc:  # every line would meet it: stop the batch
                error = _stopping(exc)
                self.results.put((job.seq, failure(job, None, error.message)))
                self._fail(error)

    def _run(self, job: Job) -> dict[str, Any]:
        """One line, its history windowed and fitted; its stderr lines named by line."""
        where = f"line {job.line}: "
        fit = HistoryFit(self.history, lambda text: self.log(where + text),
                         lambda text: self.note(f"warning: {where}{text}"))
        record = run_job(self.client, job, self.raw, fit, max_time=self.max_time,
                         prices=self.prices, context=self.context)
        if self.budget is not None and "usage" in record:
            self.budget.add(record["usage"])
        if "error" not in record and (note := fit.fit_note()):
            self.note(where + note)
        return record

    def _write(self, out: Sink, record: dict[str, Any]) -> None:
        self.window.release()
        if out.broken:
            return
        try:
            line = orjson.dumps(record) + b"\n"
        except orjson.JSONEncodeError as exc:  # a number past 64 bits: this line alone fails
            record = {"id": record["id"], "line": record["line"], "error": {
                "status": None, "message": f"the reply cannot be written as JSON ({exc})"}}
            line = orjson.dumps(record) + b"\n"
        if not out.owned:  # stdout: a progress line on the same terminal steps aside
            self._hide()
        try:
            out.write(line)
        except (LocalWriteError, OutputClosedError) as exc:
            self._fail(exc)
            return
        self.summary.count(record)
        if "error" in record and record["error"]["status"] in AUTH_STATUSES and (
                not self.stop.is_set()):
            # every later line would be refused the same way: stop taking new lines
            self.stop.set()
            self.summary.stopped_by = record["error"]

    def _next(self) -> Result | int | None:
        """The next result or line count; None after a quiet TICK, when a dead worker
        (which cannot happen, as workers catch everything) has stopped the batch."""
        try:
            return self.results.get(timeout=TICK)
        except queue.Empty:
            if not all(worker.is_alive() for worker in self.workers):
                self._fail(CohereChatError("internal error: a batch worker stopped"))
            return None

    def run(self, lines: Iterable[tuple[int, bytes]], out: Sink | BinaryIO,
            progress: Callable[[Summary], None] | Progress) -> Summary:
        """Run the batch to its end, a stop or Ctrl-C. `progress` is called after each
        result and in quiet moments; a `Progress` also hides before each line to stdout."""
        out = out if isinstance(out, Sink) else Sink(out, "stdout")
        if isinstance(progress, Progress):
            self._hide = progress.hide
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()
        self.workers = [threading.Thread(target=self._work, daemon=True)
                        for _ in range(self.concurrency)]
        for worker in self.workers:
            worker.start()
        waiting: dict[int, dict[str, Any]] = {}
        try:
            self._write_all(out, waiting, progress)
        except KeyboardInterrupt:
            self.stop.set()
            self.summary.interrupted = True
            self._drain(out, waiting)
        finally:
            self.stop.set()
            for _ in self.workers:
                self.jobs.put(None)
        return self.summary

    def _write_all(self, out: Sink, waiting: dict[int, dict[str, Any]],
                   progress: Callable[[Summary], None] | Progress) -> None:
        written, total = 0, None
        progress(self.summary)
        while (total is None or written < total) and not self.stop.is_set():
            item = self._next()
            if item is None:
                progress(self.summary)  # a quiet moment: the rate and ETA still move
                continue
            if isinstance(item, int):
                total = item
                continue
            waiting[item[0]] = item[1]
            while (written in waiting) if self.ordered else waiting:
                key = written if self.ordered else next(iter(waiting))
                self._write(out, waiting.pop(key))
                written += 1
                progress(self.summary)
        if self.stop.is_set():
            self._drain(out, waiting)

    def _drain(self, out: Sink, waiting: dict[int, dict[str, Any]]) -> None:
        """After a stop: write every result that has finished, in order where it can."""
        while True:
            try:
                item = self.results.get_nowait()
            except queue.Empty:
                break
            if not isinstance(item, int):
                waiting[item[0]] = item[1]
        for key in sorted(waiting):
            self._write(out, waiting.pop(key))


@dataclass(frozen=True)
class BatchJob:
    """Everything one `batch` needs, from the command line."""

    input_path: str
    output: str | None
    options: RequestOptions
    connection: Connection
    fallback_model: str  # when neither --model nor the line names one: env, config, built-in
    resume: bool = False
    overwrite: bool = False  # -o FILE may hold results: empty it and send every line
    jobs: int = 4
    rpm: float | None = None
    ordered: bool = True
    raw: bool = False
    system: str | None = None
    system_file: str | None = None
    images: tuple[str, ...] = ()
    image_detail: str | None = None
    history: HistoryLimits = field(default_factory=HistoryLimits)
    max_time: float | None = None  # --max-time, for each line
    prices: Prices | None = None  # price_input, price_output: cost_usd in the usage
    context: ModelContext | None = None  # the models' context (chat/context.py)
    budget: Budget | None = None  # --max-cost (chat/budget.py)
    lock_timeout: float = 300.0  # how long to wait for another run's lock on -o FILE


def _maker(job: BatchJob) -> JobMaker:
    return JobMaker.from_flags(job.options, job.fallback_model, job.system, job.system_file,
                               job.images, job.image_detail)


def run_batch_job(
    job: BatchJob, stdin: BinaryIO | None, stdout: BinaryIO,
    progress: Callable[[Summary], None] | Progress, log: Callable[[str], None],
    note: Callable[[str], None] = lambda _: None,
) -> Summary:
    """Open the input and output, resume if asked, and run the batch to its end; the
    whole run holds the lock on -o FILE (batch/lock.py: one run per FILE)."""
    maker = _maker(job)
    output = Path(job.output) if job.output not in (None, "-") else None
    source = job.input_path if stdin is None else "stdin"
    with (open_input(job.input_path, None if stdin is None else _own_reader(stdin)) as lines,
          output_lock(output, job.lock_timeout)):
        refuse_same_file(lines, output, stdout)
        if output and not (job.resume or job.overwrite):
            refuse_results(output, RESULTS_HINT)
        finished = Finished()
        if job.resume and output:
            finished = read_finished(output)
            cut_torn_line(output, finished)  # what is appended starts on a line of its own
        with ApiClient(job.connection, log, RateGate(job.rpm)) as client:
            out = Sink.to_file(output, job.resume) if output else Sink(stdout, "stdout")
            run = BatchRun(client, maker, finished.ids, jobs=job.jobs, ordered=job.ordered,
                           raw=job.raw, history=job.history, log=log, note=note,
                           max_time=job.max_time, prices=job.prices, context=job.context,
                           budget=job.budget)
            run.summary.to_file, run.summary.from_stdin = output is not None, stdin is not None
            if stdin is None:  # a file: its lines are counted aside, for the progress
                count_aside(lines, partial(setattr, run.summary, "total"))
            try:
                summary = run.run(iter_lines(lines, source), out, progress)
            finally:
                problem = out.close()
            if problem is not None and summary.error is None:
                summary.error = problem
            return summary


def _own_reader(stdin: BinaryIO) -> BinaryIO:
    """stdin's descriptor read through a buffer of its own. The reader thread (a daemon)
    may be blocked in a read when the run ends (Ctrl-C, SIGTERM, with the writer of a
    pipe still there); in sys.stdin's own buffer it would hold that buffer's lock, and the
    interpreter's shutdown, which closes sys.stdin, would abort (SIGABRT, a core dump).
    Nothing has read stdin before (a stream without a descriptor is used as it is).
    Not a file named: stdin may be a pipe (a FIFO named as INPUT may not: `_open`)."""
    try:
        descriptor = stdin.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is one
        return stdin
    return os.fdopen(descriptor, "rb", closefd=False)  # closefd=False: stdin stays open
