"""`batch --remote` on Cohere's Batch API, and the `batches` command that lists, shows
and cancels the account's batches (issue 19; docs/remote-batch.md)."""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from cohere_cli.base.errors import ExitCode, UsageError
from cohere_cli.cli.from_flags import (
    connection_of,
    logger,
    param_warnings,
    request_options_of,
    settings_of,
)
from cohere_cli.cli.group import CheckedCommand
from cohere_cli.cli.group import output_streams as _streams
from cohere_cli.cli.options import connection_options

if TYPE_CHECKING:
    from cohere_cli.batch.summary import Summary
    from cohere_cli.cli.render import Console
    from cohere_cli.cli.runs import RunLog

F = Callable[..., Any]

REMOTE_OPTIONS: list[Callable[[F], F]] = [  # --remote and what goes with it, on `batch`
    click.option("--remote", is_flag=True,
                 help="Run the batch on Cohere's Batch API (needs -o FILE); rerun the same "
                 "command to continue it."),
    click.option("--detach", is_flag=True,
                 help="With --remote: submit the batch, print its id and exit."),
    click.option("--attach", metavar="ID",
                 help="Wait for the remote batch ID and write its results to -o FILE."),
]
REDRAW = 0.2  # seconds between progress lines


def remote_options(func: F) -> F:
    for option in reversed(REMOTE_OPTIONS):
        func = option(func)
    return func


def _check_flags(kw: dict[str, Any]) -> str:
    """The flags that go with --remote; -o FILE."""
    if kw["detach"] and kw["attach"]:
        raise UsageError("--detach and --attach cannot go together")
    output = kw["output"]
    if not output or output == "-":
        raise UsageError("--remote needs -o/--output FILE",
                         hint="the run's state is kept beside FILE, as FILE.remote.json")
    for flag in ("resume", "unordered"):
        if kw[flag]:
            raise UsageError(f"--{flag} does not go with --remote",
                             hint="a remote batch continues when the same command runs again")
    return str(output)


def run_remote(input_path: str, kw: dict[str, Any], console: Console,
               runlog: RunLog) -> int | None:
    """Run `batch` on the Batch API when asked to (its exit status); None: run it here."""
    if not (kw["remote"] or kw["attach"]):
        if kw["detach"]:
            raise UsageError("--detach needs --remote")
        return None
    from cohere_cli.batch.remote.prepare import LineSource
    from cohere_cli.batch.remote.run import RemoteJob, require_fastavro

    output = _check_flags(kw)
    attached = kw["attach"] and os.path.exists(f"{output}.remote.json")  # needs no INPUT
    if input_path == "-" and (sys.stdin is None or sys.stdin.isatty()) and not attached:
        raise UsageError("no input", hint="give INPUT: the lines the batch is made from")
    require_fastavro()
    if "-" in kw["images"]:
        raise UsageError("batch takes no --image - (stdin is not for it)")
    settings = settings_of(kw, console, with_preset=True)
    runlog.use(settings)
    param_warnings(kw, console)
    lines = LineSource(input_path, request_options_of(kw, settings), settings.model,
                       kw["system"], kw["system_file"], kw["images"], kw["image_detail"])
    job = RemoteJob(lines, output, connection_of(settings, kw), kw["raw"], settings.prices,
                    kw["detach"], kw["attach"], settings.max_time)
    runlog.record.model = job.lines.options.model or settings.model
    return _run(job, input_path, kw, console, runlog)


def _run(job: Any, input_path: str, kw: dict[str, Any], console: Console,
         runlog: RunLog) -> int:
    from cohere_cli.batch.remote.run import run_remote_job
    from cohere_cli.cli.batch_report import report_summary

    stdin = sys.stdin.buffer if input_path == "-" else None
    try:
        outcome = run_remote_job(job, stdin, _progress(console),
                                 logger(console, kw["verbose"]), console.note)
    except KeyboardInterrupt:
        console.clear_progress()
        console.note(f"interrupted: the batch goes on at Cohere; run the same command again "
                     f"to collect its results (state in {job.output}.remote.json)")
        return ExitCode.INTERRUPTED
    if outcome.summary is None:
        console.out(f"{outcome.batch_id}\n".encode())
        console.note(f"submitted batch {outcome.batch_id}; to collect its results: "
                     f"cohere-chat batch --remote -o {job.output} INPUT (the same command, "
                     "without --detach)")
        return console.written()
    summary = outcome.summary
    report_summary(console, summary, job.prices)
    runlog.record.usage = summary.usage
    runlog.record.totals = {"input": input_path, "output": job.output, "ok": summary.ok,
                            "failed": summary.failed, "skipped": 0, "batch": outcome.batch_id}
    runlog.error = f"{summary.failed} of {summary.ok + summary.failed} lines failed"
    return ExitCode.BATCH_FAILED if summary.failed else ExitCode.OK


def _progress(console: Console) -> Callable[[dict[str, Any], Summary], None]:
    """The batch's counters on a terminal's stderr: done/total, failed, status, time."""
    drawn = [-REDRAW]

    def show(batch: dict[str, Any], summary: Summary) -> None:
        now = time.monotonic()
        if not console.stderr_is_terminal() or now - drawn[0] < REDRAW:
            return
        drawn[0] = now
        console.progress(f"remote {_counters(batch)} {summary.seconds:.0f}s")
    return show


def _counters(batch: dict[str, Any]) -> str:
    ok, failed = batch.get("num_successful_records", 0), batch.get("num_failed_records", 0)
    done = (ok if isinstance(ok, int) else 0) + (failed if isinstance(failed, int) else 0)
    status = str(batch.get("status", "?")).removeprefix("BATCH_STATUS_")
    return f"{done}/{batch.get('num_records', '?')} failed={failed} {status}"


@click.group("batches", cls=click.Group)
def batches() -> None:
    """The account's batches on Cohere's Batch API: list, show, cancel."""


def _api(kw: dict[str, Any], console: Console) -> Any:
    from cohere_cli.wire.batch_api import BatchAPI

    return BatchAPI(connection_of(settings_of(kw, console), kw),
                    logger(console, kw["verbose"]))


@batches.command("list", cls=CheckedCommand)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line, as the API sent it.")
@connection_options
def list_command(as_json: bool, **kw: Any) -> int:
    """One batch a line: id, status, done/total, name."""
    from cohere_cli.cli.render import Console, escape_line

    console = Console(*_streams())
    with _api(kw, console) as api:
        for batch in api.batches():
            if as_json:
                console.out_json(batch)
            else:
                fields = (str(batch.get("id")), _counters(batch), str(batch.get("name", "")))
                console.out("\t".join(map(escape_line, fields)).encode() + b"\n")
    return console.written()


@batches.command("show", cls=CheckedCommand)
@click.argument("batch_id", metavar="ID")
@connection_options
def show_command(batch_id: str, **kw: Any) -> int:
    """The batch ID: status, counters, tokens (JSON, as the API sent it)."""
    from cohere_cli.cli.render import Console

    console = Console(*_streams())
    with _api(kw, console) as api:
        console.out_json(api.batch(batch_id))
    return console.written()


@batches.command("cancel", cls=CheckedCommand)
@click.argument("batch_id", metavar="ID")
@connection_options
def cancel_command(batch_id: str, **kw: Any) -> int:
    """Cancel the batch ID (while it is queued or running)."""
    from cohere_cli.cli.render import Console

    console = Console(*_streams())
    with _api(kw, console) as api:
        api.cancel(batch_id)
    console.note(f"batch {batch_id}: cancel requested")
    return ExitCode.OK
