"""The API key as a `Secret`: never in a repr, a log line, an error message or a traceback.

A key file is read only when the key is needed (`reveal`), so that a stale file does not
stop `--dry-run` or `config`. The config (config.py) decides where a key comes from; the
wire only asks for it, to put it in the Authorization header.
"""
from __future__ import annotations

import os
from pathlib import Path

from cohere_cli.base import values
from cohere_cli.base.errors import CohereChatError, InputError, UsageError
from cohere_cli.base.files import read_stream
from cohere_cli.base.named_files import open_named

KEY_VARIABLES = ("CO_API_KEY", "COHERE_API_KEY")  # where the environment holds a key
MAX_KEY_FILE_BYTES = 1 << 16
KEY_HINT = "an API key is one line of printable ASCII; check where it comes from"


class Secret:
    """The API key: repr and str hide it. A key file is read only when the key is needed
    (`reveal`), so a stale file does not stop `--dry-run` or `config`."""

    __slots__ = ("_path", "_value", "where")

    def __init__(self, value: str | None = None, where: str = "", path: Path | None = None):
        self._value = value
        self._path = path
        self.where = where  # the key's source, as error messages name it

    def reveal(self) -> str:
        """The key; an unreadable or empty key file is an InputError (exit 3), a key that
        is not one line of ASCII a UsageError (exit 2); neither shows the key."""
        error = self._error()
        if error is not None:
            raise error
        return self._value or ""

    def problem(self) -> str | None:
        """Why the key cannot be used, in short (for `config`), or None."""
        error = self._error()
        if error is None:
            return None
        if isinstance(error, InputError):
            return f"unreadable: {error.message}"
        return f"invalid: it {_key_problem(self._value)}"

    def _error(self) -> CohereChatError | None:
        if self._value is None and self._path is not None:
            try:
                self._value = _read_key_file(self._path)
            except InputError as error:
                return error
        problem = _key_problem(self._value)
        if problem:
            return UsageError(f"the API key from {self.where} {problem}", hint=KEY_HINT)
        return None

    def __repr__(self) -> str:
        return "Secret(<hidden>)"

    __str__ = __repr__


def _key_problem(key: str | None) -> str | None:
    return values.text_problem(key) if key else "is empty"


def _read_key_file(path: Path) -> str:
    try:
        handle = os.fdopen(open_named(path), "rb")  # never a FIFO: a refusal, not a hang
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(str(path), f"cannot read the key file: {reason}") from None
    with handle:
        data = read_stream(handle, str(path), MAX_KEY_FILE_BYTES, "too big for a key file")
    text = data.decode("utf-8-sig", "replace").strip()  # never shown: only checked
    if not text:
        raise InputError(str(path), "the key file is empty")
    return text
