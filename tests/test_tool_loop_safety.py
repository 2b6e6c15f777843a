"""The tool loop under hostile tools (issue 20 items 1-4 and 11, issue 12 item 7):
daemons that hold the tool's stdout, signals during a tool, a tool that reads its
parent's environment, absurd timeouts, endless output, and `-F message` as a history.

Tools run as real processes, and so does cohere-chat wherever signals, process groups,
/proc or memory are what is checked; the stub answers on loopback.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import official
import orjson
import pytest
from conftest import ROOT, TEST_KEY, assert_no_key, chat_bodies, invoke, run_process

from cohere_cli.base.errors import UsageError
from cohere_cli.chat import tools
from cohere_cli.chat.tools import MAX_RESULT_BYTES, ToolSettings, run_tool
from cohere_cli.cli.stop_signals import as_ctrl_c

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def call_reply(*calls: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    """A stub reply whose message calls tools: (id, name, arguments) each."""
    tool_calls = [{"id": call_id, "type": "function", "function": {
        "name": name, "arguments": orjson.dumps(arguments).decode()}}
        for call_id, name, arguments in calls]
    return {"finish_reason": "TOOL_CALL", "message": {
        "role": "assistant", "tool_plan": "I will use the tools", "tool_calls": tool_calls}}


def script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def running(pid: int) -> bool:
    """Whether PID still runs (a zombie has ended: only its entry is left to collect)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def read_pid(path: Path, seconds: float = 30) -> int:
    assert wait_until(lambda: path.exists() and path.read_text().strip().isdigit(), seconds)
    return int(path.read_text())


@pytest.fixture
def pids() -> Iterator[list[int]]:
    """PIDs a test's tools reported; whatever still runs at the end is killed."""
    found: list[int] = []
    yield found
    for pid in found:
        if running(pid):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):  # a tool of this process: collect it
            os.waitpid(pid, 0)


def tool_content(server: Any, index: int = 2) -> str:
    return str(chat_bodies(server)[1]["messages"][index]["content"])


# --- item 1: the timeout holds, and a finished tool is not held by its children --------

@pytest.mark.slow
@linux_only
def test_a_daemon_holding_stdout_neither_hangs_nor_hides_the_output(
    make_stub: Any, tmp_path: Path, pids: list[int]
) -> None:
    pid_file = tmp_path / "daemon.pid"
    tool = script(tmp_path / "daemon.sh", "echo '{\"ok\":1}'\n"
                  f"setsid sh -c 'echo $$ > {pid_file}; exec sleep 600' &\nexit 0")
    server = make_stub(replies=(call_reply(("c1", "weather", {})), "done"))
    try:  # held by the daemon, the run would last its 600 s: the 60 s timeout fails it
        result = run_process(["--tool-exec", f"weather={tool}", "--tool-timeout", "600", "go"],
                             timeout=60)
    finally:
        pids.append(read_pid(pid_file))
    assert (result.returncode, result.stdout) == (0, b"done\n"), result.stderr
    assert orjson.loads(tool_content(server)) == {"ok": 1}


@linux_only
def test_a_finished_tool_keeps_its_output_and_its_group_is_killed(
    make_stub: Any, tmp_path: Path, pids: list[int]
) -> None:
    pid_file = tmp_path / "child.pid"
    tool = script(tmp_path / "bg.sh", "echo '{\"ok\":2}'\n"
                  f"sh -c 'echo $$ > {pid_file}; exec sleep 60' &\nexit 0")
    server = make_stub(replies=(call_reply(("c1", "weather", {})), "done"))
    result = invoke(["--tool-exec", f"weather={tool}", "--tool-timeout", "5", "go"])
    pids.append(read_pid(pid_file))
    assert (result.exit_code, result.stdout) == (0, "done\n"), result.stderr
    assert orjson.loads(tool_content(server)) == {"ok": 2}
    assert wait_until(lambda: not running(pids[0]), 30), "the child in the tool's group lives on"


@pytest.mark.slow
@linux_only
def test_the_timeout_holds_when_a_daemon_keeps_the_pipe_open(
    make_stub: Any, tmp_path: Path, pids: list[int]
) -> None:
    pid_file = tmp_path / "daemon.pid"
    tool = script(tmp_path / "stuck.sh",
                  f"setsid sh -c 'echo $$ > {pid_file}; exec sleep 600' &\nexec sleep 600")
    server = make_stub(replies=(call_reply(("c1", "nap", {})), "ok"))
    try:  # held by the daemon's pipe, the run would last 600 s: the 60 s timeout fails it
        result = run_process(["--tool-exec", f"nap={tool}", "--tool-timeout", "1", "go"],
                             timeout=60)
    finally:
        pids.append(read_pid(pid_file))
    assert result.returncode == 0, result.stderr
    assert orjson.loads(tool_content(server)) == {"error": "the tool timed out after 1s"}


@linux_only
def test_a_tool_that_closes_its_output_and_keeps_running_times_out_and_ends(
    tmp_path: Path, pids: list[int]
) -> None:
    pid_file = tmp_path / "tool.pid"  # end of file on both pipes is not the tool's end
    argv = ("sh", "-c", f"echo $$ > {pid_file}; exec >&- 2>&- <&-; exec sleep 30")
    result = run_tool({"id": "c1", "name": "quiet", "arguments": "{}"}, argv, 0.5)
    pids.append(read_pid(pid_file))
    assert orjson.loads(result["content"]) == {"error": "the tool timed out after 0.5s"}
    assert not running(pids[0])


# --- item 2: a signal to cohere-chat during a tool ends the tool too -------------------

# cohere-chat as a real process, with the signals at their defaults whatever this test
# process inherited (a shell without job control starts background jobs ignoring SIGINT).
DEFAULT_SIGNALS = (
    "import runpy, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "for sig in (signal.SIGTERM, signal.SIGHUP):\n"
    "    signal.signal(sig, signal.SIG_DFL)\n"
    "sys.argv[0] = 'cohere-chat'\n"
    "runpy.run_module('cohere_cli', run_name='__main__', alter_sys=True)\n"
)


@pytest.mark.slow
@linux_only
@pytest.mark.parametrize(("sig", "status"), [
    (signal.SIGINT, 130), (signal.SIGTERM, -signal.SIGTERM), (signal.SIGHUP, -signal.SIGHUP)])
def test_a_signal_during_a_tool_ends_the_tool_too(
    make_stub: Any, tmp_path: Path, pids: list[int], sig: signal.Signals, status: int
) -> None:
    pid_file = tmp_path / "tool.pid"
    # the pid file appears once the tool has its arguments (stdin closed): cohere-chat is
    # then waiting for the tool, the stage the signal is meant for
    tool = script(tmp_path / "slow.sh", f"cat > /dev/null\necho $$ > {pid_file}.tmp\n"
                  f"mv {pid_file}.tmp {pid_file}\nexec sleep 60")
    make_stub(replies=(call_reply(("c1", "slow", {})), "never"))
    proc = subprocess.Popen(
        [sys.executable, "-c", DEFAULT_SIGNALS, "--tool-exec", f"slow={tool}",
         "--tool-timeout", "60", "go"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    stop_once_the_tool_runs(proc, pid_file, pids, sig, status)


def stop_once_the_tool_runs(proc: subprocess.Popen[bytes], pid_file: Path, pids: list[int],
                            sig: signal.Signals, status: int) -> None:
    """SIG to cohere-chat once its tool has written PID_FILE; then cohere-chat ends with
    STATUS (no traceback, no key) and the tool does not outlive it."""
    try:
        started = wait_until(lambda: pid_file.exists() or proc.poll() is not None, 30)
        assert started and proc.poll() is None, proc.communicate(timeout=5)
        pids.append(read_pid(pid_file))
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert_no_key(stdout, stderr)
    assert proc.returncode == status, stderr
    assert b"Traceback" not in stderr
    assert wait_until(lambda: not running(pids[0]), 30), f"the tool outlived {sig.name}"


def signal_after_start(sig: signal.Signals, pids: list[int]) -> Any:
    """tools._start that raises SIG once the tool runs, before run_command holds it (as a
    signal landing inside subprocess.Popen, or just after it returned, would)."""
    start = tools._start

    def start_then_signal(argv: tuple[str, ...]) -> subprocess.Popen[bytes]:
        proc = start(argv)
        pids.append(proc.pid)
        signal.raise_signal(sig)  # the handler runs here, at once
        return proc
    return start_then_signal


def signal_before_end(sig: signal.Signals, pids: list[int]) -> Any:
    """tools._end that raises SIG before it kills the tool (a second Ctrl-C, say)."""
    end = tools._end

    def signal_then_end(proc: subprocess.Popen[bytes]) -> int | None:
        pids.append(proc.pid)
        signal.raise_signal(sig)
        return end(proc)
    return signal_then_end


# The narrow windows: the tool runs, but the `finally` that ends it is not in place yet,
# or the kill has not begun. In-process, the signal raised at that very instant.
@linux_only
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize(("seam", "wrap"), [
    ("_start", signal_after_start), ("_end", signal_before_end)])
def test_a_signal_as_a_tool_starts_or_ends_still_ends_and_reaps_it(
    monkeypatch: pytest.MonkeyPatch, pids: list[int], sig: signal.Signals, seam: str,
    wrap: Callable[[signal.Signals, list[int]], Any],
) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers are set in the main thread only")
    monkeypatch.setattr(tools, seam, wrap(sig, pids))
    with as_ctrl_c(), pytest.raises(KeyboardInterrupt):  # SIGTERM as batch turns it
        tools.run_command(("sleep", "600"), b"", 0.1)
    assert not running(pids[0]), f"the tool outlived {sig.name}"
    with pytest.raises(ChildProcessError):  # and it was collected: no zombie left
        os.waitpid(pids[0], os.WNOHANG)


# cohere-chat as a real process (signals as in DEFAULT_SIGNALS) whose tool start takes
# its time once the tool runs: it writes the tool's pid to PID_FILE, then returns only
# once a signal has come (the wakeup fd says so), so that the signal is sure to land
# between the tool's start and the moment run_command holds it.
SLOW_START = DEFAULT_SIGNALS.replace("import runpy", """\
import os, select, signal, socket
from cohere_cli.chat import tools
start = tools._start
def slow_start(argv):
    proc = start(argv)
    woken, wake = socket.socketpair()
    wake.setblocking(False)
    before = signal.set_wakeup_fd(wake.fileno())
    try:
        with open(os.environ["PID_FILE"] + ".tmp", "w") as pid:
            pid.write(str(proc.pid))
        os.rename(os.environ["PID_FILE"] + ".tmp", os.environ["PID_FILE"])
        select.select([woken], [], [], 60)
    finally:
        signal.set_wakeup_fd(before)
    return proc
tools._start = slow_start
import runpy""")


@pytest.mark.slow
@linux_only
@pytest.mark.parametrize(("sig", "status"), [
    (signal.SIGINT, 130), (signal.SIGTERM, -signal.SIGTERM), (signal.SIGHUP, -signal.SIGHUP)])
def test_a_signal_while_a_tool_is_being_started_ends_the_tool_too(
    make_stub: Any, tmp_path: Path, pids: list[int], sig: signal.Signals, status: int
) -> None:
    pid_file = tmp_path / "tool.pid"
    make_stub(replies=(call_reply(("c1", "slow", {})), "never"))
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_START, "--tool-exec", "slow=sleep 600",
         "--tool-timeout", "600", "go"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PID_FILE": str(pid_file)},
    )
    stop_once_the_tool_runs(proc, pid_file, pids, sig, status)


# --- item 3: a tool cannot read the key from its parent --------------------------------

SITE_PACKAGES = next(p for p in sys.path if p.endswith("site-packages"))
UNPRIVILEGED = 65534
# `python -c` with the project's packages on the path, for an interpreter found elsewhere.
WITH_PACKAGES = (
    "import runpy, site, sys\n"
    f"site.addsitedir({SITE_PACKAGES!r})\n"
    f"sys.path.insert(0, {str(ROOT)!r})\n"
    "sys.argv[0] = 'cohere-chat'\n"
    "runpy.run_module('cohere_cli', run_name='__main__', alter_sys=True)\n"
)


def unprivileged_runner() -> tuple[list[str], dict[str, Any]]:
    """How to start cohere-chat as a user without privileges: as ourselves, unless we
    are root (root reads every process's environ, dumpable or not); then as nobody, with
    an interpreter nobody can run (this one or a system one of the same version)."""
    if os.geteuid() != 0:
        return [sys.executable, "-m", "cohere_cli"], {}
    as_nobody: dict[str, Any] = {"user": UNPRIVILEGED, "group": UNPRIVILEGED, "extra_groups": []}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, f"/usr/local/bin/{version}", f"/usr/bin/{version}"):
        try:
            probe = subprocess.run([python, "-c", WITH_PACKAGES, "--version"],
                                   cwd=ROOT, capture_output=True, **as_nobody)
        except OSError:  # not there, or not for nobody
            continue
        if probe.returncode == 0:
            return [python, "-c", WITH_PACKAGES], as_nobody
    pytest.skip("running as root, and no Python that an unprivileged user can run")


@pytest.mark.slow
@linux_only
def test_a_tool_cannot_read_the_key_from_its_parent(make_stub: Any) -> None:
    command, as_user = unprivileged_runner()
    folder = Path(tempfile.mkdtemp(prefix="cohere-chat-tool-"))
    try:
        if as_user:
            os.chown(folder, UNPRIVILEGED, UNPRIVILEGED)
        conversation = folder / "chat.jsonl"
        server = make_stub(replies=(call_reply(("c1", "peek", {})), "done"))
        env = {**os.environ, "HOME": str(folder), "XDG_CONFIG_HOME": str(folder / "config")}
        peek = "peek=sh -c 'tr \"\\0\" \"\\n\" < /proc/$PPID/environ'"
        result = subprocess.run(
            [*command, "--tool-exec", peek, "-c", str(conversation), "what is in there?"],
            cwd=ROOT, env=env, capture_output=True, timeout=60, **as_user,
        )
        saved = conversation.read_bytes() if conversation.exists() else b""
        sent = b"".join(orjson.dumps(body) for body in chat_bodies(server))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    places = {"stdout": result.stdout, "stderr": result.stderr, "-c file": saved,
              "the requests": sent}
    leaked = [name for name, output in places.items() if TEST_KEY.encode() in output]
    assert not leaked, f"the tool read the key from its parent: it is in {leaked}"
    assert result.returncode == 0, result.stderr
    assert "Permission denied" in orjson.loads(tool_content(server))["error"]


# --- item 4: a timeout that is not a finite number never reaches a running tool --------

@pytest.mark.parametrize("timeout", [math.inf, math.nan, -1.0, 0.0])
def test_tool_settings_refuse_a_timeout_that_is_not_finite_and_positive(
    timeout: float
) -> None:
    with pytest.raises(UsageError, match="--tool-timeout"):
        ToolSettings((("t", ("true",)),), 5, timeout)


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_a_bad_tool_timeout_stops_before_any_request(stub: Any, value: str) -> None:
    result = invoke(["--tool-exec", "t=cat", "--tool-timeout", value, "go"])
    assert result.exit_code == 2 and "--tool-timeout" in result.stderr
    assert stub.requests == []


def test_a_huge_timeout_is_a_long_wait_not_a_crash() -> None:
    call = {"id": "c1", "name": "echo", "arguments": '{"a": 1}'}
    assert run_tool(call, ("cat",), 1e300)["content"] == '{"a": 1}'


def test_a_huge_timeout_on_the_command_line_never_crashes_after_the_request(
    make_stub: Any
) -> None:
    server = make_stub(replies=(call_reply(("c1", "echo", {"a": 1})), "ok"))
    result = invoke(["--tool-exec", "echo=cat", "--tool-timeout", "1e300", "go"])
    if result.exit_code == 2:  # refused at the option: then nothing was sent
        assert server.requests == []
    else:
        assert (result.exit_code, result.stdout) == (0, "ok\n"), result.stderr
        assert orjson.loads(tool_content(server)) == {"a": 1}


# --- issue 12 item 7: endless output is cut at 1 MiB, memory stays flat ----------------

# Runs cohere-chat under an address-space cap (so that a leak fails instead of eating the
# machine) and prints its exit status and the peak RSS of it and its tools, in KiB.
MEASURE = (
    "import resource, subprocess, sys\n"
    "cap = lambda: resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, preexec_fn=cap)\n"
    "sys.stderr.buffer.write(done.stderr)\n"
    "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


@pytest.mark.slow
@linux_only
def test_a_tool_that_never_stops_printing_keeps_memory_flat(make_stub: Any) -> None:
    server = make_stub(replies=(call_reply(("c1", "yes", {})), "ok"))
    measured = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "cohere_cli",
         "--tool-exec", "yes=yes", "--tool-timeout", "1", "go"],
        cwd=ROOT, capture_output=True, timeout=60,
    )
    assert_no_key(measured.stdout, measured.stderr)
    status, peak_kib = (int(word) for word in measured.stdout.split())
    assert status == 0, measured.stderr
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib // 1024} MiB"
    assert orjson.loads(tool_content(server)) == {"error": "the tool timed out after 1s"}


def test_output_past_the_limit_is_cut_on_a_character_boundary(
    make_stub: Any, tmp_path: Path
) -> None:
    tool = tmp_path / "loud"  # 1 byte, then 2-byte characters: the cut falls inside one
    tool.write_text(f"#!{sys.executable}\nimport sys\n"
                    "sys.stdout.buffer.write(b'x' + 'é'.encode() * 1_500_000)\n")
    tool.chmod(0o755)
    server = make_stub(replies=(call_reply(("c1", "loud", {})), "ok"))
    result = invoke(["-v", "--tool-exec", f"loud={tool}", "go"])
    assert result.exit_code == 0, result.stderr
    content = tool_content(server)
    assert content.startswith("x\u00e9") and "\ufffd" not in content
    assert MAX_RESULT_BYTES - 1 <= len(content.encode()) <= MAX_RESULT_BYTES
    assert "tool loud: its output past 1048576 bytes was cut" in result.stderr


# --- item 11: `-F message` in a tool loop prints a history that can be appended --------

REPLIES = (
    call_reply(("c1", "weather", {"city": "Oslo"}), ("c2", "weather", {"city": "Paris"}),
               ("c3", "clock", {"zone": "UTC"})),
    call_reply(("c4", "weather", {"city": "Rome"})),
    "Sunny everywhere.",
)


def test_message_format_prints_every_message_of_the_turn_in_order(
    make_stub: Any, tmp_path: Path
) -> None:
    tools = ["--tool-exec", "weather=cat", "--tool-exec", "clock=cat"]
    make_stub(replies=REPLIES)
    result = invoke(["-F", "message", *tools, "Weather?"])
    assert result.exit_code == 0, result.stderr
    lines = result.lines()
    assert [m["role"] for m in lines] == [
        "assistant", "tool", "tool", "tool", "assistant", "tool", "assistant"]
    assert [m["tool_call_id"] for m in lines if m["role"] == "tool"] == ["c1", "c2", "c3", "c4"]
    for called, answers in ((lines[0], lines[1:4]), (lines[4], lines[5:6])):
        assert [c["id"] for c in called["tool_calls"]] == [m["tool_call_id"] for m in answers]
    assert orjson.loads(lines[2]["content"]) == {"city": "Paris"}
    assert lines[-1]["content"][0]["text"] == "Sunny everywhere."
    for line in lines:
        official.validate_request({"model": "m", "messages": [line]})
    user = {"role": "user", "content": "Weather?"}
    official.validate_request({"model": "m", "messages": [user, *lines]})

    # The same messages that -c keeps, so the lines can be appended to a conversation.
    kept = tmp_path / "kept.jsonl"
    make_stub(replies=REPLIES)
    assert invoke([*tools, "-c", str(kept), "Weather?"]).exit_code == 0
    assert [orjson.loads(line) for line in kept.read_bytes().splitlines()] == [user, *lines]

    appended = tmp_path / "appended.jsonl"
    appended.write_bytes(orjson.dumps(user) + b"\n" + result.stdout_bytes)
    server = make_stub()
    assert invoke(["-c", str(appended), "And tomorrow?"]).exit_code == 0
    assert chat_bodies(server)[0]["messages"] == [
        user, *lines, {"role": "user", "content": "And tomorrow?"}]
