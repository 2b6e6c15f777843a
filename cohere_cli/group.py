"""The top-level click group: `send` as the default subcommand, and the one place where
every error becomes its message and exit status (click's own Ctrl-C, broken-pipe and
usage handling are replaced on purpose)."""
from __future__ import annotations

import os
import sys
from typing import Any

import click

from cohere_cli import PROGRAM
from cohere_cli.errors import CohereChatError, ExitCode, InterruptError, OutputClosedError


class DefaultGroup(click.Group):
    """A group that runs `send` when the first argument is not a subcommand name."""

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

    def main(self, args: Any = None, prog_name: str | None = None, **_: Any) -> Any:
        """Run and exit with our own status; every error is mapped here, once."""
        sys.exit(_run(self, args, prog_name or PROGRAM))

    def invoke(self, ctx: click.Context) -> Any:
        # click turns Ctrl-C into "Aborted!" + exit 1 and EPIPE into exit 1; we want 130/141.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise InterruptError("interrupted") from None
        except BrokenPipeError:
            raise OutputClosedError("broken pipe") from None


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the exit flush stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _report(message: str, hint: str | None = None) -> None:
    """The one-line error, written by render's Console like every other diagnostic."""
    from cohere_cli.render import Console

    Console(sys.stdout.buffer, sys.stderr.buffer).error(message, hint)


def _run(group: click.Group, args: Any, prog_name: str) -> int:
    """Run the program and return its exit status."""
    debug = os.environ.get("COHERE_CHAT_DEBUG") == "1"
    if debug:
        import traceback
    try:
        result = click.Group.main(group, args=args, prog_name=prog_name, standalone_mode=False)
        return int(result or 0)
    except click.exceptions.Exit as stop:
        return stop.exit_code
    except click.ClickException as exc:
        hint = f"see '{exc.ctx.command_path} --help'" if getattr(exc, "ctx", None) else None
        _report(exc.format_message(), hint)
        return ExitCode.USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except click.exceptions.Abort:
        return ExitCode.INTERRUPTED
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
