"""`presets`: the saved request documents (issue 16)."""
from __future__ import annotations

import click

from cohere_cli.cli.group import CheckedCommand


@click.command("presets", cls=CheckedCommand)
def presets() -> int:
    """List the presets: name and the first line of the system message."""
    return 0
