"""No prompts left on the account (issue 28 item 5): `batch --remote` deletes its input and
output datasets once every result line is written (unless --keep-datasets); `batches
cleanup` deletes those earlier runs left, printing each (`--dry-run`: lists them); a
failed delete is a warning, never a failed run. And the stub's dataset list and delete."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import TEST_KEY, invoke

from cohere_cli.base.errors import RejectedError
from cohere_cli.stub.batch_settings import BatchStubSettings
from cohere_cli.stub.server import StubServer
from cohere_cli.wire import batch_api
from cohere_cli.wire.batch_api import BatchAPI
from cohere_cli.wire.connection import Connection

FAST = BatchStubSettings(time=0.05, validation_time=0.01)


class Key:
    def reveal(self) -> str:
        return TEST_KEY


def api(server: StubServer) -> BatchAPI:
    return BatchAPI(Connection(server.url, Key(), timeout=10, retries=0, client_name="t"),
                    lambda _: None)


def datasets(server: StubServer) -> list[dict[str, Any]]:
    with api(server) as client:
        return client.datasets()


def run_batch(tmp_path: Path, *flags: str) -> Any:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'"a"\n"b"\n"c"\n')
    return invoke(["batch", "--remote", *flags, "-o", str(tmp_path / "out.jsonl"), str(source)])


def test_a_remote_batch_deletes_its_datasets_once_every_line_is_written(
        make_stub: Any, tmp_path: Path) -> None:
    server = make_stub(batch=FAST)
    result = run_batch(tmp_path)
    assert result.exit_code == 0, result.stderr
    assert len((tmp_path / "out.jsonl").read_bytes().splitlines()) == 3
    assert datasets(server) == []
    methods = [(r.method, r.path.split("?")[0][:12]) for r in server.requests]
    deletes = [number for number, kind in enumerate(methods) if kind[0] == "DELETE"]
    assert len(deletes) == 2  # the upload and the output
    assert deletes[0] > max(n for n, kind in enumerate(methods)
                            if kind[1].startswith("/signed/"))
    assert "warning" not in result.stderr


def test_keep_datasets_keeps_them_and_cleanup_deletes_them_later(
        make_stub: Any, tmp_path: Path) -> None:
    server = make_stub(batch=FAST)
    assert run_batch(tmp_path, "--keep-datasets").exit_code == 0
    kept = datasets(server)
    assert len(kept) == 2 and all(d["name"].startswith("cohere-chat-") for d in kept)
    young = invoke(["batches", "cleanup"])  # both less than an hour past the batch's end
    assert young.exit_code == 0 and young.stdout == ""
    listed = invoke(["batches", "cleanup", "--dry-run", "--min-age", "0"])
    assert listed.exit_code == 0, listed.stderr
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [(line[0], line[1]) for line in lines] == [("would delete", d["id"]) for d in kept]
    assert all(line[3].startswith("its batch ") and line[3].endswith(" ended COMPLETED")
               for line in lines)
    assert len(datasets(server)) == 2
    deleted = invoke(["batches", "cleanup", "--min-age", "0"])
    assert [line.split("\t")[:2] for line in deleted.stdout.splitlines()] == [
        ["deleted", d["id"]] for d in kept]
    assert datasets(server) == []
    assert invoke(["batches", "cleanup", "--min-age", "0"]).stdout == ""


def test_cleanup_takes_ours_of_no_batch_and_leaves_others_and_running_batches(
        make_stub: Any, tmp_path: Path) -> None:
    server = make_stub(batch=BatchStubSettings(time=600, validation_time=0.01))
    upload = tmp_path / "up.jsonl"
    upload.write_bytes(orjson.dumps({"custom_id": "1", "body": {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]}]}}) + b"\n")
    with api(server) as client:
        stray = client.upload(str(upload), "cohere-chat-0123456789ab-deadbeef")
        client.upload(str(upload), "someone-elses")
    detached = run_batch(tmp_path, "--detach")  # its batch runs for ten minutes
    assert detached.exit_code == 0, detached.stderr
    result = invoke(["batches", "cleanup", "--min-age", "0"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (f"deleted\t{stray}\tcohere-chat-0123456789ab-deadbeef\t"
                             "it belongs to no batch\n")
    assert len(datasets(server)) == 2  # someone else's, and the running batch's input


def test_a_failed_delete_is_a_warning_never_a_failed_run(make_stub: Any,
                                                         tmp_path: Path) -> None:
    make_stub(batch=BatchStubSettings(time=0.05, validation_time=0.01,
                                      faults=frozenset({"delete-500"})))
    result = run_batch(tmp_path, "--retries", "0")
    assert result.exit_code == 0, result.stderr
    assert len((tmp_path / "out.jsonl").read_bytes().splitlines()) == 3
    assert result.stderr.count("cohere-chat: warning: could not delete dataset") == 2
    assert "HTTP 500" in result.stderr and "batches cleanup" in result.stderr
    cleanup = invoke(["batches", "cleanup", "--min-age", "0", "--retries", "0"])
    assert cleanup.exit_code == 0 and cleanup.stdout == ""
    assert cleanup.stderr.count("warning: could not delete dataset") == 2


def test_a_detached_run_keeps_its_datasets_until_it_is_collected(
        make_stub: Any, tmp_path: Path) -> None:
    server = make_stub(batch=FAST)
    assert run_batch(tmp_path, "--detach").exit_code == 0
    assert not any(r.method == "DELETE" for r in server.requests)  # not collected yet
    assert datasets(server)
    assert run_batch(tmp_path).exit_code == 0  # the same command collects it
    assert datasets(server) == []


def test_the_stub_lists_datasets_in_pages_and_deletes_them(
        make_stub: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_api, "DATASET_PAGE", 2)
    server = make_stub(batch=FAST)
    upload = tmp_path / "up.jsonl"
    upload.write_bytes(b'{"custom_id": "1", "body": {"messages": []}}\n')
    with api(server) as client:
        made = [client.upload(str(upload), f"set-{number}") for number in range(5)]
        assert [d["id"] for d in client.datasets()] == made  # three pages of 2
        client.delete_dataset(made[0])
        assert [d["id"] for d in client.datasets()] == made[1:]
    pages = [r.path for r in server.requests
             if r.method == "GET" and r.path.startswith("/v1/datasets?")]
    assert pages[:3] == [f"/v1/datasets?limit=2&offset={offset}" for offset in (0, 2, 4)]
    with api(server) as client, pytest.raises(RejectedError, match="HTTP 404"):
        client.delete_dataset(made[0])  # gone for good
