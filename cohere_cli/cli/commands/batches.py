"""`batch --remote` on Cohere's Batch API, and the `batches` command that lists, shows
and cancels the account's batches (issue 19; docs/remote-batch.md)."""
from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from cohere_cli.base.errors import ExitCode, UsageError
from cohere_cli.cli.checked_command import CheckedCommand, CheckedGroup
from cohere_cli.cli.commands.batches_cleanup import cleanup_command
from cohere_cli.cli.flags import part, typed
from cohere_cli.cli.from_flags import (
    connection_of,
    logger,
    param_warnings,
    settings_of,
    with_preset,
)
from cohere_cli.cli.options import ConnectionFlags, call_time_option, connection_options
from cohere_cli.settings.config import ConfigFlags

if TYPE_CHECKING:
    from cohere_cli.batch.remote.run import RemoteJob
    from cohere_cli.batch.summary import Summary
    from cohere_cli.cli.commands.batch_flags import BatchFlags
    from cohere_cli.cli.console import Console
    from cohere_cli.cli.runs import RunLog
    from cohere_cli.cli.streams import Streams
    from cohere_cli.wire.batch_api import BatchAPI

F = Callable[..., Any]

REMOTE_OPTIONS: list[Callable[[F], F]] = [  # --remote and what goes with it, on `batch`
    click.option("--remote", is_flag=True,
                 help="Run the batch on Cohere's Batch API (needs -o FILE); rerun the same "
                 "command to continue it."),
    click.option("--detach", is_flag=True,
                 help="With --remote: submit the batch, print its id and exit."),
    click.option("--attach", metavar="ID",
                 help="Wait for the remote batch ID and write its results to -o FILE."),
    click.option("--keep-datasets", is_flag=True,
                 help="With --remote: keep the uploaded lines and the replies (the input "
                 "and output datasets) on the account; by default they are deleted once "
                 "every result line is written."),
]
REDRAW = 0.2  # seconds between progress lines


def remote_options(func: F) -> F:
    for option in reversed(REMOTE_OPTIONS):
        func = option(func)
    return func


def _check_flags(flags: BatchFlags) -> str:
    """The flags that go with --remote; -o FILE."""
    if flags.detach and flags.attach:
        raise UsageError("--detach and --attach cannot go together")
    output = flags.output
    if not output or output == "-":
        raise UsageError("--remote needs -o/--output FILE",
                         hint="the run's state is kept beside FILE, as FILE.remote.json")
    for flag, given in (("resume", flags.resume), ("unordered", flags.unordered)):
        if given:
            raise UsageError(f"--{flag} does not go with --remote",
                             hint="a remote batch continues when the same command runs again")
    return output


def require_fastavro() -> None:
    """The output parts are Avro: without fastavro, stop before anything is sent, saying
    how to add it to this install."""
    try:
        import fastavro  # noqa: F401
    except ImportError:
        from cohere_cli.cli.hints import install_hint

        raise UsageError("batch --remote needs fastavro to read the results",
                         hint=install_hint("fastavro")) from None


def run_remote(flags: BatchFlags, streams: Streams, console: Console,
               runlog: RunLog) -> int | None:
    """Run `batch` on the Batch API when asked to (its exit status); None: run it here."""
    if not (flags.remote or flags.attach):
        if flags.detach:
            raise UsageError("--detach needs --remote")
        return None
    from cohere_cli.batch.remote.prepare import LineSource
    from cohere_cli.batch.remote.run import RemoteJob
    from cohere_cli.cli.batch_estimate import check_remote_budget

    output = _check_flags(flags)
    input_path, messages = flags.input_path, flags.messages
    attached = flags.attach and os.path.exists(f"{output}.remote.json")  # needs no INPUT
    if input_path == "-" and (streams.stdin is None or streams.stdin_isatty) and not attached:
        raise UsageError("no input", hint="give INPUT: the lines the batch is made from")
    require_fastavro()
    if "-" in messages.images:
        raise UsageError("batch takes no --image - (stdin is not for it)")
    settings = settings_of(flags.settings, console, with_preset=True)
    runlog.use(settings)
    param_warnings(flags.request.params, console)
    check_remote_budget(flags, streams, console, settings, output)
    lines = LineSource(input_path, with_preset(flags.request, settings), settings.model,
                       messages.system, messages.system_file, messages.images,
                       messages.image_detail)
    job = RemoteJob(lines, output, connection_of(settings, flags.connection, flags.jobs),
                    flags.raw, settings.prices, flags.detach, flags.attach, settings.max_time,
                    flags.keep_datasets,
                    flags.overwrite, flags.lock_timeout)
    runlog.record.model = job.lines.options.model or settings.model
    stdin = streams.stdin if input_path == "-" else None
    return _run(job, stdin, input_path, flags.connection.verbose, console, runlog)


def _run(job: RemoteJob, stdin: BinaryIO | None, input_path: str, verbose: bool,
         console: Console, runlog: RunLog) -> int:
    from cohere_cli.batch.remote.run import run_remote_job
    from cohere_cli.cli.batch_report import report_summary
    from cohere_cli.cli.hints import batch_api_hints

    try:
        with batch_api_hints(job.attach):
            outcome = run_remote_job(job, stdin, _progress(console),
                                     logger(console, verbose), console.note)
    except KeyboardInterrupt:
        console.clear_progress()
        console.note(stopped_note(job.output))
        runlog.error = "interrupted (Ctrl-C, SIGTERM or SIGHUP)"  # as a local batch's
        return ExitCode.INTERRUPTED
    if outcome.summary is None:
        console.out(f"{outcome.batch_id}\n".encode())
        console.note(f"submitted batch {outcome.batch_id}; to collect its results: "
                     f"cohere-chat batch --remote -o {job.output} INPUT (the same command, "
                     "without --detach)")
        return console.written()
    summary = outcome.summary
    report_summary(console, summary, job.prices)
    if not outcome.batch_id:  # nothing to send: no batch, even with --detach
        console.note("no batch was submitted (nothing billed): " + (
            f"no line can be sent; each line's error is in {job.output}" if summary.failed
            else "the input has no lines"))
    runlog.record.usage = summary.usage
    runlog.record.totals = {"input": input_path, "output": job.output, "ok": summary.ok,
                            "failed": summary.failed, "skipped": 0, "batch": outcome.batch_id}
    runlog.error = f"{summary.failed} of {summary.ok + summary.failed} lines failed"
    return ExitCode.BATCH_FAILED if summary.failed else ExitCode.OK


def stopped_note(output: str) -> str:
    """What a remote run stopped by Ctrl-C (SIGTERM, SIGHUP) leaves, from its state file:
    a batch at Cohere (created, or its create sent), or none yet (nothing billed)."""
    from pathlib import Path

    from cohere_cli.base.errors import CohereChatError
    from cohere_cli.batch.remote.state import StateFiles

    files = StateFiles(Path(output))
    try:
        state = files.read()
    except CohereChatError:  # kept as it is: it may name a batch that is paid for
        return (f"interrupted: a batch may go on at Cohere; run the same command again "
                f"(state in {files.state})")
    if state is not None and (state.batch_id or state.creating):
        return (f"interrupted: the batch goes on at Cohere; run the same command again to "
                f"collect its results (state in {files.state})")
    if state is not None:
        return (f"interrupted before a batch was created (nothing billed); run the same "
                f"command again to go on (state in {files.state})")
    return "interrupted before anything was sent (nothing billed)"


def _progress(console: Console) -> Callable[[dict[str, Any], Summary], None]:
    """The batch's counters on a terminal's stderr: done/total, failed, status, time."""
    drawn = [-REDRAW]

    def show(batch: dict[str, Any], summary: Summary) -> None:
        now = time.monotonic()
        if not console.stderr_is_terminal or now - drawn[0] < REDRAW:
            return
        drawn[0] = now
        console.progress(f"remote {_counters(batch)} {summary.seconds:.0f}s")
    return show


def _counters(batch: dict[str, Any]) -> str:
    ok, failed = batch.get("num_successful_records", 0), batch.get("num_failed_records", 0)
    done = (ok if isinstance(ok, int) else 0) + (failed if isinstance(failed, int) else 0)
    status = str(batch.get("status", "?")).removeprefix("BATCH_STATUS_")
    return f"{done}/{batch.get('num_records', '?')} failed={failed} {status}"


@click.group("batches", cls=CheckedGroup)
def batches() -> None:
    """The account's batches on Cohere's Batch API: list, show, cancel, cleanup."""


@dataclass(frozen=True)
class ListFlags:
    """`batches list`: the output's form, and how to reach the API."""

    as_json: bool
    settings: ConfigFlags = field(metadata=part(ConfigFlags))
    connection: ConnectionFlags = field(metadata=part(ConnectionFlags))


@dataclass(frozen=True)
class BatchIdFlags:
    """`batches show` and `batches cancel`: the batch, and how to reach the API."""

    batch_id: str
    settings: ConfigFlags = field(metadata=part(ConfigFlags))
    connection: ConnectionFlags = field(metadata=part(ConnectionFlags))


@contextmanager
def _api(flags: ConfigFlags, connection: ConnectionFlags, console: Console,
         batch_id: str | None = None, cancel: bool = False) -> Iterator[BatchAPI]:
    """The Batch API, every call within --max-time (from now); its errors get
    batch_api_hints (BATCH_ID: the batch the command names; CANCEL: the request is its
    cancel)."""
    from cohere_cli.cli.hints import batch_api_hints
    from cohere_cli.settings.names import time_limit
    from cohere_cli.wire.batch_api import BatchAPI

    with batch_api_hints(batch_id, cancel):
        settings = settings_of(flags, console)
        with BatchAPI(connection_of(settings, connection), logger(console, connection.verbose),
                      time_limit(settings.max_time).start()) as api:
            yield api


@batches.command("list", cls=CheckedCommand)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line, as the API sent it.")
@call_time_option
@connection_options
@typed(ListFlags)
def list_command(flags: ListFlags, streams: Streams) -> int:
    """One batch a line: id, done/total, failed, status, name."""
    from cohere_cli.cli.console import Console, escape_line

    console = Console.of(streams)
    with _api(flags.settings, flags.connection, console) as api:
        for batch in api.batches():
            if flags.as_json:
                console.out_json(batch)
            else:
                fields = (str(batch.get("id")), _counters(batch), str(batch.get("name", "")))
                console.out("\t".join(map(escape_line, fields)).encode() + b"\n")
    return console.written()


OnBatch = Callable[["BatchAPI", str, "Console"], int]  # a command's part: its exit status


def _on_batch(name: str, cancel: bool = False) -> Callable[[OnBatch], click.Command]:
    """A `batches` command NAME on one batch: the argument ID, --max-time and the
    connection flags, and the Batch API as `_api` makes it for ID; the decorated function
    does the command's part with them, its docstring the command's help."""

    def make(act: OnBatch) -> click.Command:
        @functools.wraps(act)
        def command(flags: BatchIdFlags, streams: Streams) -> int:
            from cohere_cli.cli.console import Console

            console = Console.of(streams)
            with _api(flags.settings, flags.connection, console, flags.batch_id, cancel) as api:
                return act(api, flags.batch_id, console)

        callback = call_time_option(connection_options(typed(BatchIdFlags)(command)))
        return batches.command(name, cls=CheckedCommand)(
            click.argument("batch_id", metavar="ID")(callback))

    return make


@_on_batch("show")
def show_command(api: BatchAPI, batch_id: str, console: Console) -> int:
    """The batch ID: status, counters, tokens (JSON, as the API sent it)."""
    console.out_json(api.batch(batch_id))
    return console.written()


@_on_batch("cancel", cancel=True)
def cancel_command(api: BatchAPI, batch_id: str, console: Console) -> int:
    """Cancel the batch ID (while it is queued or running)."""
    api.cancel(batch_id)
    console.note(f"batch {batch_id}: cancel requested")
    return ExitCode.OK


batches.add_command(cleanup_command)
