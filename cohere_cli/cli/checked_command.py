"""What every command of the program is: its arguments checked before it runs (text
that goes to the API must be UTF-8; paths and command lines stay on this machine, and
may hold any bytes the system allows), and its --help written to the run's stdout
(streams.py) like any other output, so that a lost one is exit 10, not click's own."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn

import click

from cohere_cli.cli.streams import streams_of


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _texts(item)


def _is_sent(param: click.Parameter, value: str) -> bool:
    """Whether an argument's text goes to the API (paths and commands stay here, and may
    hold any bytes the system allows); options.py's types say so with `is_sent`."""
    decide = getattr(param.type, "is_sent", None)
    if decide is not None:
        return bool(decide(value))
    return not isinstance(param.type, click.Path)


def show(ctx: click.Context, text: str) -> NoReturn:
    """Print TEXT (a help page, the version) and end the run: exit 0, or 10 when stdout
    could not be written."""
    from cohere_cli.cli.console import Console

    console = Console.of(streams_of(ctx))
    console.out(text.encode("utf-8") + b"\n")
    ctx.exit(console.written())


def _show_help(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        show(ctx, ctx.get_help())


def help_option(command: click.Command, ctx: click.Context) -> click.Option | None:
    """A command's -h/--help, printing through `show` instead of click's echo. Made here,
    not by click's `help_option`, which asks gettext for its text at every start (a
    locale lookup, on the path of `--version` too)."""
    names = command.get_help_option_names(ctx)
    if not names or not command.add_help_option:
        return None
    return click.Option([*names, "cohere_chat_help"], is_flag=True, expose_value=False,
                        is_eager=True, callback=_show_help, help="Show this message and exit.")


class CheckedCommand(click.Command):
    """A command whose arguments are checked before it runs: bytes that are not UTF-8
    (Python keeps them as lone surrogates) in text to be sent are bad input, exit 3,
    named by their option, before anything is sent."""

    streams_help: click.Option | None = None  # its -h/--help, made when first asked for

    def invoke(self, ctx: click.Context) -> Any:
        from cohere_cli.base.errors import InputError
        from cohere_cli.base.values import has_bad_utf8  # not for --help: urllib.parse

        for param in self.get_params(ctx):
            for text in _texts(ctx.params.get(param.name or "")):
                if has_bad_utf8(text) and _is_sent(param, text):
                    name = "/".join(param.opts) if isinstance(param, click.Option) else (
                        param.human_readable_name)
                    raise InputError(name, "not valid UTF-8 (only text can be sent)")
        return super().invoke(ctx)

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        if self.streams_help is None:  # made once: click orders its callbacks by identity
            self.streams_help = help_option(self, ctx)
        return self.streams_help


class CommandMissing(click.UsageError):
    """A group run without its command (`cohere-chat batches`): exit 2 with the group's
    help on stderr, its lines kept (exit_status.py), whichever click is installed (8.1
    prints the help on stdout with exit 0, 8.2 raises its own error)."""


class CheckedGroup(click.Group):
    """A group of checked commands, its --help through `show` too."""

    command_class = CheckedCommand
    streams_help: click.Option | None = None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            raise CommandMissing(ctx.get_help(), ctx)
        return super().parse_args(ctx, args)

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        if self.streams_help is None:
            self.streams_help = help_option(self, ctx)
        return self.streams_help
