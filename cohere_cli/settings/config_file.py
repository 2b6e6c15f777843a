"""The config file as a file (README "Configuration"): found, read through named_files
(a FIFO or a folder where it is looked for is never waited on), parsed, its unknown
names warned about; and the paths its keys name (`log`, `api_key_file`, `preset`),
taken from its folder when relative, checked before anything is sent."""
from __future__ import annotations

import os
import stat
from contextlib import suppress
from pathlib import Path

from cohere_cli.base import values
from cohere_cli.base.errors import InputError, UsageError
from cohere_cli.base.files import read_stream
from cohere_cli.base.named_files import open_named
from cohere_cli.base.secret import MAX_KEY_FILE_BYTES, Secret

MAX_CONFIG_BYTES = 1 << 20
Sections = dict[str, dict[str, str]]  # the file's [sections], each its keys and values


def read_config(path: Path | None, explicit: bool, warnings: list[str]) -> tuple[Sections, str]:
    """The config's sections and its state. A config file at the usual place that cannot
    be opened (XDG_CONFIG_HOME is a file, HOME is unreadable) is skipped with a warning;
    one named by COHERE_CHAT_CONFIG must be read. A broken file is always an error.
    (configparser is imported only when there is a file to parse.)"""
    if path is None:
        return {}, "not found"
    try:
        handle = os.fdopen(open_named(path, str(path)), "rb")
    except FileNotFoundError:
        if explicit:
            raise UsageError(f"config file {path} does not exist (COHERE_CHAT_CONFIG)") from None
        return {}, "not found"
    except (OSError, InputError) as exc:
        reason = _reason(exc)
        if explicit:
            raise InputError(str(path), f"cannot read config: {reason}") from None
        warnings.append(f"cannot read the config file {path} ({reason}); going on without one")
        return {}, f"unreadable ({reason})"
    with handle:
        data = read_stream(handle, str(path), MAX_CONFIG_BYTES, "too big for a config file")
    try:
        text = data.decode("utf-8-sig")  # a BOM is dropped
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"cannot read config: {_reason(exc)}") from None
    sections = _parse(text, path)
    from cohere_cli.settings.check import unknown_names

    warnings.extend(unknown_names(text, str(path)))
    return sections, "exists"


def _parse(text: str, path: Path) -> Sections:
    import configparser

    from cohere_cli.settings.check import error_line, error_text

    parser = configparser.ConfigParser(interpolation=None, default_section="__none__")
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise InputError(str(path), f"bad config: {error_text(exc)}",
                         error_line(exc)) from None
    return {name: dict(parser[name]) for name in parser.sections()}


def _reason(exc: OSError | UnicodeDecodeError | InputError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid UTF-8 at byte {exc.start}"
    if isinstance(exc, InputError):  # named_files refused it: a folder, a FIFO, a device
        return exc.message.removeprefix(f"{exc.source}: ")
    return exc.strerror or type(exc).__name__


def others_can_read(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False


def key_file(path: Path, where: str, warnings: list[str]) -> Secret:
    """A key file, read when the key is needed. A regular file that holds a key and that
    others can read is warned about now (a missing one is not an error yet)."""
    with suppress(OSError, InputError):
        if others_can_read(path):  # opened as every named file is: never a FIFO
            with os.fdopen(open_named(path), "rb") as handle:
                if handle.read(MAX_KEY_FILE_BYTES).strip():
                    warnings.append(f"{path} is readable by other users; chmod 600 it")
    return Secret(where=f"{path} ({where})", path=path)


def from_config(source: str) -> bool:
    """Whether a setting's `source` is the config file (not a flag or the environment)."""
    return not source.startswith(("flag", "environment"))


def setting_path(key: str, text: str, source: str, config_dir: Path | None) -> Path:
    """A path a setting names (`log`, `api_key_file`): a NUL byte is a usage error naming
    where it came from, before anything is sent. From the config file, `~` is expanded
    and a relative path is taken from the config file's folder; from a flag or the
    environment, it is as given (the shell expanded it)."""
    try:
        values.path_text(text)
    except values.ValueProblem as problem:
        raise UsageError(f"{key} {problem} (got {text!r} from {source})") from None
    if not from_config(source):
        return Path(text)
    try:
        path = Path(text).expanduser()
    except RuntimeError:  # ~user of no such user
        raise UsageError(f"{key} cannot be expanded: no such user (got {text!r} from "
                         f"{source})") from None
    return config_dir / path if config_dir and not path.is_absolute() else path
