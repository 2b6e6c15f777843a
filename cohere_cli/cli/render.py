"""Output: the reply on stdout in the chosen format, diagnostics on stderr.

Everything is written as UTF-8 bytes and flushed at once, whatever the locale and
whether stdout is a terminal or a pipe. Stdout is data and stays byte for byte; text on
stderr is shown with its control characters escaped, so that server text can neither
split a diagnostic line nor drive the terminal.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from cohere_cli import PROGRAM
from cohere_cli.errors import LocalWriteError
from cohere_cli.response import (
    Prices,
    api_warnings,
    citations,
    reply_text,
    request_message,
    thinking_text,
    tool_calls,
    usage_counts,
)
from cohere_cli.wire.chat_events import Delta


@dataclass(frozen=True)
class OutputOptions:
    format: str = "text"
    show_thinking: bool = False
    show_citations: bool = False
    usage: bool = False
    tool_lines: bool = True  # print tool calls (not when --tool-exec runs them)
    prices: Prices | None = None  # price_input, price_output: cost_usd on the usage line
    extract: str | None = None  # -x/--extract: "first", --extract-last: "last" fenced block
    show_plan: bool = False  # --show-plan: the tool plan on stderr


# C0 controls, DEL, C1 controls and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")  # keeps \t \n
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else
                                f"\\u{ord(char):04x}")


def escape_line(text: str) -> str:
    """`text` on one line: each control character as an escape (`\\n`, `\\x1b`, `\\u2028`)."""
    return _CONTROL.sub(_escaped, text)


def escape_text(text: str) -> str:
    """Multi-line text (thinking): as `escape_line`, but newlines and tabs are kept."""
    return _CONTROL_IN_TEXT.sub(_escaped, text)


def _silence(stream: BinaryIO) -> None:
    """After a failed write, point the stream's descriptor at /dev/null, so that what is
    left in its buffer goes nowhere (the exit flush stays quiet)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
        stream.flush()
    except (OSError, ValueError, AttributeError):
        pass


class Console:
    """The two output streams; each write is flushed so a pipe sees it at once.

    A failed write to stdout is kept in `lost` and the rest of the output is dropped, so
    that the run still ends as it should (a conversation turn is saved); the command then
    ends with it (`written`, exit 10). A reader that went away is BrokenPipeError at once.
    A failed write to stderr is dropped (there is no one to tell)."""

    def __init__(self, stdout: BinaryIO, stderr: BinaryIO) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.at_line_start = True  # whether stdout last ended a line (or wrote nothing)
        self._progress_shown = False
        self._stderr_ok = True
        self.lost: LocalWriteError | None = None  # why stdout could not be written

    def out(self, data: bytes) -> None:
        if not data or self.lost is not None:
            return
        try:
            self.stdout.write(data)
            self.stdout.flush()
        except BrokenPipeError:
            raise  # the reader went away: exit 141, quietly (group.py)
        except OSError as error:
            _silence(self.stdout)
            reason = error.strerror or type(error).__name__
            self.lost = LocalWriteError(f"cannot write to stdout: {reason}")
            return
        self.at_line_start = data.endswith(b"\n")

    def written(self, status: int = 0) -> int:
        """`status` when all the output reached stdout; else the write error (exit 10)."""
        if self.lost is not None:
            raise self.lost
        return status

    def out_json(self, value: Any) -> None:
        self.out(orjson.dumps(value) + b"\n")

    def _write_err(self, data: bytes) -> None:
        if not self._stderr_ok:
            return
        try:
            self.stderr.write(data)
            self.stderr.flush()
        except (OSError, ValueError):
            self._stderr_ok = False
            _silence(self.stderr)

    def err(self, text: str) -> None:
        """One line on stderr; control characters in `text` are escaped."""
        self._write_err(escape_line(text).encode("utf-8", "replace") + b"\n")

    def thinking(self, text: str) -> None:
        """Model text on stderr: its lines kept, other control characters escaped."""
        self._write_err(escape_text(text).encode("utf-8", "replace"))

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
        self._write_err(f"\r\x1b[K{escape_line(text)}".encode())
        self._progress_shown = True

    def clear_progress(self) -> None:
        if self._progress_shown:
            self._write_err(b"\r\x1b[K")


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
            self.console.thinking(delta.text)
            self._thinking_open = True

    def finish(self, response: dict[str, Any], raw: bytes | None, streamed: bool) -> None:
        """Everything that follows the reply: the rest of stdout, then the diagnostics."""
        if self._thinking_open:
            self.console.err("")
        elif self.options.show_thinking and not streamed and thinking_text(response):
            self.console.thinking(thinking_text(response) + "\n")
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
        elif not streamed:  # events asked for, a JSON answer came: it is the one line
            self.console.out_json(response)
        self.diagnostics(response)

    def diagnostics(self, response: dict[str, Any]) -> None:
        for warning in api_warnings(response):
            self.console.warning(warning)
        if response.get("finish_reason") == "MAX_TOKENS":
            self.console.warning("the reply was cut short at max_tokens (finish_reason MAX_TOKENS)")
        if self.options.show_citations:
            self._citations(response)
        if self.options.usage:
            counts = usage_counts(response, self.options.prices)
            fields = " ".join(f"{k}={number_text(v)}" for k, v in counts.items())
            self.console.err(f"usage: {fields or 'none reported'}")

    def _citations(self, response: dict[str, Any]) -> None:
        """Each cited span with its number and sources, then the sources once each.
        Whatever shape the server gives a citation's fields, they are shown, never fatal."""
        sources: dict[str, str] = {}
        for number, citation in enumerate(citations(response), 1):
            names = []
            for source in _listed(citation.get("sources")):
                name, title = _source_name(source)
                sources.setdefault(name, title)
                names.append(name)
            span = f"{_shown(citation.get('start'), '?')}-{_shown(citation.get('end'), '?')}"
            quoted = _shown(citation.get("text"), "")
            self.console.err(f"[{number}] \"{quoted}\" ({span}): {', '.join(names) or '?'}")
        if sources:
            self.console.err("sources:")
            for name, title in sources.items():
                self.console.err(f"  {name}  {title}".rstrip())

    def note(self, text: str) -> None:
        self.console.note(text)

    def warning(self, text: str) -> None:
        self.console.warning(text)

    def interrupted_line(self) -> None:
        """After a cut, keep the error off the partial text's line on a shared terminal."""
        if self.started and not self.console.at_line_start and self.console.stdout.isatty():
            self.console.err("")


def number_text(value: Any) -> str:
    """A count or a cost as text: 12, 0.0025 (never 1e-06)."""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") or "0"
    return str(value)


def _listed(value: Any) -> list[Any]:
    """A list's items; a single other value as one item; nothing for null or absent."""
    if value is None:
        return []
    return [item for item in value if item is not None] if isinstance(value, list) else [value]


def _shown(value: Any, absent: str) -> str:
    """A value as text: a string as it is, null as `absent`, anything else as JSON."""
    if value is None:
        return absent
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:100]


def _source_name(source: Any) -> tuple[str, str]:
    """A source's id and a one-line title (a document's title, or a tool's output).
    A source that is not an object (a string, a list) is shown as its id."""
    if not isinstance(source, dict):
        return _one_line(_shown(source, "?")) or "?", ""
    inner = source.get("document") or source.get("tool_output") or {}
    if not isinstance(inner, dict):  # a document given as its text
        inner = {"text": inner}
    name = _shown(source.get("id") or inner.get("id"), "?")
    title = inner.get("title") or inner.get("snippet") or inner.get("text")
    return name, _one_line(_shown(title, ""))
