"""`tokens`: the input tokens of what `send` would send, counted, and nothing sent."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from cohere_cli.chat.request import NOT_FLAGS, RequestOptions
from cohere_cli.cli.checked_command import CheckedCommand
from cohere_cli.cli.flags import part, typed
from cohere_cli.cli.options import (
    MAX_TIME_OPTION,
    MAX_TOKENS_OPTION,
    MODEL_OPTION,
    ConnectionFlags,
    MessageFlags,
    StdinFlags,
    connection_options,
    conversation_option,
    history_options,
    message_options,
    preset_option,
    stdin_options,
)
from cohere_cli.settings.config import ConfigFlags

if TYPE_CHECKING:
    from cohere_cli.cli.streams import Streams


@dataclass(frozen=True)
class TokensFlags:
    """Everything `tokens` is given on its command line."""

    prompt: tuple[str, ...]
    conversation: str | None
    as_json: bool
    stdin: StdinFlags = field(metadata=part(StdinFlags))
    messages: MessageFlags = field(metadata=part(MessageFlags))
    request: RequestOptions = field(metadata=part(RequestOptions, leave=NOT_FLAGS))
    settings: ConfigFlags = field(metadata=part(ConfigFlags))
    connection: ConnectionFlags = field(metadata=part(ConnectionFlags))


@click.command(cls=CheckedCommand)
@click.argument("prompt", nargs=-1)
@conversation_option("Count with the conversation in FILE (its window), as send would send "
                     "it.")
@stdin_options
@message_options
@preset_option
@history_options
@MODEL_OPTION
@MAX_TOKENS_OPTION
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON object: input_tokens, exact, model, context_length, messages.")
@MAX_TIME_OPTION
@connection_options
@typed(TokensFlags)
def tokens(flags: TokensFlags, streams: Streams) -> int:
    """Count the input tokens of what send would send; send nothing."""
    from dataclasses import replace
    from pathlib import Path

    from cohere_cli.chat.context import QUIET
    from cohere_cli.chat.count_input import count_input
    from cohere_cli.chat.send import SendPlan
    from cohere_cli.cli.console import Console
    from cohere_cli.cli.from_flags import (
        connection_of,
        history_limits,
        logger,
        message_inputs,
        model_context,
        settings_of,
        with_preset,
    )

    console = Console.of(streams)
    inputs, media = message_inputs(flags.prompt, flags.stdin, flags.messages,
                                   flags.request.documents, streams)
    settings = settings_of(flags.settings, console, with_preset=True)
    log = logger(console, flags.connection.verbose)
    connection = connection_of(settings, flags.connection)
    plan = SendPlan(
        inputs=inputs, options=replace(with_preset(flags.request, settings), stdin_media=media),
        connection=connection, fallback_model=settings.model,
        conversation=Path(flags.conversation) if flags.conversation else None,
        history=history_limits(settings), max_time=settings.max_time,
        context=model_context(connection, console, flags.connection.verbose, refuse=False),
    )
    found = count_input(plan, console.warning, log)
    if flags.as_json:
        console.out_json(found.as_json())
    else:
        console.out(f"{found.input_tokens}\n".encode())
        if not found.exact and found.estimate_why in QUIET:  # else a warning said why
            console.note(f"the count is an estimate: {found.estimate_why}")
    return console.written()
