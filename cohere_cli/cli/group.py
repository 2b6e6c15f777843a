"""The top-level click group: `send` as the default subcommand, but not for a mistyped
command name (`close_command`), and the help's usage lines and its ending (the
environment, the config file, the exit codes). Its commands check their arguments
(checked_command.py); `main` runs through main.py's `run`."""
from __future__ import annotations

import os
import sys
from typing import Any

import click

from cohere_cli import PROGRAM
from cohere_cli.base.errors import ExitCode, UsageError
from cohere_cli.cli.checked_command import CheckedGroup
from cohere_cli.cli.main import run


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
    ExitCode.BUDGET: "a budget ran out (--max-cost): no new request was started",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
    ExitCode.BROKEN_PIPE: "stdout was closed by its reader",
}


class DefaultGroup(CheckedGroup):
    """A group that runs `send` when the first argument is not a subcommand name (nor
    close to one: see `close_command`). Its help shows `send` as the default in the
    usage line and ends with the environment, the config file and the exit codes."""

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
        """Run and exit with our own status; every error is mapped in `run`, once."""
        sys.exit(run(self, args, prog_name or PROGRAM))
