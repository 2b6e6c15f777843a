"""What `batch` shows on stderr: the progress line while stderr is a terminal, and the
summary line at the end."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cohere_cli.cli.render import number_text
from cohere_cli.response import with_cost

if TYPE_CHECKING:
    from cohere_cli.batch import Summary
    from cohere_cli.cli.render import Console
    from cohere_cli.response import Prices


def report_summary(console: Console, summary: Summary, prices: Prices | None) -> None:
    """The progress line cleared, then the summary line."""
    console.clear_progress()
    cost = with_cost(summary.usage, prices).get("cost_usd")
    console.note(f"batch: ok={summary.ok} failed={summary.failed} skipped={summary.skipped} "
                 f"tokens={summary.tokens} seconds={summary.seconds:.1f}"
                 + (f" cost_usd={number_text(cost)}" if cost is not None else ""))


def progress_reporter(console: Any) -> Any:
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
