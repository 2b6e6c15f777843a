"""`batch`: many requests from JSONL, one result line per input line."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from cohere_cli.base.errors import AuthError, ExitCode, UsageError
from cohere_cli.cli.checked_command import CheckedCommand
from cohere_cli.cli.commands.batches import remote_options, run_remote
from cohere_cli.cli.from_flags import (
    connection_of,
    history_limits,
    logger,
    param_warnings,
    request_options_of,
    settings_of,
)
from cohere_cli.cli.options import (
    PER_MINUTE,
    connection_options,
    history_options,
    message_options,
    preset_option,
    request_options,
    run_options,
)
from cohere_cli.cli.streams import Streams, current_streams

if TYPE_CHECKING:
    from cohere_cli.cli.render import Console
    from cohere_cli.cli.runs import RunLog


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
@message_options
@preset_option
@history_options
@request_options
@run_options
@connection_options
@remote_options
def batch(input_path: str, **kw: Any) -> int:
    """Send many requests from JSONL; write one result line per input line."""
    from cohere_cli.cli.render import Console
    from cohere_cli.cli.runs import RunLog

    streams = current_streams()
    console = Console.of(streams)
    runlog = RunLog("batch", kw["log"])
    return runlog.run(console, lambda: _batch(input_path, kw, streams, console, runlog))


def _batch(input_path: str, kw: dict[str, Any], streams: Streams, console: Console,
           runlog: RunLog) -> int:
    from cohere_cli.batch.run import BatchJob, run_batch_job
    from cohere_cli.cli.batch_report import progress_reporter, report_summary

    if kw["resume"] and not kw["output"]:
        raise UsageError("--resume needs -o/--output FILE")
    remote = run_remote(input_path, kw, streams, console, runlog)
    if remote is not None:
        return remote
    if input_path == "-" and (streams.stdin is None or streams.stdin_isatty):
        raise UsageError("no input", hint="give INPUT, or pipe JSONL on stdin")
    if "-" in (*kw["images"], *kw["documents"]):
        raise UsageError("batch takes no --image - or --document - (stdin is not for them)")
    settings = settings_of(kw, console, with_preset=True)
    runlog.use(settings)
    param_warnings(kw, console)
    job = BatchJob(
        input_path=input_path, output=kw["output"], resume=kw["resume"], jobs=kw["jobs"],
        rpm=kw["rpm"], ordered=not kw["unordered"], raw=kw["raw"], system=kw["system"],
        system_file=kw["system_file"], images=kw["images"], image_detail=kw["image_detail"],
        options=request_options_of(kw, settings),
        connection=connection_of(settings, kw), fallback_model=settings.model,
        history=history_limits(settings), max_time=settings.max_time, prices=settings.prices,
    )
    runlog.record.model = job.options.model or settings.model
    summary = run_batch_job(job, streams.stdin if input_path == "-" else None,
                            console.stdout, progress_reporter(console),
                            logger(console, kw["verbose"]), console.note)
    report_summary(console, summary, settings.prices)
    runlog.record.usage = summary.usage
    runlog.record.totals = {"input": input_path, "output": kw["output"], "ok": summary.ok,
                            "failed": summary.failed, "skipped": summary.skipped}
    runlog.error = ("interrupted (Ctrl-C)" if summary.interrupted else
                    f"{summary.failed} of {summary.ok + summary.failed} lines failed")
    if summary.interrupted:
        return ExitCode.INTERRUPTED
    if summary.error is not None:  # what stopped it: a failed write, unreadable input, ...
        raise summary.error
    if summary.stopped_by:
        error = summary.stopped_by
        raise AuthError(error["status"], error["message"], hint="the batch stopped, as every "
                        "line would be refused; check the API key (CO_API_KEY or --api-key-file)")
    return ExitCode.BATCH_FAILED if summary.failed else ExitCode.OK
