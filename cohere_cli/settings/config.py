"""Effective settings: flags, environment, config file profile, default section, built-in.

Each setting remembers where it came from, for `cohere-chat config`. Numbers and URLs are
checked by the same rules (values.py) as the flags that set them. The API key is held in
a `Secret` (secret.py), read (from its file) and checked only when a request is about to
be sent. `Settings.connection` hands the wire what it needs, as a `wire.Connection`.
"""
from __future__ import annotations

import configparser
import stat
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from cohere_cli.base import values
from cohere_cli.base.errors import InputError, UsageError
from cohere_cli.base.files import read_stream
from cohere_cli.base.secret import KEY_VARIABLES, MAX_KEY_FILE_BYTES, Secret
from cohere_cli.chat.usage import Prices
from cohere_cli.settings.check import error_line, error_text, unknown_names
from cohere_cli.settings.names import flag_name
from cohere_cli.settings.presets import Preset, load_preset
from cohere_cli.wire.connection import DEFAULT_MAX_WAIT, DEFAULT_POOL_SIZE, Connection

DEFAULT_BASE_URL = "https://api.cohere.com"
DEFAULT_MODEL = "command-a-plus-05-2026"
DEFAULT_TIMEOUT = 300.0
DEFAULT_RETRIES = 2
DEFAULT_CLIENT_NAME = "cohere-chat"
MAX_CONFIG_BYTES = 1 << 20
T = TypeVar("T")


@dataclass(frozen=True)
class ConfigFlags:
    """Every flag a setting comes from, as given on the command line (None: not given).
    The face makes it one way: from the parsed flags, by field name (cli/flags.py)."""

    api_key_file: str | None = None
    base_url: str | None = None
    profile: str | None = None
    timeout: float | None = None
    retries: int | None = None
    client_name: str | None = None
    model: str | None = None
    history_turns: int | None = None
    history_tokens: int | str | None = None  # a number, or "auto"
    fit: bool | None = None
    max_time: float | None = None
    max_cost: float | None = None
    log: str | None = None
    preset: str | None = None


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
    config_state: str = "not found"  # "exists", "not found", or "unreadable (REASON)"
    sources: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    history_turns: int | None = None  # None: the whole history
    history_tokens: int | str | None = None  # None: no token budget; "auto": the model's
    fit: bool = False
    max_time: float | None = None  # --max-time; None: no limit
    max_cost: float | None = None  # --max-cost USD; None: no budget
    log: Path | None = None  # the run log; None: none
    price_input: float | None = None  # USD per million billed tokens
    price_output: float | None = None
    preset: Preset | None = None  # --preset, CO_PRESET or the config's `preset`

    @property
    def prices(self) -> Prices | None:
        """The prices (both keys, or neither: load_settings checks) for cost_usd."""
        if self.price_input is None or self.price_output is None:
            return None
        return Prices(self.price_input, self.price_output)

    def connection(
        self, max_wait: float = DEFAULT_MAX_WAIT, ca_bundle: str | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> Connection:
        """What the wire needs to reach the API, with the options that are not settings.
        Nothing is checked yet: the client checks the URL and reads the key when it opens."""
        return Connection(
            base_url=self.base_url, key=self.api_key or _NoKey(), timeout=self.timeout,
            retries=self.retries, client_name=self.client_name, max_wait=max_wait,
            ca_bundle=ca_bundle, pool_size=pool_size,
            base_url_source=self.sources.get("base_url", "built-in default"),
            timeout_name=flag_name("timeout"),
        )


class _NoKey:
    """No key anywhere: asking for it is the usage error that says where to set one."""

    def reveal(self) -> str:
        raise UsageError(
            "no API key",
            hint="set CO_API_KEY, or use --api-key-file FILE, or api_key_file in the config; "
                 "to try it offline: cohere-chat stub",
        )


def config_path(environ: Mapping[str, str]) -> Path | None:
    """Where the config file is looked for; None when there is no home to look in."""
    if environ.get("COHERE_CHAT_CONFIG"):
        return Path(environ["COHERE_CHAT_CONFIG"])
    if environ.get("XDG_CONFIG_HOME"):
        return Path(environ["XDG_CONFIG_HOME"]) / "cohere-chat" / "config.ini"
    if environ.get("HOME"):
        return Path(environ["HOME"]) / ".config" / "cohere-chat" / "config.ini"
    return None


def _read_config(
    path: Path | None, explicit: bool, warnings: list[str]
) -> tuple[configparser.ConfigParser, str]:
    """The parsed config and its state. A config file at the usual place that cannot be
    opened (XDG_CONFIG_HOME is a file, HOME is unreadable) is skipped with a warning;
    one named by COHERE_CHAT_CONFIG must be read. A broken file is always an error."""
    parser = configparser.ConfigParser(interpolation=None, default_section="__none__")
    if path is None:
        return parser, "not found"
    try:
        with open(path, "rb") as handle:
            data = read_stream(handle, str(path), MAX_CONFIG_BYTES, "too big for a config file")
    except FileNotFoundError:
        if explicit:
            raise UsageError(f"config file {path} does not exist (COHERE_CHAT_CONFIG)") from None
        return parser, "not found"
    except OSError as exc:
        if explicit:
            raise InputError(str(path), f"cannot read config: {_reason(exc)}") from None
        warnings.append(f"cannot read the config file {path} ({_reason(exc)}); "
                        "going on without one")
        return parser, f"unreadable ({_reason(exc)})"
    try:
        parser.read_string(data.decode("utf-8-sig"), source=str(path))  # a BOM is dropped
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"cannot read config: {_reason(exc)}") from None
    except configparser.Error as exc:
        raise InputError(str(path), f"bad config: {error_text(exc)}",
                         error_line(exc)) from None
    warnings.extend(unknown_names(data.decode("utf-8-sig"), str(path)))
    return parser, "exists"


def _reason(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid UTF-8 at byte {exc.start}"
    return exc.strerror or type(exc).__name__


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
                names = [s[8:] for s in parser.sections() if s.startswith("profile ")]
                raise UsageError(f'no profile "{profile}" in {path or "the config file"}',
                                 hint=f"the profiles: {', '.join(names)}" if names
                                 else "there are no [profile NAME] sections")
            self.sections.append((f"{path} [{name}]", parser[name]))
        if parser.has_section("default"):
            self.sections.append((f"{path} [default]", parser["default"]))

    def find(self, key: str) -> tuple[str, str] | None:
        for source, section in self.sections:
            if key in section:
                return section[key], source
        return None


def _environment(name: str, environ: Mapping[str, str]) -> str:
    """An environment variable's text; bytes that are not UTF-8 are bad input (exit 3)."""
    text = environ[name]
    if values.has_bad_utf8(text):
        raise InputError(f"environment {name}", "not valid UTF-8")
    return text


def _pick(
    key: str, flag: object, env: tuple[str, Mapping[str, str]] | None, layers: _Layers,
    preset: tuple[Mapping[str, object], str] | None = None,
) -> tuple[object, str]:
    """The value (typed when a flag or a preset gave it, text otherwise) and where it
    came from. A preset ranks below the flags and above the environment and config."""
    if flag is not None:
        return flag, f"flag {flag_name(key)}"
    if preset and key in preset[0]:
        return preset[0][key], preset[1]
    if env is not None:
        name, environ = env
        if environ.get(name):
            return _environment(name, environ), f"environment {name}"
    found = layers.find(key)
    if found:
        return found
    return None, "built-in default"


def _checked(
    key: str, picked: tuple[object, str], rule: Callable[[str], T], default: T,
    message: str = "{key} {problem} (got {value!r} from {source})",
) -> T:
    """A picked value by its rule: text from the environment or the config is checked
    here; a flag's value was checked (and typed) by its click type already."""
    value, source = picked
    if value is None:
        return default
    if not isinstance(value, str):
        return value  # type: ignore[return-value]  # typed by the flag's click type
    try:
        return rule(value)
    except values.ValueProblem as problem:
        raise UsageError(message.format(key=key, problem=problem, value=value,
                                        source=source)) from None


def _key_file(path: Path, where: str, warnings: list[str]) -> Secret:
    """A key file, read when the key is needed. A regular file that holds a key and that
    others can read is warned about now (a missing one is not an error yet)."""
    with suppress(OSError):
        if path.is_file() and _others_can_read(path):  # never opens a pipe here
            with open(path, "rb") as handle:
                if handle.read(MAX_KEY_FILE_BYTES).strip():
                    warnings.append(f"{path} is readable by other users; chmod 600 it")
    return Secret(where=f"{path} ({where})", path=path)


def _load_key(
    flags: ConfigFlags, environ: Mapping[str, str], layers: _Layers, config_dir: Path | None,
    warnings: list[str],
) -> tuple[Secret | None, str]:
    """Where the key comes from (the file is not read yet). A relative `api_key_file` in
    the config is taken from the config file's folder; on the flag, from the current one."""
    if flags.api_key_file:
        where = "flag --api-key-file"
        return _key_file(Path(flags.api_key_file), where, warnings), where
    for name in KEY_VARIABLES:
        if environ.get(name, "").strip():
            where = f"environment {name}"
            return Secret(environ[name].strip(), where), where
    for source, section in layers.sections:  # the profile before the default section
        if "api_key_file" in section:
            path = Path(section["api_key_file"]).expanduser()
            if config_dir is not None and not path.is_absolute():
                path = config_dir / path
            where = f"{source} api_key_file"
            return _key_file(path, where, warnings), where
        if "api_key" in section:
            where = f"{source} api_key"
            return Secret(section["api_key"].strip(), where), where
    return None, "not set"


def _profile(flags: ConfigFlags, environ: Mapping[str, str]) -> tuple[str | None, str]:
    if flags.profile:
        return flags.profile, "flag --profile"
    if environ.get("CO_PROFILE"):
        return _environment("CO_PROFILE", environ), "environment CO_PROFILE"
    return None, "none"


def _preset(
    flags: ConfigFlags, environ: Mapping[str, str], layers: _Layers, load: bool
) -> tuple[Preset | None, str]:
    """The preset (--preset, CO_PRESET, the config's `preset`), loaded when `load`."""
    name, source = _pick("preset", flags.preset, ("CO_PRESET", environ), layers)
    if not isinstance(name, str) or not name.strip():
        return None, "none"
    return (load_preset(name.strip(), environ) if load else None), source


def load_settings(
    flags: ConfigFlags, environ: Mapping[str, str], with_preset: bool = True
) -> Settings:
    """Resolve every setting by precedence: flag, preset, environment, profile, default,
    built-in. `with_preset`: load the preset (commands that send; not `models`)."""
    path = config_path(environ)
    warnings: list[str] = []
    parser, state = _read_config(path, bool(environ.get("COHERE_CHAT_CONFIG")), warnings)
    profile, profile_source = _profile(flags, environ)
    layers = _Layers(parser, profile, path)
    holds_key = any("api_key" in parser[name] for name in parser.sections())
    if path and holds_key and _others_can_read(path):
        warnings.append(f"{path} holds an API key and is readable by other users; chmod 600 it")
    config_dir = path.parent if path is not None else None
    key, key_source = _load_key(flags, environ, layers, config_dir, warnings)
    preset, preset_source = _preset(flags, environ, layers, with_preset)
    in_preset = (preset.settings, f"preset {preset.name}") if preset else None
    picks = {
        "base_url": _pick("base_url", flags.base_url, ("CO_API_URL", environ), layers),
        "model": _pick("model", flags.model, ("CO_MODEL", environ), layers,
                       (preset.fields, f"preset {preset.name}") if preset else None),
        "timeout": _pick("timeout", flags.timeout, None, layers),
        "retries": _pick("retries", flags.retries, None, layers),
        "client_name": _pick("client_name", flags.client_name, None, layers),
        "history_turns": _pick("history_turns", flags.history_turns, None, layers, in_preset),
        "history_tokens": _pick("history_tokens", flags.history_tokens, None, layers, in_preset),
        "fit": _pick("fit", flags.fit, None, layers, in_preset),
        "max_time": _pick("max_time", flags.max_time, None, layers, in_preset),
        "max_cost": _pick("max_cost", flags.max_cost, None, layers),
        "log": _pick("log", flags.log, ("COHERE_CHAT_LOG", environ), layers),
        "price_input": _pick("price_input", None, None, layers),
        "price_output": _pick("price_output", None, None, layers),
    }
    sources = {name: source for name, (_, source) in picks.items()}
    sources.update(api_key=key_source, profile=profile_source, preset=preset_source)
    return Settings(
        base_url=_checked("base_url", picks["base_url"], values.base_url, DEFAULT_BASE_URL,
                          "bad base URL {value!r} from {source}: it {problem}"),
        model=_checked("model", picks["model"], str, DEFAULT_MODEL),
        timeout=_checked("timeout", picks["timeout"], values.positive_seconds, DEFAULT_TIMEOUT),
        retries=_checked("retries", picks["retries"], values.retries, DEFAULT_RETRIES),
        client_name=_checked("client_name", picks["client_name"], values.header_text,
                             DEFAULT_CLIENT_NAME),
        api_key=key,
        profile=profile,
        config_path=path,
        config_state=state,
        sources=sources,
        warnings=tuple(warnings),
        history_turns=_checked("history_turns", picks["history_turns"], values.history_turns,
                               None),
        history_tokens=_checked("history_tokens", picks["history_tokens"],
                                values.history_tokens, None),
        fit=_checked("fit", picks["fit"], values.boolean, False),
        max_time=_checked("max_time", picks["max_time"], values.positive_seconds, None),
        max_cost=_checked("max_cost", picks["max_cost"], values.cost, None),
        log=_log_path(picks["log"], config_dir),
        **_prices(picks["price_input"], picks["price_output"]),
        preset=preset,
    )


def _log_path(picked: tuple[object, str], config_dir: Path | None) -> Path | None:
    """The run log's path. A relative `log` in the config file is taken from the config
    file's folder (as `api_key_file` is); from a flag or the environment, as given."""
    text = _checked("log", picked, values.path_text, None)
    if text is None:
        return None
    from_config = not picked[1].startswith(("flag", "environment"))
    path = Path(text).expanduser() if from_config else Path(text)
    return config_dir / path if from_config and config_dir and not path.is_absolute() else path


def _prices(
    price_input: tuple[object, str], price_output: tuple[object, str]
) -> dict[str, float | None]:
    """price_input and price_output, both or neither (a cost from one would be wrong)."""
    found = {"price_input": _checked("price_input", price_input, values.price, None),
             "price_output": _checked("price_output", price_output, values.price, None)}
    if (found["price_input"] is None) != (found["price_output"] is None):
        given = "price_input" if found["price_input"] is not None else "price_output"
        source = (price_input if given == "price_input" else price_output)[1]
        raise UsageError(f"{given} is set ({source}) but not the other price",
                         hint="set both price_input and price_output, or neither")
    return found

