"""The run log (--log FILE, $COHERE_CHAT_LOG, `log` in the config): one JSON line for each
`send` and each `batch`, whatever its end, for whoever audits an unattended job.

The core fills a `RunRecord` while the command runs (the model, each response's usage,
finish reason and id; a batch's totals); the face, which alone knows the exit status,
ends it with `append_line`. The line is one `os.write` on a descriptor opened with
O_APPEND, so lines of runs at once never interleave (on a local file system). The file
is created 0600; a symbolic link is followed, as `>>` would. It is opened as every file
the user names is (base/named_files.py): a FIFO, a folder or a socket is refused
(`check_log`, before anything is sent: exit 3), never waited for; a character device
(/dev/null, a terminal) is written to. The key is never in a record: only counts, names
and messages of the program's own; the messages sent and the reply only when asked
(`--log-content`).
"""
from __future__ import annotations

import os
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from cohere_cli import __version__
from cohere_cli.base.errors import InputError
from cohere_cli.base.named_files import check_named, open_named
from cohere_cli.chat.response import reply_text
from cohere_cli.chat.usage import Prices, add_usage, usage_counts, with_cost

LOG_MODE = 0o600


@dataclass(eq=False)
class RunRecord:
    """What one run did, filled in as it happens; `line` makes its log line."""

    command: str
    started: float = field(default_factory=time.time)
    clock: float = field(default_factory=time.monotonic)
    model: str | None = None
    conversation: str | None = None
    finish_reason: str | None = None
    response_id: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    messages: list[Any] | None = None  # the last request's messages (for --log-content)
    reply: str | None = None
    totals: dict[str, Any] = field(default_factory=dict)  # a batch's: input, ok, failed...

    def sent(self, body: dict[str, Any]) -> None:
        """A request is about to be sent."""
        model = body.get("model")
        self.model = model if isinstance(model, str) else self.model
        self.messages = body.get("messages")

    def answered(self, response: dict[str, Any]) -> None:
        """A response came (each round of a tool loop adds its usage)."""
        reason, answer_id = response.get("finish_reason"), response.get("id")
        self.finish_reason = reason if isinstance(reason, str) else None
        self.response_id = answer_id if isinstance(answer_id, str) else None
        self.count(response)
        self.reply = reply_text(response)

    def count(self, response: dict[str, Any]) -> None:
        """A response's usage joins the run's total: each round of a tool loop (through
        `answered`), --compact's summarising request (on its own: it is not the reply)."""
        add_usage(self.usage, usage_counts(response))

    def line(self, status: int, error: str | None, prices: Prices | None = None,
             content: bool = False) -> bytes:
        """The JSON line (with its newline) for a run that ended with `status`."""
        record: dict[str, Any] = {
            "time": _rfc3339(self.started), "command": self.command, "exit": status,
            "error": _text(error) if status != 0 and error else None,
            "duration_s": round(time.monotonic() - self.clock, 3),
            "model": self.model, "finish_reason": self.finish_reason,
            "response_id": self.response_id, "usage": with_cost(self.usage, prices),
            "conversation": _text(self.conversation),
            **{name: _text(v) if isinstance(v, str) else v for name, v in self.totals.items()},
            "version": __version__,
        }
        if content:
            record.update(messages=self.messages, reply=self.reply)
        return orjson.dumps(record) + b"\n"


def _text(text: str | None) -> str | None:
    """Text that JSON can hold: bytes that were not UTF-8 (a file name's) as escapes."""
    return None if text is None else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _rfc3339(seconds: float) -> str:
    """UTC, to the millisecond: 2026-11-26T06:00:00.123Z."""
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def check_log(path: Path, source: str) -> None:
    """Before anything is sent: a run log that could never take a line (a FIFO, a folder,
    a socket) is an InputError naming it and where it was set (exit 3). What cannot be
    looked at now (a missing folder) is left to `append_line`, which warns."""
    with suppress(OSError):
        check_named(path, f"run log {path} ({source})", devices=True)


def append_line(path: Path, line: bytes) -> str | None:
    """Append `line` with one write; None when it went in whole, else why not (the caller
    warns: a log that cannot be written never changes how the run ended)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    try:
        fd = open_named(path, str(path), flags, LOG_MODE, devices=True)
    except InputError as exc:
        return exc.message.removeprefix(f"{path}: ")
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    try:
        written = os.write(fd, line)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    finally:
        os.close(fd)
    return None if written == len(line) else f"only {written} of {len(line)} bytes written"
