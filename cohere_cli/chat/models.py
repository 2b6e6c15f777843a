"""Listing the chat models: `GET /v1/models?endpoint=chat`, every page of it."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cohere_cli.base.errors import NetworkError
from cohere_cli.wire.api_client import ApiClient

MODELS_PATH = "/v1/models"
MAX_PAGES = 1000


def iter_models(client: ApiClient, endpoint: str = "chat") -> Iterator[dict[str, Any]]:
    """Each model object, following `next_page_token` until the last page."""
    token = ""
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        params = {"endpoint": endpoint, **({"page_token": token} if token else {})}
        page = client.get_json(MODELS_PATH, params)
        models = page.get("models") if isinstance(page, dict) else None
        if not isinstance(models, list):
            raise NetworkError("the API answered with a models page that has no model list")
        yield from (model for model in models if isinstance(model, dict))
        token = _next_token(page)
        if not token:
            return
        if token in seen:
            raise NetworkError("the API sent the same page token twice; stopping")
        seen.add(token)
    raise NetworkError(f"more than {MAX_PAGES} pages of models; stopping")


def _next_token(page: dict[str, Any]) -> str:
    """The token of the next page; "" after the last one."""
    token = page.get("next_page_token")
    if token is None:
        return ""
    if not isinstance(token, str):
        raise NetworkError("the API answered with a models page whose next_page_token is "
                           "not a string")
    return token
