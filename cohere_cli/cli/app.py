"""The command line: the top-level group and its commands, each in its own module
(commands/). Errors become exit statuses once, in exit_status.py.

Heavy modules (requests, the client, the stream decoder) are imported inside the
commands, so that `--help` and `--version` stay fast.
"""
from __future__ import annotations

import click

from cohere_cli import PROGRAM, __version__
from cohere_cli.cli.checked_command import show
from cohere_cli.cli.commands.batch import batch
from cohere_cli.cli.commands.batches import batches
from cohere_cli.cli.commands.completion import complete_names, completion
from cohere_cli.cli.commands.info import config_command, help_command, models
from cohere_cli.cli.commands.presets import presets
from cohere_cli.cli.commands.send import send
from cohere_cli.cli.commands.stub import stub
from cohere_cli.cli.commands.tokens import tokens
from cohere_cli.cli.group import DefaultGroup


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        show(ctx, f"{PROGRAM} {__version__}")


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_show_version, help="Show the version and exit.")
def cli() -> None:
    """A Unix-style client for Cohere's Chat API (v2).

    SEND is the default command: `cohere-chat "hello"` is `cohere-chat send "hello"`.
    A first word close to a command name (`bacth`, `Models`) is refused, not sent: say
    `cohere-chat send WORD` to send it. Run `cohere-chat help COMMAND` or
    `cohere-chat COMMAND --help` for each command's options; see cohere-chat(1).
    """


for _command in (send, batch, batches, models, tokens, presets, config_command, help_command,
                 completion, stub):
    cli.add_command(_command)
complete_names(cli)
