"""The one place where an error becomes the program's exit status and what it says:
`exit_status` maps it (`run` reports it; the run log records it), `report` tells it on
stderr."""
from __future__ import annotations

import os

import click

from cohere_cli.base.errors import CohereChatError, ExitCode, InterruptError, OutputClosedError
from cohere_cli.cli.streams import Streams


def exit_status(exc: BaseException) -> tuple[int, str]:
    """The exit status an error ends the program with, and its message: the one mapping
    from errors to statuses (`run` reports it; the run log records it)."""
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code, ""
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
    """The one-line error, written by render's Console like every other diagnostic."""
    from cohere_cli.cli.console import Console

    Console.of(streams).error(message, hint)


def report(exc: BaseException, message: str, debug: bool, streams: Streams) -> None:
    """Say what ended the run: one line on stderr (a traceback too when debugging);
    nothing for Ctrl-C or a reader that went away."""
    if debug and not isinstance(exc, (click.ClickException, click.exceptions.Exit,
                                      KeyboardInterrupt, BrokenPipeError)):
        import traceback

        _write(streams, traceback.format_exc())
    if isinstance(exc, click.ClickException):
        ctx = getattr(exc, "ctx", None)
        _report(streams, message, f"see '{ctx.command_path} --help'" if ctx is not None else None)
    elif isinstance(exc, (OutputClosedError, BrokenPipeError)):
        _quiet_stdout(streams)
    elif isinstance(exc, CohereChatError):
        if not isinstance(exc, InterruptError):
            from cohere_cli.cli.hints import hint_for

            _report(streams, exc.message, hint_for(exc))
    elif not isinstance(exc, (KeyboardInterrupt, click.exceptions.Exit)):
        _report(streams, message)  # a bug: say so in one line, traceback only when debugging
