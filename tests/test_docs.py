"""The docs keep up with the code: every option and command is in the man page; every
command is in the README, which points to the man page for the options.

The option lists come from the click command tree itself, so a new flag without docs,
or a renamed one, fails here.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cohere_cli.base.errors import ExitCode
from cohere_cli.cli import cli

ROOT = Path(__file__).resolve().parent.parent
MAN_PAGE = ROOT / "man" / "cohere-chat.1"
README = ROOT / "README.md"
PROGRAM = "cohere-chat"
COMMANDS = sorted(cli.commands)


def roff_text(source: str) -> str:
    """Roff source as plain text, near enough to search: `\\-` is `-`, no font escapes."""
    text = source.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\")
    return re.sub(r"\\f(?:[BIRP]|\[[A-Z]*\]|\(..)", "", text)


def man_text() -> str:
    return roff_text(MAN_PAGE.read_text(encoding="utf-8"))


def man_section(name: str) -> str:
    """The roff source of one `.SH` section of the man page (up to the next `.SH`)."""
    source = MAN_PAGE.read_text(encoding="utf-8")
    match = re.search(
        rf'^\.SH\s+"?{re.escape(name)}"?\s*$(.*?)(?=^\.SH\s|\Z)', source, re.M | re.S
    )
    assert match, f"no {name} section in {MAN_PAGE.name}"
    return match.group(1)


def mentions(text: str, option: str) -> bool:
    """Whether `option` occurs as a whole word (`--json` is not in `--json-schema`)."""
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def command_contexts() -> list[tuple[str, click.Command, click.Context]]:
    """The group and each subcommand, each with a context under the group's settings."""
    root = click.Context(cli, info_name=PROGRAM)
    found: list[tuple[str, click.Command, click.Context]] = [(PROGRAM, cli, root)]
    for name in COMMANDS:
        command = cli.commands[name]
        found.append((name, command, click.Context(command, info_name=name, parent=root)))
    return found


def option_names() -> list[tuple[str, str]]:
    """(command, option name) for every option of every command, both forms of a switch."""
    names = []
    for command_name, command, ctx in command_contexts():
        for param in command.get_params(ctx):
            if isinstance(param, click.Option):
                names += [(command_name, opt) for opt in (*param.opts, *param.secondary_opts)]
    return names


OPTIONS = option_names()
ALL = sorted({opt for _, opt in OPTIONS})


def test_the_tree_has_commands_and_options() -> None:
    assert {"send", "config", "stub"} <= set(COMMANDS)
    assert {"--stream", "--no-stream", "-m", "--version"} <= set(ALL)


@pytest.mark.parametrize("option", ALL)
def test_man_page_documents_option(option: str) -> None:
    assert mentions(man_text(), option), f"{option} is not in {MAN_PAGE.name}"


def test_readme_points_to_the_reference_of_every_option() -> None:
    """The README is short: it names the commands and leaves the options to the man page
    (checked above, every one) and the guide."""
    readme = README.read_text(encoding="utf-8")
    assert "`man cohere-chat`" in readme and "(man/cohere-chat.1)" in readme
    assert "`cohere-chat COMMAND --help`" in readme


@pytest.mark.parametrize("name", COMMANDS)
def test_docs_name_command(name: str) -> None:
    headings = re.findall(r"^\.SS\s+(.*)$", man_text(), re.M)
    assert any(mentions(heading, name) for heading in headings), f"no .SS for {name}"
    assert mentions(roff_text(man_section("SYNOPSIS")), name), f"{name} not in SYNOPSIS"
    assert mentions(README.read_text(encoding="utf-8"), f"{PROGRAM} {name}"), f"{name}: README"


@pytest.mark.parametrize("name", [PROGRAM, *COMMANDS])
def test_help(name: str) -> None:
    command = cli if name == PROGRAM else cli.commands[name]
    assert (command.help or "").strip(), f"{name} has no help text"
    args = ["--help"] if name == PROGRAM else [name, "--help"]
    result = CliRunner().invoke(cli, args, prog_name=PROGRAM, catch_exceptions=False)
    assert result.exit_code == 0
    usage = f"{PROGRAM} [send]" if name == PROGRAM else f"{PROGRAM} {name}"
    assert result.stdout.startswith(f"Usage: {usage} [OPTIONS]")
    assert result.stderr == ""


@pytest.mark.parametrize("name", COMMANDS)
def test_commands_are_listed_with_a_summary(name: str) -> None:
    assert cli.commands[name].get_short_help_str().strip()
    result = CliRunner().invoke(cli, ["--help"], prog_name=PROGRAM, catch_exceptions=False)
    assert re.search(rf"^  {name}\s+\S", result.stdout, re.M), f"{name} not in --help"


def test_exit_status_section_lists_every_exit_code() -> None:
    section = man_section("EXIT STATUS")
    documented = {int(n) for n in re.findall(r"^\.TP\n\.B (\d+)$", section, re.M)}
    assert documented == {int(code) for code in ExitCode}


def test_readme_lists_every_exit_code() -> None:
    readme = README.read_text(encoding="utf-8")
    documented = {int(n) for n in re.findall(r"^\| (\d+) \|", readme, re.M)}
    assert documented == {int(code) for code in ExitCode}


@pytest.mark.parametrize("name", [PROGRAM, *COMMANDS])
def test_help_shows_defaults_one_way(name: str) -> None:
    """Every default in `--help` is click's `[default: ...]`, never `(default ...)`."""
    args = ["--help"] if name == PROGRAM else [name, "--help"]
    result = CliRunner().invoke(cli, args, prog_name=PROGRAM, catch_exceptions=False)
    assert not re.search(r"\(default\b", result.stdout), result.stdout


@pytest.mark.parametrize("checker", [["groff", "-man", "-ww", "-z"], ["mandoc", "-Tlint"]],
                         ids=lambda checker: checker[0])
def test_man_page_is_clean(checker: list[str]) -> None:
    if shutil.which(checker[0]) is None:
        pytest.skip(f"{checker[0]} is not installed")
    done = subprocess.run([*checker, str(MAN_PAGE)], capture_output=True, timeout=60,
                          check=False)
    assert (done.returncode, done.stdout + done.stderr) == (0, b"")
