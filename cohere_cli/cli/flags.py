"""The typed face of click's parameters: each command declares one frozen dataclass of
its flags, and `typed` hands the command that dataclass, built from click's parsed
values by field name (`parsed`), with the run's streams; no command sees an untyped
mapping of values.

A field declared `field(metadata=part(KIND))` holds a KIND built from the same values:
one flag may feed several parts (`--model` is a request field and a setting). Every
value must land in a field, and every field without a default must get a value: a flag
without a field, or a field without a flag, fails each run of the command at once
(exit 1, a bug), never quietly."""
from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, TypeVar, cast

from cohere_cli.cli.streams import Streams, current_streams

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def part(kind: type[DataclassInstance], leave: Collection[str] = ()) -> Mapping[str, object]:
    """The metadata of a field holding a KIND built from the same values; LEAVE: KIND's
    fields that are not flags (they keep their defaults, even when a flag has their
    name)."""
    return {"part": kind, "leave": frozenset(leave)}


def _build(kind: type[T], values: Mapping[str, object], used: set[str],
           leave: Collection[str] = ()) -> T:
    given: dict[str, object] = {}
    for item in fields(kind):
        inner = item.metadata.get("part")
        if inner is not None:
            given[item.name] = _build(inner, values, used, item.metadata["leave"])
        elif item.name in values and item.name not in leave:
            given[item.name] = values[item.name]
            used.add(item.name)
    try:
        return cast(Callable[..., T], kind)(**given)
    except TypeError as exc:  # a field without a flag
        raise TypeError(f"{kind.__name__}: {exc}") from None


def parsed(kind: type[T], values: Mapping[str, object]) -> T:
    """KIND from click's parsed VALUES (ctx.params), by field name."""
    used: set[str] = set()
    made = _build(kind, values, used)
    if unused := sorted(set(values) - used):
        raise TypeError(f"{kind.__name__} has no field for the flags {', '.join(unused)}")
    return made


def typed(kind: type[T]) -> Callable[[Callable[[T, Streams], int]], Callable[..., int]]:
    """A command's callback: click's values as KIND, and the run's streams (the command
    function keeps its name and docstring, click's help)."""

    def decorate(command: Callable[[T, Streams], int]) -> Callable[..., int]:
        @functools.wraps(command)
        def callback(**values: object) -> int:
            return command(parsed(kind, values), current_streams())

        return callback

    return decorate
