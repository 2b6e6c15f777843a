"""`batch`: many requests from JSONL, one result line per input line."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from cohere_cli import collect_as_python_does
from cohere_cli.base.errors import AuthError, BudgetError, ExitCode, UsageError
from cohere_cli.cli.checked_command import CheckedCommand
from cohere_cli.cli.commands.batch_flags import BatchFlags
from cohere_cli.cli.commands.batches import remote_options, run_remote
from cohere_cli.cli.flags import typed
from cohere_cli.cli.from_flags import (
    budget_of,
    connection_of,
    history_limits,
    logger,
    param_warnings,
    send_context,
    settings_of,
    with_preset,
)
from cohere_cli.cli.options import (
    PER_MINUTE,
    SECONDS,
    batch_history_options,
    connection_options,
    message_options,
    preset_option,
    request_options,
    run_options,
)

if TYPE_CHECKING:
    from cohere_cli.cli.console import Console
    from cohere_cli.cli.runs import RunLog
    from cohere_cli.cli.streams import Streams


@click.command(cls=CheckedCommand)
@click.argument("input_path", metavar="[INPUT]", default="-",
                type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=4, show_default=True,
              help="Concurrent requests.")
@click.option("--rpm", type=PER_MINUTE, metavar="N",
              help="Start requests at least 60/N seconds apart (no bursts).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the results to FILE.  [default: stdout]")
@click.option("--unordered", is_flag=True, help="Write results as they finish.")
@click.option("--raw", is_flag=True, help="Add the whole response to each result.")
@click.option("--resume", is_flag=True,
              help="Skip ids that already succeeded in --output FILE; retry the rest.")
@click.option("--overwrite", is_flag=True,
              help="Replace the results --output FILE already holds: send every line again "
              "(without it, or --resume, such a FILE is refused).")
@click.option("--lock-timeout", type=SECONDS, default=300, show_default=True, metavar="SECONDS",
              help="How long to wait for another run's lock on --output FILE (at most "
              "86400).")
@click.option("--estimate", is_flag=True,
              help="Count every line's input tokens (and, with prices, their cost); send "
              "nothing. With --remote too.")
@message_options
@preset_option
@batch_history_options
@request_options
@run_options
@connection_options
@remote_options
@typed(BatchFlags)
def batch(flags: BatchFlags, streams: Streams) -> int:
    """Send many requests from JSONL; write one result line per input line."""
    from cohere_cli.cli.console import Console
    from cohere_cli.cli.runs import RunLog
    from cohere_cli.cli.stop_signals import as_ctrl_c

    collect_as_python_does()  # a batch runs long: local, --remote or --estimate
    console = Console.of(streams)
    runlog = RunLog("batch", flags.settings.log)
    with as_ctrl_c():  # SIGTERM and SIGHUP stop it as Ctrl-C does
        return runlog.run(console, lambda: _batch(flags, streams, console, runlog))


def _batch(flags: BatchFlags, streams: Streams, console: Console, runlog: RunLog) -> int:
    from cohere_cli.batch.run import BatchJob, run_batch_job
    from cohere_cli.cli.batch_report import interrupted_text, progress_reporter, report_summary

    for flag, given in (("--resume", flags.resume), ("--overwrite", flags.overwrite)):
        if given and not flags.output:
            raise UsageError(f"{flag} needs -o/--output FILE")
    if flags.resume and flags.overwrite:
        raise UsageError("--resume and --overwrite cannot go together",
                         hint="--resume keeps the results in FILE, --overwrite replaces them")
    if flags.estimate:
        from cohere_cli.cli.batch_estimate import run_estimate

        return run_estimate(flags, streams, console)
    remote = run_remote(flags, streams, console, runlog)
    if remote is not None:
        return remote
    input_path = flags.input_path
    if input_path == "-" and (streams.stdin is None or streams.stdin_isatty):
        raise UsageError("no input", hint="give INPUT, or pipe JSONL on stdin")
    messages = flags.messages
    if "-" in (*messages.images, *flags.request.documents):
        raise UsageError("batch takes no --image - or --document - (stdin is not for them)")
    settings = settings_of(flags.settings, console, with_preset=True)
    runlog.use(settings)
    param_warnings(flags.request.params, console)
    job = BatchJob(
        input_path=input_path, output=flags.output, resume=flags.resume,
        overwrite=flags.overwrite, jobs=flags.jobs,
        rpm=flags.rpm, ordered=not flags.unordered, raw=flags.raw, system=messages.system,
        system_file=messages.system_file, images=messages.images,
        image_detail=messages.image_detail, options=with_preset(flags.request, settings),
        connection=connection_of(settings, flags.connection, flags.jobs),
        fallback_model=settings.model, history=history_limits(settings),
        max_time=settings.max_time, prices=settings.prices, budget=budget_of(settings),
        lock_timeout=flags.lock_timeout,
        context=send_context(settings, connection_of(settings, flags.connection), console,
                             flags.connection.verbose),
    )
    runlog.record.model = job.options.model or settings.model
    summary = run_batch_job(job, streams.stdin if input_path == "-" else None,
                            console.stdout, progress_reporter(console),
                            logger(console, flags.connection.verbose), console.note)
    report_summary(console, summary, settings.prices)
    runlog.record.usage = summary.usage
    runlog.record.totals = {"input": input_path, "output": flags.output, "ok": summary.ok,
                            "failed": summary.failed, "skipped": summary.skipped}
    runlog.error = ("interrupted (Ctrl-C, SIGTERM or SIGHUP)" if summary.interrupted else
                    f"{summary.failed} of {summary.ok + summary.failed} lines failed")
    if summary.interrupted:
        return ExitCode.INTERRUPTED
    if isinstance(summary.error, BudgetError):  # --max-cost: how to go on, as after Ctrl-C
        console.note(interrupted_text(summary, sys.argv[1:], "budget spent"))
    if summary.error is not None:  # what stopped it: a failed write, unreadable input, ...
        raise summary.error
    if summary.stopped_by:
        error = summary.stopped_by
        raise AuthError(error["status"], error["message"], hint="the batch stopped, as every "
                        "line would be refused; check the API key (CO_API_KEY or --api-key-file)")
    return ExitCode.BATCH_FAILED if summary.failed else ExitCode.OK
