"""Shell completion through click for bash, zsh and fish (`cohere-chat completion SHELL`)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import invoke

from cohere_cli.cli import cli


def complete(words: str, cword: int, shell: str = "bash") -> list[str]:
    """What click's completion answers for the line `words` (in-process: the same code a
    shell's completion function runs through `cohere-chat`; one real bash at the end)."""
    env: dict[str, str | None] = {"_COHERE_CHAT_COMPLETE": f"{shell}_complete",
                                  "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    result = invoke([], env=env)
    assert result.exit_code == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def values(words: str, cword: int) -> list[str]:
    return [line.split(",", 1)[1] for line in complete(words, cword)]


def test_subcommands_on_an_empty_line() -> None:
    assert values("cohere-chat ", 1) == ["batch", "batches", "completion", "config", "help",
                                         "models", "presets", "send", "stub", "tokens"]


def test_send_options_at_the_top_level_as_send_is_the_default() -> None:
    assert "--format" in values("cohere-chat --for", 1)
    assert "--system" in values("cohere-chat --sys", 1)
    assert values("cohere-chat batch --unor", 2) == ["--unordered"]


@pytest.mark.parametrize(("option", "choices"), [
    ("--format", ["text", "json", "message", "events"]),
    ("--safety-mode", ["contextual", "strict", "off"]),
    ("--input", ["text", "jsonl", "json"]),
])
def test_choice_values(option: str, choices: list[str]) -> None:
    assert values(f"cohere-chat {option} ", 2) == choices


def test_file_options_complete_files() -> None:
    assert complete("cohere-chat --system-file ", 2) == ["file,"]
    assert complete("cohere-chat -c ", 2) == ["file,"]


@pytest.mark.parametrize(("shell", "start"), [("bash", b"_cohere_chat_completion() {"),
                                               ("zsh", b"#compdef cohere-chat"),
                                               ("fish", b"function _cohere_chat_completion")])
def test_the_completion_command_prints_each_shells_script(shell: str, start: bytes) -> None:
    result = invoke(["completion", shell])
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout_bytes.startswith(start) and "cohere-chat" in result.stdout


def test_an_unknown_shell_is_a_usage_error() -> None:
    result = invoke(["completion", "tcsh"])
    assert result.exit_code == 2 and "tcsh" in result.stderr


def write_profiles_and_presets() -> None:
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "cohere-chat"
    (config / "presets").mkdir(parents=True)
    (config / "config.ini").write_text(
        "[default]\nmodel = m\n[profile work]\n[profile local]\n[profile lab]\n")
    for name in ("triage", "terse"):
        (config / "presets" / f"{name}.json").write_text("{}")


def test_profile_names_complete() -> None:
    write_profiles_and_presets()
    assert values("cohere-chat --profile l", 2) == ["lab", "local"]
    assert values("cohere-chat batch --profile ", 3) == ["lab", "local", "work"]


def test_preset_names_complete() -> None:
    if not any(param.name == "preset" for param in cli.commands["send"].params):
        pytest.skip("no --preset option yet")
    write_profiles_and_presets()
    assert values("cohere-chat --preset t", 2) == ["terse", "triage"]
    assert values("cohere-chat batch --preset te", 3) == ["terse"]


def test_a_broken_config_completes_no_profile() -> None:
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "cohere-chat"
    config.mkdir(parents=True)
    (config / "config.ini").write_text("not a section\n")
    assert complete("cohere-chat --profile ", 2) == []


BASH_SESSION = """
set -e
source <(cohere-chat completion bash)
show() {  # complete the line "$@" (the last word unfinished), as TAB would
  COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=()
  _cohere_chat_completion cohere-chat
  echo "${COMPREPLY[*]}"
}
show cohere-chat co
show cohere-chat --temp
show cohere-chat --profile w
show cohere-chat batch --profile l
"""


@pytest.mark.slow  # a real bash running the installed program
def test_a_real_bash_completes_commands_options_and_profiles() -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "cohere-chat").exists():
        pytest.skip(f"cohere-chat is not installed beside {sys.executable} (make test has it)")
    write_profiles_and_presets()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", BASH_SESSION], env=env,
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == [
        "completion config", "--temperature", "work", "lab local"]
