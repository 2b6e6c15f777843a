"""`send`, the default command: one conversation, one reply."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import click

from cohere_cli.base.errors import UsageError
from cohere_cli.chat.request import NOT_FLAGS, RequestOptions
from cohere_cli.cli.checked_command import CheckedCommand
from cohere_cli.cli.flags import part, typed
from cohere_cli.cli.from_flags import (
    budget_of,
    compact_settings,
    connection_of,
    history_limits,
    logger,
    message_inputs,
    param_warnings,
    send_context,
    settings_of,
    with_preset,
)
from cohere_cli.cli.options import (
    POSITIVE_SECONDS,
    SECONDS,
    ConnectionFlags,
    LocalText,
    MessageFlags,
    StdinFlags,
    compact_options,
    connection_options,
    conversation_option,
    history_options,
    message_options,
    preset_option,
    request_options,
    run_options,
    stdin_options,
)
from cohere_cli.settings.config import ConfigFlags

if TYPE_CHECKING:
    from cohere_cli.chat.tools import ToolSettings
    from cohere_cli.cli.console import Console
    from cohere_cli.cli.runs import RunLog
    from cohere_cli.cli.streams import Streams


@dataclass(frozen=True, eq=False)  # never compared: no __eq__ to compile
class SendFlags:
    """Everything `send` is given on its command line."""

    prompt: tuple[str, ...]
    conversation: str | None
    lock_timeout: float
    save_preset: str | None
    force: bool
    output_format: str
    json_output: bool
    stream: bool | None
    usage: bool
    show_thinking: bool
    show_citations: bool
    show_plan: bool
    extract: bool
    extract_last: bool
    dry_run: bool
    tool_exec: tuple[str, ...]
    max_tool_rounds: int
    tool_timeout: float
    log_content: bool
    stdin: StdinFlags = field(metadata=part(StdinFlags))
    messages: MessageFlags = field(metadata=part(MessageFlags))
    request: RequestOptions = field(metadata=part(RequestOptions, leave=NOT_FLAGS))
    settings: ConfigFlags = field(metadata=part(ConfigFlags))
    connection: ConnectionFlags = field(metadata=part(ConnectionFlags))


@click.command(cls=CheckedCommand)
@click.argument("prompt", nargs=-1)
@conversation_option("Keep the conversation in FILE (JSONL of messages); the reply is "
                     "appended.")
@click.option("--lock-timeout", type=SECONDS, default=300, show_default=True, metavar="SECONDS",
              help="How long to wait for another run's lock on the conversation (at most "
              "86400).")
@stdin_options
@message_options
@preset_option
@click.option("--save-preset", metavar="NAME|PATH",
              help="Write a preset from the request flags and --system given, and exit "
              "without sending.")
@click.option("--force", is_flag=True, help="With --save-preset: replace an existing preset.")
@history_options
@compact_options
@request_options
@click.option("-F", "--format", "output_format",
              type=click.Choice(["text", "json", "message", "events"]), default="text",
              show_default=True, help="Output format.")
@click.option("--json", "json_output", is_flag=True, help="Short for --format json.")
@click.option("--stream/--no-stream", default=None,
              help="Stream the reply.  [default: on for text and events]")
@click.option("--usage", is_flag=True, help="Print token usage on stderr.")
@click.option("--show-thinking", is_flag=True, help="Print thinking on stderr.")
@click.option("--show-citations", is_flag=True, help="Print numbered sources on stderr.")
@click.option("--show-plan", is_flag=True, help="Print the tool plan on stderr.")
@click.option("-x", "--extract", is_flag=True,
              help="Print only the first fenced code block of the reply (without the fences).")
@click.option("--extract-last", is_flag=True, help="The same, with the last block.")
@click.option("--dry-run", is_flag=True, help="Print the request body and exit.")
@click.option("--tool-exec", multiple=True, type=LocalText(), metavar="NAME=COMMAND",
              help="Run COMMAND for the tool NAME (arguments as JSON on stdin, its stdout "
              "goes back to the model); repeat until a final answer.")
@click.option("--max-tool-rounds", type=click.IntRange(1, 100), default=5, show_default=True,
              metavar="N", help="Most rounds of tool calls with --tool-exec.")
@click.option("--tool-timeout", type=POSITIVE_SECONDS, default=60, show_default=True,
              metavar="SECONDS", help="How long one tool command may run (at most 86400).")
@run_options
@click.option("--log-content", is_flag=True,
              help="With the run log: add the messages sent and the reply to its line.")
@connection_options
@typed(SendFlags)
def send(flags: SendFlags, streams: Streams) -> int:
    """Send one conversation, print one reply (the default command)."""
    from cohere_cli.cli.console import Console
    from cohere_cli.cli.runs import RunLog

    console = Console.of(streams)
    runlog = RunLog("send", flags.settings.log, flags.log_content)
    return runlog.run(console, lambda: _send(flags, streams, console, runlog))


def _save_preset(flags: SendFlags, name: str, console: Console) -> int:
    """--save-preset NAME: the request flags and --system as a preset; nothing sent."""
    import os

    from cohere_cli.chat.messages import MessageInputs, read_system
    from cohere_cli.chat.request import preset_document
    from cohere_cli.settings.presets import save_preset

    if flags.prompt:
        raise UsageError("--save-preset takes no prompt (it sends nothing)")
    if "-" in (*flags.messages.images, *flags.request.documents):
        raise UsageError("--save-preset reads no stdin: --image - and --document - cannot "
                         "be saved", hint="save the file's path: --document FILE")
    system = read_system(MessageInputs(system=flags.messages.system,
                                       system_file=flags.messages.system_file))
    given = flags.settings
    settings = {name: value for name, value in (
        ("history_turns", given.history_turns), ("history_tokens", given.history_tokens),
        ("fit", given.fit), ("compact", given.compact), ("compact_prompt", given.compact_prompt),
        ("compact_model", given.compact_model), ("max_time", given.max_time))
        if value is not None}
    document = preset_document(flags.request, system, settings)
    path = save_preset(name, document, os.environ, flags.force)
    console.note(f"saved preset {name} ({path})")
    return 0


def _output_format(flags: SendFlags) -> str:
    """--format (or --json), checked against -x/--extract and --stream."""
    output_format = "json" if flags.json_output else flags.output_format
    if flags.extract and flags.extract_last:
        raise UsageError("give -x/--extract or --extract-last, not both")
    if (flags.extract or flags.extract_last) and output_format != "text":
        raise UsageError(f"-x/--extract and --extract-last print text: not with --format "
                         f"{output_format}")
    return output_format


def _tools(flags: SendFlags) -> ToolSettings | None:
    """--tool-exec's tools, with --max-tool-rounds and --tool-timeout; None without."""
    if not flags.tool_exec:
        return None
    from cohere_cli.chat.tools import ToolSettings, parse_tool_exec

    return ToolSettings(parse_tool_exec(flags.tool_exec), flags.max_tool_rounds,
                        flags.tool_timeout)


def _send(flags: SendFlags, streams: Streams, console: Console, runlog: RunLog) -> int:
    from pathlib import Path

    from cohere_cli.chat.send import SendPlan, run_send
    from cohere_cli.cli.render import OutputOptions, Renderer

    runlog.record.conversation = flags.conversation
    output_format = _output_format(flags)
    if flags.save_preset is not None:
        return _save_preset(flags, flags.save_preset, console)
    inputs, media = message_inputs(flags.prompt, flags.stdin, flags.messages,
                                   flags.request.documents, streams)
    stream = flags.stream if flags.stream is not None else output_format in ("text", "events")
    if output_format == "events" and flags.stream is False:
        raise UsageError("--format events needs --stream")
    stream_by = ("--format events" if output_format == "events" else
                 None if flags.stream is None else "--stream" if stream else "--no-stream")
    settings = settings_of(flags.settings, console, with_preset=True)
    runlog.use(settings)
    param_warnings(flags.request.params, console)
    plan = SendPlan(
        inputs=inputs, options=replace(with_preset(flags.request, settings), stdin_media=media),
        stream=output_format == "events" or stream, stream_by=stream_by,
        connection=connection_of(settings, flags.connection), fallback_model=settings.model,
        conversation=Path(flags.conversation) if flags.conversation else None,
        lock_timeout=flags.lock_timeout,
        tools=_tools(flags),
        history=history_limits(settings), max_time=settings.max_time,
        compact=compact_settings(settings, flags.conversation),
    )
    plan = replace(plan, budget=budget_of(settings),
                   context=send_context(settings, plan.connection, console,
                                        flags.connection.verbose, flags.dry_run))
    renderer = Renderer(console, OutputOptions(
        format=output_format, show_thinking=flags.show_thinking,
        show_citations=flags.show_citations, usage=flags.usage,
        tool_lines=plan.tools is None, prices=settings.prices,
        extract="first" if flags.extract else "last" if flags.extract_last else None,
        show_plan=flags.show_plan,
    ))
    return console.written(run_send(plan, renderer, dry_run=flags.dry_run,
                                    log=logger(console, flags.connection.verbose),
                                    record=runlog.record))
