"""What the commands that reach the API share: stdin read (with the rest of a send's new
input), and the settings, connection, request options and history limits made from the
parsed flags."""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from cohere_cli import PROGRAM

if TYPE_CHECKING:
    from cohere_cli.chat.budget import Budget
    from cohere_cli.chat.compact import CompactSettings
    from cohere_cli.chat.context import ModelContext
    from cohere_cli.chat.messages import MessageInputs
    from cohere_cli.chat.request import RequestOptions
    from cohere_cli.cli.console import Console
    from cohere_cli.cli.options import ConnectionFlags, MessageFlags, StdinFlags
    from cohere_cli.cli.streams import Streams
    from cohere_cli.conversation.fit import HistoryLimits
    from cohere_cli.settings.config import ConfigFlags, Settings
    from cohere_cli.wire.connection import Connection


def read_stdin(streams: Streams, no_stdin: bool) -> bytes | None:
    """All of stdin (at most files.MAX_INPUT_BYTES, else exit 3), unless told not to or
    it is a terminal (never block on a TTY)."""
    from cohere_cli.base.files import read_stream

    if no_stdin or streams.stdin is None or streams.stdin_isatty:
        return None
    return read_stream(streams.stdin, "stdin")


def message_inputs(prompt: tuple[str, ...], given: StdinFlags, messages: MessageFlags,
                   documents: tuple[str, ...], streams: Streams
                   ) -> tuple[MessageInputs, bytes | None]:
    """The new input of a send (send, tokens): the prompt, the message flags and stdin read
    as --input says; and stdin's bytes when `--image -` or `--document -` takes it as the
    media instead."""
    from cohere_cli.base.errors import UsageError
    from cohere_cli.chat.messages import MessageInputs

    dashes = [*messages.images, *documents].count("-")
    if dashes > 1:
        raise UsageError("only one --image or --document may be - (stdin)")
    if dashes and given.no_stdin:
        raise UsageError("--image - or --document - reads stdin: drop --no-stdin")
    read = read_stdin(streams, given.no_stdin)
    stdin, media = (None, read or b"") if dashes else (read, None)
    return MessageInputs(
        input_format=given.format, stdin=stdin, prompt=prompt,
        system=messages.system, system_file=messages.system_file, images=messages.images,
        image_detail=messages.image_detail), media


def history_limits(settings: Settings) -> HistoryLimits:
    """--history-turns, --history-tokens (a number, or auto) and --fit, from the flags
    or the config."""
    from cohere_cli.conversation.fit import HistoryLimits

    tokens = settings.history_tokens
    return HistoryLimits(settings.history_turns, tokens if isinstance(tokens, int) else None,
                         settings.fit, auto=tokens is not None and not isinstance(tokens, int))


def compact_settings(settings: Settings, conversation: str | None) -> CompactSettings | None:
    """--compact, --compact-prompt and --compact-model, checked before anything is sent:
    --compact needs a history window, and -c FILE to keep its summary beside. From the
    config or a preset, without -c, it does nothing (a one-off send has no history).
    None: no --compact."""
    from cohere_cli.base.errors import UsageError

    if not settings.compact:
        return None
    source = settings.sources.get("compact", "")
    if conversation is None:
        if source.startswith("flag"):
            raise UsageError("--compact keeps its summary beside the conversation: give "
                             "-c FILE")
        return None
    if settings.history_turns is None and settings.history_tokens is None:
        given = "--compact" if source.startswith("flag") else f"compact ({source})"
        raise UsageError(f"{given} needs a history window: the turns it leaves out are what "
                         "the summary sums up",
                         hint="add --history-turns N or --history-tokens N (or their "
                              "config keys)")
    from cohere_cli.chat.compact import CompactSettings

    return CompactSettings(settings.compact_prompt, settings.compact_model)


def with_preset(request: RequestOptions, settings: Settings) -> RequestOptions:
    """The request flags, and the preset's fields and messages from the settings."""
    from dataclasses import replace

    return replace(request, preset=settings.preset)


def param_warnings(params: tuple[str, ...], console: Console) -> None:
    """Warn once for each --param KEY the API does not document."""
    from cohere_cli.chat.request import param_warnings as warnings

    for warning in warnings(params):
        console.warning(warning)


def settings_of(flags: ConfigFlags, console: Console, with_preset: bool = False) -> Settings:
    """The settings from the flags, environment and config (and the preset, when
    `with_preset`); config warnings shown."""
    from cohere_cli.settings.config import load_settings

    settings = load_settings(flags, os.environ, with_preset)
    for warning in settings.warnings:
        console.warning(warning)
    return settings


def connection_of(settings: Settings, flags: ConnectionFlags, jobs: int = 0) -> Connection:
    """How the wire reaches the API: the settings, and the flags that are not settings
    (a connection for each of JOBS workers). A --ca-bundle that is not a regular file or
    a folder of certificates (a FIFO: the TLS library would wait on it) is exit 3."""
    from contextlib import suppress

    from cohere_cli.base.named_files import check_named

    if flags.ca_bundle is not None:
        with suppress(OSError):  # click's check saw it; the TLS library says the rest
            check_named(flags.ca_bundle, f"--ca-bundle {flags.ca_bundle}", folders=True)
    return settings.connection(max_wait=flags.max_wait, ca_bundle=flags.ca_bundle,
                               pool_size=max(10, jobs))


def logger(console: Console, verbose: bool) -> Callable[[str], None]:
    if not verbose:
        return lambda _line: None
    return lambda line: console.err(f"{PROGRAM}: {line}")


def model_context(connection: Connection, console: Console, verbose: bool,
                  offline: bool = False, refuse: bool = True) -> ModelContext:
    """The models' details and tokenizers for a run (chat/context.py), cached in
    $XDG_CACHE_HOME/cohere-chat; `offline`: the cache only (--dry-run)."""
    from cohere_cli.base.cache import Cache
    from cohere_cli.chat.context import ModelContext
    from cohere_cli.settings.paths import cache_folder

    return ModelContext(connection, Cache(cache_folder(os.environ)), logger(console, verbose),
                        console.warning, offline, refuse)


def send_context(settings: Settings, connection: Connection, console: Console,
                 verbose: bool, offline: bool = False) -> ModelContext | None:
    """The model's context for send and batch: None when nothing could come of it (no
    `--history-tokens auto`, and no model's details in the cache to refuse an input
    over the context by), so that such a run imports none of it."""
    from cohere_cli.settings.paths import holds_model_details

    if settings.history_tokens != "auto" and not holds_model_details(os.environ):
        return None
    return model_context(connection, console, verbose, offline)


def budget_of(settings: Settings) -> Budget | None:
    """--max-cost (or `max_cost`), with the profile's prices; exit 2 without them."""
    if settings.max_cost is None:
        return None
    from cohere_cli.base.errors import UsageError
    from cohere_cli.chat.budget import Budget

    if settings.prices is None:
        source = settings.sources.get("max_cost", "")
        raise UsageError(f"--max-cost needs prices ({source}): a cost is counted from them",
                         hint="set price_input and price_output (USD per million tokens) "
                         "in the config")
    return Budget(settings.max_cost, settings.prices)
