"""What a refused command line says (issue 25 cases 12, 13, 17): click's usage errors with
their lines kept and their sentences clean, a base URL that already ends in an API path
refused before anything is sent (naming where it came from), HTTP hints that suspect the
model only when the command names one, and a command word followed by words told how to
send it as a prompt."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import invoke

from cohere_cli.stub.server import StubServer

# --- 12. usage errors keep their lines -------------------------------------------------


def test_a_group_without_its_command_prints_its_help_on_stderr() -> None:
    result = invoke(["batches"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == invoke(["batches", "--help"]).stdout  # lines, not "\n"


def test_a_missing_choice_lists_the_choices_one_a_line() -> None:
    result = invoke(["completion"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "cohere-chat: error: Missing argument '{bash|zsh|fish}'. Choose from:",
        "  bash,", "  zsh,", "  fish",
        "cohere-chat: see 'cohere-chat completion --help'",
    ]


@pytest.mark.parametrize(("args", "line"), [
    (["-T"], "No such option '-T'; see 'cohere-chat send --help'"),
    (["batch", "-j", "0"], "Invalid value for '-j' / '--jobs': 0 is not in the range "
                           "1<=x<=256; see 'cohere-chat batch --help'"),
])
def test_a_one_line_usage_error_reads_cleanly(args: list[str], line: str) -> None:
    result = invoke(args)
    assert (result.exit_code, result.stderr) == (2, f"cohere-chat: error: {line}\n")


def test_a_control_character_in_a_usage_error_stays_escaped() -> None:
    result = invoke(["completion", "ba\x1b[2Jsh\nfake"])
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr and "ba\\x1b[2Jsh" in result.stderr


# --- 13. a base URL that ends in an API path ---------------------------------------------

API_PATHS = ["/v1", "/v2", "/v2/", "/v2/chat", "/v2/chat/", "/v1/chat", "/proxy/V2"]


@pytest.mark.parametrize("path", API_PATHS)
def test_a_base_url_ending_in_an_api_path_is_refused_before_sending(
    stub: StubServer, path: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{stub.url}{path}"
    root = stub.url + ("/proxy" if path.startswith("/proxy") else "")
    flag = invoke(["--base-url", url, "--no-stream", "hi"])
    assert flag.exit_code == 2
    assert f"Invalid value for '--base-url': bad base URL {url!r}: it must not end in" in (
        flag.stderr)
    assert f"(give {root})" in flag.stderr
    monkeypatch.setenv("CO_API_URL", url)
    for args in (["--no-stream", "hi"], ["models"], ["batches", "list"]):
        env = invoke(args)
        assert env.exit_code == 2, args
        assert f"bad base URL {url!r} from environment CO_API_URL: it must not end in" in (
            env.stderr)
    monkeypatch.delenv("CO_API_URL")
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "cohere-chat" / "config.ini"
    config.parent.mkdir(parents=True)
    config.write_text(f"[default]\nbase_url = {url}\n")
    configured = invoke(["--no-stream", "hi"])
    assert configured.exit_code == 2
    assert f"from {config} [default]: it must not end in" in configured.stderr
    assert stub.requests == []


def test_a_base_url_with_another_path_is_used(stub: StubServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CO_API_URL", f"{stub.url}/v2x/v1beta")
    result = invoke(["--no-stream", "hi"])
    assert result.exit_code == 5  # sent: the stub has no such route
    assert [request.path for request in stub.requests] == ["/v2x/v1beta/v2/chat"]


@pytest.mark.parametrize(("args", "hint"), [
    (["--no-stream", "hi"], "check the model name (cohere-chat models) and the base URL"),
    (["models"], "check the base URL"),
    (["batches", "show", "b1"], "check the batch ID b1 (cohere-chat batches list shows the "
                                "account's batches) and the base URL"),
])
def test_a_404_suspects_the_model_only_when_the_command_names_one(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch, args: list[str], hint: str
) -> None:
    url = f"{stub.url}/proxy"
    monkeypatch.setenv("CO_API_URL", url)
    result = invoke(args)
    line = result.stderr.splitlines()[0]
    assert "HTTP 404" in line
    assert line.endswith(f"{hint} {url} (from environment CO_API_URL)"), line
    assert "/v2" not in line.split(";", 1)[1]


# --- 17. a command word followed by words --------------------------------------------------

@pytest.mark.parametrize("words", [
    "help me write a haiku", "models are cool", "help me", "batches are great",
    "presets are nice", "completion please", "config me",
])
def test_a_command_word_followed_by_words_is_told_how_to_send_it(
    stub: StubServer, words: str
) -> None:
    result = invoke(words.split(), stdin=b"some input\n")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.endswith(f"; to send it as a prompt: cohere-chat send {words}\n")
    assert result.stderr.count("\n") == 1
    assert stub.requests == []
    sent = invoke(["send", *words.split()])
    assert (sent.exit_code, sent.stdout) == (0, f"echo: {words}\n")


def test_the_hint_quotes_the_words_for_the_shell_and_a_mistyped_command_gets_them_too(
    stub: Any,
) -> None:
    result = invoke(["help", "what's", "up"])
    assert result.stderr.endswith("cohere-chat send help 'what'\"'\"'s' up\n")
    mistyped = invoke(["bacth", "prompts", "please"])
    assert mistyped.stderr.endswith("; to send it as a prompt: cohere-chat send bacth prompts "
                                    "please\n")


def test_a_command_with_options_keeps_its_own_usage_error(stub: Any) -> None:
    result = invoke(["models", "--jsn"])
    assert result.exit_code == 2
    assert result.stderr.endswith("; see 'cohere-chat models --help'\n")
    assert "to send it as a prompt" not in result.stderr
