"""Effective settings: flags, environment, config file profile, default section, built-in.

Each setting remembers where it came from, for `cohere-chat config`. Numbers and URLs are
checked by the same rules (values.py) as the flags that set them. The API key is held in
a `Secret` (secret.py), read (from its file) and checked only when a request is about to
be sent. `Settings.connection` hands the wire what it needs, as a `wire.Connection`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from cohere_cli.base import values
from cohere_cli.base.errors import InputError, UsageError
from cohere_cli.base.secret import KEY_VARIABLES, Secret
from cohere_cli.chat.usage import Prices
from cohere_cli.settings.access import Access, load_access
from cohere_cli.settings.config_file import (
    Sections,
    from_config,
    key_file,
    others_can_read,
    read_config,
    setting_path,
)
from cohere_cli.settings.names import flag_name
from cohere_cli.settings.paths import config_file
from cohere_cli.wire.connection import DEFAULT_MAX_WAIT, DEFAULT_POOL_SIZE, Connection

if TYPE_CHECKING:
    from cohere_cli.settings.presets import Preset

DEFAULT_BASE_URL = "https://api.cohere.com"
DEFAULT_MODEL = "command-a-plus-05-2026"
DEFAULT_TIMEOUT = 300.0
DEFAULT_RETRIES = 2
DEFAULT_CLIENT_NAME = "cohere-chat"
T = TypeVar("T")


@dataclass(frozen=True, eq=False)  # never compared: no __eq__ to compile
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
    compact: bool | None = None
    compact_prompt: str | None = None
    compact_model: str | None = None
    max_time: float | None = None
    max_cost: float | None = None
    log: str | None = None
    preset: str | None = None
    no_auth: bool | None = None
    headers: tuple[tuple[str, str], ...] = ()  # --header, each checked (values.header_line)
    insecure_http: bool | None = None


@dataclass(frozen=True, eq=False)  # never compared: no __eq__ to compile
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
    compact: bool = False  # --compact: fold what the window leaves out into a summary
    compact_prompt: str | None = None  # None: the built-in instruction
    compact_model: str | None = None  # None: the request's model
    max_time: float | None = None  # --max-time; None: no limit
    max_cost: float | None = None  # --max-cost USD; None: no budget
    log: Path | None = None  # the run log; None: none
    price_input: float | None = None  # USD per million billed tokens
    price_output: float | None = None
    preset: Preset | None = None  # --preset, CO_PRESET or the config's `preset`
    access: Access = field(default_factory=Access)  # --no-auth, --header, --insecure-http
    preset_problem: str | None = None  # why it cannot be used (load_settings report_preset)

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
            timeout_name=flag_name("timeout"), auth=self.access.auth,
            headers=self.access.headers, insecure_http=self.access.insecure_http,
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
    found = config_file(environ)
    return None if found is None else Path(found)


class _Layers:
    """Looks a key up through flag, environment, profile section, default section."""

    def __init__(self, parsed: Sections, profile: str | None, path: Path | None):
        self.sections: list[tuple[str, Mapping[str, str]]] = []
        if profile:
            name = f"profile {profile}"
            if name not in parsed:
                names = [s[8:] for s in parsed if s.startswith("profile ")]
                raise UsageError(f'no profile "{profile}" in {path or "the config file"}',
                                 hint=f"the profiles: {', '.join(names)}" if names
                                 else "there are no [profile NAME] sections")
            self.sections.append((f"{path} [{name}]", parsed[name]))
        if "default" in parsed:
            self.sections.append((f"{path} [default]", parsed["default"]))

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


def _load_key(
    flags: ConfigFlags, environ: Mapping[str, str], layers: _Layers, config_dir: Path | None,
    warnings: list[str],
) -> tuple[Secret | None, str]:
    """Where the key comes from (the file is not read yet). A relative `api_key_file` in
    the config is taken from the config file's folder; on the flag, from the current one."""
    if flags.api_key_file:
        where = "flag --api-key-file"
        path = setting_path("api_key_file", flags.api_key_file, where, config_dir)
        return key_file(path, where, warnings), where
    for name in KEY_VARIABLES:
        if environ.get(name, "").strip():
            where = f"environment {name}"
            return Secret(environ[name].strip(), where), where
    for source, section in layers.sections:  # the profile before the default section
        if "api_key_file" in section:
            where = f"{source} api_key_file"
            path = setting_path("api_key_file", section["api_key_file"], source, config_dir)
            return key_file(path, where, warnings), where
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
    flags: ConfigFlags, environ: Mapping[str, str], layers: _Layers, config_dir: Path | None,
    load: bool, report: bool,
) -> tuple[Preset | None, str, str | None]:
    """The preset (--preset, CO_PRESET, the config's `preset`), loaded when `load`, where
    it came from, and (with `report`, for `config`) the problem that keeps it from being
    used instead of the error. A PATH in the config is taken from the config file's
    folder, as `log` is."""
    name, source = _pick("preset", flags.preset, ("CO_PRESET", environ), layers)
    if not isinstance(name, str) or not name.strip():
        return None, "none", None
    try:
        value = _checked("preset", (name.strip(), source), values.path_text, "")
        base = config_dir if from_config(source) else None
        if not load:
            return None, source, None
        from cohere_cli.settings.presets import load_preset  # only with a preset

        return load_preset(value, environ, base), source, None
    except (InputError, UsageError) as error:
        if not report:
            raise
        return None, source, error.message


def load_settings(
    flags: ConfigFlags, environ: Mapping[str, str], with_preset: bool = True,
    report_preset: bool = False,
) -> Settings:
    """Resolve every setting by precedence: flag, preset, environment, profile, default,
    built-in. `with_preset`: load the preset (commands that send; not `models`);
    `report_preset`: a preset that cannot be used is `preset_problem`, not an error."""
    path = config_path(environ)
    warnings: list[str] = []
    parsed, state = read_config(path, bool(environ.get("COHERE_CHAT_CONFIG")), warnings)
    profile, profile_source = _profile(flags, environ)
    layers = _Layers(parsed, profile, path)
    holds_key = any("api_key" in section for section in parsed.values())
    holds_headers = any("headers" in section for section in parsed.values())
    if path and (holds_key or holds_headers) and others_can_read(path):
        secret = "an API key" if holds_key else "headers (their values are secrets)"
        warnings.append(f"{path} holds {secret} and is readable by other users; chmod 600 it")
    config_dir = path.parent if path is not None else None
    key, key_source = _load_key(flags, environ, layers, config_dir, warnings)
    preset, preset_source, preset_problem = _preset(flags, environ, layers, config_dir,
                                                    with_preset, report_preset)
    access = load_access(flags.no_auth, flags.headers, flags.insecure_http, environ,
                         layers.find, key_source if key else None, warnings)
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
        "compact": _pick("compact", flags.compact, None, layers, in_preset),
        "compact_prompt": _pick("compact_prompt", flags.compact_prompt, None, layers, in_preset),
        "compact_model": _pick("compact_model", flags.compact_model, None, layers, in_preset),
        "max_time": _pick("max_time", flags.max_time, None, layers, in_preset),
        "max_cost": _pick("max_cost", flags.max_cost, None, layers),
        "log": _pick("log", flags.log, ("COHERE_CHAT_LOG", environ), layers),
        "price_input": _pick("price_input", None, None, layers),
        "price_output": _pick("price_output", None, None, layers),
    }
    sources = {name: source for name, (_, source) in picks.items()}
    sources.update(api_key=key_source, profile=profile_source, preset=preset_source,
                   **access.sources)
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
        compact=_checked("compact", picks["compact"], values.boolean, False),
        compact_prompt=_checked("compact_prompt", picks["compact_prompt"], values.some_text,
                                None),
        compact_model=_checked("compact_model", picks["compact_model"], values.some_text, None),
        max_time=_checked("max_time", picks["max_time"], values.positive_seconds, None),
        max_cost=_checked("max_cost", picks["max_cost"], values.cost, None),
        log=_log_path(picks["log"], config_dir),
        **_prices(picks["price_input"], picks["price_output"]),
        preset=preset,
        access=access,
        preset_problem=preset_problem,
    )


def _log_path(picked: tuple[object, str], config_dir: Path | None) -> Path | None:
    """The run log's path (see `setting_path`)."""
    text = _checked("log", picked, values.path_text, None)
    return None if text is None else setting_path("log", text, picked[1], config_dir)


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

