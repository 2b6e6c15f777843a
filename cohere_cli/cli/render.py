"""Output: the reply on stdout in the chosen format, diagnostics on stderr, written
through the Console (console.py): UTF-8 bytes flushed at once, stdout byte for byte,
control characters on stderr escaped so that server text can neither split a
diagnostic line nor drive the terminal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cohere_cli.chat.response import (
    api_warnings,
    reply_text,
    request_message,
    thinking_text,
    tool_calls,
)
from cohere_cli.chat.usage import Prices, usage_counts
from cohere_cli.cli.console import Console

if TYPE_CHECKING:  # -x's extractor is imported with -x; a Delta comes with a stream
    from cohere_cli.chat.extract import FenceExtractor
    from cohere_cli.wire.chat_events import Delta


@dataclass(frozen=True, eq=False)  # never compared: no __eq__ to compile
class OutputOptions:
    format: str = "text"
    show_thinking: bool = False
    show_citations: bool = False
    usage: bool = False
    tool_lines: bool = True  # print tool calls (not when --tool-exec runs them)
    prices: Prices | None = None  # price_input, price_output: cost_usd on the usage line
    extract: str | None = None  # -x/--extract: "first", --extract-last: "last" fenced block
    show_plan: bool = False  # --show-plan: the tool plan on stderr


class Renderer:
    """Writes one reply in the chosen format; also the sink of a streamed reply.

    Model text that is not the reply (thinking with --show-thinking, the tool plan with
    --show-plan) goes to stderr as it comes, its lines kept. With -x/--extract (text
    format), only a fenced code block of the reply reaches stdout (extract.py)."""

    def __init__(self, console: Console, options: OutputOptions) -> None:
        self.console = console
        self.options = options
        self.started = False  # something of the reply has reached stdout
        self._aside_open: str | None = None  # the kind of model text whose stderr line is open
        self._extractor = self._new_extractor()

    def _new_extractor(self) -> FenceExtractor | None:
        extract = self.options.extract
        if not extract or self.options.format != "text":
            return None
        from cohere_cli.chat.extract import FenceExtractor

        return FenceExtractor(extract)

    def event(self, event: dict[str, Any]) -> None:
        if self.options.format == "events":
            self.started = True
            self.console.out_json(event)

    def begin(self) -> None:
        """A new exchange (a tool loop has several): nothing of it is shown yet."""
        self.started = False
        self._aside_open = None
        self._extractor = self._new_extractor()

    def tool_results(self, messages: list[dict[str, Any]]) -> None:
        """With --format message, the tool results too, so the lines make a history."""
        if self.options.format == "message":
            for message in messages:
                self.console.out_json(message)

    def body(self, body: dict[str, Any]) -> None:
        """The request body, for --dry-run."""
        self.console.out_json(body)

    def delta(self, delta: Delta) -> None:
        if not delta.text:
            return
        if delta.kind == "text" and self.options.format == "text":
            self._reply(delta.text)
        elif self._aside(delta.kind):
            if self._aside_open not in (None, delta.kind):
                self.console.err("")  # thinking, then the plan: each starts a line
            self.console.thinking(delta.text)
            self._aside_open = delta.kind

    def _aside(self, kind: str) -> bool:
        """Whether model text of this kind is shown on stderr."""
        return ((kind == "thinking" and self.options.show_thinking)
                or (kind == "tool_plan" and self.options.show_plan))

    def _reply(self, text: str) -> None:
        shown = text if self._extractor is None else self._extractor.feed(text)
        if shown:
            self.started = True
            self.console.out(shown.encode("utf-8"))

    def finish(self, response: dict[str, Any], raw: bytes | None, streamed: bool) -> None:
        """Everything that follows the reply: the rest of stdout, then the diagnostics."""
        if self._aside_open is not None:
            self.console.err("")
        elif not streamed:
            for kind, text in (("thinking", thinking_text(response)),
                               ("tool_plan", tool_plan(response))):
                if text and self._aside(kind):
                    self.console.thinking(text + "\n")
        fmt = self.options.format
        if fmt == "text":
            self._text(response, streamed)
        elif fmt == "json":
            if raw is not None:
                self.console.out(raw if raw.endswith(b"\n") else raw + b"\n")
            else:
                self.console.out_json(response)
        elif fmt == "message":
            self.console.out_json(request_message(response))
        elif not streamed:  # events asked for, a JSON answer came: it is the one line
            self.console.out_json(response)
        self.diagnostics(response)

    def _text(self, response: dict[str, Any], streamed: bool) -> None:
        """The rest of the reply (all of it when it was not streamed), then tool calls."""
        text = "" if streamed else reply_text(response)
        if self._extractor is not None:
            self._extracted(self._extractor, response, text)
        else:
            self.console.out(text.encode("utf-8"))
            if (streamed and self.started) or text:
                self.console.out(b"\n")
        for call in tool_calls(response) if self.options.tool_lines else ():
            self.console.out_json(call)

    def _extracted(self, extractor: FenceExtractor, response: dict[str, Any],
                   text: str) -> None:
        """The rest of the fenced block and its one newline; with no block, the whole
        reply (ending with one newline) and a warning (not for a round of tool calls)."""
        shown = extractor.feed(text)
        rest = extractor.end()
        if rest is not None:
            self.console.out((shown + rest).encode("utf-8"))
            return
        whole = reply_text(response).rstrip("\n")
        if whole:
            self.console.out(whole.encode("utf-8") + b"\n")
        if whole or not tool_calls(response):
            self.console.warning("the reply has no fenced code block: printed it whole")

    def diagnostics(self, response: dict[str, Any]) -> None:
        for warning in api_warnings(response):
            self.console.warning(warning)
        if response.get("finish_reason") == "MAX_TOKENS":
            self.console.warning("the reply was cut short at max_tokens (finish_reason MAX_TOKENS)")
        if self.options.show_citations:
            from cohere_cli.cli.citations import citation_lines

            for line in citation_lines(response):
                self.console.err(line)
        if self.options.usage:
            self._usage_line("usage", response)

    def extra_usage(self, label: str, response: dict[str, Any]) -> None:
        """With --usage, the line of a request that is not the reply (--compact's)."""
        if self.options.usage:
            self._usage_line(f"usage ({label})", response)

    def _usage_line(self, lead: str, response: dict[str, Any]) -> None:
        counts = usage_counts(response, self.options.prices)
        fields = " ".join(f"{k}={number_text(v)}" for k, v in counts.items())
        self.console.err(f"{lead}: {fields or 'none reported'}")

    def note(self, text: str) -> None:
        self.console.note(text)

    def warning(self, text: str) -> None:
        self.console.warning(text)

    def interrupted_line(self) -> None:
        """After a cut (a broken stream, --max-time, Ctrl-C), end the partial text's line
        on a terminal, so that what follows (an error, the shell's prompt) starts its own:
        the reply's line on stdout, the thinking's or plan's on stderr."""
        if self.started and not self.console.at_line_start and self.console.stdout_is_terminal:
            self.console.out(b"\n")
        if self._aside_open is not None and self.console.stderr_is_terminal:
            self.console.err("")
            self._aside_open = None


def tool_plan(response: dict[str, Any]) -> str:
    """The message's tool plan (the model's plan before its tool calls), or ""."""
    message = response.get("message")
    plan = message.get("tool_plan") if isinstance(message, dict) else None
    return plan if isinstance(plan, str) else ""


def number_text(value: Any) -> str:
    """A count or a cost as text: 12, 0.0025 (never 1e-06)."""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") or "0"
    return str(value)
