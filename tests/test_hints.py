"""The hints that name flags are the face's (cli/hints.py, issue 24): an error from the
wire says what happened (its HTTP status, its Fault) and the line the user reads still
ends with the next step, word for word."""
from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_KEY, invoke

from cohere_cli.base.errors import APIError, Fault, NetworkError, RejectedError
from cohere_cli.cli.hints import FAULT_HINTS, hint_for, status_hint
from cohere_cli.stub.server import StubServer
from cohere_cli.stub.settings import StubSettings
from cohere_cli.wire.status import error_for_status


def test_every_fault_has_its_hint() -> None:
    assert set(FAULT_HINTS) == set(Fault)
    for fault, hint in FAULT_HINTS.items():
        assert hint_for(NetworkError("x", fault=fault)) == hint
    assert hint_for(NetworkError("x")) is None
    assert hint_for(NetworkError("x", "its own")) == "its own"


def test_a_status_hint_is_made_from_the_errors_status_and_where() -> None:
    error = error_for_status(404, "nope", where="the base URL http://h (from flag --base-url)")
    assert error.hint is None  # the wire gives none
    assert hint_for(error) == status_hint(404, "the base URL http://h (from flag --base-url)")
    assert "--base-url" in (hint_for(error) or "")
    assert hint_for(APIError(500, "x")) == status_hint(500)
    own = RejectedError(400, "too many tokens", hint="--fit leaves out older turns")
    assert hint_for(own) == "--fit leaves out older turns"  # conversation/fit.py's own


def test_an_unknown_certificate_ends_with_the_ca_bundle_hint(
        certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with StubServer(StubSettings(), tls=context) as server:
        monkeypatch.setenv("CO_API_URL", server.url)
        monkeypatch.setenv("CO_API_KEY", TEST_KEY)
        result = invoke(["--no-stream", "hi"])
    assert result.exit_code == 7
    assert result.stderr.startswith("cohere-chat: error: TLS error talking to ")
    assert result.stderr.endswith("; for a private CA, give --ca-bundle FILE\n")


def test_a_failed_upload_ends_with_the_retries_hint(make_stub: Any, tmp_path: Path) -> None:
    """The upload goes through the one HTTP path: a dropped connection is said as for
    any request, with its hint."""
    server = make_stub(fail=("drop",))
    source = tmp_path / "in.jsonl"
    source.write_text('"hi"\n')
    result = invoke(["batch", "--remote", "--retries", "0", "-o",
                     str(tmp_path / "out.jsonl"), str(source)])
    assert result.exit_code == 7, result.stderr
    host = server.url.removeprefix("http://")
    assert result.stderr.startswith(f"cohere-chat: error: the server at {host} ")
    assert result.stderr.endswith(" the connection without answering; try again later, "
                                  "or raise --retries\n")  # closed it, or reset it
