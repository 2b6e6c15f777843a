"""Sending one batch line: its history windowed and fitted, within its --max-time; what
fails this line alone becomes its failure record, what every line would meet is raised."""
from __future__ import annotations

from functools import partial
from typing import Any

from cohere_cli.base.errors import APIError, CohereChatError, InputError, UsageError
from cohere_cli.batch.jobs import Job
from cohere_cli.batch.results import failure, success
from cohere_cli.chat.context import ModelContext, prepare
from cohere_cli.chat.send import check_finish, send_chat
from cohere_cli.chat.usage import Prices
from cohere_cli.conversation.fit import HistoryFit, HistoryLimits
from cohere_cli.conversation.window import leave_out
from cohere_cli.settings.names import time_limit
from cohere_cli.wire.api_client import ApiClient
from cohere_cli.wire.deadline import Deadline


def _send_messages(
    client: ApiClient, body: dict[str, Any], deadline: Deadline,
    head: list[dict[str, Any]], messages: list[dict[str, Any]],
) -> tuple[dict[str, Any], bytes]:
    return send_chat(client, {**body, "messages": [*head, *messages]}, deadline)


def _to_model(context: ModelContext, fit: HistoryFit, job: Job, deadline: Deadline) -> None:
    """The line's own input refused when over its model's context (ContextError); the
    window of --history-tokens auto (chat/context.py)."""
    assert job.body is not None
    every = job.body["messages"]
    rest = every[job.fixed:]
    own = [*every[:job.fixed], *leave_out(rest, job.new_count, len(rest)).messages]
    fit.limits = prepare(context, fit.limits, job.body, own, every, deadline)


def run_job(client: ApiClient, job: Job, raw: bool, fit: HistoryFit | None = None, *,
            max_time: float | None = None, prices: Prices | None = None,
            context: ModelContext | None = None) -> dict[str, Any]:
    """Send one job; its result record. What fails this line alone (an HTTP error, the
    network, a reply that is not a chat response, a generation that did not complete) is
    a failure record; what every line would meet (a configuration error, or anything
    unexpected while sending) is raised. `fit`: the history window and --fit of the
    line's messages (conversation/fit.py); none: they are all sent. `max_time`:
    --max-time for this line, from its first request (its --fit retries and retry waits
    included); `prices`: cost_usd in its usage; `context`: the models' context, to
    refuse a line over it and for --history-tokens auto."""
    if job.body is None:
        return failure(job, None, job.error or "bad line")
    fit = fit or HistoryFit(HistoryLimits())
    deadline = time_limit(max_time)
    try:
        if context is not None:
            _to_model(context, fit, job, deadline)
        every = job.body["messages"]
        response, _ = fit.send(every[job.fixed:], job.new_count,
                               partial(_send_messages, client, job.body, deadline,
                                       every[:job.fixed]))
        check_finish(response)
    except APIError as exc:
        return failure(job, exc.status, exc.api_message)
    except (UsageError, InputError):
        raise
    except CohereChatError as exc:
        return failure(job, None, exc.message)
    try:
        return success(job, response, raw, prices)
    except Exception as exc:  # a reply shape the check above let through: this line alone
        return failure(job, None, f"internal error reading the reply: {type(exc).__name__}")
