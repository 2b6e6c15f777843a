"""The group's commands, each imported when it is first used (click's lazy-loading group
pattern): the group knows every command's name and one-line help without importing its
module, so that `--version` and `--help` import no command, and a run imports the one it
runs. tests/test_startup.py checks the one-line help here against each command's own."""
from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping

import click


class LazyCommand:
    """Where a command is (`module:attribute`, under cohere_cli.cli.commands) and the first
    paragraph of its help, which the group's help and completion show. (A plain class:
    a NamedTuple costs start-up time.)"""

    __slots__ = ("help", "where")

    def __init__(self, where: str, help: str) -> None:
        self.where = where
        self.help = help

    def load(self) -> click.Command:
        module, _, attribute = self.where.partition(":")
        command = getattr(importlib.import_module(f"cohere_cli.cli.commands.{module}"), attribute)
        assert isinstance(command, click.Command), self.where
        return command


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's `commands`: the names of every command, each imported on first access
    (`commands[name]`); `name in commands` and the names themselves import nothing."""

    def __init__(self, lazy: dict[str, LazyCommand]) -> None:
        self.lazy = lazy
        self.loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self.loaded:
            if name not in self.lazy:
                raise KeyError(name)
            self.loaded[name] = self.lazy[name].load()
        return self.loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self.loaded.pop(name, None)
        self.lazy.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self.loaded or name in self.lazy

    def __iter__(self) -> Iterator[str]:
        yield from self.loaded
        yield from (name for name in self.lazy if name not in self.loaded)

    def __len__(self) -> int:
        return len(self.loaded.keys() | self.lazy.keys())

    def short_help(self, name: str, limit: int = 45) -> str:
        """What `commands[name].get_short_help_str(limit)` says, without importing it."""
        if name in self.loaded:
            return self.loaded[name].get_short_help_str(limit)
        return click.Command(name, help=self.lazy[name].help).get_short_help_str(limit)
