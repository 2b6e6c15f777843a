"""`send`, the default command: one conversation, one reply."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from cohere_cli.base.errors import UsageError
from cohere_cli.cli.from_flags import (
    connection_of,
    history_limits,
    logger,
    param_warnings,
    read_stdin,
    request_options_of,
    settings_of,
)
from cohere_cli.cli.group import CheckedCommand
from cohere_cli.cli.group import output_streams as _streams
from cohere_cli.cli.options import (
    POSITIVE_SECONDS,
    SECONDS,
    LocalText,
    connection_options,
    history_options,
    message_options,
    preset_option,
    request_options,
    run_options,
)

if TYPE_CHECKING:
    from cohere_cli.cli.render import Console
    from cohere_cli.cli.runs import RunLog


@click.command(cls=CheckedCommand)
@click.argument("prompt", nargs=-1)
@click.option("-c", "--conversation", type=click.Path(dir_okay=False), metavar="FILE",
              help="Keep the conversation in FILE (JSONL of messages); the reply is appended.")
@click.option("--lock-timeout", type=SECONDS, default=300, show_default=True, metavar="SECONDS",
              help="How long to wait for another run's lock on the conversation (at most "
              "86400).")
@click.option("-i", "--input", "input_format", type=click.Choice(["text", "jsonl", "json"]),
              default="text", show_default=True, help="How to read stdin.")
@click.option("--jsonl", "jsonl_input", is_flag=True, help="Short for --input jsonl.")
@click.option("--no-stdin", is_flag=True, help="Do not read stdin.")
@message_options
@preset_option
@click.option("--save-preset", metavar="NAME|PATH",
              help="Write a preset from the request flags and --system given, and exit "
              "without sending.")
@click.option("--force", is_flag=True, help="With --save-preset: replace an existing preset.")
@history_options
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
def send(prompt: tuple[str, ...], **kw: Any) -> int:
    """Send one conversation, print one reply (the default command)."""
    from cohere_cli.cli.render import Console
    from cohere_cli.cli.runs import RunLog

    console = Console(*_streams())
    runlog = RunLog("send", kw["log"], kw["log_content"])
    return runlog.run(console, lambda: _send(prompt, kw, console, runlog))


def _stdin(kw: dict[str, Any]) -> tuple[bytes | None, bytes | None]:
    """stdin as the message input, or (for `--image -` or `--document -`) the media."""
    dashes = [*kw["images"], *kw["documents"]].count("-")
    if dashes > 1:
        raise UsageError("only one --image or --document may be - (stdin)")
    if dashes:
        if kw["no_stdin"]:
            raise UsageError("--image - or --document - reads stdin: drop --no-stdin")
        return None, read_stdin(False) or b""
    return read_stdin(kw["no_stdin"]), None


def _save_preset(prompt: tuple[str, ...], kw: dict[str, Any], console: Console) -> int:
    """--save-preset NAME: the request flags and --system as a preset; nothing sent."""
    import os

    from cohere_cli.chat.messages import MessageInputs, read_system
    from cohere_cli.chat.request import preset_document
    from cohere_cli.settings.presets import save_preset

    if prompt:
        raise UsageError("--save-preset takes no prompt (it sends nothing)")
    system = read_system(MessageInputs(system=kw["system"], system_file=kw["system_file"]))
    settings = {name: kw[name] for name in ("history_turns", "history_tokens", "fit",
                                            "max_time") if kw[name] is not None}
    document = preset_document(request_options_of(kw), system, settings)
    path = save_preset(kw["save_preset"], document, os.environ, kw["force"])
    console.note(f"saved preset {kw['save_preset']} ({path})")
    return 0


def _send(prompt: tuple[str, ...], kw: dict[str, Any], console: Console, runlog: RunLog) -> int:
    from dataclasses import replace
    from pathlib import Path

    from cohere_cli.chat.messages import MessageInputs
    from cohere_cli.chat.send import SendPlan, run_send
    from cohere_cli.chat.tools import ToolSettings, parse_tool_exec
    from cohere_cli.cli.render import OutputOptions, Renderer

    runlog.record.conversation = kw["conversation"]
    output_format = "json" if kw["json_output"] else kw["output_format"]
    if kw["extract"] and kw["extract_last"]:
        raise UsageError("give -x/--extract or --extract-last, not both")
    if (kw["extract"] or kw["extract_last"]) and output_format != "text":
        raise UsageError(f"-x/--extract and --extract-last print text: not with --format "
                         f"{output_format}")
    if kw["save_preset"] is not None:
        return _save_preset(prompt, kw, console)
    stdin, media = _stdin(kw)
    inputs = MessageInputs(
        input_format="jsonl" if kw["jsonl_input"] else kw["input_format"],
        stdin=stdin, prompt=prompt, system=kw["system"],
        system_file=kw["system_file"], images=kw["images"], image_detail=kw["image_detail"],
    )
    stream = kw["stream"] if kw["stream"] is not None else output_format in ("text", "events")
    if output_format == "events" and kw["stream"] is False:
        raise UsageError("--format events needs --stream")
    stream_by = ("--format events" if output_format == "events" else
                 None if kw["stream"] is None else "--stream" if stream else "--no-stream")
    settings = settings_of(kw, console, with_preset=True)
    runlog.use(settings)
    param_warnings(kw, console)
    options = replace(request_options_of(kw, settings), stdin_media=media)
    plan = SendPlan(
        inputs=inputs, options=options, stream=output_format == "events" or stream,
        stream_by=stream_by,
        connection=connection_of(settings, kw), fallback_model=settings.model,
        conversation=Path(kw["conversation"]) if kw["conversation"] else None,
        lock_timeout=kw["lock_timeout"],
        tools=ToolSettings(parse_tool_exec(kw["tool_exec"]), kw["max_tool_rounds"],
                           kw["tool_timeout"]),
        history=history_limits(settings), max_time=settings.max_time,
    )
    renderer = Renderer(console, OutputOptions(
        format=output_format, show_thinking=kw["show_thinking"],
        show_citations=kw["show_citations"], usage=kw["usage"],
        tool_lines=not plan.tools.commands, prices=settings.prices,
        extract="first" if kw["extract"] else "last" if kw["extract_last"] else None,
        show_plan=kw["show_plan"],
    ))
    return console.written(run_send(plan, renderer, dry_run=kw["dry_run"],
                                    log=logger(console, kw["verbose"]),
                                    record=runlog.record))
