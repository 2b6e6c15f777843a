"""Replacing a file whole: the new bytes go to a temporary file beside it, are fsynced and
renamed over it, so that a crash or a full disk leaves the old file or the new one, never
half of either."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path


def replace_whole(path: Path, data: bytes, mode: int = 0o644) -> None:
    """PATH replaced by DATA (with MODE), or left as it was; an OSError says why not."""
    # os.urandom, as `secrets.token_hex` uses, without importing secrets (hmac, hashlib)
    temporary = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise
    sync_directory(path.parent)


def sync_directory(folder: Path) -> None:
    """A rename in FOLDER made durable (some file systems cannot fsync a folder: the
    rename is done all the same)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
