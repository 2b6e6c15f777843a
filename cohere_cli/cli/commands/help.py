"""`help [COMMAND]`: the list of commands, or a command's help (as `--help`)."""
from __future__ import annotations

import click

from cohere_cli.base.errors import UsageError
from cohere_cli.cli.checked_command import CheckedCommand
from cohere_cli.cli.options import LocalText
from cohere_cli.cli.streams import streams_of


@click.command("help", cls=CheckedCommand)
@click.argument("command", required=False, type=LocalText(), metavar="[COMMAND]")
@click.pass_context
def help_command(ctx: click.Context, command: str | None) -> int:
    """Show the list of commands, or the help of COMMAND."""
    from cohere_cli.cli.console import Console
    from cohere_cli.cli.group import close_command

    console = Console.of(streams_of(ctx))
    root = ctx.find_root()
    cli = root.command
    assert isinstance(cli, click.Group)
    if command is None:
        text = cli.get_help(root)
    elif command in cli.commands:
        chosen = cli.commands[command]
        text = chosen.get_help(click.Context(chosen, info_name=command, parent=root))
    else:
        names = ", ".join(sorted(cli.commands))
        meant = close_command(command, list(cli.commands))
        if meant is None:  # perhaps a prompt (`help me`): the group says how to send it
            raise click.UsageError(f"no command {command!r} (the commands: {names})", ctx)
        raise UsageError(f"no command {command!r} (did you mean '{meant}'?)",
                         hint=f"the commands: {names}")
    console.out(text.encode("utf-8") + b"\n")
    return console.written()
