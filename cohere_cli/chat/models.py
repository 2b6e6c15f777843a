"""Listing the chat models: `GET /v1/models?endpoint=chat`, every page of it (the pages
as every listing follows them: wire/paginate.py)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cohere_cli.base.errors import NetworkError
from cohere_cli.wire.api_client import ApiClient
from cohere_cli.wire.deadline import NO_DEADLINE, Deadline
from cohere_cli.wire.paginate import pages

MODELS_PATH = "/v1/models"


def iter_models(client: ApiClient, endpoint: str = "chat",
                deadline: Deadline = NO_DEADLINE) -> Iterator[dict[str, Any]]:
    """Each model object, following `next_page_token` until the last page; every request
    within `deadline` (--max-time)."""
    def fetch(token: Any) -> Any:
        return client.get_json(MODELS_PATH, {"endpoint": endpoint, **token}, deadline)

    for page in pages(fetch, "models"):
        models = page.get("models")
        if not isinstance(models, list):
            raise NetworkError("the API answered with a models page that has no model list")
        yield from (model for model in models if isinstance(model, dict))
