"""The one place where an error becomes the program's exit status and what it says:
`exit_status` maps it (`run` reports it; the run log records it), `report` tells it on
stderr."""
from __future__ import annotations

import os

import click

from cohere_cli.cli.checked_command import CommandMissing
from cohere_cli.cli.streams import Streams


def exit_status(exc: BaseException) -> tuple[int, str]:
    """The exit status an error ends the program with, and its message: the one mapping
    from errors to statuses (`run` reports it; the run log records it)."""
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code, ""
    # not at the top: a run that ends well (--version, --help) imports no error types
    from cohere_cli.base.errors import CohereChatError, ExitCode

    if isinstance(exc, click.ClickException):
        status = ExitCode.USAGE if isinstance(exc, click.UsageError) else exc.exit_code
        return status, exc.format_message()
    if isinstance(exc, CohereChatError):
        return exc.exit_code, exc.message
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED, "interrupted (Ctrl-C)"
    if isinstance(exc, BrokenPipeError):
        return ExitCode.BROKEN_PIPE, "stdout was closed by its reader"
    return ExitCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"


def _quiet_stdout(streams: Streams) -> None:
    """After a broken pipe, point stdout at /dev/null so the exit flush stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, streams.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _write(streams: Streams, text: str) -> None:
    try:
        streams.stderr.write(text.encode("utf-8", "replace"))
        streams.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr is gone: there is no one to tell


def _report(streams: Streams, message: str, hint: str | None = None) -> None:
    """The one-line error, written by the Console like every other diagnostic."""
    from cohere_cli.cli.console import Console

    Console.of(streams).error(message, hint)


def _report_usage(streams: Streams, exc: click.ClickException, message: str) -> None:
    """Click's usage error as it reads best: its lines kept (a choice's list, a group's
    help when its command is missing), a tab as two spaces, the end of a sentence not
    doubled before the hint ("No such option '-T'; see ...")."""
    from cohere_cli.cli.console import Console

    console = Console.of(streams)
    lines = message.replace("\t", "  ").splitlines() or [""]
    if isinstance(exc, CommandMissing):  # the group's help, as `GROUP --help` prints it
        for line in lines:
            console.err(line)
        return
    ctx = getattr(exc, "ctx", None)
    hint = f"see '{ctx.command_path} --help'" if ctx is not None else None
    if len(lines) == 1:
        console.error(lines[0].removesuffix("."), hint)
        return
    console.error(lines[0])
    for line in lines[1:]:
        console.err(line)
    if hint:
        console.note(hint)


def report(exc: BaseException, message: str, debug: bool, streams: Streams) -> None:
    """Say what ended the run: one line on stderr (a traceback too when debugging);
    nothing for Ctrl-C or a reader that went away."""
    if isinstance(exc, click.exceptions.Exit):
        return  # the run ended as it meant to (--version, --help)
    from cohere_cli.base.errors import CohereChatError, InterruptError, OutputClosedError

    if debug and not isinstance(exc, (click.ClickException, KeyboardInterrupt,
                                      BrokenPipeError)):
        import traceback

        _write(streams, traceback.format_exc())
    if isinstance(exc, click.ClickException):
        _report_usage(streams, exc, message)
    elif isinstance(exc, (OutputClosedError, BrokenPipeError)):
        _quiet_stdout(streams)
    elif isinstance(exc, CohereChatError):
        if not isinstance(exc, InterruptError):
            from cohere_cli.cli.hints import hint_for

            _report(streams, exc.message, hint_for(exc))
    elif not isinstance(exc, KeyboardInterrupt):
        _report(streams, message)  # a bug: say so in one line, traceback only when debugging
