"""`tokens`: the input tokens of what `send` would send, counted, and nothing sent."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from cohere_cli.base.errors import UsageError
from cohere_cli.chat.request import NOT_FLAGS, RequestOptions
from cohere_cli.cli.checked_command import CheckedCommand
from cohere_cli.cli.flags import part, typed
from cohere_cli.cli.options import (
    MODEL_OPTION,
    RUN_OPTIONS,
    ConnectionFlags,
    MessageFlags,
    connection_options,
    history_options,
    message_options,
    preset_option,
)
from cohere_cli.settings.config import ConfigFlags

if TYPE_CHECKING:
    from cohere_cli.cli.streams import Streams

@dataclass(frozen=True)
class TokensFlags:
    """Everything `tokens` is given on its command line."""

    prompt: tuple[str, ...]
    conversation: str | None
    input_format: str
    jsonl_input: bool
    no_stdin: bool
    as_json: bool
    messages: MessageFlags = field(metadata=part(MessageFlags))
    request: RequestOptions = field(metadata=part(RequestOptions, leave=NOT_FLAGS))
    settings: ConfigFlags = field(metadata=part(ConfigFlags))
    connection: ConnectionFlags = field(metadata=part(ConnectionFlags))


@click.command(cls=CheckedCommand)
@click.argument("prompt", nargs=-1)
@click.option("-c", "--conversation", type=click.Path(dir_okay=False), metavar="FILE",
              help="Count with the conversation in FILE (its window), as send would send it.")
@click.option("-i", "--input", "input_format", type=click.Choice(["text", "jsonl", "json"]),
              default="text", show_default=True, help="How to read stdin.")
@click.option("--jsonl", "jsonl_input", is_flag=True, help="Short for --input jsonl.")
@click.option("--no-stdin", is_flag=True, help="Do not read stdin.")
@message_options
@preset_option
@history_options
@MODEL_OPTION
@click.option("--max-tokens", type=int, metavar="N",
              help="Most output tokens (room kept for the reply by --history-tokens auto).")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON object: input_tokens, exact, model, context_length, messages.")
@RUN_OPTIONS[0]
@connection_options
@typed(TokensFlags)
def tokens(flags: TokensFlags, streams: Streams) -> int:
    """Count the input tokens of what send would send; send nothing."""
    from dataclasses import replace
    from pathlib import Path

    from cohere_cli.chat.context import QUIET
    from cohere_cli.chat.count_input import count_input
    from cohere_cli.chat.messages import MessageInputs
    from cohere_cli.chat.send import SendPlan
    from cohere_cli.cli.console import Console
    from cohere_cli.cli.from_flags import (
        connection_of,
        history_limits,
        logger,
        model_context,
        settings_of,
        with_preset,
    )

    console = Console.of(streams)
    stdin, media = _stdin(flags, streams)
    settings = settings_of(flags.settings, console, with_preset=True)
    log = logger(console, flags.connection.verbose)
    connection = connection_of(settings, flags.connection)
    messages = flags.messages
    inputs = MessageInputs(
        input_format="jsonl" if flags.jsonl_input else flags.input_format, stdin=stdin,
        prompt=flags.prompt, system=messages.system, system_file=messages.system_file,
        images=messages.images, image_detail=messages.image_detail)
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


def _stdin(flags: TokensFlags, streams: Streams) -> tuple[bytes | None, bytes | None]:
    """stdin as the message input, or (for `--image -` or `--document -`) the media."""
    from cohere_cli.cli.from_flags import read_stdin

    dashes = [*flags.messages.images, *flags.request.documents].count("-")
    if dashes > 1:
        raise UsageError("only one --image or --document may be - (stdin)")
    if dashes:
        if flags.no_stdin:
            raise UsageError("--image - or --document - reads stdin: drop --no-stdin")
        return None, read_stdin(streams, False) or b""
    return read_stdin(streams, flags.no_stdin), None
