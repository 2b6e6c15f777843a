"""Every page of a listing (`GET /v1/models`, `GET /v2/batches`), following
`next_page_token`, and never forever: a token the server already gave, or more than
MAX_PAGES pages, stops the listing with a NetworkError (exit 7).

Every listing goes through `pages`: the model list, `batches list`, and `batch --remote`'s
look for its batch by name after a create that got no clear answer.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from cohere_cli.base.errors import NetworkError

MAX_PAGES = 1000
Fetch = Callable[[Mapping[str, str]], Any]  # the page for these query parameters


def pages(fetch: Fetch, what: str) -> Iterator[dict[str, Any]]:
    """Each page of the listing of WHAT ("models", "batches"): FETCH gets the first with
    no parameters, then each next one with its `page_token`. A page must be a JSON
    object; one without a next token is the last."""
    token = ""
    seen: set[bytes] = set()  # the tokens' digests: a server may send long ones
    for _ in range(MAX_PAGES):
        page = fetch({"page_token": token} if token else {})
        if not isinstance(page, dict):
            raise NetworkError(f"the API answered with a {what} page that is not a JSON object")
        yield page
        token = _next_token(page, what)
        if not token:
            return
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        if digest in seen:
            raise NetworkError(f"the API sent the same {what} page token twice; stopping")
        seen.add(digest)
    raise NetworkError(f"more than {MAX_PAGES} pages of {what}; stopping")


def _next_token(page: dict[str, Any], what: str) -> str:
    """The token of the next page; "" after the last one."""
    token = page.get("next_page_token")
    if token is None:
        return ""
    if not isinstance(token, str):
        raise NetworkError(f"the API answered with a {what} page whose next_page_token is "
                           "not a string")
    return token
