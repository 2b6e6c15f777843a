"""One run per `-o FILE`: the lock every `batch` run writing FILE holds, local or remote
(README "Batch", man BATCH), so two runs on one FILE never interleave their lines nor
send (and bill) the same lines twice. The second waits up to --lock-timeout, then finds
what the first one wrote: results it will not replace (exit 2), or with --resume the
lines that are left. A device (`-o /dev/null`) is no file to share: it takes no lock."""
from __future__ import annotations

import contextlib
import os
import stat
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from cohere_cli.base.named_files import check_named
from cohere_cli.conversation.file import ConversationLock


class OutputLock(ConversationLock):
    """The lock of a run on -o FILE: a conversation's (`FILE.lock`, O_NOFOLLOW, flock,
    waited for up to --lock-timeout), whose file its holder removes when it is done, so
    nothing is left beside FILE. Safe, as each taker checks, once it holds the flock, that
    FILE.lock is still the file it locked; if a holder removed it meanwhile, it takes the
    lock anew."""

    saved = "the results"

    def __enter__(self) -> OutputLock:
        while True:
            super().__enter__()
            if self._still_there():
                return self
            super().__exit__(None, None, None)

    def _still_there(self) -> bool:
        try:
            held = os.fstat(self._fd) if self._fd is not None else None
            named = os.stat(self.path, follow_symlinks=False)
        except OSError:
            return False
        return held is not None and os.path.samestat(held, named)

    def __exit__(self, *error: Any) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # under the flock: a waiter finds it gone, and retries
        super().__exit__(*error)


def output_lock(output: Path | None, timeout: float) -> AbstractContextManager[Any]:
    """The lock on -o FILE for a local batch (OutputLock); none for stdout or a device
    such as /dev/null or /dev/full. What may not be an output (a FIFO, a folder) is
    refused here, by named_files, before anything is sent."""
    if output is None:
        return nullcontext()
    info = check_named(output, devices=True)
    if info is not None and stat.S_ISCHR(info.st_mode):
        return nullcontext()
    return OutputLock(output, timeout)
