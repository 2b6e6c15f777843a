"""The running summary of --compact, kept beside the conversation in `FILE.summary.json`.

FILE itself keeps every message as it was and only grows; the summary file says what the
turns the history window leaves out said. It is one JSON object:

    {"version": 1, "summary": TEXT, "messages": N, "sha256": HEX, "model": NAME}

TEXT sums up the first N history messages of FILE (those after its leading system
message), and HEX is the SHA-256 of those N messages (`history_digest`), so a FILE that
was edited, cut or replaced since no longer matches and a new summary is started rather
than one about messages that are not there. N always ends a whole turn, so a tool call
and its results are folded together or not at all.

The summary file is FILE's (a link's target's) name with `.summary.json` added. It is
replaced whole, as FILE is (a fsynced temporary file renamed over it, with FILE's
permissions), under FILE's lock; deleting it starts a new summary. One that is not what
cohere-chat writes (not JSON, other fields, a link, a folder, a FIFO) is reported (exit 3)
and never repaired.
"""
from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cohere_cli.base.errors import InputError
from cohere_cli.base.named_files import open_named
from cohere_cli.conversation.file import file_mode, replace_file, resolve_conversation
from cohere_cli.conversation.window import Message, turn_spans

SUFFIX = ".summary.json"
VERSION = 1
MAX_TEXT_BYTES = 1 << 19  # the longest summary stored: 512 KiB of UTF-8
MAX_BYTES = 1 << 22  # so a summary file over 4 MiB (JSON escapes at most 6x) is not ours
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class StoredSummary:
    """A summary of the first `messages` history messages, whose digest is `sha256`."""

    text: str
    messages: int
    sha256: str
    model: str | None = None

    def document(self) -> bytes:
        return orjson.dumps({"version": VERSION, "summary": self.text,
                             "messages": self.messages, "sha256": self.sha256,
                             "model": self.model}, option=orjson.OPT_APPEND_NEWLINE)


def summary_path(conversation: Path) -> Path:
    """Where the summary of the conversation FILE lives (beside a link's target)."""
    target = resolve_conversation(conversation)
    return target.with_name(target.name + SUFFIX)


def history_digest(messages: Sequence[Message]) -> str:
    """The SHA-256 of messages, each as compact JSON with sorted keys and a newline."""
    digest = hashlib.sha256()
    for message in messages:
        digest.update(orjson.dumps(message, option=orjson.OPT_SORT_KEYS
                                   | orjson.OPT_APPEND_NEWLINE))
    return digest.hexdigest()


def _damaged(path: Path, problem: str) -> InputError:
    error = InputError(str(path), problem)
    error.hint = "delete it to start a new summary (the conversation keeps every message)"
    return error


def _read_bytes(path: Path) -> bytes | None:
    """The file's bytes; None when there is none. Never through a link, never a FIFO."""
    try:
        fd = open_named(path, flags=os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except InputError as exc:  # a FIFO, a folder, a device
        raise _damaged(path, exc.message.rpartition(": ")[2]) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _damaged(path, "a symbolic link; it is not followed") from None
        raise _damaged(path, f"cannot read: {exc.strerror}") from None
    try:
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise _damaged(path, f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise _damaged(path, f"more than {MAX_BYTES >> 20} MiB: not a summary file")
    return data


def read_summary(path: Path) -> StoredSummary | None:
    """The stored summary; None when there is no summary file."""
    data = _read_bytes(path)
    if data is None:
        return None
    try:
        document: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _damaged(path, f"invalid JSON ({exc.msg})") from None
    problem = _document_problem(document)
    if problem:
        raise _damaged(path, problem)
    return StoredSummary(document["summary"], document["messages"], document["sha256"],
                         document.get("model"))


def _document_problem(document: Any) -> str | None:
    if not isinstance(document, dict) or document.get("version") != VERSION:
        return f'not a summary file (an object with "version": {VERSION})'
    text, count, sha = document.get("summary"), document.get("messages"), document.get("sha256")
    if not isinstance(text, str) or not text.strip():
        return '"summary" must be text'
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        return '"messages" must be a whole number from 1'
    if not isinstance(sha, str) or len(sha) != 64 or not set(sha) <= _HEX:
        return '"sha256" must be 64 hex digits'
    if not isinstance(document.get("model"), (str, type(None))):
        return '"model" must be text or null'
    return None


def save_summary(path: Path, summary: StoredSummary, conversation: Path) -> None:
    """Replace the summary file atomically, with the conversation's permissions. Called
    under the conversation's lock. An OSError says why not; the file is then as it was."""
    replace_file(path, [summary.document()], file_mode(resolve_conversation(conversation)))


@dataclass(frozen=True)
class FoldPlan:
    """What this turn folds into the summary: `messages[start:stop]`, the history turns
    numbered `first_turn`..`last_turn` (from 1; none when start == stop), on top of
    `previous` (the stored summary, when it still matches FILE). `stale`: a stored
    summary no longer matches FILE, and a new one starts."""

    head: int  # where the history starts (after the leading system message)
    start: int
    stop: int
    first_turn: int = 0
    last_turn: int = 0
    previous: StoredSummary | None = None
    stale: bool = False

    @property
    def folds(self) -> bool:
        return self.stop > self.start

    def turns(self) -> str:
        """`turn 4` or `turns 4-6` (of the history, from 1)."""
        if self.first_turn == self.last_turn:
            return f"turn {self.first_turn}"
        return f"turns {self.first_turn}-{self.last_turn}"

    def summary(self, text: str, messages: Sequence[Message], model: str) -> StoredSummary:
        """The summary to store once `text` sums up everything up to `stop`."""
        return StoredSummary(text, self.stop - self.head,
                             history_digest(messages[self.head:self.stop]), model)


def _matches(stored: StoredSummary, messages: Sequence[Message], head: int,
             ends: set[int]) -> bool:
    """Whether `stored` sums up a whole-turn prefix of these history messages."""
    stop = head + stored.messages
    return stop in ends and history_digest(messages[head:stop]) == stored.sha256


def plan_fold(messages: Sequence[Message], new_count: int, left_out: int,
              stored: StoredSummary | None) -> FoldPlan:
    """What to fold, when the window leaves out the `left_out` oldest history turns and
    `stored` is the stored summary: the turns it leaves out that the summary does not
    sum up yet (none when it already reaches that far)."""
    spans = turn_spans(messages, new_count)
    head = spans[0][0] if spans else len(messages) - new_count
    ends = {stop for _, stop in spans}
    previous = stored if stored is not None and _matches(stored, messages, head, ends) else None
    covered = head + previous.messages if previous else head
    stale = stored is not None and previous is None
    dropped = spans[:left_out]
    folded = [number for number, (start, _) in enumerate(dropped, 1) if start >= covered]
    if not folded:
        return FoldPlan(head, covered, covered, previous=previous, stale=stale)
    return FoldPlan(head, covered, dropped[-1][1], folded[0], folded[-1], previous, stale)
