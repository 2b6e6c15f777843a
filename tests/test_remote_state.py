"""The remote state file's discipline (issue 25, mechanism 3) and never paying twice for a
remote batch (item 4): one run per `-o FILE` (its lock), every field checked on load, the
state file kept until every result line is written, results read only from a validated
output dataset, a failed `--attach` that writes nothing, and a FILE with results never
replaced by a new batch without `--overwrite`."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import ROOT, TEST_KEY, assert_no_key, invoke, wait_for
from test_remote_batch_e2e import batch_stub, creates, hold_first, results, uploads, write_input

from cohere_cli.stub.batch_lifecycle import OUTPUT_TYPE, Dataset
from cohere_cli.stub.server import StubServer


def remote(*args: str) -> Any:
    return invoke(["batch", "--remote", *args])


def _env(server: StubServer) -> dict[str, str]:
    return {**os.environ, "CO_API_URL": server.url, "CO_API_KEY": TEST_KEY}


def _start(args: list[str], server: StubServer) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cohere_cli", *args], env=_env(server),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# --- one run per -o FILE ------------------------------------------------------------------

@pytest.mark.slow
def test_two_runs_on_one_output_make_one_batch(make_stub: Any, tmp_path: Path) -> None:
    server = batch_stub(make_stub, time=1.0)
    source, out = write_input(tmp_path, 20), tmp_path / "out.jsonl"
    args = ["batch", "--remote", "-o", str(out), str(source)]
    first = _start(args, server)
    wait_for(lambda: creates(server) == 1 or first.poll() is not None, "the first run's batch")
    second = _start(args, server)  # while the first one waits for its batch
    first_out, first_err = first.communicate(timeout=60)
    second_out, second_err = second.communicate(timeout=60)
    assert_no_key(first_out, first_err, second_out, second_err)
    assert first.returncode == 0, first_err
    # the second waited for the lock, then found the first one's results: nothing sent
    assert second.returncode == 2, second_err
    assert b"already holds results" in second_err and b"--overwrite" in second_err
    assert (uploads(server), creates(server)) == (1, 1)
    assert len(results(out)) == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "in.jsonl", "out.jsonl"]


def test_a_run_waits_for_the_lock_no_longer_than_lock_timeout(
        make_stub: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server = batch_stub(make_stub)
    held, release = hold_first(monkeypatch, server, lambda s, r: r.method == "GET")
    source, out = write_input(tmp_path, 3), tmp_path / "out.jsonl"
    first = _start(["batch", "--remote", "-o", str(out), str(source)], server)
    try:
        wait_for(lambda: held.is_set() or first.poll() is not None, "the first run's wait")
        waiting = remote("--lock-timeout", "0.2", "-o", str(out), str(source))
    finally:
        release.set()
    assert first.wait(60) == 0
    assert waiting.exit_code == 7
    assert "still locked by another run after 0.2s" in waiting.stderr
    assert "raise --lock-timeout" in waiting.stderr
    assert (uploads(server), creates(server)) == (1, 1)


# --- every field checked on load ----------------------------------------------------------

@pytest.mark.parametrize(("field", "value"), [
    ("batch_id", 5), ("dataset_id", [1]), ("records", 0), ("records", "3"),
    ("records", True), ("creating", "yes"), ("input_sha256", None), ("model", 7),
    ("version", 2), ("name", {"a": 1}),
])
def test_a_wrong_field_is_exit_3_naming_it_and_the_file_kept(
        make_stub: Any, tmp_path: Path, field: str, value: Any) -> None:
    server = batch_stub(make_stub, time=30.0)
    source, out = write_input(tmp_path, 4), tmp_path / "out.jsonl"
    assert remote("--detach", "-o", str(out), str(source)).exit_code == 0
    state_file = tmp_path / "out.jsonl.remote.json"
    state = orjson.loads(state_file.read_bytes())
    state[field] = value
    state_file.write_bytes(orjson.dumps(state))
    before = state_file.read_bytes()
    result = remote("-o", str(out), str(source))
    assert result.exit_code == 3, result.stderr
    assert f"'{field}'" in result.stderr and str(state_file) in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert state_file.read_bytes() == before and not out.exists()
    assert (uploads(server), creates(server)) == (1, 1)


@pytest.mark.parametrize("content", [b"[]", b'"x"', b"{}", b'{"surprise": 1}'])
def test_a_state_file_of_another_shape_is_exit_3(make_stub: Any, tmp_path: Path,
                                                  content: bytes) -> None:
    batch_stub(make_stub)
    source, out = write_input(tmp_path, 2), tmp_path / "out.jsonl"
    (tmp_path / "out.jsonl.remote.json").write_bytes(content)
    result = remote("-o", str(out), str(source))
    assert result.exit_code == 3, result.stderr
    assert (tmp_path / "out.jsonl.remote.json").read_bytes() == content


# --- results only from a validated output dataset -----------------------------------------

@pytest.mark.slow  # over a second
def test_an_output_dataset_still_processing_is_waited_for(make_stub: Any,
                                                          tmp_path: Path) -> None:
    # as recorded live: the batch COMPLETED, its output dataset still `processing`
    server = batch_stub(make_stub, faults=frozenset({"output-processing"}),
                        validation_time=0.3)
    source, out = write_input(tmp_path, 6), tmp_path / "out.jsonl"
    result = remote("-o", str(out), str(source))
    assert result.exit_code == 0, result.stderr
    assert [r["text"] for r in results(out)][:2] == ["echo: plain 0", "echo: hello 1"]
    assert all("error" not in r for r in results(out)) and len(results(out)) == 6
    assert creates(server) == 1


@pytest.mark.slow  # over a second
def test_past_max_time_the_output_is_collected_by_a_rerun(
        make_stub: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server = batch_stub(make_stub)
    status = Dataset.status
    monkeypatch.setattr(Dataset, "status", lambda self, now: "processing"
                        if self.kind == OUTPUT_TYPE else status(self, now))
    source, out = write_input(tmp_path, 3), tmp_path / "out.jsonl"
    # 5 s: a busy machine still reaches the output's wait before the limit
    result = remote("--max-time", "5", "-o", str(out), str(source))
    assert result.exit_code == 7, result.stderr
    assert "waiting for the output dataset" in result.stderr
    assert (tmp_path / "out.jsonl.remote.json").exists() and not out.exists()
    monkeypatch.setattr(Dataset, "status", status)
    again = remote("-o", str(out), str(source))
    assert again.exit_code == 0, again.stderr
    assert len(results(out)) == 3 and (uploads(server), creates(server)) == (1, 1)


def test_the_state_file_stays_until_the_results_are_written(make_stub: Any,
                                                            tmp_path: Path) -> None:
    server = batch_stub(make_stub)
    source, out = write_input(tmp_path, 3), tmp_path / "out.jsonl"
    blocker = tmp_path / "out.jsonl.remote.result"
    blocker.mkdir()  # the results' temporary file cannot be written
    result = remote("-o", str(out), str(source))
    assert result.exit_code == 10, result.stderr
    assert (tmp_path / "out.jsonl.remote.json").exists() and not out.exists()
    blocker.rmdir()
    again = remote("-o", str(out), str(source))
    assert again.exit_code == 0, again.stderr
    assert len(results(out)) == 3 and (uploads(server), creates(server)) == (1, 1)


# --- --attach -----------------------------------------------------------------------------

def test_a_failed_attach_writes_no_state(make_stub: Any, tmp_path: Path) -> None:
    server = batch_stub(make_stub)
    source, out = write_input(tmp_path, 3), tmp_path / "out.jsonl"
    result = invoke(["batch", "--attach", "nosuch", "-o", str(out), str(source)])
    assert result.exit_code == 5, result.stderr
    assert "HTTP 404" in result.stderr
    assert "check the batch ID nosuch (cohere-chat batches list" in result.stderr
    assert "model" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "in.jsonl"]
    # nothing blocks this -o FILE
    assert remote("-o", str(out), str(source)).exit_code == 0
    assert creates(server) == 1


# --- never pay twice (item 4) -------------------------------------------------------------

def test_a_rerun_after_a_finished_remote_batch_sends_nothing(make_stub: Any,
                                                             tmp_path: Path) -> None:
    server = batch_stub(make_stub)
    source, out = write_input(tmp_path, 4), tmp_path / "out.jsonl"
    assert remote("-o", str(out), str(source)).exit_code == 0
    before = out.read_bytes()
    again = remote("-o", str(out), str(source))
    assert again.exit_code == 2
    assert f"{out} already holds results; nothing was sent" in again.stderr
    assert "--overwrite" in again.stderr
    assert out.read_bytes() == before
    assert (uploads(server), creates(server)) == (1, 1)
    anew = remote("--overwrite", "-o", str(out), str(source))
    assert anew.exit_code == 0, anew.stderr
    assert (uploads(server), creates(server)) == (2, 2)
    assert len(results(out)) == 4


def test_attach_does_not_replace_results_either(make_stub: Any, tmp_path: Path) -> None:
    batch_stub(make_stub)
    source, out = write_input(tmp_path, 2), tmp_path / "out.jsonl"
    batch_id = remote("--detach", "-o", str(out), str(source)).stdout.strip()
    (tmp_path / "out.jsonl.remote.json").unlink()
    out.write_bytes(b'{"id": 1}\n')
    result = invoke(["batch", "--attach", batch_id, "-o", str(out), str(source)])
    assert result.exit_code == 2 and "--overwrite" in result.stderr
    assert out.read_bytes() == b'{"id": 1}\n'


@pytest.mark.parametrize("detach", [["--detach"], []], ids=["detach", "wait"])
def test_a_batch_with_no_line_to_send_submits_nothing_and_fails_as_local_batch(
        make_stub: Any, tmp_path: Path, detach: list[str]) -> None:
    server = batch_stub(make_stub)
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(b'{"bad": 1}\n\n{"prompt": 5}\n')
    local = invoke(["batch", "-o", str(tmp_path / "local.jsonl"), str(source)])
    result = remote(*detach, "-o", str(out), str(source))
    assert result.exit_code == local.exit_code == 9, result.stderr
    assert result.stdout == ""  # no batch id: none was submitted
    assert "no batch was submitted (nothing billed): no line can be sent; each line's " \
        f"error is in {out}" in result.stderr
    assert "submitted batch" not in result.stderr
    assert results(out) == results(tmp_path / "local.jsonl")
    assert server.requests == []  # nothing uploaded, created or billed
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "home", "in.jsonl", "local.jsonl", "out.jsonl"]  # no state left to continue


def test_a_stop_before_the_batch_is_created_says_nothing_is_billed(tmp_path: Path) -> None:
    """Ctrl-C (SIGTERM, SIGHUP) during a remote run: the note says a batch goes on at
    Cohere only when the state file names one or a create was sent."""
    from cohere_cli.batch.remote.state import RemoteState, StateFiles
    from cohere_cli.cli.commands.batches import stopped_note

    out = tmp_path / "out.jsonl"
    files = StateFiles(out)
    assert stopped_note(str(out)) == "interrupted before anything was sent (nothing billed)"
    uploaded = RemoteState("cohere-chat-x", "0" * 64, "m", 3, dataset_id="ds")
    files.write(uploaded)
    assert stopped_note(str(out)).startswith("interrupted before a batch was created "
                                             "(nothing billed); run the same command")
    for state in (uploaded.but(creating=True), uploaded.but(batch_id="b1")):
        files.write(state)
        assert stopped_note(str(out)).startswith("interrupted: the batch goes on at Cohere")
    files.state.write_text("{not json")  # it may name a batch: no "nothing billed"
    assert stopped_note(str(out)).startswith("interrupted: a batch may go on at Cohere")


@pytest.mark.slow
def test_a_stopped_remote_run_logs_why_and_says_the_batch_goes_on(make_stub: Any,
                                                                  tmp_path: Path) -> None:
    """Ctrl-C while the batch runs at Cohere: exit 130, the note says it goes on, and the
    run log's line says it was interrupted (as a local batch's does), not `null`."""
    import signal

    server = batch_stub(make_stub, time=30.0)
    source, out, log = write_input(tmp_path, 5), tmp_path / "out.jsonl", tmp_path / "runs.log"
    run = _start(["batch", "--remote", "-o", str(out), "--log", str(log), str(source)], server)
    wait_for(lambda: creates(server) == 1 or run.poll() is not None, "the batch created")
    wait_for(lambda: b'"batch_id": "' in (out.parent / "out.jsonl.remote.json").read_bytes(),
             "the batch id in the state file")
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert_no_key(err)
    assert run.returncode == 130, err
    assert b"the batch goes on at Cohere" in err
    assert orjson.loads(log.read_bytes().splitlines()[-1])["error"] == (
        "interrupted (Ctrl-C, SIGTERM or SIGHUP)")
