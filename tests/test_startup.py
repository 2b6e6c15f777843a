"""Start-up: --help and --version are fast because they load nothing heavy (README
"Performance")."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, invoke, run_process

from cohere_cli import __version__
from cohere_cli.base.errors import ExitCode

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
