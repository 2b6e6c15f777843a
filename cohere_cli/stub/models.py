"""What the stub answers `GET /v1/models`: a fixed list of models, or those of
`--models FILE`, filtered by endpoint, in pages with the official `page_size` and
`page_token` rules; with `--models`, a chat request for a model not in the list gets
Cohere's 404. `GET /v1/models/{model}`: one model's details, with its `context_length`
(--context-limit when given) and a `tokenizer_url` the stub serves itself, without a
key (TOKENIZER_PATH: the small real tokenizer file shipped beside this module), unless
the model's entry in `--models` has its own."""
from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson

from cohere_cli.base.errors import UsageError
from cohere_cli.base.files import MAX_INPUT_BYTES, decode_utf8, read_file_bytes, split_lines

ENDPOINTS = ("chat", "embed", "classify", "summarize", "rerank", "rate", "generate")
DEFAULT_PAGE_SIZE = 2


def _model(name: str, endpoints: tuple[str, ...], context: int, default: bool) -> dict[str, Any]:
    return {
        "name": name,
        "is_deprecated": False,
        "endpoints": list(endpoints),
        "finetuned": False,
        "context_length": context,
        "default_endpoints": [endpoints[0]] if default else [],
    }


MODELS = (
    _model("command-a-plus-05-2026", ("chat",), 256000, True),
    _model("command-a-vision-07-2025", ("chat",), 128000, False),
    _model("command-a-reasoning-08-2025", ("chat",), 256000, False),
    _model("embed-v4.0", ("embed",), 128000, True),
    _model("command-r-plus-08-2024", ("chat",), 128000, False),
    _model("command-r", ("chat", "generate", "summarize"), 128000, False),
)


def unknown_model(body: dict[str, Any], models: tuple[dict[str, Any], ...] | None) -> str | None:
    """Cohere's 404 message for a chat request whose model is not in `models`; None when
    it is, or when there is no list (`--models` not given: any model will do)."""
    name = body["model"]
    if models is None or any(model["name"] == name for model in models):
        return None
    return (f"model '{name}' not found, make sure the correct model ID was used and that "
            "you have access to the model.")


class ModelsError(UsageError):
    """A `--models` file the stub cannot serve: names the file (and line) (exit 2)."""

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        super().__init__(f"--models: {source}{'' if line is None else f':{line}'}: {problem}")


def _listed(value: Any, source: str, line: int | None) -> dict[str, Any]:
    """One `--models` entry as a model object: a name gets the fields of a chat model; an
    object needs a "name", and gets the fields it lacks."""
    if isinstance(value, str) and value:
        value = {"name": value}
    if not (isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"]):
        raise ModelsError(source, line, 'each model must be a name or an object with a "name"')
    for key in ("endpoints", "default_endpoints"):
        known = value.get(key, [])
        if not (isinstance(known, list) and all(isinstance(e, str) for e in known)):
            raise ModelsError(source, line, f'"{key}" must be a list of endpoint names')
    return {**_model(value["name"], ("chat",), 128000, False), **value}


def _parsed(text: str, source: str, line: int | None) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise ModelsError(source, line, f"invalid JSON ({error})") from None


def load_models(path: str | os.PathLike[str]) -> tuple[dict[str, Any], ...]:
    """The models of `--models FILE`: a JSON array, or JSONL (as `models --json` prints),
    of model names or model objects. A bad entry is a ModelsError naming the file and the
    line (of JSONL)."""
    source = os.fspath(path)
    text = decode_utf8(read_file_bytes(
        source, too_big=f"more than {MAX_INPUT_BYTES >> 20} MiB: too big for --models"), source)
    if text.lstrip().startswith("["):
        return tuple(_listed(value, source, None) for value in _parsed(text, source, None))
    return tuple(_listed(_parsed(line, source, number), source, number)
                 for number, line in enumerate(split_lines(text), 1) if line.strip())


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"stub:{offset}".encode()).decode().rstrip("=")


def _page_start(token: str) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except ValueError:
        text = ""
    prefix, _, offset = text.partition(":")
    if prefix != "stub" or not offset.isdigit():
        raise ValueError(f"invalid page_token {token!r}")
    return int(offset)


def models_page(query: dict[str, list[str]],
                models: tuple[dict[str, Any], ...] | None = None) -> tuple[int, dict[str, Any]]:
    """(status, body) for `GET /v1/models` with these query parameters: of `models`, or
    of the built-in list."""
    endpoint = query.get("endpoint", [None])[-1]
    if endpoint is not None and endpoint not in ENDPOINTS:
        return 400, {"message": f"endpoint must be one of {', '.join(ENDPOINTS)}"}
    try:
        start = _page_start(query.get("page_token", [""])[-1])
    except ValueError as error:
        return 400, {"message": str(error)}
    try:
        size = float(query.get("page_size", [str(DEFAULT_PAGE_SIZE)])[-1])
    except ValueError:
        size = 0.5
    if not (size.is_integer() and 1 <= size <= 1000):
        return 400, {"message": "page_size must be an integer between 1 and 1000"}
    listed = MODELS if models is None else models
    shown = [m for m in listed if endpoint is None or endpoint in m["endpoints"]]
    if endpoint is not None and query.get("default_only", [""])[-1].lower() == "true":
        shown = [m for m in shown if endpoint in m["default_endpoints"]]
    end = start + int(size)
    page: dict[str, Any] = {"models": shown[start:end]}
    if end < len(shown):
        page["next_page_token"] = _page_token(end)
    return 200, page


TOKENIZER_PATH = "/tokenizers/stub-tokenizer.json"
TOKENIZER_FILE = Path(__file__).resolve().parent / "tokenizer.json"
DETAILS_PREFIX = "/v1/models/"


def model_details(path: str, origin: str, models: tuple[dict[str, Any], ...] | None,
                  context_limit: int | None) -> tuple[int, dict[str, Any]]:
    """(status, body) for `GET /v1/models/{model}` (PATH), the stub's own URL being ORIGIN
    (`http://127.0.0.1:PORT`)."""
    name = unquote(path[len(DETAILS_PREFIX):])
    listed = MODELS if models is None else models
    found = next((model for model in listed if model["name"] == name), None)
    if found is None:
        return 404, {"message": f"model '{name}' not found"}
    details = dict(found)
    if context_limit is not None:
        details["context_length"] = context_limit
    details.setdefault("tokenizer_url", origin + TOKENIZER_PATH)
    return 200, details


def tokenizer_file() -> bytes:
    """The tokenizer file the stub serves (read when asked for: the stub runs without
    `tokenizers`, and without this file, when it is not installed)."""
    return TOKENIZER_FILE.read_bytes()
