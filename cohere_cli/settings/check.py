"""The config file's own checks (README "Configuration"): the sections and keys
cohere-chat does not know, each a warning with its line (`modle = x`, `[local]` for
`[profile local]`), and a syntax error's line and one-line reason."""
from __future__ import annotations

import configparser
import difflib
import re


def error_text(exc: configparser.Error) -> str:
    """What is wrong, in one line, without the file's name (the line is given apart)."""
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return "a key before any [section]"
    errors = getattr(exc, "errors", None)
    if isinstance(exc, configparser.ParsingError) and errors:
        return f'not "key = value", a [section] or a comment: {str(errors[0][1])[:80]}'
    return exc.message.splitlines()[0].rpartition("]: ")[2]


def error_line(exc: configparser.Error) -> int | None:
    """The line a configparser error is at, when it says."""
    line = getattr(exc, "lineno", None)
    errors = getattr(exc, "errors", None)
    if line is None and isinstance(exc, configparser.ParsingError) and errors:
        line = errors[0][0]
    return line if isinstance(line, int) else None


KNOWN_KEYS = (
    "api_key", "api_key_file", "base_url", "model", "timeout", "retries", "client_name",
    "history_turns", "history_tokens", "fit", "max_time", "max_cost", "log", "price_input",
    "price_output", "preset", "compact", "compact_prompt", "compact_model", "auth",
    "headers", "insecure_http",
)
_SECTION = re.compile(r"\s*\[(?P<name>[^\]]*)\]")
_KEY = re.compile(r"(?P<key>[^=:\s#;][^=:]*?)\s*[=:]")


def unknown_names(text: str, source: str) -> list[str]:
    """A warning for each section or key cohere-chat does not know, with its line
    (`[local]` for `[profile local]`, `modle = x`); a close known name is suggested."""
    warnings = []
    for number, line in enumerate(text.split("\n"), 1):
        if line[:1].isspace() or line.lstrip().startswith(("#", ";")):
            continue  # a continuation line or a comment
        section = _SECTION.match(line)
        if section:
            name = section["name"].strip()
            if name != "default" and not (name.startswith("profile ") and name[8:].strip()):
                warnings.append(f'{source}:{number}: unknown section [{name}] (the sections '
                                'are [default] and [profile NAME])')
            continue
        key = _KEY.match(line)
        if key and key["key"].strip().lower() not in KNOWN_KEYS:
            name = key["key"].strip()
            close = difflib.get_close_matches(name.lower(), KNOWN_KEYS, 1)
            meant = f' (did you mean "{close[0]}"?)' if close else ""
            warnings.append(f'{source}:{number}: unknown key "{name}"{meant}')
    return warnings
