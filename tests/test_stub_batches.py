"""The stub's Batch API (issue 19): datasets, batches, their lifecycle, faults, the Avro
output parts and their signed URLs, over real loopback HTTP."""
from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import fastavro
import orjson
import pytest
import requests
from click.testing import CliRunner
from conftest import TEST_KEY, wait_for

from cohere_cli.batch.remote.schema import OUTPUT_SCHEMA
from cohere_cli.cli.app import cli
from cohere_cli.cli.commands.stub_options import batch_stub_settings
from cohere_cli.stub.answers import echo_text
from cohere_cli.stub.batch_settings import BatchStubSettings
from cohere_cli.stub.server import StubServer
from cohere_cli.stub.settings import StubSettings

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
FAST = {"time": 0.1, "validation_time": 0.05}


def _line(number: int, text: str | None = None) -> dict[str, Any]:
    content = [{"type": "text", "text": text or f"prompt number {number}"}]
    return {"custom_id": str(number), "body": {"messages": [{"role": "user",
                                                             "content": content}]}}


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


class Api:
    """A stub with its Batch API, and the calls a client makes."""

    def __init__(self, url: str) -> None:
        self.url = url

    def upload(self, data: bytes, name: str = "My Set", **params: str) -> requests.Response:
        return requests.post(f"{self.url}/v1/datasets", headers=AUTH, timeout=10,
                             params={"name": name, "type": "batch-chat-v2-input", **params},
                             files={"data": ("in.jsonl", data, "application/jsonl")})

    def dataset(self, name: str) -> dict[str, Any]:
        reply = requests.get(f"{self.url}/v1/datasets/{name}", headers=AUTH, timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()["dataset"]  # type: ignore[no-any-return]

    def validated(self, data: bytes) -> str:
        name = self.upload(data).json()["id"]
        wait_for(lambda: self.dataset(name)["validation_status"] != "processing",
                 "validation", 10)
        assert self.dataset(name)["validation_status"] == "validated"
        return str(name)

    def create(self, name: str, title: str = "job") -> requests.Response:
        return requests.post(f"{self.url}/v2/batches", headers=AUTH, timeout=10, json={
            "name": title, "input_dataset_id": name, "model": "command-a-03-2025"})

    def batch(self, name: str) -> dict[str, Any]:
        reply = requests.get(f"{self.url}/v2/batches/{name}", headers=AUTH, timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()["batch"]  # type: ignore[no-any-return]

    def finished(self, name: str, seconds: float = 20) -> dict[str, Any]:
        ends = ("BATCH_STATUS_COMPLETED", "BATCH_STATUS_FAILED", "BATCH_STATUS_CANCELED")
        wait_for(lambda: self.batch(name)["status"] in ends, "the batch's end", seconds)
        return self.batch(name)

    def records(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        parts = self.dataset(batch["output_dataset_id"])["dataset_parts"]
        found: list[dict[str, Any]] = []
        for part in parts:
            reply = requests.get(part["url"], timeout=10)  # no Authorization
            assert reply.status_code == 200, reply.text
            rows = list(fastavro.reader(io.BytesIO(reply.content),
                                        reader_schema=fastavro.parse_schema(OUTPUT_SCHEMA)))
            assert len(rows) == part["num_rows"] and len(reply.content) == part["size_bytes"]
            found.extend(rows)  # type: ignore[arg-type]
        return found


@pytest.fixture
def make_api() -> Iterator[Any]:
    servers: list[StubServer] = []

    def make(*faults: str, **settings: Any) -> Api:
        missing = [int(f.split("=")[1]) for f in faults if f.startswith("missing=")]
        errored = [int(f.split("=")[1]) for f in faults if f.startswith("error=")]
        batch = BatchStubSettings(**{**FAST, **settings}, missing=sum(missing),
                                  errored=sum(errored),
                                  faults=frozenset(f for f in faults if "=" not in f))
        server = StubServer(StubSettings(batch=batch))
        servers.append(server)
        return Api(server.start())

    yield make
    for server in servers:
        server.stop()


@pytest.mark.slow  # two seconds: each status is seen while it lasts (a second each)
def test_a_batch_runs_queued_in_progress_completed_with_echo_replies(make_api: Any) -> None:
    api = make_api(time=2.0, parts=3)
    lines = [_line(n) for n in range(7)]
    dataset = api.validated(_jsonl(lines))
    created = api.create(dataset)
    assert created.status_code == 200
    batch = created.json()["batch"]
    assert batch["status"] == "BATCH_STATUS_QUEUED" and batch["output_dataset_id"] == ""
    assert (batch["num_records"], batch["input_tokens"], batch["output_tokens"]) == (7, "0", "0")
    seen: set[str] = set()

    def completed() -> bool:
        seen.add(api.batch(batch["id"])["status"])
        return "BATCH_STATUS_COMPLETED" in seen
    wait_for(completed, "completion", 10)
    assert {"BATCH_STATUS_QUEUED", "BATCH_STATUS_IN_PROGRESS"} <= seen
    done = api.batch(batch["id"])
    assert done["num_successful_records"] == 7 and done["num_failed_records"] == 0
    rows = api.records(done)
    assert len(api.dataset(done["output_dataset_id"])["dataset_parts"]) == 3
    assert [r["custom_id"] for r in rows] == [str(n) for n in range(7)]
    for row, line in zip(rows, lines, strict=True):
        assert row["error"] == ""
        text = row["body"]["message"]["content"][0]["text"]
        assert text == echo_text(line["body"]) == f"echo: prompt number {row['custom_id']}"
    assert int(done["input_tokens"]) == sum(
        r["body"]["usage"]["tokens"]["input_tokens"] for r in rows) > 0


@pytest.mark.slow
def test_a_batch_takes_at_least_its_batch_time(make_api: Any) -> None:
    api = make_api(time=0.6)
    started = time.monotonic()
    batch = api.create(api.validated(_jsonl([_line(1)]))).json()["batch"]
    api.finished(batch["id"])  # it ends (within a generous deadline) ...
    assert time.monotonic() - started >= 0.6  # ... and not before its time


def test_a_dataset_is_processing_until_its_validation_time(make_api: Any) -> None:
    api = make_api(validation_time=600)  # no test lasts that long: processing throughout
    name = api.upload(_jsonl([_line(0)])).json()["id"]
    assert api.dataset(name)["validation_status"] == "processing"
    assert api.create(name).status_code == 400


@pytest.mark.parametrize(("line", "problem"), [
    ({"custom_id": "1", "body": {"model": "x", "messages": [{"role": "user"}]}}, "'model'"),
    ({"custom_id": "1", "body": {"messages": [{"role": "user", "content": "hi"}]}},
     "content: expected an array"),
    ({"custom_id": 1, "body": {"messages": [{"role": "user"}]}}, "custom_id"),
    ({"custom_id": "1", "body": {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "x"}}]}]}}, "image_url: expected a string"),
    ({"custom_id": "1", "body": {"messages": [{"role": "user"}], "tools": [
        {"type": "function", "function": {"name": "f", "parameters": {}}}]}}, "parameters"),
])
def test_a_record_outside_the_input_schema_fails_validation(
        make_api: Any, line: dict[str, Any], problem: str) -> None:
    api = make_api()
    name = api.upload(_jsonl([_line(0), line])).json()["id"]
    wait_for(lambda: api.dataset(name)["validation_status"] == "failed", "failure", 10)
    error = api.dataset(name)["validation_error"]
    assert "row 2" in error and problem in error
    assert api.create(name).status_code == 400


def test_a_conforming_record_with_every_field_validates(make_api: Any) -> None:
    body = {"messages": [
        {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
        {"role": "user", "content": [{"type": "image_url", "image_url": "data:x"}]},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {
            "name": "f", "arguments": "{}"}}], "tool_plan": "call f"},
        {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "1"}]}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}],
        "temperature": 0.5, "p": 1, "reasoning": True, "thinking_budget": 10, "seed": 3}
    make_api().validated(_jsonl([{"custom_id": "a", "body": body}]))


def test_upload_needs_the_type_the_data_field_and_a_key(make_api: Any) -> None:
    api = make_api()
    assert api.upload(_jsonl([_line(1)]), type="embed-input").status_code == 400
    bad_field = requests.post(f"{api.url}/v1/datasets", headers=AUTH, timeout=10, params={
        "name": "n", "type": "batch-chat-v2-input"}, files={"file": ("a", b"{}")})
    assert bad_field.status_code == 400 and "data" in bad_field.json()["message"]
    assert api.upload(_jsonl([_line(1)]), name="Night Run 2").json()["id"].startswith(
        "night-run-2-")
    for method, path in (("GET", "/v2/batches"), ("POST", "/v1/datasets"),
                         ("GET", "/v1/datasets/x"), ("POST", "/v2/batches/x:cancel")):
        assert requests.request(method, api.url + path, timeout=10).status_code == 401


def test_list_pages_with_page_tokens(make_api: Any) -> None:
    api = make_api(time=30)
    dataset = api.validated(_jsonl([_line(1)]))
    ids = [api.create(dataset, f"job {n}").json()["batch"]["id"] for n in range(5)]
    found, token = [], None
    while True:
        params = {"page_size": "2", **({"page_token": token} if token else {})}
        page = requests.get(f"{api.url}/v2/batches", headers=AUTH, params=params,
                            timeout=10).json()
        assert len(page["batches"]) <= 2
        found += [b["id"] for b in page["batches"]]
        if not (token := page.get("next_page_token")):
            break
    assert found == ids


@pytest.mark.slow
def test_cancel_while_queued_then_not_again(make_api: Any) -> None:
    api = make_api(time=4)  # QUEUED for 2 s, CANCELING for 0.4 s
    batch = api.create(api.validated(_jsonl([_line(1)]))).json()["batch"]
    cancel = f"{api.url}/v2/batches/{batch['id']}:cancel"
    reply = requests.post(cancel, headers=AUTH, timeout=10)
    assert (reply.status_code, reply.json()) == (200, {})
    assert api.batch(batch["id"])["status"] in ("BATCH_STATUS_CANCELING",
                                                 "BATCH_STATUS_CANCELED")
    assert api.finished(batch["id"])["status"] == "BATCH_STATUS_CANCELED"
    assert requests.post(cancel, headers=AUTH, timeout=10).status_code == 400
    assert requests.get(f"{api.url}/v2/batches/nope", headers=AUTH, timeout=10).status_code \
        == 404


def test_fault_validation(make_api: Any) -> None:
    api = make_api("validation")
    name = api.upload(_jsonl([_line(1)])).json()["id"]
    wait_for(lambda: api.dataset(name)["validation_status"] == "failed", "failure", 10)
    assert "injected" in api.dataset(name)["validation_error"]


def test_fault_failed_batch(make_api: Any) -> None:
    api = make_api("failed")
    done = api.finished(api.create(api.validated(_jsonl([_line(1)]))).json()["batch"]["id"])
    assert done["status"] == "BATCH_STATUS_FAILED" and done["status_reason"]


@pytest.mark.parametrize(("fault", "left"), [("create-502", 0), ("create-502-after", 1)])
def test_fault_502_on_create_before_or_after_creating(
        make_api: Any, fault: str, left: int) -> None:
    api = make_api(fault)
    dataset = api.validated(_jsonl([_line(1)]))
    first = api.create(dataset, "nightly")
    assert (first.status_code, first.content) == (502, b"")
    listed = requests.get(f"{api.url}/v2/batches", headers=AUTH, timeout=10).json()
    assert [b["name"] for b in listed["batches"]] == ["nightly"] * left
    assert api.create(dataset, "again").status_code == 200  # only the first create


def test_faults_missing_and_errored_records(make_api: Any) -> None:
    api = make_api("missing=2", "error=3")
    done = api.finished(api.create(api.validated(
        _jsonl([_line(n) for n in range(10)]))).json()["batch"]["id"])
    assert (done["num_records"], done["num_successful_records"],
            done["num_failed_records"]) == (10, 5, 3)
    rows = api.records(done)
    assert [r["custom_id"] for r in rows] == [str(n) for n in range(8)]
    assert [bool(r["error"]) and r["body"] is None for r in rows] == [True] * 3 + [False] * 5


def test_the_signed_url_needs_its_signature_and_refuses_a_key(make_api: Any) -> None:
    api = make_api()
    done = api.finished(api.create(api.validated(_jsonl([_line(1)]))).json()["batch"]["id"])
    url = api.dataset(done["output_dataset_id"])["dataset_parts"][0]["url"]
    assert requests.get(url, timeout=10).status_code == 200
    assert requests.get(url, headers=AUTH, timeout=10).status_code == 400
    assert requests.get(url.replace("sig=", "sig=0"), timeout=10).status_code == 403


@pytest.mark.slow  # 10k records
def test_ten_thousand_records_end_to_end(make_api: Any) -> None:
    api = make_api(time=0.2, parts=4)
    dataset = api.validated(_jsonl([_line(n) for n in range(10_000)]))
    done = api.finished(api.create(dataset).json()["batch"]["id"])
    rows = api.records(done)
    assert len(rows) == 10_000 and rows[-1]["custom_id"] == "9999"


def test_stub_flags_make_the_settings_and_refuse_bad_values() -> None:
    runner = CliRunner()
    for flags in (["--batch-time", "nan"], ["--batch-parts", "0"],
                  ["--batch-fail", "sometimes"], ["--batch-fail", "missing=0"]):
        result = runner.invoke(cli, ["stub", *flags])
        assert result.exit_code == 2, (flags, result.output)
    settings = batch_stub_settings({"batch_time": 2.0, "batch_validation_time": 0.0,
                                    "batch_parts": 3, "batch_faults": (
                                        ("failed", 0), ("missing", 4), ("error", 2))})
    assert settings == BatchStubSettings(time=2.0, validation_time=0.0, parts=3,
                                         faults=frozenset({"failed"}), missing=4, errored=2)
