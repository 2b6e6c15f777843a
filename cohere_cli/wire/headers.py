"""The HTTP session of the requests to the API, which keeps their secrets to the API's
host: on a redirect to another host (or scheme, or port), the `Authorization` header and
every `--header` go no further; and no credentials come from `~/.netrc`, whatever the
host (requests would add them to a request without a key, or to a redirect: a
`--no-auth` request carries no Authorization header at all).

requests strips only `Authorization` on such a redirect itself; the custom headers are
stripped here, in the one place a redirect is followed (`rebuild_auth`). Signed part
URLs and other downloads never go through this session: they carry no header of ours.
"""
from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests


def _no_credentials(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """Authentication that adds nothing: the session's own, so requests never looks for
    credentials in ~/.netrc (it does only when a session and a request have none)."""
    return request


def api_session(private: Collection[str]) -> requests.Session:
    """A session whose redirects to another origin drop `Authorization` and the PRIVATE
    header names (the --header names), and that never adds credentials of its own."""
    import requests

    names = ("Authorization", *private)

    class ApiSession(requests.Session):
        def rebuild_auth(self, prepared_request: requests.PreparedRequest,
                         response: requests.Response) -> None:
            previous = response.request.url or ""
            strip = self.should_strip_auth(  # type: ignore[no-untyped-call]
                previous, prepared_request.url or "")
            if strip:
                for name in names:
                    prepared_request.headers.pop(name, None)

    session = ApiSession()
    session.auth = _no_credentials
    return session
