"""`batches cleanup`: delete the datasets earlier remote batches left on the account
(batch/remote/cleanup.py), printing each; `--dry-run` only lists them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from cohere_cli.cli.checked_command import CheckedCommand
from cohere_cli.cli.flags import part, typed
from cohere_cli.cli.from_flags import connection_of, logger, settings_of
from cohere_cli.cli.options import SECONDS, ConnectionFlags, connection_options
from cohere_cli.settings.config import ConfigFlags

if TYPE_CHECKING:
    from cohere_cli.cli.streams import Streams


@dataclass(frozen=True)
class CleanupFlags:
    """`batches cleanup`: list only or delete, the youngest age touched, and how to reach
    the API."""

    dry_run: bool
    min_age: float
    settings: ConfigFlags = field(metadata=part(ConfigFlags))
    connection: ConnectionFlags = field(metadata=part(ConnectionFlags))


@click.command("cleanup", cls=CheckedCommand)
@click.option("--dry-run", is_flag=True, help="List the datasets that would be deleted; "
              "delete none.")
@click.option("--min-age", type=SECONDS, default=3600, show_default=True, metavar="SECONDS",
              help="Touch no dataset whose batch ended (or, without a batch, that was made) "
              "less than SECONDS ago: its run may still be using it (at most 86400).")
@connection_options
@typed(CleanupFlags)
def cleanup_command(flags: CleanupFlags, streams: Streams) -> int:
    """Delete the datasets cohere-chat's ended batches left (and those of no batch),
    one line each: id, name, why."""
    from cohere_cli.batch.remote.cleanup import delete_datasets, leftovers
    from cohere_cli.cli.console import Console, escape_line
    from cohere_cli.wire.batch_api import BatchAPI

    console = Console.of(streams)
    connection = connection_of(settings_of(flags.settings, console), flags.connection)
    with BatchAPI(connection, logger(console, flags.connection.verbose)) as api:
        for found in leftovers(api, flags.min_age):
            if not flags.dry_run and not delete_datasets(api, [found.id], console.warning):
                continue
            verb = "would delete" if flags.dry_run else "deleted"
            fields = (verb, found.id, found.name, found.why)
            console.out("\t".join(map(escape_line, fields)).encode() + b"\n")
    return console.written()
