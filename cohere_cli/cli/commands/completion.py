"""`completion bash|zsh|fish`: the shell completion script, made by click's own
shell_completion classes (the script calls the program back under an environment
variable of click's; the user never needs to know it). Also the completion of
`--profile` (the config file's profiles) and `--preset` (the presets folder's names),
attached to the options of that name by `complete_names`."""
from __future__ import annotations

import configparser
import os
from collections.abc import Callable
from pathlib import Path

import click
from click.shell_completion import CompletionItem, get_completion_class

from cohere_cli import PROGRAM
from cohere_cli.cli.checked_command import CheckedCommand
from cohere_cli.cli.main import complete_var
from cohere_cli.cli.streams import streams_of
from cohere_cli.settings.config import config_path


@click.command("completion", cls=CheckedCommand)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> int:
    """Print the completion script for SHELL.

    \b
    bash:  eval "$(cohere-chat completion bash)"   (in ~/.bashrc; bash 4.4 or later)
    zsh:   eval "$(cohere-chat completion zsh)"    (in ~/.zshrc)
    fish:  cohere-chat completion fish > ~/.config/fish/completions/cohere-chat.fish
    """
    from cohere_cli.cli.console import Console

    make = get_completion_class(shell)
    assert make is not None  # click knows every SHELL the Choice lets through
    script = make(ctx.find_root().command, {}, PROGRAM, complete_var(PROGRAM)).source()
    console = Console.of(streams_of(ctx))
    console.out(f"{script}\n".encode())
    return console.written()


def profile_names() -> list[str]:
    """The profiles of the config file (`[profile NAME]`), none when it cannot be read:
    completing must never fail."""
    path = config_path(os.environ)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path or [], encoding="utf-8-sig")  # a missing file is no profile
    except (configparser.Error, OSError, UnicodeDecodeError):
        return []
    return sorted(section.split(None, 1)[1] for section in parser.sections()
                  if section.startswith("profile ") and section.split(None, 1)[1:])


def preset_names() -> list[str]:
    """The presets by name: `NAME.json` in $XDG_CONFIG_HOME/cohere-chat/presets."""
    if os.environ.get("XDG_CONFIG_HOME"):
        base = Path(os.environ["XDG_CONFIG_HOME"])
    elif os.environ.get("HOME"):
        base = Path(os.environ["HOME"]) / ".config"
    else:
        return []
    try:
        return sorted(path.stem for path in (base / "cohere-chat" / "presets").glob("*.json"))
    except OSError:
        return []


def _completing(names: Callable[[], list[str]]) -> Callable[..., list[CompletionItem]]:
    """A shell_complete callback: the names found at TAB time that start as typed."""

    def complete(_ctx: click.Context, _param: click.Parameter, incomplete: str
                 ) -> list[CompletionItem]:
        return [CompletionItem(name) for name in names() if name.startswith(incomplete)]

    return complete


NAMES = {"profile": profile_names, "preset": preset_names}


def complete_names(command: click.Command) -> None:
    """Give the command's `--profile` and `--preset` options the completion of their
    names (the options themselves are defined elsewhere); the group does it for each
    command it loads while completing."""
    for param in command.params:
        if param.name in NAMES:  # what click's `shell_complete=` argument sets
            param._custom_shell_complete = _completing(NAMES[param.name])
