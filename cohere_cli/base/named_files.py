"""One way to open a file the user names (README "Files you name", man FILES YOU
NAME): presets and the presets folder's entries, the config, key files, the run log,
images, documents, schemas, tool files, the conversation, a batch's input, output and
state files.

`open_named` never blocks and never opens what is not a regular file: the path is
looked at first (a FIFO, a folder, a socket or a device is refused before it is even
opened), then opened with O_NONBLOCK (a FIFO swapped in meanwhile cannot hold the open),
looked at again through the descriptor (what was opened is what was checked), and
O_NONBLOCK is cleared. What is refused is an InputError naming it (exit 3). An output
may be a character device (`devices`: /dev/full, a terminal); the null device is taken
as an empty file that takes any write (never as a file to replace by a rename). A path
that cannot be one (a NUL byte from the config) is an InputError too, never Python's
ValueError.
"""
from __future__ import annotations

import errno
import fcntl
import os
import stat
from functools import cache
from pathlib import Path

from cohere_cli.base.errors import InputError

NOT_A_PATH = "not a usable path (it holds a NUL byte)"
WRITE_NEW = os.O_WRONLY | os.O_CREAT | os.O_TRUNC  # flags: a file written from its start
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


@cache
def _null_device() -> int | None:
    try:
        return os.stat(os.devnull).st_rdev
    except OSError:
        return None


def kind_of(info: os.stat_result) -> str:
    """What a file is, as a message names it ("a regular file", "a FIFO", "a folder")."""
    for test, kind in _KINDS:
        if test(info.st_mode):
            return kind
    return "a regular file" if stat.S_ISREG(info.st_mode) else "not a file"


def refusal(info: os.stat_result, source: str, devices: bool = False,
            null: bool = True) -> InputError | None:
    """Why the file `info` describes may not be used where a file is expected (None: it
    may). Regular files may; the null device too unless `null` is False (a file to be
    replaced whole: never rename over a device); other character devices only with
    `devices` (an output)."""
    if stat.S_ISREG(info.st_mode):
        return None
    if stat.S_ISCHR(info.st_mode) and (devices or (null and info.st_rdev == _null_device())):
        return None
    return InputError(source, f"{kind_of(info)}, not a regular file")


def check_named(path: str | Path, source: str | None = None, devices: bool = False,
                folders: bool = False, null: bool = True) -> os.stat_result | None:
    """The checks `open_named` makes, for a file not opened yet (an output, the log, a
    preset to replace, a --ca-bundle): None when nothing is there yet; an InputError
    when what is there may not be used (a folder only with `folders`; see `refusal` for
    `devices` and `null`). Other OSErrors are left to the caller."""
    shown = source or str(path)
    try:
        info = os.stat(path)
    except ValueError:
        raise InputError(shown, NOT_A_PATH) from None
    except FileNotFoundError:
        return None
    problem = None if folders and stat.S_ISDIR(info.st_mode) else refusal(
        info, shown, devices, null)
    if problem is not None:
        raise problem
    return info


def open_named(path: str | Path, source: str | None = None, flags: int = os.O_RDONLY,
               mode: int = 0o666, devices: bool = False) -> int:
    """PATH opened with `flags` (and `mode`, to create), as a descriptor in blocking mode,
    when it is a regular file (or the null device; or, with `devices`, any character
    device). What is not is an InputError naming `source` (else the path), exit 3; an
    OSError (missing, no permission) is left to the caller, who knows what it was for."""
    shown = source or str(path)
    check_named(path, shown, devices)
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno in (errno.EISDIR, errno.ENXIO):  # swapped in since: a folder, a FIFO
            check_named(path, shown, devices)
        raise
    try:
        problem = refusal(os.fstat(fd), shown, devices)
        if problem is not None:
            raise problem
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd
