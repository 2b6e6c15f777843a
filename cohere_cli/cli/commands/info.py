"""The commands that only look: `models` and `config` (`help` is in help.py)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from cohere_cli.base.errors import UsageError
from cohere_cli.cli.checked_command import CheckedCommand
from cohere_cli.cli.flags import part, typed
from cohere_cli.cli.from_flags import connection_of, logger, settings_of
from cohere_cli.cli.options import (
    ConnectionFlags,
    call_time_option,
    connection_options,
    settings_options,
    transport_options,
)
from cohere_cli.settings.config import ConfigFlags

if TYPE_CHECKING:
    from cohere_cli.cli.streams import Streams


@dataclass(frozen=True)
class ModelsFlags:
    """`models [MODEL]`: the output's form, and how to reach the API."""

    model: str | None
    as_json: bool
    settings: ConfigFlags = field(metadata=part(ConfigFlags))
    connection: ConnectionFlags = field(metadata=part(ConnectionFlags))


@dataclass(frozen=True)
class ConfigCommandFlags:
    """`config`: the path only, every setting the flags would make, or (--check) whether
    they reach the API."""

    path_only: bool
    check: bool
    settings: ConfigFlags = field(metadata=part(ConfigFlags))
    connection: ConnectionFlags = field(metadata=part(ConnectionFlags))


@click.command(cls=CheckedCommand)
@click.argument("model", required=False, metavar="[MODEL]")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line, as the API sent it.")
@call_time_option
@connection_options
@typed(ModelsFlags)
def models(flags: ModelsFlags, streams: Streams) -> int:
    """List the chat-capable models, one name a line; or MODEL's details."""
    from cohere_cli.chat.models import iter_models
    from cohere_cli.cli.console import Console, escape_line
    from cohere_cli.settings.names import time_limit
    from cohere_cli.wire.api_client import ApiClient

    console = Console.of(streams)
    settings = settings_of(flags.settings, console)
    deadline = time_limit(settings.max_time).start()
    connection = connection_of(settings, flags.connection)
    if flags.model is not None:
        from cohere_cli.cli.model_info import show_details

        return show_details(flags.model, flags.as_json, connection, console,
                            logger(console, flags.connection.verbose))
    with ApiClient(connection, logger(console, flags.connection.verbose)) as client:
        for model in iter_models(client, deadline=deadline):
            if flags.as_json:
                console.out_json(model)
            elif isinstance(model.get("name"), str):  # a model without a name is not listed
                console.out(f"{escape_line(model['name'])}\n".encode())  # one line each
            console.written()  # stdout gone: fetch no more pages
    return 0


@click.command("config", cls=CheckedCommand)
@click.option("--path", "path_only", is_flag=True, help="Print the config file's path only.")
@click.option("--check", is_flag=True,
              help="Check the base URL, the key and the model against the API (nothing "
              "billed): one line each on stderr; exit 0 when all pass.")
@settings_options
@transport_options
@typed(ConfigCommandFlags)
def config_command(flags: ConfigCommandFlags, streams: Streams) -> int:
    """Show the effective settings and where each came from (the key is never shown)."""
    from cohere_cli.cli.console import Console, escape_line
    from cohere_cli.settings.config import config_path, load_settings

    console = Console.of(streams)
    if flags.check:
        from cohere_cli.cli.commands.check import run_check

        if flags.path_only:
            raise UsageError("--check and --path cannot go together")
        return run_check(flags.settings, flags.connection, console)
    if flags.path_only:
        found = config_path(os.environ)
        if found is None:
            raise UsageError("no config file path (no HOME, XDG_CONFIG_HOME or "
                             "COHERE_CHAT_CONFIG)")
        console.out(f"{found}\n".encode("utf-8", "surrogateescape"))
        return console.written()
    settings = load_settings(flags.settings, os.environ, report_preset=True)
    for warning in settings.warnings:
        console.warning(warning)
    path = settings.config_path
    if path is None:
        lines = ["# config file: none (no HOME, XDG_CONFIG_HOME or COHERE_CHAT_CONFIG)"]
    else:
        lines = [f"# config file: {path} ({settings.config_state})"]
    key_problem = settings.api_key.problem() if settings.api_key else None
    shown = {
        "api_key": f"({key_problem})" if key_problem
        else "(set, not sent: auth = none)" if settings.api_key and not settings.access.auth
        else "(set, hidden)" if settings.api_key else "(not set)",
        "profile": settings.profile or "(none)",
        "preset": settings.preset.name if settings.preset else "(none)" if not (
            problem := settings.preset_problem) else f"(cannot be used: {escape_line(problem)})",
        "base_url": settings.base_url,
        "model": settings.model,
        "timeout": f"{settings.timeout:g}",
        "retries": str(settings.retries),
        "client_name": settings.client_name,
        "auth": "bearer" if settings.access.auth else "none",
        "headers": ", ".join(name for name, _ in settings.access.headers) + " (values hidden)"
        if settings.access.headers else "(none)",
        "insecure_http": "yes" if settings.access.insecure_http else "no",
        "history_turns": "(all)" if settings.history_turns is None
        else str(settings.history_turns),
        "history_tokens": "(no limit)" if settings.history_tokens is None
        else str(settings.history_tokens),
        "fit": "yes" if settings.fit else "no",
        "compact": "yes" if settings.compact else "no",
        "compact_prompt": "(built in)" if settings.compact_prompt is None
        else escape_line(settings.compact_prompt),
        "compact_model": settings.compact_model or "(the request's model)",
        "max_time": "(no limit)" if settings.max_time is None else f"{settings.max_time:g}",
        "max_cost": "(no budget)" if settings.max_cost is None else f"{settings.max_cost:g}",
        "log": "(none)" if settings.log is None else str(settings.log),
        "price_input": "(none)" if settings.price_input is None else f"{settings.price_input:g}",
        "price_output": "(none)" if settings.price_output is None
        else f"{settings.price_output:g}",
    }
    for name, value in shown.items():
        source = settings.sources.get(name, "built-in default")
        lines.append(f"{name} = {value}" if source == "none" else f"{name} = {value}  # {source}")
    console.out("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
    return console.written()
