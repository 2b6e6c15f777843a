"""`batch`: many independent requests from JSONL, results as JSONL (spec §10).

One reader thread turns input lines into jobs, `jobs` daemon workers send them over one
pooled client, and the calling thread writes each result as soon as its turn comes.
A window of `4 * jobs` lines bounds what is in flight or waiting to be written, so
memory stays flat however long the input is.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from cohere_cli.client import ChatClient, Connection
from cohere_cli.errors import AUTH_STATUSES, InputError, UsageError
from cohere_cli.jobs import Job, JobMaker, iter_lines, read_finished, run_job
from cohere_cli.media import image_blocks
from cohere_cli.messages import MessageInputs, read_system
from cohere_cli.pacing import RateGate
from cohere_cli.request import RequestOptions, build_request

WINDOW_PER_JOB = 4


@dataclass(frozen=True)
class BatchOptions:
    jobs: int = 4
    ordered: bool = True
    raw: bool = False


@dataclass
class Summary:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    interrupted: bool = False
    stopped_by: dict[str, Any] | None = None  # the error that stopped it early (a refused key)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


class BatchRun:
    """One batch: reader thread, worker threads, and the writer (the calling thread)."""

    def __init__(self, client: ChatClient, maker: JobMaker, options: BatchOptions,
                 finished: set[bytes]) -> None:
        self.client, self.maker, self.options = client, maker, options
        self.finished = finished
        self.window = threading.Semaphore(options.jobs * WINDOW_PER_JOB)
        self.jobs: queue.Queue[Job] = queue.Queue()
        self.results: queue.Queue[tuple[int, dict[str, Any]] | int] = queue.Queue()
        self.stop = threading.Event()
        self.summary = Summary()
        self.failure: BaseException | None = None

    def _read(self, lines: Iterable[tuple[int, bytes]]) -> None:
        seq = 0
        try:
            for number, data in lines:
                job = self.maker.make(seq, number, data)
                if orjson.dumps(job.id) in self.finished:
                    self.summary.skipped += 1
                    continue
                while not self.window.acquire(timeout=0.1):
                    if self.stop.is_set():
                        return
                if self.stop.is_set():
                    return
                self.jobs.put(job)
                seq += 1
        except BaseException as exc:  # an unreadable input ends the batch with its error
            self.failure = exc
        finally:
            self.results.put(seq)

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            self.results.put((job.seq, run_job(self.client, job, self.options.raw)))

    def _write(self, out: BinaryIO, record: dict[str, Any]) -> None:
        out.write(orjson.dumps(record) + b"\n")
        out.flush()
        if "error" in record:
            self.summary.failed += 1
            if record["error"]["status"] in AUTH_STATUSES and not self.stop.is_set():
                # every later line would be refused the same way: stop taking new lines
                self.stop.set()
                self.summary.stopped_by = record["error"]
        else:
            self.summary.ok += 1
            usage = record["usage"]
            self.summary.tokens += int(usage.get("input_tokens", usage.get(
                "billed_input_tokens", 0)) + usage.get("output_tokens", usage.get(
                "billed_output_tokens", 0)))
        self.window.release()

    def run(self, lines: Iterable[tuple[int, bytes]], out: BinaryIO,
            progress: Callable[[Summary], None]) -> Summary:
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()
        for _ in range(self.options.jobs):
            threading.Thread(target=self._work, daemon=True).start()
        waiting: dict[int, dict[str, Any]] = {}
        written, total = 0, None
        try:
            while total is None or written < total:
                item = self.results.get()
                if isinstance(item, int):
                    total = item
                    continue
                waiting[item[0]] = item[1]
                while (written in waiting) if self.options.ordered else waiting:
                    key = written if self.options.ordered else next(iter(waiting))
                    self._write(out, waiting.pop(key))
                    written += 1
                    progress(self.summary)
                if self.stop.is_set():
                    self._drain(out, waiting)
                    break
        except KeyboardInterrupt:
            self.stop.set()
            self.summary.interrupted = True
            self._drain(out, waiting)
        if self.failure is not None:
            raise self.failure
        return self.summary

    def _drain(self, out: BinaryIO, waiting: dict[int, dict[str, Any]]) -> None:
        """After Ctrl-C: write every result that has finished, in order where it can."""
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
    resume: bool = False
    jobs: int = 4
    rpm: float | None = None
    ordered: bool = True
    raw: bool = False
    system: str | None = None
    system_file: str | None = None
    images: tuple[str, ...] = ()
    image_detail: str | None = None


def _maker(job: BatchJob) -> JobMaker:
    """Flags are checked and files read once, into a template every line starts from."""
    system = read_system(MessageInputs(system=job.system, system_file=job.system_file))
    template = build_request([{"role": "user", "content": "-"}], job.options, {},
                             job.connection.settings.model)
    return JobMaker(template, system, image_blocks(job.images, job.image_detail))


def run_batch_job(
    job: BatchJob, stdin: BinaryIO | None, stdout: BinaryIO,
    progress: Callable[[Summary], None], log: Callable[[str], None],
) -> Summary:
    """Open the input and output, resume if asked, and run the batch to its end."""
    maker = _maker(job)
    output = Path(job.output) if job.output not in (None, "-") else None
    if output is not None and stdin is None and output.resolve() == Path(
            job.input_path).resolve():
        raise UsageError("the output file is the input file")
    finished = read_finished(output) if job.resume and output else set()
    with _open(job.input_path, "rb") if stdin is None else nullcontext(stdin) as lines, \
            ChatClient(job.connection, log, RateGate(job.rpm)) as client:
        target = _open(output, "ab" if job.resume else "wb") if output else nullcontext(stdout)
        with target as out:
            run = BatchRun(client, maker, BatchOptions(job.jobs, job.ordered, job.raw), finished)
            return run.run(iter_lines(lines), out, progress)


def _open(path: str | Path, mode: str) -> BinaryIO:
    try:
        return open(path, mode)
    except OSError as exc:
        raise InputError(str(path), f"cannot open: {exc.strerror}") from None
