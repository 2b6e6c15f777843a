"""`config --check` (issue 28 item 4): the base URL reachable (exit 7), the key valid (exit
4), the model known (exit 5); one line a check on stderr, exit 0 when all pass, nothing
billed; under --no-auth the key is not checked, and says so."""
from __future__ import annotations

import socket
from typing import Any

import pytest
from conftest import TEST_HEADER_VALUE, invoke

from cohere_cli.stub.server import StubServer


def check_lines(stderr: str) -> list[str]:
    return [line.removeprefix("cohere-chat: check: ") for line in stderr.splitlines()
            if line.startswith("cohere-chat: check: ")]


def test_all_pass_exit_0_with_a_line_each_and_nothing_billed(stub: StubServer) -> None:
    result = invoke(["config", "--check"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert check_lines(result.stderr) == [
        f"base URL {stub.url} (environment CO_API_URL): reachable",
        "API key (environment CO_API_KEY): valid",
        "model command-a-plus-05-2026: known",
    ]
    assert result.stderr.count("\n") == 3
    assert [(r.method, r.path) for r in stub.requests] == [
        ("POST", "/v1/check-api-key"), ("GET", "/v1/models/command-a-plus-05-2026")]


def test_the_headers_and_the_model_of_the_settings_are_used(stub: StubServer) -> None:
    result = invoke(["config", "--check", "-m", "command-r", "--header",
                     f"X-Gateway-Key: {TEST_HEADER_VALUE}"])
    assert result.exit_code == 0, result.stderr
    assert check_lines(result.stderr)[-1] == "model command-r: known"
    assert all(r.headers["X-Gateway-Key"] == TEST_HEADER_VALUE for r in stub.requests)


def test_an_unreachable_base_url_exits_7(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("CO_API_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("CO_API_KEY", "k")
    result = invoke(["config", "--check", "--retries", "0"])
    assert result.exit_code == 7, result.stderr
    assert check_lines(result.stderr) == [
        f"base URL http://127.0.0.1:{port} (environment CO_API_URL): not reachable"]


def test_a_refused_key_exits_4(make_stub: Any) -> None:
    server = make_stub(fail=("401",))
    result = invoke(["config", "--check"])
    assert result.exit_code == 4, result.stderr
    assert check_lines(result.stderr)[1:] == ["API key (environment CO_API_KEY): refused"]
    assert "HTTP 401" in result.stderr
    assert len(server.requests) == 1


def test_a_key_the_server_calls_not_valid_exits_4(raw_server: Any) -> None:
    raw_server(200, "application/json", b'{"valid": false, "organization_id": "o"}')
    result = invoke(["config", "--check"])
    assert result.exit_code == 4, result.stderr
    assert check_lines(result.stderr)[1:] == ["API key (environment CO_API_KEY): not valid"]
    assert "the server says the API key (environment CO_API_KEY) is not valid" in result.stderr


def test_an_unknown_model_exits_5(stub: StubServer) -> None:
    result = invoke(["config", "--check", "-m", "command-nope"])
    assert result.exit_code == 5, result.stderr
    assert check_lines(result.stderr)[-1] == "model command-nope: unknown"
    assert "HTTP 404: model 'command-nope' not found" in result.stderr


def test_a_model_for_another_endpoint_exits_5(stub: StubServer) -> None:
    result = invoke(["config", "--check", "-m", "embed-v4.0"])
    assert result.exit_code == 5, result.stderr
    assert check_lines(result.stderr)[-1] == "model embed-v4.0: not a chat model"


def test_under_no_auth_the_key_is_not_checked_and_it_says_so(make_stub: Any) -> None:
    server = make_stub(no_auth=True)
    result = invoke(["config", "--check", "--no-auth"], env={"CO_API_KEY": None})
    assert result.exit_code == 0, result.stderr
    assert check_lines(result.stderr) == [
        f"base URL {server.url} (environment CO_API_URL): reachable",
        "API key: not checked (--no-auth: none is sent)",
        "model command-a-plus-05-2026: known",
    ]
    assert [r.path for r in server.requests] == ["/v1/models/command-a-plus-05-2026"]


def test_a_server_without_a_model_list_leaves_the_model_unchecked(make_stub: Any) -> None:
    """Azure AI Foundry serves no /v1/models: its 404 is not the model's."""
    server = make_stub(list_models=False)
    result = invoke(["config", "--check", "-m", "whatever-is-deployed"])
    assert result.exit_code == 0, result.stderr
    assert check_lines(result.stderr)[-1] == (
        "model whatever-is-deployed: not checked (this server lists no models: /v1/models "
        "HTTP 404)")
    assert not any(r.path.startswith("/v2/chat") for r in server.requests)


def test_check_and_path_do_not_go_together(stub: StubServer) -> None:
    result = invoke(["config", "--check", "--path"])
    assert result.exit_code == 2 and "--check and --path" in result.stderr
    assert stub.requests == []
