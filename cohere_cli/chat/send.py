"""One chat exchange: send the body, stream or not, and hand each piece to a sink."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cohere_cli.base.errors import (
    GenerationError,
    IncompleteReplyError,
    NetworkError,
    TimeLimitError,
    ToolRoundsError,
)
from cohere_cli.chat.media import attach_images, image_blocks
from cohere_cli.chat.messages import MessageInputs, NewInput, assemble_messages, read_input
from cohere_cli.chat.reply_sink import KeepOnBrokenPipe, ReplySink
from cohere_cli.chat.request import RequestOptions, build_request
from cohere_cli.chat.response import (
    STREAMED_REPLY,
    check_response,
    hide_reply,
    request_message,
    tool_calls,
)
from cohere_cli.chat.run_log import RunRecord
from cohere_cli.conversation.fit import HistoryFit, HistoryLimits
from cohere_cli.conversation.window import leave_out
from cohere_cli.settings.names import time_limit
from cohere_cli.settings.preset_apply import apply_preset
from cohere_cli.wire.api_client import ApiClient, parse_json_body
from cohere_cli.wire.connection import Connection
from cohere_cli.wire.deadline import NO_DEADLINE, Deadline

if TYPE_CHECKING:  # each used only by the runs that need it, and imported there
    from cohere_cli.chat.budget import Budget
    from cohere_cli.chat.compact import Compactor, CompactSettings
    from cohere_cli.chat.context import ModelContext
    from cohere_cli.chat.tools import ToolSettings
    from cohere_cli.conversation.summary import StoredSummary

CHAT_PATH = "/v2/chat"


@dataclass(frozen=True, eq=False)
class SendPlan:
    """Everything one `send` needs: where the messages come from, the options, the API."""

    inputs: MessageInputs
    options: RequestOptions
    connection: Connection
    fallback_model: str  # when neither --model nor the input names one: env, config, built-in
    stream: bool = False
    stream_by: str | None = None  # the flag that decided `stream`, else -i json's own may
    conversation: Path | None = None
    lock_timeout: float = 300.0
    tools: ToolSettings | None = None  # --tool-exec; None: no tool is run
    history: HistoryLimits = field(default_factory=HistoryLimits)
    compact: CompactSettings | None = None  # --compact, with `conversation`; None: off
    max_time: float | None = None  # --max-time: the whole send, tool rounds included
    context: ModelContext | None = None  # the model's context (chat/context.py); None: unused
    budget: Budget | None = None  # --max-cost (chat/budget.py)


@dataclass(frozen=True, eq=False)
class _Live:
    """What a running send carries along: its --max-time deadline and its run record."""

    deadline: Deadline
    record: RunRecord


def _consume(chunks: Iterator[bytes], sink: ReplySink,
             client: ApiClient) -> tuple[dict[str, Any], str | None]:
    """Show each event as it arrives, no secret in it even cut across events
    (hidden_events.py); stop reading at `message-end`, which completes the reply whether
    or not the server then closes the connection. (A stream's modules are imported by a
    streamed send only.)"""
    from cohere_cli.wire.chat_events import ReplyAssembler, iter_chat_events
    from cohere_cli.wire.hidden_events import EventHider
    from cohere_cli.wire.sse import iter_events

    assembler, hider = ReplyAssembler(), EventHider(client.redactor)
    for event in iter_chat_events(iter_events(chunks)):
        taken = hider.take(event)
        for shown in hider.settled():
            sink.event(shown)
        for piece in taken:
            delta = assembler.apply(piece)
            if delta is not None:
                sink.delta(delta)
        if assembler.finished:
            return assembler.response(), assembler.error
    raise IncompleteReplyError(
        "the stream ended before message-end (the reply is incomplete)")


def stream_chat(
    client: ApiClient, body: dict[str, Any], sink: ReplySink,
    deadline: Deadline = NO_DEADLINE,
) -> tuple[dict[str, Any], str | None, bytes | None]:
    """A streamed exchange: the response, the stream's error text, and the body's bytes
    when the server answered with JSON instead of a stream (that is the reply, as if not
    streamed). A request that got its 200 is never sent again: a stream that breaks is
    final, and what was printed stays."""
    chunks = client.post_stream(CHAT_PATH, body, deadline)
    if isinstance(chunks, bytes):  # JSON where a stream was asked for: that is the reply
        response = check_response(parse_json_body(chunks))
        return response, None, hide_reply(chunks, response, client.redactor)
    try:
        response, error_text = _consume(chunks, sink, client)
    except NetworkError as exc:  # a malformed event; a broken stream is already incomplete
        if sink.started:
            raise IncompleteReplyError(f"the reply is incomplete: {exc.message}") from None
        raise
    finally:
        chunks.close()  # stop reading: after message-end nothing more is waited for
    return check_response(response, STREAMED_REPLY), error_text, None


def send_chat(
    client: ApiClient, body: dict[str, Any], deadline: Deadline = NO_DEADLINE
) -> tuple[dict[str, Any], bytes]:
    """A non-streamed exchange (`send`'s, and each batch line's): the parsed response and
    its bytes as received (both with every secret hidden: response.hide_reply)."""
    raw, response = client.post_json(CHAT_PATH, body, deadline)
    response = check_response(response)
    return response, hide_reply(raw, response, client.redactor)


def check_finish(response: dict[str, Any], error_text: str | None = None) -> None:
    """Raise GenerationError (exit 8; a failed line in a batch) when the model ended with
    ERROR or TIMEOUT."""
    reason = response.get("finish_reason")
    if reason in ("ERROR", "TIMEOUT"):
        detail = f": {error_text}" if error_text else ""
        raise GenerationError(f"generation did not complete (finish_reason {reason}){detail}")


def _exchange(
    plan: SendPlan, body: dict[str, Any], sink: ReplySink, log: Callable[[str], None],
    live: _Live,
) -> dict[str, Any]:
    """Send one body, show the reply, and return the response (or raise a typed error)."""
    error_text = None
    if plan.budget is not None:
        plan.budget.check()
    sink.begin()
    live.record.sent(body)
    with ApiClient(plan.connection, log) as client:
        if plan.stream:
            try:
                response, error_text, raw = stream_chat(client, body, sink, live.deadline)
            except (IncompleteReplyError, NetworkError, TimeLimitError, KeyboardInterrupt):
                sink.interrupted_line()
                raise
        else:
            response, raw = send_chat(client, body, live.deadline)
    live.record.answered(response)
    if plan.budget is not None:
        plan.budget.add_response(response)
    sink.finish(response, raw, streamed=plan.stream and raw is None)
    check_finish(response, error_text)
    return response


@dataclass(frozen=True, eq=False)
class _Turn:
    """All the messages of a turn (the last `new_count` are its new input), and the body
    of its first request, which holds the window of them."""

    messages: list[dict[str, Any]]  # without the preset's (they are not saved)
    new_count: int
    body: dict[str, Any]
    summary: StoredSummary | None = None  # --compact's, sent in each request


def _build(
    plan: SendPlan, history: list[dict[str, Any]], fit: HistoryFit, new: NewInput,
    compactor: Compactor | None,
) -> _Turn:
    assembled = assemble_messages(replace(plan.inputs, history=tuple(history)), new)
    attach_images(assembled.messages, image_blocks(plan.inputs.images, plan.inputs.image_detail,
                                                   plan.options.stdin_media))
    windowed = fit.window(assembled.messages, assembled.new_count)
    body = build_request(windowed.messages, plan.options, assembled.defaults,
                         plan.fallback_model, plan.stream)
    if compactor is None:
        return _Turn(assembled.messages, assembled.new_count, body)
    summary = compactor.summary(assembled.messages, assembled.new_count,
                                windowed.turns_left_out, body["model"])
    body["messages"] = _joined(plan, windowed.messages, summary)
    return _Turn(assembled.messages, assembled.new_count, body, summary)


def _joined(plan: SendPlan, messages: list[dict[str, Any]],
            summary: StoredSummary | None) -> list[dict[str, Any]]:
    """A request's messages: the preset's, then --compact's summary, then MESSAGES."""
    applied = apply_preset(plan.options.preset, messages)
    if summary is None:
        return applied.messages
    from cohere_cli.chat.compact import with_summary

    return with_summary(applied, summary)


def _to_model(plan: SendPlan, context: ModelContext, turn: _Turn, fit: HistoryFit,
              deadline: Deadline) -> _Turn:
    """Refuse an input over the model's context; the window of --history-tokens auto."""
    from cohere_cli.chat.context import prepare

    preset = plan.options.preset
    own = leave_out(turn.messages, turn.new_count, len(turn.messages)).messages
    limits = prepare(context, fit.limits, turn.body, apply_preset(preset, own).messages,
                     apply_preset(preset, turn.messages).messages, deadline)
    if limits == fit.limits:
        return turn
    fit.limits = limits
    sent = fit.window(turn.messages, turn.new_count).messages
    return replace(turn, body={**turn.body, "messages": apply_preset(preset, sent).messages})


def _exchange_messages(
    plan: SendPlan, turn: _Turn, body: dict[str, Any], sink: ReplySink,
    log: Callable[[str], None], live: _Live, messages: list[dict[str, Any]],
) -> dict[str, Any]:
    return _exchange(plan, {**body, "messages": _joined(plan, messages, turn.summary)}, sink,
                     log, live)


def _fold_exchange(
    plan: SendPlan, sink: ReplySink, log: Callable[[str], None], live: _Live,
    body: dict[str, Any],
) -> dict[str, Any]:
    """--compact's summarising request: not streamed, not shown; its usage counts in the
    run's total (the run log, cost_usd, --max-cost's budget, which refuses it once spent)
    and has its own --usage line."""
    if plan.budget is not None:
        plan.budget.check()
    with ApiClient(plan.connection, log) as client:
        response, _ = send_chat(client, body, live.deadline)
    live.record.count(response)
    if plan.budget is not None:
        plan.budget.add_response(response)
    sink.extra_usage("summary", response)
    return response


def _converse(
    plan: SendPlan, turn: _Turn, fit: HistoryFit, sink: ReplySink, log: Callable[[str], None],
    live: _Live,
) -> list[dict[str, Any]]:
    """One exchange, or with --tool-exec as many rounds as the tools need; the assistant
    and tool messages that each round added. Each request holds the window of the history
    (conversation/fit.py); the rounds of this turn are new input, always sent."""
    added: list[dict[str, Any]] = []
    rounds = 0
    body = turn.body
    while True:
        every = [*turn.messages, *added] if added else turn.messages
        response = fit.send(every, turn.new_count + len(added),
                            partial(_exchange_messages, plan, turn, body, sink, log, live))
        assistant = request_message(response)
        added.append(assistant)
        calls = tool_calls(response)
        if plan.tools is None or not calls:
            return added
        if rounds == plan.tools.max_rounds:
            raise ToolRoundsError(f"the model still asks for tools after "
                                  f"{plan.tools.max_rounds} rounds (--max-tool-rounds)")
        rounds += 1
        from cohere_cli.chat.tools import run_tool_calls

        results = run_tool_calls(calls, plan.tools, log, live.deadline)
        sink.tool_results(results)
        added.extend(results)
        # tool_choice REQUIRED forces a call; once the results are in, the model may answer.
        body = {k: v for k, v in body.items() if k != "tool_choice"}


@contextmanager
def _locked(path: Path | None, timeout: float, deadline: Deadline,
            dry_run: bool = False) -> Iterator[None]:
    """The conversation's lock (nothing without -c), waited for at most `timeout` and
    never past --max-time; for --dry-run, the same checks of FILE without the lock."""
    if path is None:
        yield
        return
    from cohere_cli.conversation.file import ConversationLock, check_conversation

    if dry_run:
        check_conversation(path)
        yield
        return
    with deadline.lock_wait(path), ConversationLock(path, deadline.cap(timeout)):
        yield


def _stream_of(plan: SendPlan, defaults: dict[str, Any], sink: ReplySink) -> SendPlan:
    """A request document's own `stream` (-i json) decides unless a flag or the output
    format did (`plan.stream_by`); then a note says which one it gave way to."""
    wanted = defaults.get("stream")
    if not isinstance(wanted, bool) or wanted == plan.stream:
        return plan
    if plan.stream_by is None:
        return replace(plan, stream=wanted)
    shown = "true" if wanted else "false"
    sink.note(f'the request document\'s "stream": {shown} gives way to {plan.stream_by}')
    return plan


def _turn(plan: SendPlan, turn: _Turn, fit: HistoryFit, sink: ReplySink,
          log: Callable[[str], None], live: _Live, path: Path) -> None:
    """A turn of the conversation FILE: sent, and saved when it succeeded, even when
    stdout's reader went away meanwhile (then BrokenPipeError after the save). Ctrl-C
    before the save says on stderr that the turn was not saved."""
    from cohere_cli.conversation.file import save_conversation

    shown = KeepOnBrokenPipe(sink)
    try:
        added = _converse(plan, turn, fit, shown, log, live)
        save_conversation(path, [*turn.messages, *added])
    except KeyboardInterrupt:
        sink.note(f"interrupted: this turn was not saved; {path} is unchanged")
        raise
    if shown.broken:
        raise BrokenPipeError("stdout was closed by its reader; the turn was saved")


def _compactor(plan: SendPlan, sink: ReplySink, log: Callable[[str], None], live: _Live,
               dry_run: bool) -> Compactor | None:
    """--compact's (with -c FILE only), which folds with its own requests."""
    if plan.compact is None or plan.conversation is None:
        return None
    from cohere_cli.chat.compact import Compactor

    return Compactor(plan.compact, plan.conversation,
                     partial(_fold_exchange, plan, sink, log, live), sink, log, dry_run)


def _history(path: Path | None) -> list[dict[str, Any]]:
    """The conversation FILE's messages; none without -c."""
    if path is None:
        return []
    from cohere_cli.conversation.file import read_history

    return read_history(path)


def run_send(
    plan: SendPlan, sink: ReplySink, dry_run: bool = False,
    log: Callable[[str], None] = lambda _: None, record: RunRecord | None = None,
) -> int:
    """Assemble, check, send and show one reply; the exit status, or a typed error.

    With a conversation FILE, the whole turn runs under its lock (taken only when there
    is something to send, and not for --dry-run), and FILE gains the new messages and
    every reply (and tool result) only when the whole turn succeeded.
    --max-time counts from here. `record` (the run log's) learns what was sent and
    what came back.
    """
    live = _Live(time_limit(plan.max_time).start(), record or RunRecord("send"))
    path = plan.conversation
    fit = HistoryFit(plan.history, log, sink.warning)
    new = read_input(plan.inputs)
    new.check()
    for warning in new.warnings:
        sink.warning(warning)
    plan = _stream_of(plan, new.defaults, sink)
    compactor = _compactor(plan, sink, log, live, dry_run)
    with _locked(path, plan.lock_timeout, live.deadline, dry_run):
        history = _history(path)
        turn = _build(plan, history, fit, new, compactor)
        if plan.context is not None:
            turn = _to_model(plan, plan.context, turn, fit, live.deadline)
        if dry_run:
            live.record.sent(turn.body)
            sink.body(turn.body)
            return 0
        if path:
            _turn(plan, turn, fit, sink, log, live, path)
        else:
            _converse(plan, turn, fit, sink, log, live)
    if note := fit.fit_note():
        sink.note(note)
    if history and history[0].get("role") == "system" and history[0] != turn.messages[0]:
        sink.note(f"replaced the system message at the top of {path}")
    return 0
