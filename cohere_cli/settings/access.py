"""How the requests get in (README "Configuration", guide "Other endpoints"): the key as
a Bearer token or none (`--no-auth`, config `auth = none`, `CO_NO_AUTH=1`), the custom
headers (`--header`, config `headers`), and whether those may go over plain http
(`--insecure-http`, config `insecure_http`).

A header's value is a secret, as the key is: no message here names one. The headers of
the flags and of the config add up; a flag's header replaces the config's of that name.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cohere_cli.base import values
from cohere_cli.base.errors import InputError, UsageError
from cohere_cli.settings.names import flag_name

Find = Callable[[str], "tuple[str, str] | None"]  # a config key's value and its source
Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, eq=False)  # never compared: no __eq__ to compile
class Access:
    """What goes with every request to the API, besides the body."""

    auth: bool = True  # False: no Authorization header, no key needed
    headers: Headers = field(default=(), repr=False)  # (name, value): the values secret
    insecure_http: bool = False
    sources: Mapping[str, str] = field(default_factory=dict)  # auth, headers, insecure_http


def _auth(flag: bool | None, environ: Mapping[str, str], find: Find) -> tuple[bool, str]:
    """True to send the key (the default); False under --no-auth, CO_NO_AUTH or
    `auth = none`."""
    if flag:
        return False, f"flag {flag_name('no_auth')}"
    text = environ.get("CO_NO_AUTH", "")
    if text.strip():
        source = "environment CO_NO_AUTH"
        if values.has_bad_utf8(text):
            raise InputError(source, "not valid UTF-8")
        try:
            return not values.boolean(text), source
        except values.ValueProblem as problem:
            raise UsageError(f"CO_NO_AUTH {problem} (got {text!r})") from None
    found = find("auth")
    if found is None:
        return True, "built-in default"
    text, source = found
    if text.strip().lower() not in ("none", "bearer"):
        raise UsageError(f"auth must be none or bearer (got {text!r} from {source})")
    return text.strip().lower() == "bearer", source


def _headers(flag: Headers, find: Find) -> tuple[Headers, str]:
    """The flags' headers and the config's (`headers`, one NAME: VALUE a line), a flag's
    replacing the config's of the same name; and where they came from."""
    try:
        values.unique_names(flag)
    except values.ValueProblem as problem:
        raise UsageError(f"--header {problem}") from None
    found = find("headers")
    configured: Headers = ()
    if found is not None:
        try:
            configured = values.header_lines(found[0])
        except values.ValueProblem as problem:
            raise UsageError(f"a line of headers {problem} (from {found[1]})") from None
    given = {name.lower() for name, _ in flag}
    kept = tuple((name, value) for name, value in configured if name.lower() not in given)
    sources = (["flag --header"] if flag else []) + (
        [found[1]] if found is not None and kept else [])
    return flag + kept, " and ".join(sources) or "built-in default"


def _insecure_http(flag: bool | None, find: Find) -> tuple[bool, str]:
    if flag:
        return True, f"flag {flag_name('insecure_http')}"
    found = find("insecure_http")
    if found is None:
        return False, "built-in default"
    try:
        return values.boolean(found[0]), found[1]
    except values.ValueProblem as problem:
        raise UsageError(f"insecure_http {problem} (got {found[0]!r} from "
                         f"{found[1]})") from None


def load_access(
    no_auth: bool | None, headers: Headers, insecure_http: bool | None,
    environ: Mapping[str, str], find: Find, key_source: str | None, warnings: list[str],
) -> Access:
    """The access from the flags, the environment and the config (FIND); KEY_SOURCE:
    where a key was found (None: none), warned about when it is not sent."""
    auth, auth_source = _auth(no_auth, environ, find)
    sent, headers_source = _headers(headers, find)
    insecure, insecure_source = _insecure_http(insecure_http, find)
    if auth and any(name.lower() == "authorization" for name, _ in sent):
        raise UsageError(f"an Authorization header (from {headers_source}) goes only with "
                         "--no-auth", hint="cohere-chat sends the key as Authorization; "
                         "to send your own instead: --no-auth (config auth = none)")
    if not auth and key_source is not None:
        warnings.append(f"an API key is set ({key_source}) but not sent ({auth_source})")
    return Access(auth, sent, insecure, {"auth": auth_source, "headers": headers_source,
                                         "insecure_http": insecure_source})
