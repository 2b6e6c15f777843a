"""The command line: the top-level group and its commands, each in its own module
(commands/), imported only when it runs (lazy.py): the group knows each command's name
and one-line help. Errors become exit statuses once, in exit_status.py.

Heavy modules (requests, the client, the stream decoder) are imported inside the
commands, so that `--help` and `--version` stay fast.
"""
from __future__ import annotations

import click

from cohere_cli import PROGRAM, __version__
from cohere_cli.cli.checked_command import show
from cohere_cli.cli.group import DefaultGroup
from cohere_cli.cli.lazy import LazyCommand, LazyCommands

# name -> module:attribute under cli/commands, and the first paragraph of the command's
# help (tests/test_startup.py checks it against the command's own)
COMMANDS = {
    "send": LazyCommand("send:send",
                        "Send one conversation, print one reply (the default command)."),
    "batch": LazyCommand("batch:batch",
                         "Send many requests from JSONL; write one result line per input line."),
    "batches": LazyCommand("batches:batches", "The account's batches on Cohere's Batch API: "
                           "list, show, cancel, cleanup."),
    "models": LazyCommand("info:models",
                          "List the chat-capable models, one name a line; or MODEL's details."),
    "tokens": LazyCommand("tokens:tokens",
                          "Count the input tokens of what send would send; send nothing."),
    "presets": LazyCommand("presets:presets",
                           "List the presets: name and the first line of the system message."),
    "config": LazyCommand("info:config_command", "Show the effective settings and where each "
                          "came from (the key is never shown)."),
    "help": LazyCommand("help:help_command", "Show the list of commands, or the help of COMMAND."),
    "completion": LazyCommand("completion:completion", "Print the completion script for SHELL."),
    "stub": LazyCommand("stub:stub", "Serve the v2 chat wire format locally, for offline tests."),
}


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        show(ctx, f"{PROGRAM} {__version__}")


@click.group(cls=DefaultGroup, commands=LazyCommands(COMMANDS),
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_show_version, help="Show the version and exit.")
def cli() -> None:
    """A Unix-style client for Cohere's Chat API (v2).

    SEND is the default command: `cohere-chat "hello"` is `cohere-chat send "hello"`.
    A first word close to a command name (`bacth`, `Models`) is refused, not sent: say
    `cohere-chat send WORD` to send it. Run `cohere-chat help COMMAND` or
    `cohere-chat COMMAND --help` for each command's options; see cohere-chat(1).
    """
