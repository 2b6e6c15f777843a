"""The stub as other endpoints (issue 28 item 6): `stub --no-auth` serves requests that
carry no key, `--no-models` and `--no-batch-api` switch those endpoints off (a 404, as
Azure AI Foundry answers); `POST /v1/check-api-key` and `GET /v1/models/{model}`."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import TEST_KEY, invoke, start_stub

from cohere_cli.stub import server as stub_server
from cohere_cli.stub.server import StubServer
from cohere_cli.stub.settings import StubSettings

BEARER = {"Authorization": f"Bearer {TEST_KEY}"}
CHAT = {"model": "command-a-plus-05-2026", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def served() -> Iterator[Any]:
    servers: list[StubServer] = []

    def make(**settings: Any) -> StubServer:
        servers.append(start_stub(**settings))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def statuses(server: StubServer, headers: dict[str, str]) -> dict[str, int]:
    url = server.url
    return {
        "chat": requests.post(f"{url}/v2/chat", json=CHAT, headers=headers, timeout=10)
        .status_code,
        "models": requests.get(f"{url}/v1/models", headers=headers, timeout=10).status_code,
        "model": requests.get(f"{url}/v1/models/command-r", headers=headers, timeout=10)
        .status_code,
        "datasets": requests.get(f"{url}/v1/datasets", headers=headers, timeout=10)
        .status_code,
        "batches": requests.get(f"{url}/v2/batches", headers=headers, timeout=10).status_code,
        "check": requests.post(f"{url}/v1/check-api-key", headers=headers, timeout=10)
        .status_code,
    }


def test_by_default_every_endpoint_wants_a_key(served: Any) -> None:
    server = served()
    assert set(statuses(server, {}).values()) == {401}
    assert set(statuses(server, BEARER).values()) == {200}


def test_no_auth_serves_requests_without_a_key_but_checks_no_key(served: Any) -> None:
    server = served(no_auth=True)
    assert statuses(server, {}) == {"chat": 200, "models": 200, "model": 200, "datasets": 200,
                                    "batches": 200, "check": 401}
    assert set(statuses(server, BEARER).values()) == {200}


def test_the_model_list_and_the_batch_api_can_be_switched_off(served: Any) -> None:
    server = served(list_models=False, batch_api=False)
    assert statuses(server, BEARER) == {"chat": 200, "models": 404, "model": 404,
                                        "datasets": 404, "batches": 404, "check": 200}


def test_check_api_key_and_one_model(served: Any) -> None:
    server = served()
    check = requests.post(f"{server.url}/v1/check-api-key", headers=BEARER, timeout=10)
    assert check.json() == {"valid": True, "organization_id": "stub-org",
                            "owner_id": "stub-user"}
    model = requests.get(f"{server.url}/v1/models/command-r", headers=BEARER, timeout=10)
    assert model.json()["name"] == "command-r" and "chat" in model.json()["endpoints"]
    missing = requests.get(f"{server.url}/v1/models/nope", headers=BEARER, timeout=10)
    assert missing.status_code == 404 and "model 'nope' not found" in missing.json()["message"]


def test_the_stub_command_takes_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    given: list[StubSettings] = []
    monkeypatch.setattr(stub_server, "run_stub", given.append)
    assert invoke(["stub", "--no-auth", "--no-models", "--no-batch-api"]).exit_code == 0
    assert invoke(["stub"]).exit_code == 0
    assert [(s.no_auth, s.list_models, s.batch_api) for s in given] == [
        (True, False, False), (False, True, True)]
