"""What the commands that reach the API share: stdin read, and the settings, connection,
request options and history limits built from the parsed flags (by field name)."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from cohere_cli import PROGRAM

if TYPE_CHECKING:
    from cohere_cli.chat.request import RequestOptions
    from cohere_cli.cli.streams import Streams
    from cohere_cli.settings.config import Settings
    from cohere_cli.wire.connection import Connection


def read_stdin(streams: Streams, no_stdin: bool) -> bytes | None:
    """All of stdin (at most files.MAX_INPUT_BYTES, else exit 3), unless told not to or
    it is a terminal (never block on a TTY)."""
    from cohere_cli.base.files import read_stream

    if no_stdin or streams.stdin is None or streams.stdin_isatty:
        return None
    return read_stream(streams.stdin, "stdin")


def config_flags(kw: dict[str, Any]) -> Any:
    from cohere_cli.settings.config import ConfigFlags

    return ConfigFlags(
        api_key_file=kw.get("api_key_file"), base_url=kw.get("base_url"),
        profile=kw.get("profile"), timeout=kw.get("timeout"), retries=kw.get("retries"),
        client_name=kw.get("client_name"), history_turns=kw.get("history_turns"),
        history_tokens=kw.get("history_tokens"), fit=kw.get("fit"),
        max_time=kw.get("max_time"), log=kw.get("log"), preset=kw.get("preset"),
    )


def history_limits(settings: Settings) -> Any:
    """--history-turns, --history-tokens and --fit, from the flags or the config."""
    from cohere_cli.conversation.fit import HistoryLimits

    return HistoryLimits(settings.history_turns, settings.history_tokens, settings.fit)


def request_options_of(kw: dict[str, Any], settings: Settings | None = None) -> RequestOptions:
    """The request flags: each option's destination is its RequestOptions field; the
    preset's fields and messages from the settings."""
    from dataclasses import fields

    from cohere_cli.chat.request import NOT_FLAGS, RequestOptions

    return RequestOptions(
        **{field.name: kw[field.name] for field in fields(RequestOptions)
           if field.name not in NOT_FLAGS},
        preset=settings.preset if settings else None,
    )


def param_warnings(kw: dict[str, Any], console: Any) -> None:
    """Warn once for each --param KEY the API does not document."""
    from cohere_cli.chat.request import param_warnings as warnings

    for warning in warnings(kw["params"]):
        console.warning(warning)


def settings_of(kw: dict[str, Any], console: Any, with_preset: bool = False) -> Settings:
    """The settings from the flags, environment and config (and the preset, when
    `with_preset`); config warnings shown."""
    from cohere_cli.settings.config import load_settings

    settings = load_settings(config_flags(kw), os.environ, with_preset)
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
