"""What `batch` shows on stderr: the progress line while stderr is a terminal, and the
summary line at the end (after Ctrl-C, with how to continue)."""
from __future__ import annotations

import os
import re
import shlex
import sys
import time
from typing import TYPE_CHECKING, BinaryIO

from cohere_cli import PROGRAM
from cohere_cli.chat.usage import with_cost
from cohere_cli.cli.render import number_text

if TYPE_CHECKING:
    from cohere_cli.batch.summary import Summary
    from cohere_cli.chat.usage import Prices
    from cohere_cli.cli.console import Console

REDRAW = 0.2  # seconds: the line is redrawn at most 5 times a second (and after a result)
PLAIN = re.compile(r"[^\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]*")  # shlex.quote will do
C_ESCAPES = {0x07: "a", 0x08: "b", 0x09: "t", 0x0A: "n", 0x0B: "v", 0x0C: "f", 0x0D: "r",
             0x1B: "E", 0x27: "'", 0x5C: "\\"}


def report_summary(console: Console, summary: Summary, prices: Prices | None) -> None:
    """The progress line cleared, then the summary line; after Ctrl-C, what is left and
    the command that continues the batch."""
    console.clear_progress()
    cost = with_cost(summary.usage, prices).get("cost_usd")
    console.note(f"batch: ok={summary.ok} failed={summary.failed} skipped={summary.skipped} "
                 f"tokens={summary.tokens} seconds={summary.seconds:.1f}"
                 + (f" cost_usd={number_text(cost)}" if cost is not None else ""))
    if summary.first_failed:
        console.note(failed_text(summary))
    if summary.interrupted:
        console.note(interrupted_text(summary, sys.argv[1:]))


def failed_text(summary: Summary) -> str:
    """`failed: line 3 (id "k3"), line 7 and 12 more`: the first failed lines, by line
    number and id (the number alone when the id is the line number: a line without one)."""
    shown = [f"line {line}" if line_id == line and type(line_id) is int
             else f"line {line} (id {_id_text(line_id)})"
             for line, line_id in sorted(summary.first_failed, key=lambda f: f[0])]
    more = summary.failed - len(shown)
    return "failed: " + ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _id_text(line_id: object) -> str:
    import orjson

    try:
        text = orjson.dumps(line_id).decode()
    except orjson.JSONEncodeError:
        text = repr(line_id)
    return text if len(text) <= 60 else text[:57] + "..."


def shell_word(arg: str) -> str:
    """ARG quoted so that a POSIX shell gives it back exactly: shlex.quote's '...' when it
    holds no control character and no byte that is not UTF-8 (sys.argv holds those as
    surrogates), else bash's $'...' with each such byte as an escape (\\n, \\xff)."""
    if PLAIN.fullmatch(arg):
        return shlex.quote(arg)
    out = []
    for byte in os.fsencode(arg):
        if byte in C_ESCAPES:
            out.append("\\" + C_ESCAPES[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "$'" + "".join(out) + "'"


def interrupted_text(summary: Summary, args: list[str], why: str = "interrupted") -> str:
    """`interrupted: 37 of 100 lines not done; to continue: ...`: the same command line
    with --resume (which sends every line without a success in -o FILE: the failed ones
    too); without -o FILE, the results went to stdout, and their file must be named."""
    done = summary.ok + summary.failed + summary.skipped
    if summary.total is not None:
        left = f"{max(summary.total - done, 0)} of {summary.total} lines not done"
    else:
        left = f"{done} lines done, the rest not"
    cut = args.index("--") if "--" in args else len(args)
    flags = [arg for arg in args[:cut] if arg != "--overwrite"]  # what is done stays
    added = [] if "--resume" in flags else ["--resume"]
    if not summary.to_file:
        added += ["-o", "FILE"]
    command = " ".join([PROGRAM, *map(shell_word, [*flags, *added, *args[cut:]])])
    stdin = " (with the same input on stdin)" if summary.from_stdin else ""
    if summary.to_file:
        return f"{why}: {left}; to continue: {command}{stdin}"
    return (f"{why}: {left}; --resume needs the results in a file: if stdout went "
            f"to FILE, continue with: {command}{stdin}")


def progress_text(summary: Summary) -> str:
    """`37/100 (37%) ok=35 failed=2 12.3/s ETA 0:05`; the total `?` while it is not known
    (stdin, a pipe, a file over 1 GiB, or still being counted)."""
    done = summary.ok + summary.failed + summary.skipped
    seconds = max(summary.seconds, 1e-9)
    rate = (summary.ok + summary.failed) / seconds
    skipped = f" skipped={summary.skipped}" if summary.skipped else ""
    counts = f"ok={summary.ok} failed={summary.failed}{skipped} {rate:.1f}/s"
    total = summary.total
    if total is None:
        return f"{done}/? {counts}"
    percent = min(100 * done // max(total, 1), 100)
    eta = _duration(max(total - done, 0) / rate) if rate > 0 else "?"
    return f"{done}/{total} ({percent}%) {counts} ETA {eta}"


def _duration(seconds: float) -> str:
    """0:05, 12:34, 1:02:03."""
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class ProgressLine:
    """The progress line, only while stderr is a terminal: redrawn at most every REDRAW
    seconds; when stdout is the same terminal, cleared before each result line goes
    there (`hide`, batch.Progress) and drawn again after it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.active = console.stderr_is_terminal
        self.shared = (self.active and console.stdout_is_terminal
                       and _same_file(console.stdout, console.stderr))
        self._drawn = -REDRAW  # when it was last drawn (time.monotonic)

    def __call__(self, summary: Summary) -> None:
        now = time.monotonic()
        if not self.active or (self.console.progress_shown and now - self._drawn < REDRAW):
            return
        self._drawn = now
        self.console.progress(progress_text(summary))

    def hide(self) -> None:
        if self.shared:
            self.console.clear_progress()


def progress_reporter(console: Console) -> ProgressLine:
    """What `batch` hands the run as its progress."""
    return ProgressLine(console)


def _same_file(first: BinaryIO, second: BinaryIO) -> bool:
    try:
        one, two = os.fstat(first.fileno()), os.fstat(second.fileno())
        return (one.st_dev, one.st_ino) == (two.st_dev, two.st_ino)
    except (OSError, ValueError, AttributeError):
        return False
