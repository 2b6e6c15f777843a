"""The top-level click group: `send` as the default subcommand, the check that every
argument to be sent is text, and the one place where every error becomes its message and
exit status: `run`. It parses and invokes the command itself rather than through click's
`main`, which would turn Ctrl-C into "Aborted!" and a broken pipe into exit 1."""
from __future__ import annotations

import errno
import functools
import io
import os
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

import click

from cohere_cli import PROGRAM
from cohere_cli.errors import (
    CohereChatError,
    ExitCode,
    InputError,
    InterruptError,
    OutputClosedError,
)
from cohere_cli.values import has_bad_utf8


class _ClosedOutput(io.RawIOBase):
    """Stdout when the program started with it closed (`>&-`): every write fails as a
    write to a closed descriptor does, so the output is reported lost (exit 10)."""

    def writable(self) -> bool:
        return True

    def write(self, _data: Any) -> int:
        raise OSError(errno.EBADF, "it was closed when the program started")


@functools.cache
def _devnull() -> BinaryIO:
    return open(os.devnull, "wb")  # kept open for the rest of the run


def output_streams() -> tuple[BinaryIO, BinaryIO]:
    """stdout and stderr as byte streams. A closed stdout refuses writes; a closed
    stderr is /dev/null (diagnostics have nowhere to go, the run goes on)."""
    stdout = sys.stdout.buffer if sys.stdout is not None else cast(BinaryIO, _ClosedOutput())
    return stdout, sys.stderr.buffer if sys.stderr is not None else _devnull()


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _texts(item)


def _is_sent(param: click.Parameter, value: str) -> bool:
    """Whether an argument's text goes to the API (paths and commands stay here, and may
    hold any bytes the system allows); flags.py's types say so with `is_sent`."""
    decide = getattr(param.type, "is_sent", None)
    if decide is not None:
        return bool(decide(value))
    return not isinstance(param.type, click.Path)


class CheckedCommand(click.Command):
    """A command whose arguments are checked before it runs: bytes that are not UTF-8
    (Python keeps them as lone surrogates) in text to be sent are bad input, exit 3,
    named by their option, before anything is sent."""

    def invoke(self, ctx: click.Context) -> Any:
        for param in self.get_params(ctx):
            for text in _texts(ctx.params.get(param.name or "")):
                if has_bad_utf8(text) and _is_sent(param, text):
                    name = "/".join(param.opts) if isinstance(param, click.Option) else (
                        param.human_readable_name)
                    raise InputError(name, "not valid UTF-8 (only text can be sent)")
        return super().invoke(ctx)


class DefaultGroup(click.Group):
    """A group that runs `send` when the first argument is not a subcommand name."""

    command_class = CheckedCommand
    default_command = "send"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = args[0] if args else None
        completing = ctx.resilient_parsing and not args  # TAB on an empty line: commands
        if first not in self.commands and first not in ("--help", "-h", "--version") and (
            not completing
        ):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        """Subcommands, and (as `send` is the default) send's options too."""
        found = super().shell_complete(ctx, incomplete)
        if incomplete.startswith("-"):
            send_command = self.commands[self.default_command]
            found += send_command.shell_complete(ctx, incomplete)
        return found

    def main(  # type: ignore[override]  # never returns: it exits with our own status
        self, args: Any = None, prog_name: str | None = None, **_: Any
    ) -> Any:
        """Run and exit with our own status; every error is mapped here, once."""
        sys.exit(run(self, args, prog_name or PROGRAM))


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the exit flush stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _report(message: str, hint: str | None = None) -> None:
    """The one-line error, written by render's Console like every other diagnostic."""
    from cohere_cli.cli.render import Console

    Console(*output_streams()).error(message, hint)


def _invoke(group: click.Group, args: Any, prog_name: str) -> Any:
    """What click's `main` does (shell completion, parsing, the command), with no error
    handling of its own: every exception reaches `run`."""
    complete_var = f"_{prog_name.replace('-', '_').replace('.', '_')}_COMPLETE".upper()
    instruction = os.environ.get(complete_var)
    if instruction:
        from click.shell_completion import shell_complete

        return shell_complete(group, {}, prog_name, complete_var, instruction)
    with group.make_context(prog_name, list(sys.argv[1:] if args is None else args)) as ctx:
        return group.invoke(ctx)


def run(group: click.Group, args: Any = None, prog_name: str = PROGRAM) -> int:
    """Run the program and return its exit status."""
    debug = os.environ.get("COHERE_CHAT_DEBUG") == "1"
    if debug:
        import traceback
    try:
        return int(_invoke(group, args, prog_name) or 0)
    except click.exceptions.Exit as stop:
        return stop.exit_code
    except click.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f"see '{ctx.command_path} --help'" if ctx is not None else None
        _report(exc.format_message(), hint)
        return ExitCode.USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except CohereChatError as error:
        if debug:
            traceback.print_exc()
        if isinstance(error, OutputClosedError):
            _quiet_stdout()
        elif not isinstance(error, InterruptError):
            _report(error.message, error.hint)
        return error.exit_code
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return ExitCode.BROKEN_PIPE
    except Exception as exc:  # a bug: say so in one line, traceback only when debugging
        if debug:
            traceback.print_exc()
        _report(f"internal error: {type(exc).__name__}: {exc}")
        return ExitCode.INTERNAL
