"""A model's details, `GET /v1/models/{model}`: its `context_length` and `tokenizer_url`,
kept on disk for a day (base/cache.py), keyed by the base URL and the model's name, so
that a second run asks nothing of the network.

Details of the wrong shape never stop a run: a field that is not what the API documents
is left out (with a problem in words), an answer that is not an object is not cached.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from cohere_cli.base.cache import Cache
from cohere_cli.base.errors import CohereChatError, NetworkError
from cohere_cli.settings.paths import MODEL_DETAILS
from cohere_cli.wire.api_client import ApiClient
from cohere_cli.wire.connection import Connection
from cohere_cli.wire.deadline import NO_DEADLINE, Deadline

KIND = MODEL_DETAILS
MAX_DETAILS_BYTES = 1 << 20  # one model's details, cached
MAX_CONTEXT = 10**12


@dataclass(frozen=True)
class ModelDetails:
    """What cohere-chat uses of a model's details, and the object as the API sent it."""

    model: str
    context_length: int | None
    tokenizer_url: str | None
    raw: dict[str, Any]
    problems: tuple[str, ...] = ()  # the fields of the wrong shape, in words


def _context_length(value: Any) -> int | None:
    """A positive whole number of tokens (the API's schema says `number`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value) if 0 < value < MAX_CONTEXT else None


def parse_details(model: str, value: Any) -> ModelDetails:
    """The details of MODEL from the API's answer; NetworkError if it is not an object."""
    if not isinstance(value, dict):
        raise NetworkError(f"the details of model {model} are not a JSON object")
    problems = []
    length = _context_length(value.get("context_length"))
    if length is None and value.get("context_length") is not None:
        problems.append("its context_length is not a positive whole number")
    url = value.get("tokenizer_url")
    if url is not None and not (isinstance(url, str) and url.strip()):
        problems.append("its tokenizer_url is not a URL")
        url = None
    return ModelDetails(model, length, url, value, tuple(problems))


def fetch_details(client: ApiClient, model: str, deadline: Deadline = NO_DEADLINE) -> Any:
    """The API's answer to `GET /v1/models/{model}`, as parsed JSON."""
    return client.get_json(f"/v1/models/{quote(model, safe='')}", {}, deadline)


class DetailsSource:
    """Model details for one connection: from the cache, else from the API (then cached).
    `warn` gets a cache that cannot be written, once."""

    def __init__(self, connection: Connection, cache: Cache, log: Callable[[str], None],
                 warn: Callable[[str], None]) -> None:
        self.connection, self.cache, self.log, self.warn = connection, cache, log, warn
        self._warned = False

    def _key(self, model: str) -> str:
        return f"{self.connection.base_url}\n{model}"

    def cached(self, model: str) -> ModelDetails | None:
        """The cached details of MODEL, or None: no network."""
        data = self.cache.read(KIND, self._key(model), MAX_DETAILS_BYTES)
        try:
            entry = orjson.loads(data) if data is not None else None
        except orjson.JSONDecodeError:
            return None
        if not isinstance(entry, dict) or entry.get("key") != self._key(model):
            return None  # a corrupt entry, or another key's: fetched again
        try:
            return parse_details(model, entry.get("details"))
        except NetworkError:
            return None

    def fetch(self, model: str, deadline: Deadline = NO_DEADLINE) -> ModelDetails:
        """The details from the API (then cached); a typed error when they cannot be had."""
        with ApiClient(self.connection, self.log) as client:
            value = fetch_details(client, model, deadline)
        details = parse_details(model, value)
        self.store(model, value)
        return details

    def store(self, model: str, value: Any) -> None:
        problem = self.cache.write(KIND, self._key(model),
                                   orjson.dumps({"key": self._key(model), "details": value}))
        if problem and not self._warned:
            self._warned = True
            self.warn(problem)

    def get(self, model: str, deadline: Deadline = NO_DEADLINE
            ) -> tuple[ModelDetails | None, str | None]:
        """The details (cached, else fetched), or None and why they cannot be had."""
        found = self.cached(model)
        if found is not None:
            return found, None
        try:
            return self.fetch(model, deadline), None
        except CohereChatError as exc:
            return None, exc.message
