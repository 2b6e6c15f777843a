"""What the stub answers `GET /v1/models`: a fixed list of models, filtered by endpoint,
in pages with the official `page_size` and `page_token` rules."""
from __future__ import annotations

import base64
from typing import Any

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


def models_page(query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
    """(status, body) for `GET /v1/models` with these query parameters."""
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
    models = [m for m in MODELS if endpoint is None or endpoint in m["endpoints"]]
    if endpoint is not None and query.get("default_only", [""])[-1].lower() == "true":
        models = [m for m in models if endpoint in m["default_endpoints"]]
    end = start + int(size)
    page: dict[str, Any] = {"models": models[start:end]}
    if end < len(models):
        page["next_page_token"] = _page_token(end)
    return 200, page
