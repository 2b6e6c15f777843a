"""`batch --remote` end to end against the stub's Batch API (issue 19): the same results
as local `batch`, a run killed at each stage and run again (one upload, one batch), a
502 on create, a refused dataset, --detach and --attach across processes, cancel."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import ROOT, TEST_KEY, assert_no_key, invoke, run_process, wait_for

from cohere_cli.stub.batch_routes import BatchService
from cohere_cli.stub.batch_settings import BatchStubSettings
from cohere_cli.stub.handler import RecordedRequest
from cohere_cli.stub.server import StubServer

pytestmark = pytest.mark.slow  # end to end: processes, polls, 10k lines

FAST = 0.05  # seconds the stub's batch takes from QUEUED to COMPLETED


def batch_stub(make_stub: Any, **settings: Any) -> StubServer:
    """A stub whose Batch API endpoints run as `settings` say (fast unless told)."""
    settings.setdefault("time", FAST)
    settings.setdefault("validation_time", 0.01)
    server: StubServer = make_stub(batch=BatchStubSettings(**settings))
    return server


def _count(server: StubServer, method: str, prefix: str, exact: bool = False) -> int:
    return sum(1 for r in list(server.requests) if r.method == method and (
        r.path.split("?")[0] == prefix if exact else r.path.startswith(prefix)))


def uploads(server: StubServer) -> int:
    return _count(server, "POST", "/v1/datasets")


def creates(server: StubServer) -> int:
    return _count(server, "POST", "/v2/batches", exact=True)


def polls(server: StubServer) -> int:
    return _count(server, "GET", "/v2/batches/")


def write_input(folder: Path, count: int, bad: bool = False) -> Path:
    lines = [orjson.dumps({"id": f"k{i}", "prompt": f"hello {i}"}) if i % 3 else
             orjson.dumps(f"plain {i}") for i in range(count)]
    if bad:
        lines[count // 2] = b'{"prompt": '
    path = folder / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def results(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def remote(*args: str) -> Any:
    return invoke(["batch", "--remote", *args])


def test_ten_thousand_lines_give_what_local_batch_gives(make_stub: Any,
                                                         tmp_path: Path) -> None:
    server = batch_stub(make_stub)
    source = write_input(tmp_path, 10_000, bad=True)
    env = {**os.environ, "CO_API_URL": server.url, "CO_API_KEY": TEST_KEY}
    local = run_process(["batch", "-j", "16", "-o", str(tmp_path / "local.jsonl"),
                         str(source)], env=env, timeout=60)
    result = remote("-o", str(tmp_path / "remote.jsonl"), str(source))
    assert result.exit_code == local.returncode == 9, result.stderr
    here, there = results(tmp_path / "local.jsonl"), results(tmp_path / "remote.jsonl")
    assert len(there) == 10_000
    assert [(r["id"], r["line"], r.get("text"), "error" in r) for r in there] == [
        (r["id"], r["line"], r.get("text"), "error" in r) for r in here]
    assert uploads(server) == 1 and creates(server) == 1
    assert "batch: ok=9999 failed=1 skipped=0" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("remote.jsonl.")) == []


def _is_poll(request: RecordedRequest) -> bool:
    return request.method == "GET" and request.path.startswith("/v2/batches/")


# Each stage is the request the stub holds unanswered until the run is killed: the run is
# then certainly in that stage (it waits for that answer), and cannot have gone further.
STAGES: dict[str, Callable[[StubServer, RecordedRequest], bool]] = {
    "after upload": lambda s, r: r.method == "GET" and r.path.startswith("/v1/datasets/"),
    "after create": lambda s, r: _is_poll(r),
    "while polling": lambda s, r: _is_poll(r) and polls(s) >= 3,
    "during download": lambda s, r: r.method == "GET" and r.path.startswith("/signed/"),
}


def hold_first(monkeypatch: pytest.MonkeyPatch, server: StubServer,
               stage: Callable[[StubServer, RecordedRequest], bool]) -> tuple[Any, Any]:
    """The first Batch API request `stage` matches waits for `release` before the stub
    answers it; `held` is set once it is waiting."""
    held, release = threading.Event(), threading.Event()
    answer = BatchService.answer

    def holding(service: BatchService, request: RecordedRequest, authorized: bool) -> Any:
        if not held.is_set() and stage(server, request):
            held.set()
            release.wait(60)
        return answer(service, request, authorized)

    monkeypatch.setattr(BatchService, "answer", holding)
    return held, release


@pytest.mark.parametrize("stage", list(STAGES))
def test_killed_at_each_stage_a_rerun_finishes_without_sending_twice(
        make_stub: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stage: str) -> None:
    # while polling: the batch runs long enough for three polls (at about 0, 0.2, 0.5 s)
    server = batch_stub(make_stub, time=3.0 if stage == "while polling" else FAST)
    held, release = hold_first(monkeypatch, server, STAGES[stage])
    source = write_input(tmp_path, 50)
    out = tmp_path / "out.jsonl"
    args = [sys.executable, "-m", "cohere_cli", "batch", "--remote", "-o", str(out),
            str(source)]
    env = {**os.environ, "CO_API_URL": server.url, "CO_API_KEY": TEST_KEY}
    try:
        with subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) as process:
            wait_for(lambda: held.is_set() or process.poll() is not None, stage, 60)
            process.send_signal(signal.SIGKILL)
            _, err = process.communicate()
    finally:
        release.set()
    assert_no_key(err)
    assert process.returncode == -signal.SIGKILL, err  # killed waiting, not ended
    assert (uploads(server), creates(server)) == (1, 0 if stage == "after upload" else 1)
    assert (tmp_path / "out.jsonl.remote.json").exists() and not out.exists()
    result = remote("-o", str(out), str(source))
    assert result.exit_code == 0, result.stderr
    assert uploads(server) == 1 and creates(server) == 1
    assert [r["text"] for r in results(out)][:2] == ["echo: plain 0", "echo: hello 1"]
    assert len(results(out)) == 50 and all("error" not in r for r in results(out))


@pytest.mark.parametrize("fault", ["create-502", "create-502-after"])
def test_a_502_on_create_leaves_one_batch(make_stub: Any, tmp_path: Path, fault: str) -> None:
    server = batch_stub(make_stub, faults=frozenset({fault}))
    source = write_input(tmp_path, 5)
    result = remote("-o", str(tmp_path / "out.jsonl"), str(source))
    assert result.exit_code == 0, result.stderr
    listed = invoke(["batches", "list", "--json"])
    assert len(listed.lines()) == 1
    # refused before creating: looked up by name, nothing there, so sent once more
    assert creates(server) == (2 if fault == "create-502" else 1)
    assert len(results(tmp_path / "out.jsonl")) == 5


def test_a_refused_dataset_is_one_clear_error(make_stub: Any, tmp_path: Path) -> None:
    server = batch_stub(make_stub, faults=frozenset({"validation"}))
    source = write_input(tmp_path, 5)
    result = remote("-o", str(tmp_path / "out.jsonl"), str(source))
    assert result.exit_code == 5
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "stub: injected validation failure" in errors[0], result.stderr
    assert creates(server) == 0
    assert list(tmp_path.glob("out.jsonl*")) == []


def test_missing_records_are_error_lines(make_stub: Any, tmp_path: Path) -> None:
    batch_stub(make_stub, missing=2)
    source = write_input(tmp_path, 10)
    result = remote("-o", str(tmp_path / "out.jsonl"), str(source))
    assert result.exit_code == 9
    lines = results(tmp_path / "out.jsonl")
    assert [r["line"] for r in lines] == list(range(1, 11))
    missing = [r for r in lines if "error" in r]
    assert len(missing) == 2
    assert "returned no result for this line" in missing[0]["error"]["message"]
    assert "batch: ok=8 failed=2" in result.stderr


def test_detach_then_attach_from_another_process(make_stub: Any, tmp_path: Path) -> None:
    server = batch_stub(make_stub)
    source = write_input(tmp_path, 7)
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "CO_API_URL": server.url, "CO_API_KEY": TEST_KEY}
    detached = run_process(["batch", "--remote", "--detach", "-o", str(out), str(source)],
                           env=env)
    assert detached.returncode == 0, detached.stderr
    batch_id = detached.stdout.decode().strip()
    assert batch_id and not out.exists()
    (tmp_path / "out.jsonl.remote.json").unlink()  # attach by the id alone
    attached = run_process(["batch", "--attach", batch_id, "-o", str(out), str(source)],
                           env=env)
    assert attached.returncode == 0, attached.stderr
    assert len(results(out)) == 7
    assert uploads(server) == 1 and creates(server) == 1


def test_cancel(make_stub: Any, tmp_path: Path) -> None:
    batch_stub(make_stub, time=10.0)  # QUEUED 5 s, CANCELING 1 s
    source = write_input(tmp_path, 4)
    out = tmp_path / "out.jsonl"
    detached = remote("--detach", "-o", str(out), str(source))
    batch_id = detached.stdout.strip()
    assert invoke(["batches", "cancel", batch_id]).exit_code == 0
    shown = orjson.loads(invoke(["batches", "show", batch_id]).stdout)
    assert shown["status"] in ("BATCH_STATUS_CANCELING", "BATCH_STATUS_CANCELED")
    result = remote("-o", str(out), str(source))
    assert result.exit_code == 9
    assert all("CANCELED" in r["error"]["message"] for r in results(out))

