"""Effective settings: flags, environment, config file profile, default section, built-in.

Each setting remembers where it came from, for `cohere-chat config`. The API key is held
in a `Secret` so that it never shows in a repr, a log line or a traceback.
"""
from __future__ import annotations

import configparser
import ipaddress
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cohere_cli.errors import InputError, UsageError

DEFAULT_BASE_URL = "https://api.cohere.com"
DEFAULT_MODEL = "command-a-plus-05-2026"
DEFAULT_TIMEOUT = 300.0
DEFAULT_RETRIES = 2
DEFAULT_CLIENT_NAME = "cohere-chat"
KEY_VARIABLES = ("CO_API_KEY", "COHERE_API_KEY")


class Secret:
    """A string that will not show itself: repr and str both hide it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(<hidden>)"

    __str__ = __repr__


@dataclass(frozen=True)
class ConfigFlags:
    """The connection flags as given on the command line (None: not given)."""

    api_key_file: str | None = None
    base_url: str | None = None
    profile: str | None = None
    timeout: float | None = None
    retries: int | None = None
    client_name: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class Settings:
    """The effective settings; `sources` names where each came from."""

    base_url: str
    model: str
    timeout: float
    retries: int
    client_name: str
    api_key: Secret | None = field(default=None, repr=False)
    profile: str | None = None
    config_path: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def require_key(self) -> Secret:
        if self.api_key is None:
            raise UsageError(
                "no API key",
                hint="set CO_API_KEY, or use --api-key-file FILE, or api_key_file in the config",
            )
        return self.api_key


def config_path(environ: Mapping[str, str]) -> Path | None:
    """Where the config file is looked for; None when there is no home to look in."""
    if environ.get("COHERE_CHAT_CONFIG"):
        return Path(environ["COHERE_CHAT_CONFIG"])
    if environ.get("XDG_CONFIG_HOME"):
        return Path(environ["XDG_CONFIG_HOME"]) / "cohere-chat" / "config.ini"
    if environ.get("HOME"):
        return Path(environ["HOME"]) / ".config" / "cohere-chat" / "config.ini"
    return None


def _read_config(path: Path | None, explicit: bool) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, default_section="__none__")
    if path is None:
        return parser
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        if explicit:
            raise UsageError(f"config file {path} does not exist (COHERE_CHAT_CONFIG)") from None
        return parser
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot read config: {_reason(exc)}") from None
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise InputError(str(path), f"bad config: {exc.message.splitlines()[0]}") from None
    return parser


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid UTF-8 at byte {exc.start}"
    return str(exc)


def _others_can_read(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False


class _Layers:
    """Looks a key up through flag, environment, profile section, default section."""

    def __init__(self, parser: configparser.ConfigParser, profile: str | None, path: Path | None):
        self.sections: list[tuple[str, Mapping[str, str]]] = []
        if profile:
            name = f"profile {profile}"
            if not parser.has_section(name):
                raise UsageError(f'no profile "{profile}" in {path or "the config file"}')
            self.sections.append((f"{path} [{name}]", parser[name]))
        if parser.has_section("default"):
            self.sections.append((f"{path} [default]", parser["default"]))

    def find(self, key: str) -> tuple[str, str] | None:
        for source, section in self.sections:
            if key in section:
                return section[key], source
        return None


def _pick(
    key: str, flag: object, env: tuple[str, Mapping[str, str]] | None, layers: _Layers
) -> tuple[str | None, str]:
    if flag is not None:
        return str(flag), f"flag --{key.replace('_', '-')}"
    if env is not None:
        name, environ = env
        if environ.get(name):
            return environ[name], f"environment {name}"
    found = layers.find(key)
    if found:
        return found
    return None, "built-in default"


def _number(key: str, value: str | None, source: str, kind: type, default: float) -> float:
    if value is None:
        return default
    try:
        number = kind(value)
    except ValueError:
        raise UsageError(f"{key} must be a number (got {value!r} from {source})") from None
    if number < 0:
        raise UsageError(f"{key} must not be negative (got {value!r} from {source})")
    return number


def _load_key(
    flags: ConfigFlags, environ: Mapping[str, str], layers: _Layers, warnings: list[str]
) -> tuple[Secret | None, str]:
    if flags.api_key_file:
        return _key_from_file(Path(flags.api_key_file), warnings), "flag --api-key-file"
    for name in KEY_VARIABLES:
        if environ.get(name, "").strip():
            return Secret(environ[name].strip()), f"environment {name}"
    for source, section in layers.sections:  # the profile before the default section
        if "api_key_file" in section:
            path = Path(section["api_key_file"]).expanduser()
            return _key_from_file(path, warnings), f"{source} api_key_file"
        if "api_key" in section:
            return Secret(section["api_key"].strip()), f"{source} api_key"
    return None, "not set"


def _key_from_file(path: Path, warnings: list[str]) -> Secret:
    try:
        text = path.read_bytes().decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot read the key file: {_reason(exc)}") from None
    if not text:
        raise InputError(str(path), "the key file is empty")
    if _others_can_read(path):
        warnings.append(f"{path} is readable by other users; chmod 600 it")
    return Secret(text)


def load_settings(flags: ConfigFlags, environ: Mapping[str, str]) -> Settings:
    """Resolve every setting by precedence: flag, environment, profile, default, built-in."""
    path = config_path(environ)
    parser = _read_config(path, explicit=bool(environ.get("COHERE_CHAT_CONFIG")))
    if flags.profile:
        profile, profile_source = flags.profile, "flag --profile"
    elif environ.get("CO_PROFILE"):
        profile, profile_source = environ["CO_PROFILE"], "environment CO_PROFILE"
    else:
        profile, profile_source = None, "none"
    layers = _Layers(parser, profile, path)
    warnings: list[str] = []
    holds_key = any("api_key" in parser[name] for name in parser.sections())
    if path and holds_key and _others_can_read(path):
        warnings.append(f"{path} holds an API key and is readable by other users; chmod 600 it")
    key, key_source = _load_key(flags, environ, layers, warnings)
    picks = {
        "base_url": _pick("base_url", flags.base_url, ("CO_API_URL", environ), layers),
        "model": _pick("model", flags.model, ("CO_MODEL", environ), layers),
        "timeout": _pick("timeout", flags.timeout, None, layers),
        "retries": _pick("retries", flags.retries, None, layers),
        "client_name": _pick("client_name", flags.client_name, None, layers),
    }
    sources = {name: source for name, (_, source) in picks.items()}
    sources.update(api_key=key_source, profile=profile_source)
    return Settings(
        base_url=(picks["base_url"][0] or DEFAULT_BASE_URL).rstrip("/"),
        model=picks["model"][0] or DEFAULT_MODEL,
        timeout=_number("timeout", *picks["timeout"], float, DEFAULT_TIMEOUT),
        retries=int(_number("retries", *picks["retries"], int, DEFAULT_RETRIES)),
        client_name=picks["client_name"][0] or DEFAULT_CLIENT_NAME,
        api_key=key,
        profile=profile,
        config_path=path,
        sources=sources,
        warnings=tuple(warnings),
    )


def is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> None:
    """Refuse a URL the key must not be sent to: only https, or http to a loopback host."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return
    if parts.scheme == "http":
        raise UsageError(
            f"refusing to send the API key over plain http to {parts.hostname}",
            hint="use https, or http only to a loopback host (127.0.0.1, ::1, localhost)",
        )
    raise UsageError(f"bad base URL {url!r}: it must start with https:// or http://")

