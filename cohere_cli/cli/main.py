"""Running the program: parse the arguments and invoke the command (as click's `main`
does) with no error handling of click's own, which would turn Ctrl-C into "Aborted!" and
a broken pipe into exit 1; every error ends the run through exit_status.py. The
command's streams (streams.py) go in click's context, for every command to take."""
from __future__ import annotations

import os
import sys
from typing import Any

import click

from cohere_cli import PROGRAM
from cohere_cli.cli.exit_status import exit_status, report
from cohere_cli.cli.streams import Streams, process_streams


def complete_var(prog_name: str) -> str:
    """The environment variable under which click's completion script calls the program."""
    return f"_{prog_name.replace('-', '_').replace('.', '_')}_COMPLETE".upper()


def _invoke(group: click.Group, args: Any, prog_name: str, streams: Streams) -> Any:
    """What click's `main` does (shell completion, parsing, the command), with no error
    handling of its own: every exception reaches `run`."""
    instruction = os.environ.get(complete_var(prog_name))
    if instruction:
        from click.shell_completion import shell_complete

        return shell_complete(group, {}, prog_name, complete_var(prog_name), instruction)
    args = list(sys.argv[1:] if args is None else args)
    with group.make_context(prog_name, args, obj=streams) as ctx:
        return group.invoke(ctx)


def run(group: click.Group, args: Any = None, prog_name: str = PROGRAM,
        streams: Streams | None = None) -> int:
    """Run the program and return its exit status; STREAMS: the process's by default."""
    debug = os.environ.get("COHERE_CHAT_DEBUG") == "1"
    streams = streams or process_streams()
    try:
        return int(_invoke(group, args, prog_name, streams) or 0)
    except (Exception, KeyboardInterrupt) as exc:
        status, message = exit_status(exc)
        report(exc, message, debug, streams)
        return status
