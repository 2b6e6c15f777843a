"""The run log seen from the face: where it goes, and the line written when a `send` or a
`batch` ends, with its exit status (mapped as `run` maps it: exit_status.py).

Where: --log FILE, else $COHERE_CHAT_LOG, else `log` in the config (known once the
settings are read; a run that fails before that still logs to the flag's or the
variable's file). A log that cannot be written is a warning; the exit status stays.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cohere_cli.chat.run_log import RunRecord, append_line, check_log
from cohere_cli.cli.exit_status import exit_status

if TYPE_CHECKING:
    from cohere_cli.chat.usage import Prices
    from cohere_cli.cli.console import Console
    from cohere_cli.settings.config import Settings


class RunLog:
    """The record of one command and where its line goes."""

    def __init__(self, command: str, flag: str | None, content: bool = False) -> None:
        self.record = RunRecord(command)
        given = flag or os.environ.get("COHERE_CHAT_LOG")
        self.path: Path | None = Path(given) if given else None
        self.content = content  # --log-content: the messages sent and the reply too
        self.prices: Prices | None = None
        self.error: str | None = None  # why a run that returned a failing status failed

    def use(self, settings: Settings) -> None:
        """The settings are read: the log's place and the prices are known. A log that
        could never take a line (a FIFO, a folder) is exit 3 now, before anything is
        sent (and gets no line)."""
        self.path, self.prices = None, settings.prices
        if settings.log is not None:
            check_log(settings.log, settings.sources.get("log", "built-in default"))
        self.path = settings.log

    def run(self, console: Console, body: Callable[[], int]) -> int:
        """Run the command's body; append its line with the status it ends with."""
        try:
            status = int(body())
        except BaseException as exc:
            if not isinstance(exc, (Exception, KeyboardInterrupt)):
                raise  # SystemExit, GeneratorExit: not an end this log knows
            status, message = exit_status(exc)
            self._append(console, status, message)
            raise
        self._append(console, status, self.error)
        return status

    def _append(self, console: Console, status: int, error: str | None) -> None:
        if self.path is None:
            return
        line = self.record.line(status, error, self.prices, self.content)
        problem = append_line(self.path, line)
        if problem is not None:
            console.warning(f"cannot write the run log {self.path}: {problem}")
