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
from cohere_cli.cli.checked_command import CheckedGroup
from cohere_cli.cli.lazy import LazyCommands
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


PROSE = "cohere_chat.prose"  # ctx.meta: the words of a command line that may be a prompt


def send_hint(words: list[str]) -> str:
    """How to send as a prompt a command line that looks like a command: with `send`."""
    import shlex  # not at the top: only a refused command line needs it

    return f"to send it as a prompt: {PROGRAM} send {' '.join(map(shlex.quote, words))}"


ENVIRONMENT = (
    ("CO_API_KEY", "the API key (or --api-key-file FILE)"),
    ("CO_API_URL", "the base URL (offline: the URL `cohere-chat stub` prints)"),
    ("CO_MODEL", "the model"),
    ("CO_PROFILE", "the config profile"),
    ("CO_PRESET", "the preset (a name in the presets folder, or a path)"),
    ("COHERE_CHAT_LOG", "the run log: one JSON line a run"),
    ("COHERE_CHAT_DEBUG", "1: a traceback with any error but a refused flag"),
)
EXIT_CODES = {  # by ExitCode's names: base.errors is imported only for the help
    "OK": "success",
    "INTERNAL": "a bug in cohere-chat",
    "USAGE": "usage or configuration error (nothing was sent)",
    "INPUT": "bad input data or an unreadable file",
    "AUTH": "authentication or permission (401, 403, 498)",
    "REJECTED": "request rejected (400, 404, 413, 422, other 4xx)",
    "RATE_LIMITED": "rate limited after the retries (429)",
    "UNAVAILABLE": "service or network failure after the retries; --max-time passed",
    "INCOMPLETE": "the generation did not complete",
    "BATCH_FAILED": "batch: some lines failed",
    "NOT_SAVED": "a local write failed (stdout, the -c file, the batch -o file)",
    "BUDGET": "a budget ran out (--max-cost): no new request was started",
    "INTERRUPTED": "interrupted (Ctrl-C)",
    "BROKEN_PIPE": "stdout was closed by its reader",
}


class DefaultGroup(CheckedGroup):
    """A group that runs `send` when the first argument is not a subcommand name (nor
    close to one: see `close_command`). Its help shows `send` as the default in the
    usage line and ends with the environment, the config file and the exit codes. Its
    commands may be lazy (lazy.py): its help and completion list them without importing
    them."""

    default_command = "send"

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, f"[{self.default_command}] [OPTIONS] [PROMPT]...")
        formatter.write_usage(ctx.command_path, "COMMAND [ARGS]...", prefix="       ")

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from cohere_cli.base.errors import ExitCode
        from cohere_cli.settings.paths import config_file

        super().format_epilog(ctx, formatter)
        with formatter.section("Environment"):
            formatter.write_dl(ENVIRONMENT)
        path = config_file(os.environ)
        with formatter.section("Config file"):  # a path is never wrapped
            formatter.write(f"{'':>{formatter.current_indent}}{path or '(none: no HOME)'}\n")
        with formatter.section("Exit codes"):
            formatter.write_dl([(str(int(code)), EXIT_CODES[code.name]) for code in ExitCode])

    def _short_help(self, name: str, limit: int = 45) -> str:
        if isinstance(self.commands, LazyCommands):
            return self.commands.short_help(name, limit)
        return self.commands[name].get_short_help_str(limit)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, from the one-line helps the group knows (no command imported)."""
        names = self.list_commands(ctx)
        if names:
            limit = formatter.width - 6 - max(map(len, names))
            with formatter.section("Commands"):
                formatter.write_dl([(name, self._short_help(name, limit)) for name in names])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command (imported now if lazy); when completing, with the names of
        --profile and --preset to complete (completion.py)."""
        command = super().get_command(ctx, cmd_name)
        if command is not None and ctx.resilient_parsing:
            from cohere_cli.cli.commands.completion import complete_names

            complete_names(command)
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = args[0] if args else None
        completing = ctx.resilient_parsing and not args  # TAB on an empty line: commands
        if first not in self.commands and first not in ("--help", "-h", "--version") and (
            not completing
        ):
            if first is not None and not ctx.resilient_parsing:
                self._refuse_a_typo(args)
            args = [self.default_command, *args]
        elif first in self.commands and len(args) > 1 and not any(
            arg.startswith("-") for arg in args
        ):
            ctx.meta[PROSE] = list(args)  # `help me write a haiku`: perhaps a prompt
        return super().parse_args(ctx, args)

    def _refuse_a_typo(self, args: list[str]) -> None:
        """A mistyped command is not sent as a prompt (a billed request that "succeeds"):
        exit 2 before anything is read or sent."""
        from cohere_cli.base.errors import UsageError

        meant = close_command(args[0], list(self.commands))
        if meant is not None:
            raise UsageError(f"'{args[0]}' is not a command (did you mean '{meant}'?)",
                             hint=send_hint(args))

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command. A command word followed by words (`models are cool`) that
        its command refuses gets the hint a mistyped command gets: how to send it. An
        HTTP error of a command that names no model (no --model: `models`, `batches`)
        gets a hint that does not suspect the model."""
        from cohere_cli.base.errors import APIError, UsageError

        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if PROSE not in ctx.meta:
                raise
            raise UsageError(exc.format_message().removesuffix("."),
                             hint=send_hint(ctx.meta[PROSE])) from None
        except APIError as exc:
            command = self.commands.get(ctx.invoked_subcommand or "")
            if exc.hint is None and command is not None and not any(
                isinstance(param, click.Option) and param.name == "model"
                for param in command.params
            ):
                from cohere_cli.cli.hints import hint_for

                exc.hint = hint_for(exc, model=False)
            raise

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        """Subcommands (as click's, none imported), the group's options, and (as `send`
        is the default) send's options too."""
        from click.shell_completion import CompletionItem

        found: list[Any] = [CompletionItem(name, help=self._short_help(name))
                            for name in self.list_commands(ctx) if name.startswith(incomplete)]
        found += click.Command.shell_complete(self, ctx, incomplete)
        if incomplete.startswith("-"):
            send_command = self.commands[self.default_command]
            found += send_command.shell_complete(ctx, incomplete)
        return found

    def main(  # type: ignore[override]  # never returns: it exits with our own status
        self, args: Any = None, prog_name: str | None = None, **_: Any
    ) -> Any:
        """Run and exit with our own status; every error is mapped in `run`, once."""
        sys.exit(run(self, args, prog_name or PROGRAM))
