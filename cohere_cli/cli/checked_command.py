"""The check every command's arguments pass before it runs: text that goes to the API
must be UTF-8 (paths and command lines stay on this machine, and may hold any bytes the
system allows)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from cohere_cli.base.errors import InputError
from cohere_cli.base.values import has_bad_utf8


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _texts(item)


def _is_sent(param: click.Parameter, value: str) -> bool:
    """Whether an argument's text goes to the API (paths and commands stay here, and may
    hold any bytes the system allows); options.py's types say so with `is_sent`."""
    decide = getattr(param.type, "is_sent", None)
    if decide is not None:
        return bool(decide(value))
    return not isinstance(param.type, click.Path)


class CheckedCommand(click.Command):
    """A command whose arguments are checked before it runs: bytes that are not UTF-8
    (Python keeps them as lone surrogates) in text to be sent are bad input, exit 3,
    named by their option, before anything is sent."""

    def invoke(self, ctx: click.Context) -> Any:
        for param in self.get_params(ctx):
            for text in _texts(ctx.params.get(param.name or "")):
                if has_bad_utf8(text) and _is_sent(param, text):
                    name = "/".join(param.opts) if isinstance(param, click.Option) else (
                        param.human_readable_name)
                    raise InputError(name, "not valid UTF-8 (only text can be sent)")
        return super().invoke(ctx)
