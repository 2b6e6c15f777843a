"""`batch --estimate`: every line's request built as the run would build it (presets,
the line's window), its input tokens counted (chat/context.py: exactly with the model's
tokenizer when it can be had), and nothing sent; and the most a batch could cost, for
`--max-cost` with `--remote`. One line at a time: memory stays flat.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cohere_cli.batch.ids import IdSet
from cohere_cli.batch.jobs import JobMaker
from cohere_cli.chat.context import REPLY_RESERVE, ModelContext, prepare
from cohere_cli.chat.usage import Prices
from cohere_cli.conversation.fit import HistoryFit, HistoryLimits
from cohere_cli.conversation.window import leave_out


@dataclass
class Estimate:
    """What the lines would send (`as_json`: what --estimate prints)."""

    lines: int = 0
    input_tokens: int = 0
    exact: bool = True
    output_tokens: int = 0  # the lines' max_tokens summed
    unbounded: int = 0  # lines without max_tokens
    bad_lines: int = 0  # lines that cannot be sent (they would fail, unpaid)

    def max_output_tokens(self) -> int | None:
        """The most output the lines may bring; None when a line sets no max_tokens."""
        return None if self.unbounded else self.output_tokens

    def input_cost(self, prices: Prices | None) -> float | None:
        if prices is None:
            return None
        return prices.cost({"input_tokens": self.input_tokens, "output_tokens": 0})

    def most_cost(self, prices: Prices) -> float:
        """Input at its price, and the most output at its (REPLY_RESERVE for a line that
        sets no max_tokens)."""
        most = self.output_tokens + REPLY_RESERVE * self.unbounded
        return prices.cost({"input_tokens": self.input_tokens, "output_tokens": most}) or 0.0

    def as_json(self, prices: Prices | None) -> dict[str, Any]:
        return {"lines": self.lines, "input_tokens": self.input_tokens, "exact": self.exact,
                "max_output_tokens": self.max_output_tokens(),
                "cost_usd_input": self.input_cost(prices)}


def estimate_lines(maker: JobMaker, lines: Iterable[tuple[int, bytes]], context: ModelContext,
                   history: HistoryLimits | None = None, finished: IdSet | None = None
                   ) -> Estimate:
    """The estimate of every line (but those in `finished`: --resume); `history`: each
    line's window (local batch), None: every message (--remote sends them all)."""
    found = Estimate()
    for seq, (number, data) in enumerate(lines):
        job = maker.make(seq, number, data)
        if finished and job.id in finished:
            continue
        if job.body is None:
            found.bad_lines += 1
            continue
        body, every = job.body, job.body["messages"]
        messages = every
        if history is not None:
            fit = HistoryFit(history, warn=context.warn_once)
            rest = every[job.fixed:]
            own = [*every[:job.fixed], *leave_out(rest, job.new_count, len(rest)).messages]
            fit.limits = prepare(context, fit.limits, body, own, every)
            messages = [*every[:job.fixed], *fit.window(rest, job.new_count).messages]
        counter, _ = context.counter(str(body.get("model", "")))
        found.lines += 1
        found.input_tokens += counter.request({**body, "messages": messages})
        found.exact = found.exact and counter.exact
        wanted = body.get("max_tokens")
        if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted > 0:
            found.output_tokens += wanted
        else:
            found.unbounded += 1
    return found
