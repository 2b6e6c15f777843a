"""What the commands that reach the API share: stdin read, and the settings, connection,
request options and history limits built from the parsed flags (by field name)."""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from cohere_cli import PROGRAM

if TYPE_CHECKING:
    from cohere_cli.config import Settings
    from cohere_cli.request import RequestOptions
    from cohere_cli.wire.connection import Connection


def read_stdin(no_stdin: bool) -> bytes | None:
    """All of stdin (at most files.MAX_INPUT_BYTES, else exit 3), unless told not to or
    it is a terminal (never block on a TTY)."""
    from cohere_cli.files import read_stream

    stream = sys.stdin
    if no_stdin or stream is None or stream.closed:
        return None
    try:
        if stream.isatty():
            return None
    except (OSError, ValueError):
        return None
    return read_stream(stream.buffer, "stdin")


def config_flags(kw: dict[str, Any]) -> Any:
    from cohere_cli.config import ConfigFlags

    return ConfigFlags(
        api_key_file=kw.get("api_key_file"), base_url=kw.get("base_url"),
        profile=kw.get("profile"), timeout=kw.get("timeout"), retries=kw.get("retries"),
        client_name=kw.get("client_name"), history_turns=kw.get("history_turns"),
        history_tokens=kw.get("history_tokens"), fit=kw.get("fit"),
        max_time=kw.get("max_time"), log=kw.get("log"),
    )


def history_limits(settings: Settings) -> Any:
    """--history-turns, --history-tokens and --fit, from the flags or the config."""
    from cohere_cli.fitting import HistoryLimits

    return HistoryLimits(settings.history_turns, settings.history_tokens, settings.fit)


def request_options_of(kw: dict[str, Any]) -> RequestOptions:
    """The request flags: each option's destination is its RequestOptions field."""
    from dataclasses import fields

    from cohere_cli.request import RequestOptions

    return RequestOptions(**{field.name: kw[field.name] for field in fields(RequestOptions)})


def settings_of(kw: dict[str, Any], console: Any) -> Settings:
    """The settings from the flags, environment and config; config warnings shown."""
    from cohere_cli.config import load_settings

    settings = load_settings(config_flags(kw), os.environ)
    for warning in settings.warnings:
        console.warning(warning)
    return settings


def connection_of(settings: Settings, kw: dict[str, Any]) -> Connection:
    """How the wire reaches the API: the settings, and the flags that are not settings."""
    return settings.connection(max_wait=kw["max_wait"], ca_bundle=kw["ca_bundle"],
                               pool_size=max(10, kw.get("jobs") or 0))


def logger(console: Any, verbose: bool) -> Any:
    if not verbose:
        return lambda _line: None
    return lambda line: console.err(f"{PROGRAM}: {line}")
