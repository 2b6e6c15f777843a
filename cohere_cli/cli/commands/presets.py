"""`presets`: the saved request documents (issue 16)."""
from __future__ import annotations

import click

from cohere_cli.cli.checked_command import CheckedCommand
from cohere_cli.cli.streams import current_streams


@click.command("presets", cls=CheckedCommand)
def presets() -> int:
    """List the presets: name and the first line of the system message."""
    import os

    from cohere_cli.base.errors import CohereChatError
    from cohere_cli.cli.console import Console, escape_line
    from cohere_cli.settings.presets import preset_entries, read_preset

    console = Console.of(current_streams())
    # each entry read from its own path (what `--preset NAME` reads), through named_files:
    # a FIFO or a folder is listed as a bad preset, never waited for
    entries = preset_entries(os.environ)
    width = max((len(name) for name, _ in entries), default=0)
    for name, path in entries:
        try:
            line = read_preset(name, path, os.environ).system_line
        except CohereChatError as exc:
            line = f"(bad preset: {exc.message})"
        console.out(f"{escape_line(name):<{width}}  {escape_line(line)}".rstrip().encode()
                    + b"\n")
    return console.written()
