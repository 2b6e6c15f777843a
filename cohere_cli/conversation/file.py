"""A conversation kept in a JSONL file of messages, shared safely between processes.

FILE is resolved once, at the start: a symbolic link is followed to its target (a link
whose target does not exist yet names the file the first turn creates), and the target is
what is locked, read and replaced, so a run through the link and a run through the real
path share one lock and the link stays a link.

The whole read-send-write runs under an exclusive lock on `FILE.lock` (flock: released by
the kernel when a process dies; the lock file is opened with O_NOFOLLOW, never through a
link). Before anything is sent, FILE's folder must be writable and an existing FILE a
writable regular file that can be replaced. FILE is only ever replaced whole, by an fsynced
temporary file `.FILE.<16 hex>.tmp` renamed over it, so a crash or a failed request leaves
it byte for byte as it was; a temporary file left by a killed run is removed by the next
run, under the lock. A save that fails after the reply (disk full, quota, `ulimit -f`)
leaves FILE as it was, removes its temporary file and is a LocalWriteError (exit 10).
A damaged FILE is reported, never repaired.
"""
from __future__ import annotations

import fcntl
import os
import re
import secrets
import stat
import time
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from cohere_cli.base.atomic_write import sync_directory
from cohere_cli.base.errors import InputError, JSONLineError, LocalWriteError, LockTimeoutError
from cohere_cli.base.named_files import open_named, refusal
from cohere_cli.chat.messages import check_message

LOCK_POLL = 0.05
TEMP_SUFFIX = ".tmp"
TEMP_TOKEN_BYTES = 8  # 16 hex digits in the temporary file's name


def resolve_conversation(path: Path) -> Path:
    """The absolute path of the file FILE stands for, every symbolic link followed."""
    resolved = Path(os.path.realpath(path))
    if resolved.is_symlink():  # realpath stops inside a loop of links
        raise InputError(str(path), "a loop of symbolic links")
    return resolved


def temporary_pattern(target: Path) -> re.Pattern[str]:
    """The names of the temporary files `save_conversation` makes for `target`, and only
    those (so a stale one is known for ours before it is removed)."""
    hex_digits = 2 * TEMP_TOKEN_BYTES
    return re.compile(re.escape(f".{target.name}.") + f"[0-9a-f]{{{hex_digits}}}"
                      + re.escape(TEMP_SUFFIX))


class ConversationLock:
    """An exclusive lock on FILE.lock, waited for up to `timeout` seconds.

    On entry FILE is resolved (`conversation` is the file really used), checked to be
    replaceable, locked, and stale temporary files of an earlier killed run are removed.
    """

    saved = "the conversation"  # what FILE holds, in messages (batch -o: the results)

    def __init__(self, path: Path, timeout: float) -> None:
        self.given = path
        self.conversation = path
        self.path = path.with_name(path.name + ".lock")
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> ConversationLock:
        self.conversation = check_conversation(self.given, self.saved)
        self.path = self.conversation.with_name(self.conversation.name + ".lock")
        fd = _open_lock(self.path)
        try:
            self._wait(fd)
            remove_stale_temporaries(self.conversation)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def _wait(self, fd: int) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        f"{self.path} is still locked by another run after {self.timeout:g}s",
                        hint="raise --lock-timeout, or look for a stuck cohere-chat",
                    ) from None
                time.sleep(LOCK_POLL)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def _open_lock(path: Path) -> int:
    """FILE.lock opened (made if needed) as a regular file, never through a link."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise InputError(str(path), "the lock file is a symbolic link; it is not "
                             "followed (remove it if no run is using it)") from None
        raise InputError(str(path), f"cannot lock: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(str(path), "the lock file is not a regular file")
    return fd


def check_conversation(path: Path, saved: str = "the conversation") -> Path:
    """FILE resolved and checked as a turn checks it before sending (`check_replaceable`);
    `--dry-run` makes the same checks, without the lock."""
    target = resolve_conversation(path)
    check_replaceable(target, str(path), saved)
    return target


def check_replaceable(target: Path, shown: str, saved: str = "the conversation") -> None:
    """Refuse, before anything is sent, a FILE whose new version could not be saved: a
    missing or read-only folder, or an existing FILE that is not a writable regular file
    (or that a sticky folder keeps us from replacing). SAVED: what FILE holds, in words."""
    folder = target.parent
    try:
        folder_info = folder.stat()
    except FileNotFoundError:
        raise InputError(shown, "its folder does not exist") from None
    except OSError as exc:
        raise InputError(shown, f"cannot use its folder {folder}: {exc.strerror}") from None
    if not stat.S_ISDIR(folder_info.st_mode):
        raise InputError(shown, f"{folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(shown, f"cannot save {saved}: the folder {folder} is not writable")
    try:
        info = target.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(shown, f"cannot read: {exc.strerror}") from None
    problem = refusal(info, shown, null=False)  # named_files words it: "a FIFO, not..."
    if problem is not None:
        raise problem
    if not os.access(target, os.W_OK):
        raise InputError(shown, f"the file is read-only; make it writable to save {saved}")
    owners = (0, info.st_uid, folder_info.st_uid)
    if folder_info.st_mode & stat.S_ISVTX and os.geteuid() not in owners:
        raise InputError(shown, f"cannot replace a file of another user in the sticky "
                         f"folder {folder}")


def remove_stale_temporaries(target: Path) -> None:
    """Remove the temporary files a killed save left beside `target`: only names made by
    `save_conversation`, only regular files we own. Called under the lock, so no other
    run is writing one. Best effort: a file that cannot be removed is left."""
    pattern = temporary_pattern(target)
    uid = os.geteuid()
    try:
        with os.scandir(target.parent) as entries:
            for entry in entries:
                if pattern.fullmatch(entry.name):
                    _remove_if_ours(entry, uid)
    except OSError:
        return


def _remove_if_ours(entry: os.DirEntry[str], uid: int) -> None:
    try:
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISREG(info.st_mode) and info.st_uid == uid:
            os.unlink(entry.path)
    except OSError:
        pass  # gone already, or not ours to remove: left as it is


def read_history(path: Path) -> list[dict[str, Any]]:
    """The stored messages; [] when FILE does not exist yet. Damage is an InputError.

    Read a line at a time, so that nothing but the messages themselves is held: no copy
    of the file's bytes or text (lines end at `\n` alone, as files.iter_jsonl reads them).
    """
    source = str(path)
    try:  # never a FIFO or a device: named_files refuses it (exit 3), never waits on it
        handle = os.fdopen(open_named(path, source), "rb")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise InputError(source, f"cannot read: {exc.strerror}") from None
    messages: list[dict[str, Any]] = []
    offset = 0  # bytes before the line
    try:
        with handle:
            for number, line in enumerate(handle, 1):
                value = _history_line(line, number, offset, source)
                if value is not _BLANK:
                    messages.append(check_message(value, source, number))
                offset += len(line)
    except OSError as exc:
        raise InputError(source, f"cannot read: {exc.strerror}") from None
    return messages


_BLANK = object()


def _history_line(line: bytes, number: int, offset: int, source: str) -> Any:
    """One line's value, _BLANK for a blank line; bad UTF-8, bad JSON or a torn last
    line (no `\n`: a crash while writing?) is an InputError naming the line."""
    if number == 1 and line.startswith(b"\xef\xbb\xbf"):  # a byte order mark is dropped
        line, offset = line[3:], offset + 3
    try:
        return orjson.loads(line) if line.strip() else _BLANK
    except orjson.JSONDecodeError as exc:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise InputError(source, f"invalid UTF-8 (byte {offset + bad.start})",
                             number) from None
        if not text.strip():
            return _BLANK
        if not line.endswith(b"\n"):
            raise InputError(source, "a torn last line (a crash while writing?); fix or "
                             "remove it", number) from None
        raise JSONLineError(source, f"invalid JSON ({exc.msg})", number) from None


def file_mode(target: Path) -> int:
    """The permissions of `target`, or those a new file gets (0666 less the umask)."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _create_temporary(target: Path) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        token = secrets.token_hex(TEMP_TOKEN_BYTES)
        candidate = target.with_name(f".{target.name}.{token}{TEMP_SUFFIX}")
        try:
            return os.open(candidate, flags, 0o600), candidate
        except FileExistsError:
            continue


def _not_saved(shown: str, exc: OSError) -> LocalWriteError:
    return LocalWriteError(
        f"cannot write {shown} ({exc.strerror or exc}): this turn was not saved, and "
        f"{shown} is unchanged",
        hint="the reply shown is its only copy; free some space or fix the permissions "
             "before the next turn",
    )


def replace_file(target: Path, chunks: Iterable[bytes], mode: int) -> None:
    """Replace `target` (a resolved path) with `chunks` atomically, through a fsynced
    temporary file `.NAME.<16 hex>.tmp` beside it (`remove_stale_temporaries` knows its
    name). An OSError says why not; `target` is then as it was and the temporary is gone."""
    fd, temporary = _create_temporary(target)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, mode)
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise
    sync_directory(target.parent)


def save_conversation(path: Path, messages: list[dict[str, Any]]) -> None:
    """Replace FILE (a link's target, see `resolve_conversation`) with `messages`
    atomically, keeping its permissions. A failed write is a LocalWriteError; FILE is
    then as it was and the temporary file is gone."""
    target = resolve_conversation(path)
    lines = (orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE) for message in messages)
    try:
        replace_file(target, lines, file_mode(target))
    except OSError as error:
        raise _not_saved(str(path), error) from None
