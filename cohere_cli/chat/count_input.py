"""`tokens`: the input tokens of the request a send would make (the same inputs, the
same window, the preset's messages), counted by the model's tokenizer when it can be
had (chat/context.py), without sending it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cohere_cli.chat.send import SendPlan, run_send
from cohere_cli.settings.names import time_limit
from cohere_cli.wire.chat_events import Delta


@dataclass(frozen=True)
class InputCount:
    """What `tokens` prints (`--json`: these fields but `estimate_why`)."""

    input_tokens: int
    exact: bool
    model: str
    context_length: int | None
    messages: int
    estimate_why: str | None = None  # why the count is an estimate

    def as_json(self) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens, "exact": self.exact, "model": self.model,
                "context_length": self.context_length, "messages": self.messages}


class _Body:
    """A reply sink that keeps the request body a --dry-run shows; warnings go on."""

    started = False

    def __init__(self, warn: Callable[[str], None]) -> None:
        self.warning = warn
        self.note = warn
        self.request: dict[str, Any] = {}

    def body(self, body: dict[str, Any]) -> None:
        self.request = body

    def event(self, event: dict[str, Any]) -> None: ...

    def delta(self, delta: Delta) -> None: ...

    def finish(self, response: dict[str, Any], raw: bytes | None, streamed: bool) -> None: ...

    def interrupted_line(self) -> None: ...

    def begin(self) -> None: ...

    def tool_results(self, messages: list[dict[str, Any]]) -> None: ...

    def extra_usage(self, label: str, response: dict[str, Any]) -> None: ...


def count_input(plan: SendPlan, warn: Callable[[str], None],
                log: Callable[[str], None] = lambda _: None) -> InputCount:
    """The input tokens of the request PLAN would send (nothing is sent); PLAN's context
    (chat/context.py) must be one that fetches and does not refuse."""
    context = plan.context
    assert context is not None and not context.offline and not context.refuse
    sink = _Body(warn)
    run_send(plan, sink, dry_run=True, log=log)
    body = sink.request
    model = str(body.get("model", ""))
    deadline = time_limit(plan.max_time).start()
    details, _ = context.details(model, True, deadline)
    counter, why = context.counter(model, deadline)
    return InputCount(counter.request(body), counter.exact, model,
                      details.context_length if details is not None else None,
                      len(body.get("messages") or []), why)

