"""A conversation kept in a JSONL file of messages, shared safely between processes.

The whole read-send-write runs under an exclusive lock on `FILE.lock` (flock: released
by the kernel when a process dies). FILE is only ever replaced whole, by an fsynced
temporary file renamed over it, so a crash or a failed request leaves it byte for byte
as it was. A damaged FILE is reported, never repaired.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from cohere_cli.errors import InputError, LockTimeoutError
from cohere_cli.files import decode_utf8, iter_jsonl
from cohere_cli.messages import check_message

LOCK_POLL = 0.05


class ConversationLock:
    """An exclusive lock on FILE.lock, waited for up to `timeout` seconds."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.conversation = path
        self.path = path.with_name(path.name + ".lock")
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> ConversationLock:
        if not self.conversation.parent.is_dir():
            raise InputError(str(self.conversation), "its folder does not exist")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise InputError(str(self.path), f"cannot lock: {exc.strerror}") from None
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockTimeoutError(
                        f"{self.path} is still locked by another run after {self.timeout:g}s",
                        hint="raise --lock-timeout, or look for a stuck cohere-chat",
                    ) from None
                time.sleep(LOCK_POLL)
        self._fd = fd
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def read_history(path: Path) -> list[dict[str, Any]]:
    """The stored messages; [] when FILE does not exist yet. Damage is an InputError."""
    source = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise InputError(source, f"cannot read: {exc.strerror}") from None
    text = decode_utf8(data, source)
    try:
        return [check_message(value, source, n) for n, value in iter_jsonl(text, source)]
    except InputError as error:
        last = error.line == text.count("\n") + 1 and not text.endswith("\n")
        if last and "invalid JSON" in error.message:
            raise InputError(source, "a torn last line (a crash while writing?); fix or "
                             "remove it", error.line) from None
        raise


def encode_messages(messages: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(message) + b"\n" for message in messages)


def save_conversation(path: Path, messages: list[dict[str, Any]]) -> None:
    """Replace FILE with `messages` atomically, keeping its permissions."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(encode_messages(messages))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a folder; the rename is done all the same
    finally:
        os.close(fd)
