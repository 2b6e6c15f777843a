"""`models MODEL`: one model's details, fetched (and cached, for the runs that count
tokens: chat/model_details.py), as `key: value` lines or, with --json, as the API sent
them."""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from cohere_cli.base.cache import Cache
from cohere_cli.chat.model_details import DetailsSource
from cohere_cli.settings.paths import cache_folder

if TYPE_CHECKING:
    from cohere_cli.cli.console import Console
    from cohere_cli.wire.connection import Connection


def _shown(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def show_details(model: str, as_json: bool, connection: Connection, console: Console,
                 log: Callable[[str], None]) -> int:
    """Fetch MODEL's details (always: this is the look), cache them, and print them."""
    from cohere_cli.cli.console import escape_line

    source = DetailsSource(connection, Cache(cache_folder(os.environ)), log, console.warning)
    details = source.fetch(model)
    for problem in details.problems:
        console.warning(f"the details of {model}: {problem}")
    if as_json:
        console.out_json(details.raw)
    else:
        lines = [f"{key}: {_shown(value)}" for key, value in details.raw.items()]
        console.out("".join(f"{escape_line(line)}\n" for line in lines).encode())
    return console.written()
