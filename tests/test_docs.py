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
    """The group and each subcommand (the subcommands of a group too, as `batches list`),
    each with a context under the group's settings (`-h` as well as `--help`)."""
    root = click.Context(cli, info_name=PROGRAM, **cli.context_settings)
    found: list[tuple[str, click.Command, click.Context]] = [(PROGRAM, cli, root)]

    def add(group: click.Group, parent: click.Context, path: str) -> None:
        for name in sorted(group.commands):
            command = group.commands[name]
            ctx = click.Context(command, info_name=name, parent=parent)
            found.append((f"{path} {name}".strip(), command, ctx))
            if isinstance(command, click.Group):
                add(command, ctx, f"{path} {name}")

    add(cli, root, "")
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


def command_sections() -> dict[str, str]:
    """The roff source of each `.SS` of COMMANDS, by command (`cohere-chat` for the
    options of the program itself)."""
    parts = re.split(r"^\.SS\s+(.*)$", man_section("COMMANDS"), flags=re.M)
    sections = {}
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        words = roff_text(title).strip('" ').split()
        name = PROGRAM if words[0] == "Options" else words[1].strip("[]")
        sections[name] = body
    return sections


def entries(section: str) -> list[tuple[str, str]]:
    """The `.TP` entries of a man page section, each (its tag, its text) as plain text;
    an entry's text runs to the next `.TP` or `.PP`."""
    found = []
    for block in re.split(r"^\.TP\n", section, flags=re.M)[1:]:
        tag, _, text = block.partition("\n")
        found.append((roff_text(tag), roff_text(re.split(r"^\.PP\b", text, flags=re.M)[0])))
    return found


SECTIONS = command_sections()
ENTRIES = {name: entries(body) for name, body in SECTIONS.items()}


def has_entry(section: str, option: str) -> bool:
    return any(mentions(tag, option) for tag, _ in ENTRIES.get(section, ()))


def documented_where(command: str, option: str) -> str | None:
    """Where the man page's COMMANDS documents `option` of `command`, None if nowhere:
    an entry of its own (`.TP` with the option in its tag) in the command's section; or
    the command's section names it and send's section has its entry ("as for send"); or
    an entry elsewhere that names the command ("taken by send, batch and config"). The
    help option has one entry, under the options of the program itself."""
    section = command.split()[0] if command != PROGRAM else PROGRAM
    if option in ("-h", "--help"):
        return PROGRAM if has_entry(PROGRAM, option) else None
    if has_entry(section, option):
        return section
    if mentions(roff_text(SECTIONS.get(section, "")), option) and has_entry("send", option):
        return "send"
    for name, found in ENTRIES.items():
        if any(mentions(tag, option) and mentions(text, section) for tag, text in found):
            return name
    return None


def test_the_tree_has_commands_and_options() -> None:
    assert {"send", "config", "stub"} <= set(COMMANDS)
    assert {"--stream", "--no-stream", "-m", "--version", "-h"} <= set(ALL)
    assert ("batches list", "--json") in OPTIONS  # a group's subcommands are walked too


@pytest.mark.parametrize(("command", "option"), OPTIONS, ids=[f"{c} {o}" for c, o in OPTIONS])
def test_man_page_documents_option(command: str, option: str) -> None:
    """In the option's own entry, where a reader of the command's section finds it: not
    merely somewhere in the page (an example, another option's text)."""
    assert documented_where(command, option), (
        f"{command} {option}: no entry in its section of COMMANDS in {MAN_PAGE.name}")


def test_the_documentation_check_tells_entries_from_mentions() -> None:
    assert documented_where("batch", "--jobs") == "batch"  # an entry of its own
    assert documented_where("batch", "--temperature") == "send"  # named, as for send
    assert documented_where("config", "--preset") == "send"  # "taken by ... config"
    assert documented_where("models", "--temperature") is None  # in the page, not there
    assert mentions(man_text(), "--temperature")


def code_span_options(text: str) -> list[str]:
    """The options a Markdown text presents: in code spans that begin with one
    (`-k/--top-k N`, `--max-time 600`), not options of other programs in examples."""
    return [option for span in re.findall(r"`(-[^`]*)`", text)
            for option in re.findall(r"(?:^|[\s/])(--?[a-zA-Z][\w-]*)", span)]


@pytest.mark.parametrize("path", [README, ROOT / "docs" / "guide.md"], ids=lambda p: p.name)
def test_every_option_the_readme_and_guide_present_exists(path: Path) -> None:
    """A renamed or removed flag left in the README or the guide fails here."""
    presented = code_span_options(path.read_text(encoding="utf-8"))
    assert presented and sorted(set(presented) - set(ALL)) == []


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
