"""`batch --remote` in flat memory (issue 26): the output records spilled to disk by input
position and written back in input order as a stream; the same result lines as before;
peak memory that does not grow with the batch; no spill file left behind by a killed run
once the rerun has finished."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import ROOT, TEST_KEY, assert_no_key, invoke, run_process, wait_for

from cohere_cli.base.errors import ExitCode, InputError, LocalWriteError
from cohere_cli.batch.remote.prepare import LineSource, prepare
from cohere_cli.batch.remote.spill import Spill, in_order
from cohere_cli.batch.remote.state import StateFiles
from cohere_cli.chat.request import RequestOptions
from cohere_cli.stub.batch_settings import BatchStubSettings
from cohere_cli.stub.server import StubServer


def batch_stub(make_stub: Any, **settings: Any) -> StubServer:
    settings.setdefault("time", 0.05)
    settings.setdefault("validation_time", 0.01)
    server: StubServer = make_stub(batch=BatchStubSettings(**settings))
    return server


def write_mixed(path: Path, count: int) -> Path:
    """COUNT lines of every kind a batch meets: plain prompts (their line number is their
    id), explicit ids, a number id that is a plain line's, a repeated id, a broken line."""
    with path.open("wb") as out:
        for i in range(count):
            line = orjson.dumps({"id": f"k{i}", "prompt": f"hello {i}"}) if i % 3 else \
                orjson.dumps(f"plain {i}")
            if i % 1000 == 7:
                line = b'{"prompt": '
            elif i % 1000 == 11:
                line = orjson.dumps({"id": "k10", "prompt": "the same id as line 11"})
            elif i % 1000 == 13:
                line = orjson.dumps({"id": 1, "prompt": "line 1 has this id"})
            out.write(line + b"\n")
    return path


def leftovers(folder: Path, output: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(output.name + "."))


def test_the_spill_gives_records_in_input_order_whatever_order_they_came(
        tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    path = folder / "out.jsonl.remote.spill.sqlite"
    path.write_bytes(b"a stale spill of a killed run: not a database")
    with Spill(path) as spill:
        assert spill.claim("a", 0) and spill.claim("c", 2) and spill.claim("d", 3)
        assert not spill.claim("a", 5)  # an earlier line has it
        arrivals = [("d", b"D"), ("zzz", b"nobody's"), ("a", b"A0"), ("a", b"A")]
        for key, record in arrivals:
            spill.put(key, record)
        assert list(spill.records()) == [(0, b"A"), (3, b"D")]  # the later record wins
        assert list(islice(in_order(spill), 6)) == [b"A", None, None, b"D", None, None]
    assert list(folder.iterdir()) == []


def test_many_records_in_shuffled_order_stream_back_in_order(tmp_path: Path) -> None:
    count = 20_000
    order = list(range(count))
    random.Random(26).shuffle(order)
    with Spill(tmp_path / "spill") as spill:
        for position in range(count):
            spill.claim(f"id-{position}", position)
        for position in order:
            if position % 7:
                spill.put(f"id-{position}", b"r%d" % position)
        found = list(islice(in_order(spill), count))
    assert found == [b"r%d" % n if n % 7 else None for n in range(count)]


def test_a_spill_that_cannot_be_made_is_a_write_error(tmp_path: Path) -> None:
    (tmp_path / "spill").mkdir()
    (tmp_path / "spill" / "inside").write_bytes(b"")  # a folder where the file goes
    with pytest.raises(LocalWriteError, match="spill: cannot write"):
        Spill(tmp_path / "spill")


def test_a_spill_that_cannot_be_made_stops_prepare_before_anything_is_sent(
        tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'"one"\n"two"\n')
    files = StateFiles(tmp_path / "out.jsonl")
    files.spill.mkdir()
    (files.spill / "inside").write_bytes(b"")
    lines = LineSource(str(source), RequestOptions(), "command-a")
    with source.open("rb") as stream, pytest.raises(InputError) as raised:
        prepare(lines, stream, files)
    assert raised.value.exit_code == ExitCode.INPUT
    assert str(raised.value).startswith(f"{files.spill}: cannot write: ")


FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from cohere_cli.base.errors import ExitCode, InputError, LocalWriteError
from cohere_cli.batch.remote.prepare import LineSource, prepare
from cohere_cli.batch.remote.spill import Spill
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
try:
    with Spill(Path(sys.argv[1])) as spill:
        for n in range(10_000):
            spill.claim(str(n), n)
            spill.put(str(n), bytes(1000))
        list(spill.records())
except LocalWriteError as exc:
    print(exc.exit_code, exc)
"""


def test_a_full_disk_under_the_spill_is_a_write_error(tmp_path: Path) -> None:
    """10 MB of records where 1 MB fits (a file size limit stands in for a full disk)."""
    folder = tmp_path / "run"
    folder.mkdir()
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(folder / "spill")],
                          capture_output=True, cwd=ROOT, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert b"spill: cannot write" in done.stdout, done.stdout
    assert int(done.stdout.split()[0]) == LocalWriteError.exit_code
    assert list(folder.iterdir()) == []  # removed all the same


@pytest.mark.slow
def test_result_lines_are_byte_identical_to_local_batch(make_stub: Any,
                                                        tmp_path: Path) -> None:
    """Several output parts, failed lines, repeated ids: every byte as local `batch`."""
    server = batch_stub(make_stub, parts=3)
    source = write_mixed(tmp_path / "in.jsonl", 5_000)
    env = {**os.environ, "CO_API_URL": server.url, "CO_API_KEY": TEST_KEY}
    local = run_process(["batch", "-j", "8", "-o", str(tmp_path / "local.jsonl"),
                         str(source)], env=env, timeout=120)
    result = invoke(["batch", "--remote", "-o", str(tmp_path / "remote.jsonl"), str(source)])
    assert result.exit_code == local.returncode == 9, result.stderr
    there = (tmp_path / "remote.jsonl").read_bytes()
    assert there.count(b"\n") == 5_000 and b'"error"' in there
    assert there == (tmp_path / "local.jsonl").read_bytes()
    assert local.stderr.decode().split("tokens=")[0] in result.stderr
    assert leftovers(tmp_path, tmp_path / "remote.jsonl") == []


# A process's peak resident size counts its parent's at the fork: this test's process
# holds the stub's batches, so a small Python starts the measured one and reports it.
MEASURE = """
import os, subprocess, sys
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
err = process.stderr.read()
_, status, usage = os.wait4(process.pid, 0)
sys.stderr.buffer.write(err)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_mib(args: list[str], env: dict[str, str]) -> float:
    done = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "cohere_cli",
                           *args], env=env, cwd=ROOT, capture_output=True, timeout=300,
                          check=True)
    assert_no_key(done.stdout, done.stderr)
    status, peak = done.stdout.split()
    assert status == b"0", done.stderr
    return int(peak) / 1024


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_batch(make_stub: Any, tmp_path: Path) -> None:
    """Lines of 1 KB: 20,000 of them make a 20 MB upload and 60 MB of output records,
    which a run holding either in memory would show."""
    server = batch_stub(make_stub)
    env = {**os.environ, "CO_API_URL": server.url, "CO_API_KEY": TEST_KEY}
    peaks = []
    for count in (2_000, 20_000):
        source = tmp_path / f"in-{count}.jsonl"
        source.write_bytes(b"".join(b'"prompt %d %s"\n' % (n, b"x" * 1000)
                                    for n in range(count)))
        peaks.append(peak_mib(["batch", "--remote", "-o", str(tmp_path / f"out-{count}"),
                               str(source)], env))
    assert (tmp_path / "out-20000").read_bytes().count(b"\n") == 20_000
    assert peaks[1] - peaks[0] < 12, peaks


def spilling(out: Path) -> bool:
    return any(out.parent.glob(out.name + ".*spill*"))


STAGES: dict[str, Callable[[Path], bool]] = {  # what exists beside -o out.jsonl
    "while preparing": lambda out: spilling(out)
    and not out.with_name("out.jsonl.remote.json").exists(),
    "while collecting": lambda out: spilling(out)
    and out.with_name("out.jsonl.remote.json").exists(),
    "while writing": lambda out: out.with_name("out.jsonl.remote.result").exists(),
}


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(STAGES))
def test_a_kill_leaves_no_spill_behind_once_rerun(make_stub: Any, tmp_path: Path,
                                                   stage: str) -> None:
    server = batch_stub(make_stub, parts=2)
    source = write_mixed(tmp_path / "in.jsonl", 20_000)
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "CO_API_URL": server.url, "CO_API_KEY": TEST_KEY}
    args = [sys.executable, "-m", "cohere_cli", "batch", "--remote", "-o", str(out),
            str(source)]
    with subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE) as process:
        wait_for(lambda: STAGES[stage](out) or process.poll() is not None, stage, 120)
        process.send_signal(signal.SIGKILL)
        _, err = process.communicate()
        assert_no_key(err)
    assert process.returncode == -signal.SIGKILL, err  # killed, not ended on its own
    result = invoke(["batch", "--remote", "-o", str(out), str(source)])
    assert result.exit_code == 9, result.stderr
    assert out.read_bytes().count(b"\n") == 20_000
    assert sum(1 for r in server.requests if r.method == "POST"
               and r.path.split("?")[0] == "/v2/batches") == 1
    assert leftovers(tmp_path, out) == []
