"""Shell completion through click for bash, zsh and fish (README "Shell completion")."""
from __future__ import annotations

import os

import pytest
from conftest import run_process


def complete(words: str, cword: int, shell: str = "bash") -> list[str]:
    env = {**os.environ, "_COHERE_CHAT_COMPLETE": f"{shell}_complete",
           "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    done = run_process([], env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode().splitlines()


def values(words: str, cword: int) -> list[str]:
    return [line.split(",", 1)[1] for line in complete(words, cword)]


def test_subcommands_on_an_empty_line() -> None:
    assert values("cohere-chat ", 1) == ["batch", "config", "help", "models", "send", "stub"]


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


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_script(shell: str) -> None:
    env = {**os.environ, "_COHERE_CHAT_COMPLETE": f"{shell}_source"}
    done = run_process([], env=env)
    assert done.returncode == 0 and b"_COHERE_CHAT_COMPLETE" in done.stdout
