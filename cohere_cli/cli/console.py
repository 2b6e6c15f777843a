"""The two output streams as one writer (`Console`): data on stdout, byte for byte;
diagnostics on stderr, one line each with its control characters escaped, so that server
text can neither split a diagnostic line nor drive the terminal. Everything is written as
UTF-8 bytes and flushed at once, whatever the locale and whether a stream is a terminal
or a pipe. A lost stdout is kept and ends the command with exit 10 (`written`).

Light on purpose (render.py formats replies): `--version` and `--help` print through it.
"""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, BinaryIO

from cohere_cli import PROGRAM
from cohere_cli.cli.streams import Streams

if TYPE_CHECKING:
    from cohere_cli.base.errors import LocalWriteError

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 controls, DEL, C1 controls and the Unicode line and paragraph separators, each to its
# escape: a table for str.translate (no regular expression to compile at start-up)
_ESCAPES = {code: _NAMED.get(chr(code)) or (f"\\x{code:02x}" if code < 0x100 else
                                            f"\\u{code:04x}")
            for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}
_ESCAPES_IN_TEXT = {code: escape for code, escape in _ESCAPES.items()
                    if chr(code) not in "\t\n"}  # keeps tabs and newlines
_CLEAR_LINE = b"\r\x1b[K"  # back to the line's start, and erase it


def escape_line(text: str) -> str:
    """`text` on one line: each control character as an escape (`\\n`, `\\x1b`, `\\u2028`)."""
    return text.translate(_ESCAPES)


def escape_text(text: str) -> str:
    """Multi-line text (thinking): as `escape_line`, but newlines and tabs are kept."""
    return text.translate(_ESCAPES_IN_TEXT)


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
            from cohere_cli.base.errors import LocalWriteError

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
        import orjson  # not at the top: `--version` and `--help` print no JSON

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
