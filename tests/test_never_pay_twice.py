"""Never pay twice (issue 25, items 4-6): `batch -o FILE` never sends its lines again over
the results FILE holds without --resume or --overwrite; SIGTERM and SIGHUP stop a batch as
Ctrl-C does, with a command to continue that runs as printed for any file name; the
summary names the first failed lines."""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import ROOT, assert_no_key, invoke, wait_for

from cohere_cli.batch.summary import Summary
from cohere_cli.cli.batch_report import interrupted_text
from cohere_cli.stub.handler import RequestHandler


def jsonl(*values: Any) -> bytes:
    return b"".join(orjson.dumps(v) + b"\n" for v in values)


def results(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


# --- item 4: a FILE with results ----------------------------------------------------------

def test_a_file_with_results_is_refused_before_anything_is_sent(stub: Any,
                                                                tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(jsonl("a", "b", "c"))
    assert invoke(["batch", "-o", str(out), str(source)]).exit_code == 0
    before, sent = out.read_bytes(), len(stub.requests)
    again = invoke(["batch", "-o", str(out), str(source)])
    assert again.exit_code == 2
    assert f"{out} already holds results; nothing was sent" in again.stderr
    assert "--resume" in again.stderr and "--overwrite" in again.stderr
    assert out.read_bytes() == before and len(stub.requests) == sent
    anew = invoke(["batch", "--overwrite", "-o", str(out), str(source)])
    assert anew.exit_code == 0, anew.stderr
    assert len(stub.requests) == sent + 3 and len(results(out)) == 3
    resumed = invoke(["batch", "--resume", "-o", str(out), str(source)])
    assert resumed.exit_code == 0 and len(stub.requests) == sent + 3  # all done already


def test_an_empty_or_new_file_needs_no_flag(stub: Any, tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(jsonl("a"))
    out.write_bytes(b"")
    assert invoke(["batch", "-o", str(out), str(source)]).exit_code == 0
    assert invoke(["batch", "-o", str(tmp_path / "new.jsonl"), str(source)]).exit_code == 0


def test_resume_into_a_file_that_holds_no_results_is_refused(stub: Any,
                                                             tmp_path: Path) -> None:
    # found by `make fuzz`: `-o` naming a file of input lines (JSON, but no batch's)
    source, out = tmp_path / "in.jsonl", tmp_path / "lines.jsonl"
    source.write_bytes(jsonl("a"))
    out.write_bytes(jsonl("a", {"prompt": "b"}))
    result = invoke(["batch", "--resume", "-o", str(out), str(source)])
    assert result.exit_code == 3
    assert f"{out}:1: not a result line; cannot resume" in result.stderr
    assert out.read_bytes() == jsonl("a", {"prompt": "b"}) and stub.requests == []


@pytest.mark.parametrize(("args", "fragment"), [
    (["--overwrite", "--resume", "-o", "out.jsonl"], "--resume and --overwrite cannot go"),
    (["--overwrite"], "--overwrite needs -o/--output FILE"),
])
def test_overwrite_goes_with_a_file_and_not_with_resume(
        stub: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
        fragment: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_bytes(jsonl("a"))
    result = invoke(["batch", *args, "in.jsonl"])
    assert result.exit_code == 2 and fragment in result.stderr
    assert stub.requests == []


# --- one run per -o FILE: the lock remote batch takes, local batch takes too ----------------

def _hold_chats(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], threading.Event]:
    """Every chat request the stub gets waits for `release` before it is answered; the
    list holds one entry per chat request received."""
    arrived: list[str] = []
    release = threading.Event()
    route = RequestHandler._route

    def holding(handler: RequestHandler, request: Any, advance: bool = True) -> Any:
        if request.path.startswith("/v2/chat"):
            arrived.append(request.path)
            release.wait(60)
        return route(handler, request, advance)

    monkeypatch.setattr(RequestHandler, "_route", holding)
    return arrived, release


def _has_open(pid: int, path: Path) -> bool:
    """Whether process PID has PATH open (Linux: /proc/PID/fd)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                return True
    return False


@pytest.mark.slow
@pytest.mark.parametrize(("args", "code", "said"), [
    (["--lock-timeout", "0.2"], 7, "is still locked by another run after 0.2s"),
    ([], 2, "already holds results; nothing was sent"),
    (["--resume"], 0, "batch: ok=0 failed=0 skipped=3"),
], ids=["lock-timeout", "refused", "resume"])
def test_two_local_runs_on_one_output_send_each_line_once(
        stub: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
        code: int, said: str) -> None:
    arrived, release = _hold_chats(monkeypatch)
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(jsonl("a", "b", "c"))
    lock = Path(os.path.realpath(out)).with_name("out.jsonl.lock")
    command = [sys.executable, "-m", "cohere_cli", "batch", "-j", "1", "-o", str(out)]
    first = subprocess.Popen([*command, str(source)], cwd=ROOT, env=dict(os.environ),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    second = None
    try:
        wait_for(lambda: arrived or first.poll() is not None, "the first run's request")
        second = subprocess.Popen([*command, *args, str(source)], cwd=ROOT,
                                  env=dict(os.environ), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        pid = second.pid
        # the second run waits for the lock (it has FILE.lock open), or it ended, or it
        # sent a line of its own (what the lock is there to prevent)
        wait_for(lambda: _has_open(pid, lock) or second.poll() is not None
                 or len(arrived) > 1, "the second run waiting for the lock")
        assert len(arrived) == 1  # the first run's first line alone: FILE is still empty
        if code == 7:
            second.wait(60)  # gives up while the first run still holds the lock
    finally:
        release.set()
    first_out, first_err = first.communicate(timeout=60)
    second_out, second_err = second.communicate(timeout=60)
    assert_no_key(first_out, first_err, second_out, second_err)
    assert first.returncode == 0, first_err
    assert second.returncode == code, second_err
    assert said in second_err.decode()
    assert len(arrived) == 3  # each line sent once, by the first run
    assert sorted(r["id"] for r in results(out)) == [1, 2, 3]
    assert not lock.exists()  # its holder removed it


# --- item 5: SIGTERM and SIGHUP, and a command that runs as printed -----------------------

NAMES = {"plain": b"my in.jsonl", "newline": b"in\nx.jsonl", "not-utf8": b"in\xff.jsonl"}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(NAMES))
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_sigterm_and_sighup_say_how_to_continue_and_the_command_runs(
        make_stub: Any, tmp_path: Path, stop: signal.Signals, name: str) -> None:
    make_stub(latency_ms=40)
    source = Path(os.fsdecode(bytes(tmp_path) + b"/" + NAMES[name]))
    source.write_bytes(jsonl(*[f"p{n}" for n in range(60)]))
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "cohere_cli", "batch", "-j", "1", "-o",
                             str(out), str(source)], cwd=ROOT, env=dict(os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(lambda: out.exists() and out.read_bytes().count(b"\n") >= 3, "three results")
    proc.send_signal(stop)
    _, err = proc.communicate(timeout=30)
    assert_no_key(err)
    assert proc.returncode == 130, err
    line = err.decode().splitlines()[-1]
    match = re.fullmatch(r"cohere-chat: interrupted: (\d+) of 60 lines not done; "
                         r"to continue: cohere-chat (.*)", line)
    assert match, err
    assert int(match[1]) == 60 - len(results(out))
    make_stub()  # the rest without the latency
    command = f"{shlex.quote(sys.executable)} -m cohere_cli {match[2]}"
    again = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True,
                           timeout=60, env=dict(os.environ))
    assert again.returncode == 0, again.stderr
    assert sorted(r["id"] for r in results(out)) == list(range(1, 61))


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_a_stop_while_reading_an_open_pipe_exits_130(make_stub: Any,
                                                    stop: signal.Signals) -> None:
    # the reader thread is blocked reading stdin (its writer still there) when the run
    # ends: the interpreter's shutdown used to abort on stdin's lock (SIGABRT, a core)
    server = make_stub(latency_ms=200)
    proc = subprocess.Popen([sys.executable, "-m", "cohere_cli", "batch", "-j", "1"],
                            cwd=ROOT, env=dict(os.environ), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(b'"a"\n')
    proc.stdin.flush()
    wait_for(lambda: server.requests, "the first line's request")
    proc.send_signal(stop)
    out, err = proc.communicate(timeout=30)
    assert_no_key(out, err)
    assert proc.returncode == 130, err
    assert b"Fatal Python error" not in err
    assert err.decode().splitlines()[-1].startswith("cohere-chat: interrupted: ")


def test_a_name_the_shell_cannot_take_in_quotes_is_escaped() -> None:
    from cohere_cli.cli.batch_report import shell_word

    assert shell_word("my in.jsonl") == "'my in.jsonl'"
    assert shell_word("é.jsonl") == "'é.jsonl'"
    assert shell_word("in\nx.jsonl") == "$'in\\nx.jsonl'"
    assert shell_word(os.fsdecode(b"in\xff.jsonl")) == "$'in\\xff.jsonl'"
    assert shell_word("it's\t\\") == "$'it\\'s\\t\\\\'"
    summary = Summary(ok=1, total=3, to_file=True)
    text = interrupted_text(summary, ["batch", "--overwrite", "-o", "o", "in\nx"])
    assert text.endswith("to continue: cohere-chat batch -o o $'in\\nx' --resume")


# --- item 6: the first failed lines -------------------------------------------------------

def test_the_summary_names_the_first_failed_lines(stub: Any) -> None:
    lines = [f"p{n}" if n % 2 else {"id": f"k{n}", "prompt": 5} for n in range(30)]
    result = invoke(["batch"], stdin=jsonl(*lines, "x") + b"{torn\n")
    assert result.exit_code == 9
    shown = [line for line in result.stderr.splitlines() if "failed:" in line]
    assert shown == ['cohere-chat: failed: line 1 (id "k0"), line 3 (id "k2"), '
                     'line 5 (id "k4"), line 7 (id "k6"), line 9 (id "k8"), '
                     'line 11 (id "k10"), line 13 (id "k12"), line 15 (id "k14"), '
                     'line 17 (id "k16"), line 19 (id "k18") and 6 more'], result.stderr


def test_failed_lines_without_ids_are_named_by_number() -> None:
    from cohere_cli.cli.batch_report import failed_text

    summary = Summary(failed=2)
    summary.first_failed = [(7, 7), (2, "7")]
    assert failed_text(summary) == 'failed: line 2 (id "7"), line 7'


def test_a_remote_summary_names_them_too(make_stub: Any, tmp_path: Path) -> None:
    from test_remote_batch_e2e import batch_stub, write_input

    batch_stub(make_stub, missing=2)
    source = write_input(tmp_path, 6)
    result = invoke(["batch", "--remote", "-o", str(tmp_path / "out.jsonl"), str(source)])
    assert result.exit_code == 9
    assert 'cohere-chat: failed: line 5 (id "k4"), line 6 (id "k5")' in result.stderr
