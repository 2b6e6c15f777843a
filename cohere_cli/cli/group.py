"""The top-level click group: `send` as the default subcommand (but not for a mistyped
command name), the check that every argument to be sent is text, and the one place where
every error becomes its message and exit status: `exit_status`, used by `run` (and by the
run log). It parses and invokes the command itself rather than through click's `main`,
which would turn Ctrl-C into "Aborted!" and a broken pipe into exit 1."""
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
from cohere_cli.base.errors import (
    CohereChatError,
    ExitCode,
    InputError,
    InterruptError,
    OutputClosedError,
    UsageError,
)
from cohere_cli.base.values import has_bad_utf8


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


def _distance(word: str, name: str) -> int:
    """Edits from `word` to `name`: a letter added, dropped or changed, or two neighbours
    swapped, each 1 (optimal string alignment, a form of Damerau-Levenshtein)."""
    rows = [list(range(len(name) + 1))]
    for i, char in enumerate(word, 1):
        row = [i]
        for j, other in enumerate(name, 1):
            row.append(min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (char != other)))
            if i > 1 and j > 1 and char == name[j - 2] and word[i - 2] == other:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def close_command(word: str, names: list[str]) -> str | None:
    """The command a first argument was likely meant to be, or None. WORD must be one
    word of ASCII letters; it is close to a command when equal to its name but for case,
    or at most 2 edits from a name of 5 letters or more (batch, config, models), or 1
    edit from a shorter one (send, stub, help): so `bacth`, `Models` and `confg` are
    caught, and `hello` (2 edits from `help`) is a prompt."""
    if not (word.isascii() and word.isalpha()):
        return None
    lowered = word.lower()
    close = [(edits, name) for name in names
             if (edits := _distance(lowered, name)) <= (2 if len(name) >= 5 else 1)]
    return min(close)[1] if close else None


ENVIRONMENT = (
    ("CO_API_KEY", "the API key (or --api-key-file FILE)"),
    ("CO_API_URL", "the base URL (offline: the URL `cohere-chat stub` prints)"),
    ("CO_MODEL", "the model"),
    ("CO_PROFILE", "the config profile"),
    ("CO_PRESET", "the preset (a name in the presets folder, or a path)"),
    ("COHERE_CHAT_LOG", "the run log: one JSON line a run"),
    ("COHERE_CHAT_DEBUG", "1: a traceback with an internal error"),
)
EXIT_CODES = {
    ExitCode.OK: "success",
    ExitCode.INTERNAL: "a bug in cohere-chat",
    ExitCode.USAGE: "usage or configuration error (nothing was sent)",
    ExitCode.INPUT: "bad input data or an unreadable file",
    ExitCode.AUTH: "authentication or permission (401, 403, 498)",
    ExitCode.REJECTED: "request rejected (400, 404, 413, 422, other 4xx)",
    ExitCode.RATE_LIMITED: "rate limited after the retries (429)",
    ExitCode.UNAVAILABLE: "service or network failure after the retries; --max-time passed",
    ExitCode.INCOMPLETE: "the generation did not complete",
    ExitCode.BATCH_FAILED: "batch: some lines failed",
    ExitCode.NOT_SAVED: "a local write failed (stdout, the -c file, the batch -o file)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
    ExitCode.BROKEN_PIPE: "stdout was closed by its reader",
}


def complete_var(prog_name: str) -> str:
    """The environment variable under which click's completion script calls the program."""
    return f"_{prog_name.replace('-', '_').replace('.', '_')}_COMPLETE".upper()


class DefaultGroup(click.Group):
    """A group that runs `send` when the first argument is not a subcommand name (nor
    close to one: see `close_command`). Its help shows `send` as the default in the
    usage line and ends with the environment, the config file and the exit codes."""

    command_class = CheckedCommand
    default_command = "send"

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, f"[{self.default_command}] [OPTIONS] [PROMPT]...")
        formatter.write_usage(ctx.command_path, "COMMAND [ARGS]...", prefix="       ")

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from cohere_cli.settings.config import config_path

        super().format_epilog(ctx, formatter)
        with formatter.section("Environment"):
            formatter.write_dl(ENVIRONMENT)
        path = config_path(os.environ)
        with formatter.section("Config file"):  # a path is never wrapped
            formatter.write(f"{'':>{formatter.current_indent}}{path or '(none: no HOME)'}\n")
        with formatter.section("Exit codes"):
            formatter.write_dl([(str(int(code)), EXIT_CODES[code]) for code in ExitCode])

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = args[0] if args else None
        completing = ctx.resilient_parsing and not args  # TAB on an empty line: commands
        if first not in self.commands and first not in ("--help", "-h", "--version") and (
            not completing
        ):
            if first is not None and not ctx.resilient_parsing:
                self._refuse_a_typo(first)
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def _refuse_a_typo(self, first: str) -> None:
        """A mistyped command is not sent as a prompt (a billed request that "succeeds"):
        exit 2 before anything is read or sent."""
        meant = close_command(first, list(self.commands))
        if meant is not None:
            raise UsageError(f"'{first}' is not a command (did you mean '{meant}'?)",
                             hint=f"to send it as a prompt: {PROGRAM} send {first}")

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
    instruction = os.environ.get(complete_var(prog_name))
    if instruction:
        from click.shell_completion import shell_complete

        return shell_complete(group, {}, prog_name, complete_var(prog_name), instruction)
    with group.make_context(prog_name, list(sys.argv[1:] if args is None else args)) as ctx:
        return group.invoke(ctx)


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


def run(group: click.Group, args: Any = None, prog_name: str = PROGRAM) -> int:
    """Run the program and return its exit status."""
    debug = os.environ.get("COHERE_CHAT_DEBUG") == "1"
    try:
        return int(_invoke(group, args, prog_name) or 0)
    except (Exception, KeyboardInterrupt) as exc:
        status, message = exit_status(exc)
        _tell(exc, message, debug)
        return status


def _tell(exc: BaseException, message: str, debug: bool) -> None:
    """Say what ended the run: one line on stderr (a traceback too when debugging);
    nothing for Ctrl-C or a reader that went away."""
    if debug and not isinstance(exc, (click.ClickException, click.exceptions.Exit,
                                      KeyboardInterrupt, BrokenPipeError)):
        import traceback

        traceback.print_exc()
    if isinstance(exc, click.ClickException):
        ctx = getattr(exc, "ctx", None)
        _report(message, f"see '{ctx.command_path} --help'" if ctx is not None else None)
    elif isinstance(exc, (OutputClosedError, BrokenPipeError)):
        _quiet_stdout()
    elif isinstance(exc, CohereChatError):
        if not isinstance(exc, InterruptError):
            from cohere_cli.cli.hints import hint_for

            _report(exc.message, hint_for(exc))
    elif not isinstance(exc, (KeyboardInterrupt, click.exceptions.Exit)):
        _report(message)  # a bug: say so in one line, traceback only when debugging
