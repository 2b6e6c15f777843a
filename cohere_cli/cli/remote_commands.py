"""`batch --remote` on Cohere's Batch API, and the `batches` command that lists, shows
and cancels the account's batches (issue 19)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from cohere_cli.cli.render import Console
    from cohere_cli.cli.runs import RunLog

F = Callable[..., Any]

REMOTE_OPTIONS: list[Callable[[F], F]] = []  # --remote and what goes with it, on `batch`


def remote_options(func: F) -> F:
    for option in reversed(REMOTE_OPTIONS):
        func = option(func)
    return func


def run_remote(input_path: str, kw: dict[str, Any], console: Console,
               runlog: RunLog) -> int | None:
    """Run `batch` on the Batch API when asked to (its exit status); None: run it here."""
    return None


@click.group("batches", cls=click.Group)
def batches() -> None:
    """The account's batches on Cohere's Batch API: list, show, cancel."""
