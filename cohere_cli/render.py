"""Output: the reply on stdout in the chosen format, diagnostics on stderr.

Everything is written as UTF-8 bytes and flushed at once, whatever the locale and
whether stdout is a terminal or a pipe.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from cohere_cli import PROGRAM
from cohere_cli.reply import (
    api_warnings,
    citations,
    reply_text,
    request_message,
    thinking_text,
    tool_calls,
    usage_counts,
)
from cohere_cli.stream import Delta


@dataclass(frozen=True)
class OutputOptions:
    format: str = "text"
    show_thinking: bool = False
    show_citations: bool = False
    usage: bool = False
    tool_lines: bool = True  # print tool calls (not when --tool-exec runs them)


class Console:
    """The two output streams; each write is flushed so a pipe sees it at once."""

    def __init__(self, stdout: BinaryIO, stderr: BinaryIO) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.at_line_start = True  # whether stdout last ended a line (or wrote nothing)
        self._progress_shown = False

    def out(self, data: bytes) -> None:
        if data:
            self.stdout.write(data)
            self.stdout.flush()
            self.at_line_start = data.endswith(b"\n")

    def out_json(self, value: Any) -> None:
        self.out(orjson.dumps(value) + b"\n")

    def err(self, text: str) -> None:
        self.stderr.write(text.encode("utf-8", "replace") + b"\n")
        self.stderr.flush()

    def error(self, message: str, hint: str | None = None) -> None:
        line = f"{PROGRAM}: error: {message}"
        self.err(f"{line}; {hint}" if hint else line)

    def warning(self, message: str) -> None:
        self.err(f"{PROGRAM}: warning: {message}")

    def note(self, message: str) -> None:
        self.err(f"{PROGRAM}: {message}")

    def stderr_is_terminal(self) -> bool:
        try:
            return self.stderr.isatty()
        except (AttributeError, ValueError):
            return False

    def progress(self, text: str) -> None:
        """Overwrite the progress line on a terminal's stderr."""
        self.stderr.write(f"\r\x1b[K{text}".encode())
        self.stderr.flush()
        self._progress_shown = True

    def clear_progress(self) -> None:
        if self._progress_shown:
            self.stderr.write(b"\r\x1b[K")
            self.stderr.flush()


class Renderer:
    """Writes one reply in the chosen format; also the sink of a streamed reply."""

    def __init__(self, console: Console, options: OutputOptions) -> None:
        self.console = console
        self.options = options
        self.started = False  # something of the reply has reached stdout
        self._thinking_open = False

    def event(self, event: dict[str, Any]) -> None:
        if self.options.format == "events":
            self.started = True
            self.console.out_json(event)

    def begin(self) -> None:
        """A new exchange (a tool loop has several): nothing of it is shown yet."""
        self.started = False
        self._thinking_open = False

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
            self.started = True
            self.console.out(delta.text.encode("utf-8"))
        elif delta.kind == "thinking" and self.options.show_thinking:
            self.console.stderr.write(delta.text.encode("utf-8"))
            self.console.stderr.flush()
            self._thinking_open = True

    def finish(self, response: dict[str, Any], raw: bytes | None, streamed: bool) -> None:
        """Everything that follows the reply: the rest of stdout, then the diagnostics."""
        if self._thinking_open:
            self.console.err("")
        elif self.options.show_thinking and not streamed and thinking_text(response):
            self.console.err(thinking_text(response))
        fmt = self.options.format
        if fmt == "text":
            text = "" if streamed else reply_text(response)
            self.console.out(text.encode("utf-8"))
            if (streamed and self.started) or text:
                self.console.out(b"\n")
            for call in tool_calls(response) if self.options.tool_lines else ():
                self.console.out_json(call)
        elif fmt == "json":
            if raw is not None:
                self.console.out(raw if raw.endswith(b"\n") else raw + b"\n")
            else:
                self.console.out_json(response)
        elif fmt == "message":
            self.console.out_json(request_message(response))
        self.diagnostics(response)

    def diagnostics(self, response: dict[str, Any]) -> None:
        for warning in api_warnings(response):
            self.console.warning(warning)
        if response.get("finish_reason") == "MAX_TOKENS":
            self.console.warning("the reply was cut short at max_tokens (finish_reason MAX_TOKENS)")
        if self.options.show_citations:
            self._citations(response)
        if self.options.usage:
            counts = usage_counts(response)
            fields = " ".join(f"{k}={v}" for k, v in counts.items())
            self.console.err(f"usage: {fields or 'none reported'}")

    def _citations(self, response: dict[str, Any]) -> None:
        """Each cited span with its number and sources, then the sources once each."""
        sources: dict[str, str] = {}
        for number, citation in enumerate(citations(response), 1):
            names = []
            for source in citation.get("sources") or []:
                name, title = _source_name(source)
                sources.setdefault(name, title)
                names.append(name)
            span = f"{citation.get('start', '?')}-{citation.get('end', '?')}"
            quoted = citation.get("text", "")
            self.console.err(f"[{number}] \"{quoted}\" ({span}): {', '.join(names) or '?'}")
        if sources:
            self.console.err("sources:")
            for name, title in sources.items():
                self.console.err(f"  {name}  {title}".rstrip())

    def note(self, text: str) -> None:
        self.console.note(text)

    def interrupted_line(self) -> None:
        """After a cut, keep the error off the partial text's line on a shared terminal."""
        if self.started and not self.console.at_line_start and self.console.stdout.isatty():
            self.console.err("")


def _source_name(source: dict[str, Any]) -> tuple[str, str]:
    """A source's id and a one-line title (a document's title, or a tool's output)."""
    inner = source.get("document") or source.get("tool_output") or {}
    name = str(source.get("id") or inner.get("id") or "?")
    title = inner.get("title") or inner.get("snippet") or inner.get("text") or ""
    if not isinstance(title, str):
        title = orjson.dumps(title).decode()
    return name, " ".join(title.split())[:100]
