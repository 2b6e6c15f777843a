"""`config --check`, a pre-flight for cron: is the base URL reachable, is the key valid,
is the model known? One line a check (through `say`), in that order; the first that
fails raises its typed error (unreachable: exit 7, the key: exit 4, the model: exit 5).
Nothing is billed: `POST /v1/check-api-key` and `GET /v1/models/{model}` only.

An endpoint that does not serve a check (a private deployment may have no
/v1/check-api-key, Azure AI Foundry no /v1/models: a 404) leaves it "not checked", which
is no failure; with --no-auth the key is not checked either.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from cohere_cli.base.errors import (
    APIError,
    AuthError,
    CohereChatError,
    ExitCode,
    IncompleteReplyError,
    NetworkError,
    RejectedError,
    TimeLimitError,
)
from cohere_cli.chat.models import MODELS_PATH
from cohere_cli.wire.api_client import ApiClient

CHECK_KEY_PATH = "/v1/check-api-key"
T = TypeVar("T")
Say = Callable[[str], None]


class KeyNotValid(CohereChatError):
    """The server answered that the key is not valid (`valid: false`)."""

    exit_code = ExitCode.AUTH


class NotAChatModel(CohereChatError):
    """The model is known, but not for chat."""

    exit_code = ExitCode.REJECTED


class _Reach:
    """Says once that the base URL answered (then what THEN says), or that it did not
    (then the error goes on)."""

    def __init__(self, say: Say, where: str, then: str | None = None) -> None:
        self._say, self._where, self._then, self._said = say, where, then, False

    def ask(self, call: Callable[[], T]) -> T:
        try:
            value = call()
        except APIError:
            self._reached()
            raise
        except (NetworkError, IncompleteReplyError, TimeLimitError):
            if not self._said:
                self._said = True
                self._say(f"base URL {self._where}: not reachable")
            raise
        self._reached()
        return value

    def _reached(self) -> None:
        if not self._said:
            self._said = True
            self._say(f"base URL {self._where}: reachable")
            if self._then is not None:
                self._say(self._then)


def _missing(error: APIError) -> bool:
    return isinstance(error, RejectedError) and error.status == 404


def _check_key(client: ApiClient, reach: _Reach, say: Say, key_source: str) -> None:
    try:
        value = reach.ask(lambda: client.post_json(CHECK_KEY_PATH, {})[1])
    except AuthError:
        say(f"API key ({key_source}): refused")
        raise
    except RejectedError as error:
        if not _missing(error):
            raise
        say(f"API key ({key_source}): not checked (this server has no {CHECK_KEY_PATH}: "
            "HTTP 404)")
        return
    if not (isinstance(value, dict) and value.get("valid") is True):
        say(f"API key ({key_source}): not valid")
        raise KeyNotValid(f"the server says the API key ({key_source}) is not valid",
                          hint="check the key and where it comes from (cohere-chat config)")
    say(f"API key ({key_source}): valid")


def _check_model(client: ApiClient, reach: _Reach, say: Say, model: str) -> None:
    try:
        found: Any = reach.ask(lambda: client.get_json(
            f"{MODELS_PATH}/{quote(model, safe='')}", {}))
    except RejectedError as error:
        if not _missing(error):
            raise
        if _lists_no_models(client):
            say(f"model {model}: not checked (this server lists no models: "
                f"{MODELS_PATH} HTTP 404)")
            return
        say(f"model {model}: unknown")
        raise
    endpoints = found.get("endpoints") if isinstance(found, dict) else None
    if isinstance(endpoints, list) and "chat" not in endpoints:
        say(f"model {model}: not a chat model")
        raise NotAChatModel(f"the model {model} is not for chat (its endpoints: "
                            f"{', '.join(map(str, endpoints)) or 'none'})",
                            hint="pick one of: cohere-chat models")
    say(f"model {model}: known")


def _lists_no_models(client: ApiClient) -> bool:
    """Whether GET /v1/models is a 404 too (the endpoint is not there, not the model)."""
    try:
        client.get_json(MODELS_PATH, {"endpoint": "chat"})
    except RejectedError as error:
        return _missing(error)
    return False


def preflight(client: ApiClient, model: str, auth: bool, say: Say, *, where: str,
              key_source: str) -> None:
    """Check the base URL (WHERE names it), the key (KEY_SOURCE names where it came
    from; not under --no-auth) and MODEL, one line each through SAY; the first check
    that fails raises its error."""
    reach = _Reach(say, where, None if auth else "API key: not checked (--no-auth: none "
                   "is sent)")
    if auth:
        _check_key(client, reach, say, key_source)
    _check_model(client, reach, say, model)
