"""The command line: click commands that parse flags and call the core (errors are mapped
to exit statuses once, in group.py).

Heavy modules (requests, the client, the stream decoder) are imported inside the
commands, so that `--help` and `--version` stay fast.
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from cohere_cli import PROGRAM, __version__
from cohere_cli.cli.group import DefaultGroup
from cohere_cli.cli.group import output_streams as _streams
from cohere_cli.cli.options import (
    HISTORY_TOKENS,
    MILLISECOND_RANGE,
    MILLISECONDS,
    PER_MINUTE,
    POSITIVE_SECONDS,
    SECONDS,
    LocalText,
    connection_options,
    history_options,
    message_options,
    request_options,
    run_options,
    settings_options,
)
from cohere_cli.errors import (
    AuthError,
    ExitCode,
    InputError,
    UsageError,
)

if TYPE_CHECKING:
    from cohere_cli.cli.render import Console
    from cohere_cli.cli.runs import RunLog
    from cohere_cli.config import Settings
    from cohere_cli.request import RequestOptions
    from cohere_cli.wire.connection import Connection


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name=PROGRAM, message="%(prog)s %(version)s")
def cli() -> None:
    """A Unix-style client for Cohere's Chat API (v2).

    SEND is the default command: `cohere-chat "hello"` is `cohere-chat send "hello"`.
    A first word close to a command name (`bacth`, `Models`) is refused, not sent: say
    `cohere-chat send WORD` to send it. Run `cohere-chat help COMMAND` or
    `cohere-chat COMMAND --help` for each command's options; see cohere-chat(1).
    """


def _read_stdin(no_stdin: bool) -> bytes | None:
    """All of stdin (at most files.MAX_INPUT_BYTES, else exit 3), unless told not to or
    it is a terminal (never block on a TTY)."""
    from cohere_cli.files import read_stream

    stream = sys.stdin
    if no_stdin or stream is None or stream.closed:
        return None
    try:
        if stream.isatty():
            return None
    except (OSError, ValueError):
        return None
    return read_stream(stream.buffer, "stdin")


def _config_flags(kw: dict[str, Any]) -> Any:
    from cohere_cli.config import ConfigFlags

    return ConfigFlags(
        api_key_file=kw.get("api_key_file"), base_url=kw.get("base_url"),
        profile=kw.get("profile"), timeout=kw.get("timeout"), retries=kw.get("retries"),
        client_name=kw.get("client_name"), history_turns=kw.get("history_turns"),
        history_tokens=kw.get("history_tokens"), fit=kw.get("fit"),
        max_time=kw.get("max_time"), log=kw.get("log"),
    )


def _history(settings: Settings) -> Any:
    """--history-turns, --history-tokens and --fit, from the flags or the config."""
    from cohere_cli.fitting import HistoryLimits

    return HistoryLimits(settings.history_turns, settings.history_tokens, settings.fit)


def _request_options(kw: dict[str, Any]) -> RequestOptions:
    """The request flags: each option's destination is its RequestOptions field."""
    from dataclasses import fields

    from cohere_cli.request import RequestOptions

    return RequestOptions(**{field.name: kw[field.name] for field in fields(RequestOptions)})


def _settings(kw: dict[str, Any], console: Any) -> Settings:
    """The settings from the flags, environment and config; config warnings shown."""
    from cohere_cli.config import load_settings

    settings = load_settings(_config_flags(kw), os.environ)
    for warning in settings.warnings:
        console.warning(warning)
    return settings


def _connection(settings: Settings, kw: dict[str, Any]) -> Connection:
    """How the wire reaches the API: the settings, and the flags that are not settings."""
    return settings.connection(max_wait=kw["max_wait"], ca_bundle=kw["ca_bundle"],
                               pool_size=max(10, kw.get("jobs") or 0))


def _logger(console: Any, verbose: bool) -> Any:
    if not verbose:
        return lambda _line: None
    return lambda line: console.err(f"{PROGRAM}: {line}")


@cli.command()
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
@history_options
@request_options
@click.option("-F", "--format", "output_format",
              type=click.Choice(["text", "json", "message", "events"]), default="text",
              show_default=True, help="Output format.")
@click.option("--json", "json_output", is_flag=True, help="Short for --format json.")
@click.option("--stream/--no-stream", default=None,
              help="Stream the reply (default: on for text and events).")
@click.option("--usage", is_flag=True, help="Print token usage on stderr.")
@click.option("--show-thinking", is_flag=True, help="Print thinking on stderr.")
@click.option("--show-citations", is_flag=True, help="Print numbered sources on stderr.")
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


def _send(prompt: tuple[str, ...], kw: dict[str, Any], console: Console, runlog: RunLog) -> int:
    from pathlib import Path

    from cohere_cli.cli.render import OutputOptions, Renderer
    from cohere_cli.messages import MessageInputs
    from cohere_cli.send import SendPlan, run_send
    from cohere_cli.tools import ToolSettings, parse_tool_exec

    runlog.record.conversation = kw["conversation"]
    output_format = "json" if kw["json_output"] else kw["output_format"]
    inputs = MessageInputs(
        input_format="jsonl" if kw["jsonl_input"] else kw["input_format"],
        stdin=_read_stdin(kw["no_stdin"]), prompt=prompt, system=kw["system"],
        system_file=kw["system_file"], images=kw["images"], image_detail=kw["image_detail"],
    )
    stream = kw["stream"] if kw["stream"] is not None else output_format in ("text", "events")
    if output_format == "events" and kw["stream"] is False:
        raise UsageError("--format events needs --stream")
    settings = _settings(kw, console)
    runlog.use(settings)
    plan = SendPlan(
        inputs=inputs, options=_request_options(kw), stream=output_format == "events" or stream,
        connection=_connection(settings, kw), fallback_model=settings.model,
        conversation=Path(kw["conversation"]) if kw["conversation"] else None,
        lock_timeout=kw["lock_timeout"],
        tools=ToolSettings(parse_tool_exec(kw["tool_exec"]), kw["max_tool_rounds"],
                           kw["tool_timeout"]),
        history=_history(settings), max_time=settings.max_time,
    )
    renderer = Renderer(console, OutputOptions(
        format=output_format, show_thinking=kw["show_thinking"],
        show_citations=kw["show_citations"], usage=kw["usage"],
        tool_lines=not plan.tools.commands, prices=settings.prices,
    ))
    return console.written(run_send(plan, renderer, dry_run=kw["dry_run"],
                                    log=_logger(console, kw["verbose"]),
                                    record=runlog.record))


@cli.command()
@click.argument("input_path", metavar="[INPUT]", default="-",
                type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=4, show_default=True,
              help="Concurrent requests.")
@click.option("--rpm", type=PER_MINUTE, metavar="N",
              help="Start requests at least 60/N seconds apart (no bursts).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the results to FILE (default: stdout).")
@click.option("--unordered", is_flag=True, help="Write results as they finish.")
@click.option("--raw", is_flag=True, help="Add the whole response to each result.")
@click.option("--resume", is_flag=True,
              help="Skip ids that already succeeded in --output FILE; retry the rest.")
@message_options
@history_options
@request_options
@run_options
@connection_options
def batch(input_path: str, **kw: Any) -> int:
    """Send many requests from JSONL; write one result line per input line."""
    from cohere_cli.cli.render import Console
    from cohere_cli.cli.runs import RunLog

    console = Console(*_streams())
    runlog = RunLog("batch", kw["log"])
    return runlog.run(console, lambda: _batch(input_path, kw, console, runlog))


def _batch(input_path: str, kw: dict[str, Any], console: Console, runlog: RunLog) -> int:
    from cohere_cli.batch import BatchJob, run_batch_job
    from cohere_cli.cli.render import number_text
    from cohere_cli.response import with_cost

    if kw["resume"] and not kw["output"]:
        raise UsageError("--resume needs -o/--output FILE")
    if input_path == "-" and (sys.stdin is None or sys.stdin.isatty()):
        raise UsageError("no input", hint="give INPUT, or pipe JSONL on stdin")
    settings = _settings(kw, console)
    runlog.use(settings)
    job = BatchJob(
        input_path=input_path, output=kw["output"], resume=kw["resume"], jobs=kw["jobs"],
        rpm=kw["rpm"], ordered=not kw["unordered"], raw=kw["raw"], system=kw["system"],
        system_file=kw["system_file"], images=kw["images"], image_detail=kw["image_detail"],
        options=_request_options(kw),
        connection=_connection(settings, kw), fallback_model=settings.model,
        history=_history(settings), max_time=settings.max_time, prices=settings.prices,
    )
    runlog.record.model = job.options.model or settings.model
    summary = run_batch_job(job, sys.stdin.buffer if input_path == "-" else None,
                            console.stdout, _progress(console), _logger(console, kw["verbose"]),
                            console.note)
    console.clear_progress()
    cost = with_cost(summary.usage, settings.prices).get("cost_usd")
    console.note(f"batch: ok={summary.ok} failed={summary.failed} skipped={summary.skipped} "
                 f"tokens={summary.tokens} seconds={summary.seconds:.1f}"
                 + (f" cost_usd={number_text(cost)}" if cost is not None else ""))
    runlog.record.usage = summary.usage
    runlog.record.totals = {"input": input_path, "output": kw["output"], "ok": summary.ok,
                            "failed": summary.failed, "skipped": summary.skipped}
    runlog.error = ("interrupted (Ctrl-C)" if summary.interrupted else
                    f"{summary.failed} of {summary.ok + summary.failed} lines failed")
    if summary.interrupted:
        return ExitCode.INTERRUPTED
    if summary.error is not None:  # what stopped it: a failed write, unreadable input, ...
        raise summary.error
    if summary.stopped_by:
        error = summary.stopped_by
        raise AuthError(error["status"], error["message"], hint="the batch stopped, as every "
                        "line would be refused; check the API key (CO_API_KEY or --api-key-file)")
    return ExitCode.BATCH_FAILED if summary.failed else ExitCode.OK


def _progress(console: Any) -> Any:
    """A progress line on stderr, only while stderr is a terminal (at most 5 a second)."""
    if not console.stderr_is_terminal():
        return lambda _summary: None
    shown = [0.0]

    def show(summary: Any) -> None:
        now = summary.seconds
        if now - shown[0] >= 0.2:
            shown[0] = now
            done = summary.ok + summary.failed
            try:
                console.progress(
                    f"{done} done, {summary.failed} failed, {done / max(now, 1e-9):.1f}/s")
            except (OSError, ValueError):  # a terminal gone (hang-up): no more progress
                shown[0] = float("inf")

    return show


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line, as the API sent it.")
@connection_options
def models(as_json: bool, **kw: Any) -> int:
    """List the chat-capable models, one name a line."""
    from cohere_cli.cli.render import Console, escape_line
    from cohere_cli.models import iter_models
    from cohere_cli.wire.client import ChatClient

    console = Console(*_streams())
    connection = _connection(_settings(kw, console), kw)
    with ChatClient(connection, _logger(console, kw["verbose"])) as client:
        for model in iter_models(client):
            if as_json:
                console.out_json(model)
            elif isinstance(model.get("name"), str):  # a model without a name is not listed
                console.out(f"{escape_line(model['name'])}\n".encode())  # one line each
            console.written()  # stdout gone: fetch no more pages
    return 0


@cli.command("config")
@settings_options
def config_command(**kw: Any) -> int:
    """Show the effective settings and where each came from (the key is never shown)."""
    from cohere_cli.cli.render import Console
    from cohere_cli.config import ConfigFlags, load_settings

    console = Console(*_streams())
    settings = load_settings(ConfigFlags(**kw), os.environ)
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
        else "(set, hidden)" if settings.api_key else "(not set)",
        "profile": settings.profile or "(none)",
        "base_url": settings.base_url,
        "model": settings.model,
        "timeout": f"{settings.timeout:g}",
        "retries": str(settings.retries),
        "client_name": settings.client_name,
        "history_turns": "(all)" if settings.history_turns is None
        else str(settings.history_turns),
        "history_tokens": "(no limit)" if settings.history_tokens is None
        else str(settings.history_tokens),
        "fit": "yes" if settings.fit else "no",
        "max_time": "(no limit)" if settings.max_time is None else f"{settings.max_time:g}",
        "log": "(none)" if settings.log is None else str(settings.log),
        "price_input": "(none)" if settings.price_input is None else f"{settings.price_input:g}",
        "price_output": "(none)" if settings.price_output is None
        else f"{settings.price_output:g}",
    }
    for name, value in shown.items():
        lines.append(f"{name} = {value}  # {settings.sources.get(name, 'built-in default')}")
    console.out("\n".join(lines).encode("utf-8") + b"\n")
    return console.written()


@cli.command("help")
@click.argument("command", required=False, type=LocalText(), metavar="[COMMAND]")
@click.pass_context
def help_command(ctx: click.Context, command: str | None) -> int:
    """Show the list of commands, or the help of COMMAND."""
    from cohere_cli.cli.group import close_command
    from cohere_cli.cli.render import Console

    console = Console(*_streams())
    root = ctx.find_root()
    if command is None:
        text = cli.get_help(root)
    elif command in cli.commands:
        chosen = cli.commands[command]
        text = chosen.get_help(click.Context(chosen, info_name=command, parent=root))
    else:
        meant = close_command(command, list(cli.commands))
        raise UsageError(f"no command {command!r}" + (f" (did you mean '{meant}'?)" if meant
                                                      else ""),
                         hint=f"the commands: {', '.join(sorted(cli.commands))}")
    console.out(text.encode("utf-8") + b"\n")
    return console.written()


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port (0: any free port).")
@click.option("--replies", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="Canned replies, JSONL: a string or a response object a line.")
@click.option("--latency", type=MILLISECOND_RANGE, default="0", metavar="MS[-MAX]",
              help="Delay before each answer; MS-MAX: a random delay in that range "
              "(at most 3600000).")
@click.option("--token-delay", type=MILLISECONDS, default=0, metavar="MS",
              help="Delay between streamed deltas (at most 3600000).")
@click.option("--fail", "fail_rules", multiple=True, metavar="RULE",
              help="Inject a fault into the next requests: STATUS, drop, hang, cut=K or "
              "garbage, each optionally xN (repeatable, in order).")
@click.option("--retry-after", type=SECONDS, default=1, show_default=True, metavar="S",
              help="Retry-After seconds on injected 429/503 (at most 86400).")
@click.option("--context-limit", type=HISTORY_TOKENS, metavar="TOKENS",
              help="Answer Cohere's 400 'too many tokens' to a chat request whose messages "
              "are estimated over TOKENS (as --history-tokens estimates).")
def stub(**kw: Any) -> int:
    """Serve the v2 chat wire format locally, for offline tests."""
    from cohere_cli.stub.replies import load_replies
    from cohere_cli.stub.server import run_stub
    from cohere_cli.stub.settings import StubSettings, parse_fail_rule

    try:
        rules = tuple(parse_fail_rule(rule) for rule in kw["fail_rules"])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        replies = load_replies(kw["replies"]) if kw["replies"] else ()
    except ValueError as exc:
        raise InputError("--replies", str(exc)) from None
    latency = kw["latency"]
    run_stub(StubSettings(
        host=kw["host"], port=kw["port"], replies=replies, latency_ms=latency[0],
        latency_max_ms=latency[1],
        token_delay_ms=kw["token_delay"], fail_rules=rules, retry_after=kw["retry_after"],
        context_limit=kw["context_limit"],
    ))
    return 0
