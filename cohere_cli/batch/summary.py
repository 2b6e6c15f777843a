"""What a batch ends with, local or remote: the lines that succeeded, failed or were
skipped, their tokens and usage, and what stopped it (the face shows it: batch_report)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from cohere_cli.chat.usage import add_usage, token_total

FIRST_FAILED = 10  # the failed lines a summary names (by line number and id)


@dataclass
class Summary:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    tokens: int = 0
    usage: dict[str, Any] = field(default_factory=dict)  # the succeeded lines' flat counts
    started: float = field(default_factory=time.monotonic)
    interrupted: bool = False
    total: int | None = None  # the input's lines, once counted (a regular file only)
    to_file: bool = False  # the results go to -o FILE, so --resume can continue the batch
    from_stdin: bool = False  # the lines come from stdin (to continue, give them again)
    stopped_by: dict[str, Any] | None = None  # a refused key's error: every line would get it
    error: BaseException | None = None  # anything else that ended the batch, raised after it
    first_failed: list[tuple[int, Any]] = field(default_factory=list)  # (line, id) written

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def count(self, record: dict[str, Any]) -> None:
        """Count one result line as written: a failure, or a success with its usage (the
        same for a local and a remote batch: chat/usage.py)."""
        if "error" in record:
            self.failed += 1
            if len(self.first_failed) < FIRST_FAILED:
                self.first_failed.append((record["line"], record["id"]))
            return
        self.ok += 1
        self.tokens += token_total(record["usage"])
        add_usage(self.usage, record["usage"])
