"""Start-up: --help and --version are fast because they load nothing heavy, and each
command imports only what it uses (README "Performance", issue 26)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from conftest import ROOT, invoke, run_process

from cohere_cli import __version__
from cohere_cli.base.errors import ExitCode
from cohere_cli.cli import cli
from cohere_cli.cli.app import COMMANDS
from cohere_cli.stub.server import StubServer

PROBE = """
import sys
from cohere_cli.cli import cli
HEAVY = ("requests", "urllib3", "cohere_cli.wire.api_client", "cohere_cli.stub.server")
for flags in (["--help"], ["--version"], ["send", "--help"], ["batch", "--help"]):
    try:
        cli.main(args=flags, prog_name="cohere-chat")
    except SystemExit:
        pass
    loaded = ",".join(name for name in HEAVY if name in sys.modules)
    print(" ".join(flags), "HEAVY:", loaded, file=sys.stderr)
"""


def test_help_and_version_do_not_import_requests() -> None:
    """One fresh interpreter (what is imported is the point), the four in turn."""
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, cwd=ROOT,
                          timeout=60, check=False)
    lines = [line for line in done.stderr.decode().splitlines() if "HEAVY:" in line]
    assert [line.rsplit("HEAVY:", 1)[1].strip() for line in lines] == [""] * 4, done.stderr


def test_version_line() -> None:
    result = invoke(["--version"])
    assert (result.exit_code, result.stdout, result.stderr) == (
        0, f"cohere-chat {__version__}\n", "")


def test_help_names_send_as_the_default() -> None:
    result = invoke(["--help"])
    assert result.exit_code == 0 and result.stderr == ""
    assert "SEND is the default command" in result.stdout
    for command in ("send", "config", "stub"):
        assert f"  {command} " in result.stdout


@pytest.mark.slow
def test_python_dash_m_runs_the_same_program() -> None:
    done = run_process(["--version"])
    assert done.returncode == 0
    assert done.stdout == f"cohere-chat {__version__}\n".encode()


def test_help_shows_send_as_the_default_in_its_usage_line() -> None:
    lines = invoke(["--help"]).stdout.splitlines()
    assert lines[:2] == ["Usage: cohere-chat [send] [OPTIONS] [PROMPT]...",
                         "       cohere-chat COMMAND [ARGS]..."]


def test_help_ends_with_the_environment_the_config_file_and_the_exit_codes() -> None:
    footer = invoke(["--help"]).stdout.split("\nEnvironment:\n", 1)[1]
    for name in ("CO_API_KEY", "CO_API_URL", "CO_MODEL", "CO_PROFILE", "CO_PRESET",
                 "COHERE_CHAT_LOG", "COHERE_CHAT_DEBUG"):
        assert re.search(rf"^  {name} ", footer, re.M), name
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "cohere-chat" / "config.ini"
    assert f"Config file:\n  {config}\n" in footer
    codes = footer.split("Exit codes:\n", 1)[1]
    assert [int(line.split()[0]) for line in codes.splitlines()] == [int(c) for c in ExitCode]


# What a run imported: the program (or a floor: the least click program, a group with
# --version, -h/--help and one command) in a fresh interpreter, sys.modules written at exit.
IMPORTS = """
import atexit, os, sys
atexit.register(lambda: open(os.environ["IMPORTS_OUT"], "w").write("\\n".join(sys.modules)))
sys.argv = ["cohere-chat", *sys.argv[1:]]
{run}
"""
PROGRAM_RUN = "from cohere_cli.__main__ import main\nmain()"
FLOOR_RUN = """
import click
def version(ctx, _param, value):
    if value:
        click.echo("floor 1"); ctx.exit()
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=version)
def floor():
    \"\"\"A floor.\"\"\"
@floor.command()
def send():
    \"\"\"Send.\"\"\"
floor.main(sys.argv[1:], prog_name="floor")
"""
# `--version` imports click and the group, no command (nor the error types), and `gc` (a
# built-in: __main__ sets the collector's threshold); `--help` the exit codes and the
# config file's path too
GROUP = {"gc", "cohere_cli", "cohere_cli.__main__", "cohere_cli.cli", "cohere_cli.cli.app",
         "cohere_cli.cli.checked_command", "cohere_cli.cli.console", "cohere_cli.cli.exit_status",
         "cohere_cli.cli.group", "cohere_cli.cli.lazy", "cohere_cli.cli.main",
         "cohere_cli.cli.streams"}
HELP = GROUP | {"cohere_cli.base", "cohere_cli.base.errors", "cohere_cli.settings",
                "cohere_cli.settings.paths"}
# what a run of each must never import (a name, or a package and everything under it)
NOT_IN_ANY = ("fastavro", "sqlite3", "cohere_cli.stub", "cohere_cli.cli.commands.stub",
              "cohere_cli.cli.commands.stub_options", "cohere_cli.cli.commands.completion",
              "click.shell_completion", "cohere_cli.cli.commands.presets",
              "cohere_cli.cli.commands.help", "decimal")
# what a plain send uses none of: each is imported by the runs that use it (a preset, a
# config file, -c FILE, --compact, --tool-exec, -x, --show-citations, --max-cost,
# --history-tokens auto or a model's details in the cache)
NOT_IN_PLAIN = ("cohere_cli.settings.presets", "configparser", "difflib",
                "cohere_cli.settings.check", "cohere_cli.conversation.file",
                "cohere_cli.conversation.summary", "cohere_cli.chat.compact",
                "cohere_cli.chat.tools", "subprocess", "cohere_cli.chat.extract",
                "cohere_cli.cli.citations", "cohere_cli.chat.budget", "cohere_cli.chat.context",
                "cohere_cli.chat.model_details", "cohere_cli.chat.token_count",
                "cohere_cli.chat.tokenizer", "cohere_cli.base.cache")
NOT_IN_SEND = (*NOT_IN_ANY, *NOT_IN_PLAIN, "cohere_cli.batch", "cohere_cli.wire.batch_api",
               "cohere_cli.cli.commands.batch", "cohere_cli.cli.commands.batch_flags",
               "cohere_cli.cli.commands.batches", "cohere_cli.cli.batch_report",
               "cohere_cli.cli.commands.info")
NOT_IN_NO_STREAM = (*NOT_IN_SEND, "cohere_cli.wire.sse", "cohere_cli.wire.chat_events",
                    "cohere_cli.wire.hidden_events")
NOT_IN_DRY_RUN = (*NOT_IN_SEND, "requests", "urllib3")
NOT_IN_BATCH = (*NOT_IN_ANY, "cohere_cli.batch.remote", "cohere_cli.wire.batch_api",
                "cohere_cli.cli.commands.send", "cohere_cli.cli.commands.info")
NOT_IN_MODELS = (*NOT_IN_ANY, "cohere_cli.batch", "cohere_cli.chat.request",
                 "cohere_cli.chat.send", "cohere_cli.cli.render", "cohere_cli.cli.commands.send",
                 "cohere_cli.cli.commands.batch", "cohere_cli.cli.commands.batches")


def imported(tmp_path: Path, args: list[str], run: str = PROGRAM_RUN) -> set[str]:
    """The modules a run with ARGS imported (it must succeed)."""
    out = tmp_path / "imports.txt"
    done = subprocess.run([sys.executable, "-c", IMPORTS.format(run=run), *args],
                          capture_output=True, cwd=ROOT, timeout=60, check=False,
                          stdin=subprocess.DEVNULL, env={**os.environ, "IMPORTS_OUT": str(out)})
    assert done.returncode == 0, done.stderr
    return set(out.read_text().split("\n"))


def crept_in(modules: set[str], never: tuple[str, ...]) -> list[str]:
    return sorted(name for name in modules
                  if any(name == bad or name.startswith(f"{bad}.") for bad in never))


@pytest.mark.slow  # processes
@pytest.mark.parametrize(("args", "allowed"), [(["--version"], GROUP), (["--help"], HELP)])
def test_version_and_help_import_click_and_the_group_only(
    tmp_path: Path, args: list[str], allowed: set[str]
) -> None:
    """Beyond what the least click program imports for the same flag: the group's own
    modules, no command (a module that creeps in, or a standard one, fails here)."""
    floor = imported(tmp_path, args, FLOOR_RUN)
    assert sorted(imported(tmp_path, args) - floor - allowed) == []


@pytest.mark.slow  # processes
@pytest.mark.parametrize(("args", "never", "used"), [
    (["--no-stream", "hi"], NOT_IN_NO_STREAM, "requests"),
    (["hi"], NOT_IN_SEND, "cohere_cli.wire.sse"),
    (["--dry-run", "hi"], NOT_IN_DRY_RUN, "cohere_cli.chat.request"),
    (["batch", "-o", "{tmp}/out.jsonl", "{tmp}/in.jsonl"], NOT_IN_BATCH, "cohere_cli.batch.run"),
    (["models"], NOT_IN_MODELS, "cohere_cli.chat.models"),
])
def test_each_command_imports_only_what_it_uses(
    stub: StubServer, tmp_path: Path, args: list[str], never: tuple[str, ...], used: str
) -> None:
    """A send imports no batch, remote, stub, completion or preset-command code, and no
    decimal (no prices); --dry-run no requests either; batch no remote code; models no
    request or reply code. USED shows the probe saw the command run."""
    (tmp_path / "in.jsonl").write_text('{"id": "a", "prompt": "hi"}\n')
    modules = imported(tmp_path, [arg.format(tmp=tmp_path) for arg in args])
    assert used in modules
    assert crept_in(modules, never) == []


@pytest.mark.slow  # a process
def test_decimal_is_imported_when_there_are_prices(stub: StubServer, tmp_path: Path) -> None:
    """The other side of "no decimal": the cost is priced in decimal, with prices only."""
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "cohere-chat" / "config.ini"
    config.parent.mkdir(parents=True)
    config.write_text("[default]\nprice_input = 2.5\nprice_output = 10\n")
    assert "decimal" in imported(tmp_path, ["--usage", "--no-stream", "hi"])


@pytest.mark.slow  # processes
@pytest.mark.parametrize(("setup", "used"), [
    ("preset", "cohere_cli.settings.presets"),
    ("config", "configparser"),
    ("cached details", "cohere_cli.chat.context"),
])
def test_what_a_plain_send_leaves_out_comes_with_its_use(
    stub: StubServer, tmp_path: Path, setup: str, used: str
) -> None:
    """The other side of NOT_IN_PLAIN: a preset, a config file, or a model's details in
    the cache (which an input over the context is refused by) each bring their code."""
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "cohere-chat"
    args = ["--no-stream", "hi"]
    if setup == "preset":
        (config / "presets").mkdir(parents=True)
        (config / "presets" / "terse.json").write_text('{"temperature": 0.1}')
        args = ["--preset", "terse", *args]
    elif setup == "config":
        config.mkdir(parents=True)
        (config / "config.ini").write_text("[default]\ntimeout = 30\n")
    else:
        (Path(os.environ["HOME"]) / ".cache" / "cohere-chat" / "models").mkdir(parents=True)
    modules = imported(tmp_path, args)
    assert "requests" in modules
    assert used in modules


def test_the_group_knows_each_commands_one_line_help() -> None:
    """The help the group shows without importing a command is the command's own: the
    first paragraph of its help, shortened by click the same way at any width."""
    assert sorted(COMMANDS) == sorted(cli.commands)
    for name, lazy in COMMANDS.items():
        command = lazy.load()
        assert command.name == name and command.help is not None
        assert " ".join(command.help.split("\n\n")[0].split()) == lazy.help, name
        known = click.Command(name, help=lazy.help)
        for limit in (20, 45, 60, 74):
            assert known.get_short_help_str(limit) == command.get_short_help_str(limit), name
