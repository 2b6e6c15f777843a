"""Settings precedence, key sources, the `config` command, and the URL guard (README
"Configuration")."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_KEY, invoke

from cohere_cli.base.errors import InputError, UsageError
from cohere_cli.settings.config import ConfigFlags, Settings, load_settings
from cohere_cli.wire.connection import check_base_url

CONFIG = """\
[default]
base_url = https://default.example
model = default-model
timeout = 30

[profile work]
base_url = https://work.example
retries = 5
"""


def write_config(home: Path, text: str, mode: int = 0o600) -> Path:
    path = home / ".config" / "cohere-chat" / "config.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def key(found: Settings) -> str:
    assert found.api_key is not None
    return found.api_key.reveal()


def settings(**flags: Any) -> Settings:
    return load_settings(ConfigFlags(**flags), os.environ)


def test_built_in_defaults_when_nothing_is_set() -> None:
    found = settings()
    assert (found.base_url, found.model, found.timeout, found.retries) == (
        "https://api.cohere.com", "command-a-plus-05-2026", 300.0, 2)
    assert found.api_key is None
    assert found.sources["base_url"] == "built-in default"


def test_precedence_flag_environment_profile_default(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(clean_env, CONFIG)
    assert settings().base_url == "https://default.example"
    assert settings(profile="work").base_url == "https://work.example"
    assert settings(profile="work").model == "default-model"  # falls through to [default]
    assert settings(profile="work").retries == 5
    monkeypatch.setenv("CO_PROFILE", "work")
    assert settings().base_url == "https://work.example"
    monkeypatch.setenv("CO_API_URL", "https://env.example")
    assert settings().base_url == "https://env.example"
    assert settings().sources["base_url"] == "environment CO_API_URL"
    assert settings(base_url="https://flag.example").base_url == "https://flag.example"
    monkeypatch.setenv("CO_MODEL", "env-model")
    assert settings().model == "env-model"


def test_key_sources_in_order(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = clean_env / "key"
    key_file.write_text("from-file\n")
    key_file.chmod(0o600)
    write_config(clean_env, "[default]\napi_key = from-config\n")
    assert key(settings()) == "from-config"
    monkeypatch.setenv("COHERE_API_KEY", "from-cohere-env")
    assert key(settings()) == "from-cohere-env"
    monkeypatch.setenv("CO_API_KEY", "from-co-env")
    assert key(settings()) == "from-co-env"
    found = settings(api_key_file=str(key_file))
    assert key(found) == "from-file"
    assert found.sources["api_key"] == "flag --api-key-file"
    assert "from-file" not in repr(found) and "from-file" not in str(found.api_key)


def test_key_file_from_config_and_readable_warnings(clean_env: Path) -> None:
    key_file = clean_env / "key"
    key_file.write_text(TEST_KEY)
    key_file.chmod(0o644)
    write_config(clean_env, f"[default]\napi_key_file = {key_file}\n", mode=0o644)
    found = settings()
    assert key(found) == TEST_KEY
    assert any("readable by other users" in w and str(key_file) in w for w in found.warnings)
    write_config(clean_env, f"[default]\napi_key = {TEST_KEY}\n", mode=0o644)
    assert any("holds an API key" in w for w in settings().warnings)
    write_config(clean_env, f"[default]\napi_key = {TEST_KEY}\n", mode=0o600)
    assert settings().warnings == ()


def test_bad_config_files(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(clean_env, "[default\nmodel=x\n")
    with pytest.raises(InputError, match=str(path)):
        settings()
    write_config(clean_env, "[default]\ntimeout = soon\n")
    with pytest.raises(UsageError, match="timeout must be a number"):
        settings()
    write_config(clean_env, CONFIG)
    with pytest.raises(UsageError, match='no profile "home"'):
        settings(profile="home")
    monkeypatch.setenv("COHERE_CHAT_CONFIG", str(clean_env / "missing.ini"))
    with pytest.raises(UsageError, match="does not exist"):
        settings()


def test_no_home_means_no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOME")
    monkeypatch.delenv("XDG_CONFIG_HOME")
    found = settings()
    assert found.config_path is None and found.model == "command-a-plus-05-2026"


@pytest.mark.parametrize("url", [
    "https://api.cohere.com", "http://127.0.0.1:8080", "http://127.9.9.9", "http://[::1]:9",
    "http://localhost:1234", "http://api.localhost",
])
def test_allowed_urls(url: str) -> None:
    check_base_url(url)


@pytest.mark.parametrize("url", [
    "http://api.cohere.com", "http://10.0.0.1", "http://192.168.1.1:80", "ftp://x",
    "api.cohere.com",
])
def test_refused_urls(url: str) -> None:
    with pytest.raises(UsageError):
        check_base_url(url)


def test_config_command_shows_sources_never_the_key(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(clean_env, CONFIG)
    monkeypatch.setenv("CO_API_KEY", TEST_KEY)
    result = invoke(["config", "--profile", "work"])
    assert result.exit_code == 0
    assert result.stderr == ""
    assert "api_key = (set, hidden)  # environment CO_API_KEY" in result.stdout
    assert "base_url = https://work.example" in result.stdout
    assert "[profile work]" in result.stdout
    assert "model = default-model" in result.stdout


def test_missing_key_is_a_usage_error_naming_the_variable() -> None:
    result = invoke(["hello"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("cohere-chat: error: no API key")
    assert "CO_API_KEY" in result.stderr


def test_plain_http_to_a_remote_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CO_API_KEY", TEST_KEY)
    result = invoke(["--base-url", "http://example.com", "hello"])
    assert result.exit_code == 2
    assert "refusing to send the API key over plain http to example.com" in result.stderr


def test_a_profile_key_outranks_a_default_key_file(clean_env: Path) -> None:
    key_file = clean_env / "default.key"
    key_file.write_text("from-default-file")
    key_file.chmod(0o600)
    write_config(clean_env, f"[default]\napi_key_file = {key_file}\n\n"
                 "[profile work]\napi_key = from-work-profile\n")
    found = settings(profile="work")
    assert key(found) == "from-work-profile"
    assert found.sources["api_key"].endswith("[profile work] api_key")
    assert key(settings()) == "from-default-file"


def test_config_command_takes_the_connection_flags() -> None:
    result = invoke(["config", "--timeout", "5", "--retries", "0", "--client-name", "cron"])
    assert "timeout = 5  # flag --timeout" in result.stdout
    assert "retries = 0  # flag --retries" in result.stdout
    assert "client_name = cron  # flag --client-name" in result.stdout
