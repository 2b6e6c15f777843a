"""What the stub answers about the account, not a chat: `POST /v1/check-api-key` (a
Bearer token is valid; none is a 401, even under `stub --no-auth`) and
`GET /v1/models/{model}` (a model of the list, else Cohere's 404; none at all with
`stub --no-models`)."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from cohere_cli.stub.models import MODELS
from cohere_cli.stub.settings import StubSettings

_MODEL = re.compile(r"/v1/models/([^/]+)")


def account_answer(method: str, path: str, bearer: bool, authorized: bool,
                   settings: StubSettings) -> tuple[int, dict[str, Any]] | None:
    """(status, body) for an account endpoint; None when PATH is not one. BEARER: the
    request has a Bearer token; AUTHORIZED: it may use the API (one, or --no-auth)."""
    if (method, path) == ("POST", "/v1/check-api-key"):
        if not bearer:
            return 401, {"message": "no api key supplied"}
        return 200, {"valid": True, "organization_id": "stub-org", "owner_id": "stub-user"}
    match = _MODEL.fullmatch(path)
    if method != "GET" or match is None or not settings.list_models:
        return None
    if not authorized:
        return 401, {"message": "invalid api token"}
    name = unquote(match[1])
    for model in MODELS if settings.models is None else settings.models:
        if model["name"] == name:
            return 200, model
    return 404, {"message": f"model '{name}' not found, make sure the correct model ID was "
                 "used and that you have access to the model."}
