"""Output: the reply on stdout in the chosen format, diagnostics on stderr.

Everything is written as UTF-8 bytes and flushed at once, whatever the locale and
whether stdout is a terminal or a pipe. Stdout is data and stays byte for byte; text on
stderr is shown with its control characters escaped, so that server text can neither
split a diagnostic line nor drive the terminal.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from cohere_cli import PROGRAM
from cohere_cli.base.errors import LocalWriteError
from cohere_cli.chat.extract import FenceExtractor
from cohere_cli.chat.response import (
    api_warnings,
    reply_text,
    request_message,
    thinking_text,
    tool_calls,
)
from cohere_cli.chat.usage import Prices, usage_counts
from cohere_cli.cli.citations import citation_lines
from cohere_cli.cli.streams import Streams
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
_CLEAR_LINE = b"\r\x1b[K"  # back to the line's start, and erase it


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

    def __init__(self, stdout: BinaryIO, stderr: BinaryIO, stdout_is_terminal: bool = False,
                 stderr_is_terminal: bool = False) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.stdout_is_terminal = stdout_is_terminal
        self.stderr_is_terminal = stderr_is_terminal
        self.at_line_start = True  # whether stdout last ended a line (or wrote nothing)
        self.progress_shown = False  # a progress line is on stderr (a terminal), unended
        self._stderr_ok = True
        self._stderr_lock = threading.Lock()  # a batch's workers write notes too
        self.lost: LocalWriteError | None = None  # why stdout could not be written

    @classmethod
    def of(cls, streams: Streams) -> Console:
        """The console of the command's streams (streams.py)."""
        return cls(streams.stdout, streams.stderr, streams.stdout_isatty, streams.stderr_isatty)

    def out(self, data: bytes) -> None:
        if not data or self.lost is not None:
            return
        try:
            self.stdout.write(data)
            self.stdout.flush()
        except BrokenPipeError:
            raise  # the reader went away: exit 141, quietly (exit_status.py)
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

    def _write_err(self, data: bytes, progress: bool = False) -> None:
        """Write to stderr; a progress line there is cleared first (PROGRESS: `data` is
        the new progress line, which starts by clearing it)."""
        with self._stderr_lock:
            if not self._stderr_ok:
                return
            if self.progress_shown and not progress:
                data = _CLEAR_LINE + data
            self.progress_shown = progress
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

    def progress(self, text: str) -> None:
        """Overwrite the progress line on a terminal's stderr (left without a line end;
        the next write to stderr clears it first)."""
        self._write_err(_CLEAR_LINE + escape_line(text).encode("utf-8", "replace"), True)

    def clear_progress(self) -> None:
        if self.progress_shown:
            self._write_err(b"")


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
        return FenceExtractor(extract) if extract and self.options.format == "text" else None

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
            for line in citation_lines(response):
                self.console.err(line)
        if self.options.usage:
            counts = usage_counts(response, self.options.prices)
            fields = " ".join(f"{k}={number_text(v)}" for k, v in counts.items())
            self.console.err(f"usage: {fields or 'none reported'}")

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
