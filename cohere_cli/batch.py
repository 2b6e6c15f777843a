"""`batch`: many independent requests from JSONL, results as JSONL (spec §10).

One reader thread turns input lines into jobs, `jobs` daemon workers send them over one
pooled client, and the calling thread writes each result as soon as its turn comes.
A window of `4 * jobs` lines bounds what is in flight or waiting to be written, so
memory stays flat however long the input is.

Nothing leaves a batch waiting without progress: a worker turns every failure into a
result (what every line would meet also stops the batch), the writer checks that the
workers live, and a failed write stops the batch. `Summary.error` says what stopped it.
"""
from __future__ import annotations

import contextlib
import math
import os
import queue
import select
import stat
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from cohere_cli.batch_lines import IdSet, Job, JobMaker, failure, iter_lines, read_finished, run_job
from cohere_cli.errors import (
    AUTH_STATUSES,
    CohereChatError,
    InputError,
    LocalWriteError,
    OutputClosedError,
    UsageError,
)
from cohere_cli.media import image_blocks
from cohere_cli.messages import MessageInputs, read_system
from cohere_cli.request import RequestOptions, build_request
from cohere_cli.wire.client import ChatClient, Connection
from cohere_cli.wire.pacing import RateGate

WINDOW_PER_JOB = 4
TICK = 0.5  # how often a writer with nothing to write checks that its workers live
Result = tuple[int, dict[str, Any]]


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
    stopped_by: dict[str, Any] | None = None  # a refused key's error: every line would get it
    error: BaseException | None = None  # anything else that ended the batch, raised after it

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


def _tokens(usage: dict[str, Any]) -> int:
    total = 0
    for name, billed in (("input_tokens", "billed_input_tokens"),
                         ("output_tokens", "billed_output_tokens")):
        value = usage.get(name, usage.get(billed, 0))
        if isinstance(value, (int, float)) and math.isfinite(value):
            total += int(value)
    return total


def _stopping(exc: BaseException) -> CohereChatError:
    """What a worker met that every line would meet: a configuration error as it is,
    anything else as an internal error (never its text: it may quote a header)."""
    if isinstance(exc, CohereChatError):
        return exc
    error = CohereChatError(f"internal error: {type(exc).__name__} while sending a request",
                            hint="the batch stopped, as every line would meet it")
    error.__cause__ = exc
    return error


class Sink:
    """Where the result lines go. Each line is written whole, straight to the file
    descriptor when there is one (nothing is left in a buffer to fail again at exit);
    a failed write names the file, and a half-written line is cut off again."""

    def __init__(self, stream: BinaryIO, name: str, owned: bool = False) -> None:
        self.stream, self.name, self.owned = stream, name, owned
        self.broken = False
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
        info = _fstat(stream)
        self.fd = stream.fileno() if info is not None else None
        self.regular = info is not None and stat.S_ISREG(info.st_mode)

    @classmethod
    def to_file(cls, path: Path, append: bool) -> Sink:
        """FILE, emptied first unless APPEND."""
        mode = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        try:
            handle = open(os.open(path, mode, 0o666), "wb", buffering=0)  # noqa: SIM115
        except OSError as exc:
            raise InputError(str(path), f"cannot open: {exc.strerror}") from None
        return cls(handle, str(path), owned=True)  # type: ignore[arg-type]

    def write(self, data: bytes) -> None:
        try:
            self._write(data)
        except BrokenPipeError:
            self.broken = True
            raise OutputClosedError("broken pipe") from None
        except OSError as exc:
            self.broken = True
            raise self._problem(exc) from None

    def _problem(self, exc: OSError) -> LocalWriteError:
        hint = "the lines written are kept; rerun with --resume" if self.owned else None
        return LocalWriteError(f"{self.name}: cannot write: {exc.strerror or exc}; "
                               "the batch stopped", hint)

    def _write(self, data: bytes) -> None:
        if self.fd is None:
            self.stream.write(data)
            self.stream.flush()
            return
        size = os.fstat(self.fd).st_size if self.regular else 0
        view = memoryview(data)
        try:
            while view:
                try:
                    view = view[os.write(self.fd, view):]
                except BlockingIOError:
                    select.select([], [self.fd], [], TICK)
        except BaseException:
            if self.regular:  # no torn line left behind
                with contextlib.suppress(OSError):
                    os.ftruncate(self.fd, size)
            raise

    def close(self) -> LocalWriteError | None:
        """Close FILE (never stdout); the problem if that failed."""
        if self.owned:
            try:
                self.stream.close()
            except OSError as exc:
                return self._problem(exc)
        return None


class BatchRun:
    """One batch: reader thread, worker threads, and the writer (the calling thread)."""

    def __init__(self, client: ChatClient, maker: JobMaker, options: BatchOptions,
                 finished: IdSet | None = None) -> None:
        self.client, self.maker, self.options = client, maker, options
        self.finished = finished if finished is not None else IdSet()
        self.window = threading.Semaphore(options.jobs * WINDOW_PER_JOB)
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.results: queue.Queue[Result | int] = queue.Queue()
        self.stop = threading.Event()
        self.summary = Summary()
        self.workers: list[threading.Thread] = []
        self._lock = threading.Lock()

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
            try:
                self.results.put((job.seq, run_job(self.client, job, self.options.raw)))
            except BaseException as exc:  # every line would meet it: stop the batch
                error = _stopping(exc)
                self.results.put((job.seq, failure(job, None, error.message)))
                self._fail(error)

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
        try:
            out.write(line)
        except (LocalWriteError, OutputClosedError) as exc:
            self._fail(exc)
            return
        if "error" in record:
            self.summary.failed += 1
            if record["error"]["status"] in AUTH_STATUSES and not self.stop.is_set():
                # every later line would be refused the same way: stop taking new lines
                self.stop.set()
                self.summary.stopped_by = record["error"]
        else:
            self.summary.ok += 1
            self.summary.tokens += _tokens(record["usage"])

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
            progress: Callable[[Summary], None]) -> Summary:
        out = out if isinstance(out, Sink) else Sink(out, "stdout")
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()
        self.workers = [threading.Thread(target=self._work, daemon=True)
                        for _ in range(self.options.jobs)]
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
                   progress: Callable[[Summary], None]) -> None:
        written, total = 0, None
        while (total is None or written < total) and not self.stop.is_set():
            item = self._next()
            if item is None:
                continue
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
    try:  # what every line carries must be sendable, or no line is
        orjson.dumps([template, system])
    except orjson.JSONEncodeError:
        raise InputError("the command line", "a value is not valid UTF-8") from None
    return JobMaker(template, system, image_blocks(job.images, job.image_detail))


def _fstat(stream: Any) -> os.stat_result | None:
    try:
        return os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # no descriptor (io.UnsupportedOperation)
        return None


def _refuse_same_file(source: Any, output: Path | None, stdout: Any) -> None:
    """The output may not be the input: compared by device and inode (a hard link, a
    symlink, stdin redirected from it all count), before it is emptied or appended to."""
    read = _fstat(source)
    if read is None:
        return
    try:
        written = output.stat() if output is not None else _fstat(stdout)
    except OSError:
        return
    if written is not None and stat.S_ISREG(written.st_mode) and (
            written.st_dev, written.st_ino) == (read.st_dev, read.st_ino):
        raise UsageError("the output file is the input file",
                         hint="write the results to another file")


def run_batch_job(
    job: BatchJob, stdin: BinaryIO | None, stdout: BinaryIO,
    progress: Callable[[Summary], None], log: Callable[[str], None],
) -> Summary:
    """Open the input and output, resume if asked, and run the batch to its end."""
    maker = _maker(job)
    output = Path(job.output) if job.output not in (None, "-") else None
    source = job.input_path if stdin is None else "stdin"
    with _open(job.input_path) if stdin is None else nullcontext(stdin) as lines:
        _refuse_same_file(lines, output, stdout)
        finished = read_finished(output) if job.resume and output else IdSet()
        with ChatClient(job.connection, log, RateGate(job.rpm)) as client:
            out = Sink.to_file(output, job.resume) if output else Sink(stdout, "stdout")
            run = BatchRun(client, maker, BatchOptions(job.jobs, job.ordered, job.raw), finished)
            try:
                summary = run.run(iter_lines(lines, source), out, progress)
            finally:
                problem = out.close()
            if problem is not None and summary.error is None:
                summary.error = problem
            return summary


def _open(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(str(path), f"cannot open: {exc.strerror}") from None
