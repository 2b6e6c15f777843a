"""`completion bash|zsh|fish`: the shell completion script (issue 16)."""
from __future__ import annotations

import click

from cohere_cli.cli.group import CheckedCommand


@click.command("completion", cls=CheckedCommand)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> int:
    """Print the completion script for SHELL."""
    return 0
