"""Presets: saved request documents (README "Presets", man PRESETS).

A preset is a JSON object as `-i json` takes one: any request fields, `messages` (a
system message, few-shot examples), and a few of cohere-chat's own settings
(`PRESET_SETTINGS`). `--preset NAME` is `<config dir>/cohere-chat/presets/NAME.json`
(the config dir is $XDG_CONFIG_HOME, else ~/.config; COHERE_CHAT_CONFIG does not move
it); a value with a `/` is a path, and a NAME (no `/`) is always the folder's NAME.json,
so what `presets` lists is what `--preset` reads. Every file is read through
named_files (a FIFO is refused, never waited for). Every problem is an InputError naming
the preset (exit 3), found before anything is sent.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cohere_cli.base import values
from cohere_cli.base.atomic_write import replace_whole
from cohere_cli.base.errors import InputError, LocalWriteError, UsageError
from cohere_cli.base.files import decode_utf8, read_file_bytes
from cohere_cli.base.named_files import check_named
from cohere_cli.chat.rules import REQUEST_FIELDS, body_problem, message_problem

# cohere-chat settings a preset may hold, each with the rule its config key follows.
PRESET_SETTINGS: dict[str, Callable[[Any], Any] | None] = {
    "history_turns": values.history_turns,
    "history_tokens": values.history_tokens,
    "fit": None,  # a JSON true or false (as "compact")
    "max_time": values.positive_seconds,
    "compact": None,
    "compact_prompt": values.some_text,
    "compact_model": values.some_text,
}
MAX_PRESET_BYTES = 1 << 24
SUFFIX = ".json"


@dataclass(frozen=True)
class Preset:
    """A loaded preset: where it came from, its messages, request fields and settings."""

    name: str  # as given (NAME or PATH)
    path: Path
    messages: tuple[dict[str, Any], ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def system_line(self) -> str:
        """The first line of its system message ("" without one)."""
        if self.messages and self.messages[0].get("role") == "system":
            content = self.messages[0].get("content")
            if isinstance(content, list):
                content = " ".join(str(block.get("text", "")) for block in content
                                   if isinstance(block, dict))
            return str(content).strip().split("\n", 1)[0]
        return ""


def presets_dir(environ: Mapping[str, str]) -> Path | None:
    """The presets folder: $XDG_CONFIG_HOME/cohere-chat/presets, else ~/.config's."""
    if environ.get("XDG_CONFIG_HOME"):
        return Path(environ["XDG_CONFIG_HOME"]) / "cohere-chat" / "presets"
    if environ.get("HOME"):
        return Path(environ["HOME"]) / ".config" / "cohere-chat" / "presets"
    return None


def is_path(value: str) -> bool:
    """A value with a `/` is a path; any other is a NAME in the presets folder."""
    return "/" in value


def preset_entries(environ: Mapping[str, str]) -> list[tuple[str, Path]]:
    """The presets folder's entries, sorted by name: each `NAME.json` (not hidden) as
    (NAME, its path). What `--preset NAME` reads is the same path."""
    folder = presets_dir(environ)
    try:
        entries = os.listdir(folder) if folder is not None else []
    except OSError:
        return []
    return sorted((name[: -len(SUFFIX)], Path(folder or ".", name)) for name in entries
                  if name.endswith(SUFFIX) and not name.startswith(".") and len(name) > 5)


def preset_names(environ: Mapping[str, str]) -> list[str]:
    """The names of the presets in the presets folder, sorted."""
    return [name for name, _ in preset_entries(environ)]


def preset_path(value: str, environ: Mapping[str, str], base: Path | None = None) -> Path:
    """Where the preset VALUE (a NAME or a PATH) lives; a relative PATH is taken from
    `base` (the config file's folder, for the config's `preset`), else as given."""
    if is_path(value):
        try:
            path = Path(value).expanduser()
        except RuntimeError:  # ~user of no such user
            raise UsageError(f"preset {value}: no such user to expand ~ for") from None
        return base / path if base is not None and not path.is_absolute() else path
    if not value or value.startswith("."):
        raise UsageError(f"bad preset name {value!r}")
    folder = presets_dir(environ)
    if folder is None:
        raise UsageError(f'no presets folder for preset "{value}" (no HOME or XDG_CONFIG_HOME)')
    return folder / f"{value}{SUFFIX}"


def load_preset(value: str, environ: Mapping[str, str], base: Path | None = None) -> Preset:
    """The preset VALUE, read and checked; an InputError naming it otherwise."""
    return read_preset(value, preset_path(value, environ, base), environ)


def read_preset(value: str, path: Path, environ: Mapping[str, str]) -> Preset:
    """The preset VALUE at PATH (its file, or the folder's entry), read and checked."""
    source = _source(value, path)
    if not is_path(value) and not path.exists() and not path.is_symlink():
        names = preset_names(environ)
        error = InputError(source, "no such preset")
        error.hint = (f"the presets: {', '.join(names)}" if names else
                      f"there are none yet in {path.parent} (make one with --save-preset)")
        if value.endswith(SUFFIX) and Path(value).exists():
            error.hint = f"a NAME is in the presets folder; for the file here, give ./{value}"
        raise error
    data = read_file_bytes(path, MAX_PRESET_BYTES, "too big for a preset", source)
    try:
        document = orjson.loads(decode_utf8(data, source))
    except orjson.JSONDecodeError as exc:
        raise InputError(source, f"invalid JSON ({exc.msg})", exc.lineno) from None
    return _checked(value, path, source, document)


def _source(value: str, path: Path) -> str:
    """How messages name the preset: as given, with its path when given a NAME."""
    return f"preset {value}" if is_path(value) else f"preset {value} ({path})"


def _checked(value: str, path: Path, source: str, document: Any) -> Preset:
    """A preset document's parts, each checked."""
    if not isinstance(document, dict):
        raise InputError(source, "a preset must be a JSON object (request fields and "
                         '"messages")')
    messages = document.get("messages", [])
    if not isinstance(messages, list):
        raise InputError(source, '"messages" must be an array of messages')
    for index, message in enumerate(messages):
        problem = message_problem(message) if isinstance(message, dict) else "not an object"
        if problem:
            raise InputError(source, f"messages[{index}]: {problem}")
    fields: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for key, item in document.items():
        if key in PRESET_SETTINGS:
            settings[key] = _setting(key, item, source)
        elif key in ("messages", "stream"):
            if key == "stream":
                raise InputError(source, '"stream" is not taken: the command line decides it')
        elif key in REQUEST_FIELDS:
            fields[key] = item
        else:
            raise InputError(source, f"unknown field {orjson.dumps(key[:80]).decode()} (a "
                             "preset takes request fields, \"messages\" and "
                             f"{', '.join(PRESET_SETTINGS)})")
    trial = {"model": "preset", **fields,
             "messages": [*messages, {"role": "user", "content": "-"}]}
    problem = body_problem(trial)
    if problem:
        raise InputError(source, problem)
    return Preset(value, path, tuple(messages), fields, settings)


def _setting(key: str, item: Any, source: str) -> Any:
    rule = PRESET_SETTINGS[key]
    if rule is None:
        if not isinstance(item, bool):
            raise InputError(source, f'"{key}" must be true or false')
        return item
    whole = key.startswith("history")
    auto = key == "history_tokens"  # a number, or "auto" as --history-tokens takes it
    if auto and isinstance(item, str) and item.strip().lower() == values.AUTO:
        return values.AUTO
    if key.startswith("compact_"):
        if not isinstance(item, str):
            raise InputError(source, f'"{key}" must be a string')
    elif isinstance(item, bool) or not isinstance(item, int if whole else (int, float)):
        raise InputError(source, f'"{key}" must be a {"whole " if whole else ""}number'
                         + (' or "auto"' if auto else ""))
    try:
        return rule(item)
    except values.ValueProblem as problem:
        raise InputError(source, f'"{key}" {problem}') from None


def save_preset(value: str, document: dict[str, Any], environ: Mapping[str, str],
                force: bool) -> Path:
    """Write a preset atomically (0644; the presets folder made 0700 if needed). An
    existing one is replaced only with `force`; through a symbolic link, its target is
    (the link stays a link). What is not a regular file is never replaced (exit 3)."""
    path = preset_path(value, environ)
    _checked(value, path, f"preset {value}", document)
    target = Path(os.path.realpath(path))
    if target.is_symlink():  # realpath stops inside a loop of links
        raise InputError(f"preset {value}", f"{path}: a loop of symbolic links")
    if check_named(target, _source(value, path), null=False) is not None and not force:
        raise UsageError(f"preset {value} exists ({path})", hint="add --force to replace it")
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    try:
        if not is_path(value):
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        replace_whole(target, data, 0o644)
    except OSError as exc:
        raise LocalWriteError(f"cannot write preset {path}: {exc.strerror or exc}") from None
    return path
