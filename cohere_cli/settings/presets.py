"""Presets: saved request documents (README "Presets", man PRESETS).

A preset is a JSON object as `-i json` takes one: any request fields, `messages` (a
system message, few-shot examples), and a few of cohere-chat's own settings
(`PRESET_SETTINGS`). `--preset NAME` is `<config dir>/cohere-chat/presets/NAME.json`
(the config dir is $XDG_CONFIG_HOME, else ~/.config; COHERE_CHAT_CONFIG does not move
it); a value with a `/` or ending in `.json` is a path. Every problem is an InputError
naming the preset (exit 3), found before anything is sent.
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
from cohere_cli.chat.rules import REQUEST_FIELDS, body_problem, message_problem

# cohere-chat settings a preset may hold, each with the rule its config key follows.
PRESET_SETTINGS: dict[str, Callable[[Any], Any] | None] = {
    "history_turns": values.history_turns,
    "history_tokens": values.history_tokens,
    "fit": None,  # a JSON true or false
    "max_time": values.positive_seconds,
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
    """A value with a `/` or ending in `.json` is a path, not a NAME."""
    return "/" in value or value.endswith(SUFFIX)


def preset_names(environ: Mapping[str, str]) -> list[str]:
    """The names of the presets in the presets folder, sorted."""
    folder = presets_dir(environ)
    try:
        entries = os.listdir(folder) if folder is not None else []
    except OSError:
        return []
    return sorted(name[: -len(SUFFIX)] for name in entries
                  if name.endswith(SUFFIX) and not name.startswith(".") and len(name) > 5)


def preset_path(value: str, environ: Mapping[str, str]) -> Path:
    """Where the preset VALUE (a NAME or a PATH) lives."""
    if is_path(value):
        return Path(value).expanduser()
    if not value or value.startswith("."):
        raise UsageError(f"bad preset name {value!r}")
    folder = presets_dir(environ)
    if folder is None:
        raise UsageError(f'no presets folder for preset "{value}" (no HOME or XDG_CONFIG_HOME)')
    return folder / f"{value}{SUFFIX}"


def load_preset(value: str, environ: Mapping[str, str]) -> Preset:
    """The preset VALUE, read and checked; an InputError naming it otherwise."""
    path = preset_path(value, environ)
    source = f"preset {value}" if is_path(value) else f"preset {value} ({path})"
    if not is_path(value) and not path.exists():
        names = preset_names(environ)
        error = InputError(source, "no such preset")
        error.hint = (f"the presets: {', '.join(names)}" if names else
                      f"there are none yet in {path.parent} (make one with --save-preset)")
        raise error
    data = read_file_bytes(path, MAX_PRESET_BYTES, "too big for a preset")
    try:
        document = orjson.loads(decode_utf8(data, source))
    except orjson.JSONDecodeError as exc:
        raise InputError(source, f"invalid JSON ({exc.msg})", exc.lineno) from None
    return _checked(value, path, source, document)


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
    if key == "history_tokens" and item == values.AUTO:
        return item
    if isinstance(item, bool) or not isinstance(item, int if whole else (int, float)):
        raise InputError(source, f'"{key}" must be a {"whole " if whole else ""}number')
    try:
        return rule(item)
    except values.ValueProblem as problem:
        raise InputError(source, f'"{key}" {problem}') from None


@dataclass(frozen=True)
class Applied:
    """A request's fields and messages with a preset applied."""

    fields: dict[str, Any]  # the preset's fields under the request's own
    messages: list[dict[str, Any]]  # the preset's messages first
    fixed: int = 0  # how many messages at the start are the preset's: never windowed


def apply_preset(preset: Preset | None, messages: list[dict[str, Any]],
                 fields: Mapping[str, Any] | None = None) -> Applied:
    """The one place a preset joins a request (send, batch lines, --dry-run): its fields
    under `fields`, its messages before `messages`. A system message that opens
    `messages` (--system, or the conversation's own) replaces the preset's and stays
    first; it then counts among the `fixed` ones."""
    under = {**preset.fields, **(fields or {})} if preset else dict(fields or {})
    prefix = list(preset.messages) if preset else []
    if not prefix:
        return Applied(under, messages)
    if messages and messages[0].get("role") == "system":
        rest = prefix[1:] if prefix[0].get("role") == "system" else prefix
        return Applied(under, [messages[0], *rest, *messages[1:]], len(rest) + 1)
    return Applied(under, [*prefix, *messages], len(prefix))


def save_preset(value: str, document: dict[str, Any], environ: Mapping[str, str],
                force: bool) -> Path:
    """Write a preset atomically (0644; the presets folder made 0700 if needed).
    An existing one is replaced only with `force`."""
    path = preset_path(value, environ)
    _checked(value, path, f"preset {value}", document)
    if path.exists() and not path.is_file():
        raise UsageError(f"preset {value}: {path} is not a regular file")
    if path.exists() and not force:
        raise UsageError(f"preset {value} exists ({path})", hint="add --force to replace it")
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    try:
        if not is_path(value):
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        replace_whole(path, data, 0o644)
    except OSError as exc:
        raise LocalWriteError(f"cannot write preset {path}: {exc.strerror or exc}") from None
    return path
