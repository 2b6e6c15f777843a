"""The opt-in tool loop: run a local command for each tool call the model makes.

`--tool-exec NAME=COMMAND` maps a tool to a command line, split like a shell would
split it but never run through a shell. The call's arguments go to the command's stdin
as JSON; its stdout comes back to the model as the tool result. A command that fails or
times out gives the model an error result; a tool with no command ends the run.

What a tool sees: cohere-chat's environment without the API key, and (on Linux) a parent
made non-dumpable first, so the tool cannot read the key from /proc/PPID/environ or
/proc/PPID/mem, nor ptrace it. It still runs as the same user.

How long it runs: each tool starts in a new session, so its process group is its own.
Its stdout is read until end of file, or until the tool itself has exited plus
EXIT_GRACE (a child that still holds stdout no longer holds us), and never past the
timeout. Then, on every path (done, timed out, Ctrl-C, SIGTERM, SIGHUP, an error), the
whole process group gets SIGKILL: the tool and everything it started that stayed in its
group. Ctrl-C, SIGTERM and SIGHUP are held from before the tool starts until it has been
killed and collected, then delivered again: whatever instant one lands, the tool ends
first (exit 130 for Ctrl-C; by default SIGTERM and SIGHUP then end the process). A
process that made its own session (setsid) escapes that kill, but nothing waits for it:
its pipe is closed. Past MAX_RESULT_BYTES the output is read and thrown away.
"""
from __future__ import annotations

import codecs
import contextlib
import math
import os
import select
import selectors
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from cohere_cli.base.errors import InterruptError, UsageError
from cohere_cli.base.secret import KEY_VARIABLES
from cohere_cli.wire.deadline import NO_DEADLINE, Deadline

MAX_RESULT_BYTES = 1 << 20  # the first MiB of stdout is the result; the rest is discarded
MAX_STDERR_BYTES = 1 << 16  # the last 64 KiB of stderr are kept for an error result
EXIT_GRACE = 0.2  # how long to read after the tool exited, while a child holds its stdout
POLL = 0.02  # how often to look whether the tool has exited
REAP_TIMEOUT = 5.0  # at most this long to collect a tool after SIGKILL
PR_SET_DUMPABLE = 4  # from <linux/prctl.h>
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class ToolSettings:
    """--tool-exec's tools (a NAME and its COMMAND's words each), --max-tool-rounds and
    --tool-timeout: made only with --tool-exec (SendPlan.tools is None without)."""

    commands: tuple[tuple[str, tuple[str, ...]], ...]
    max_rounds: int
    timeout: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.timeout) and self.timeout > 0):
            raise UsageError(f"--tool-timeout must be a number of seconds above 0 "
                             f"(got {self.timeout!r})")

    def command(self, name: str) -> tuple[str, ...] | None:
        return dict(self.commands).get(name)


def parse_tool_exec(specs: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """NAME=COMMAND pairs, each COMMAND split into words (no shell is involved)."""
    commands: list[tuple[str, tuple[str, ...]]] = []
    for spec in specs:
        name, sep, command = spec.partition("=")
        try:
            words = tuple(shlex.split(command))
        except ValueError as exc:
            raise UsageError(f"--tool-exec {spec!r}: {exc}") from None
        if not sep or not name.strip() or not words:
            raise UsageError(f"--tool-exec needs NAME=COMMAND (got {spec!r})")
        if name.strip() in dict(commands):
            raise UsageError(f"--tool-exec maps {name.strip()!r} twice")
        commands.append((name.strip(), words))
    return tuple(commands)


def _tool_environment() -> dict[str, str]:
    """The environment without the API key: a tool never needs it."""
    return {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}


def make_undumpable() -> None:
    """Keep tools (same user) out of this process: no /proc/PID/environ, /proc/PID/mem or
    ptrace, so the key in its memory stays there. Linux only; elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


@dataclass
class Capture:
    """One pipe's bytes, bounded: the first `limit` (`tail`: the last `limit`)."""

    limit: int
    tail: bool = False
    data: bytearray = field(default_factory=bytearray)
    cut: bool = False

    def add(self, chunk: bytes) -> None:
        if self.tail:
            self.data += chunk
            del self.data[:-self.limit]
            return
        room = self.limit - len(self.data)
        self.data += chunk[:room]
        self.cut = self.cut or len(chunk) > room


@dataclass
class Outcome:
    """What a command wrote, and how it ended (not finished: it timed out)."""

    stdout: Capture
    stderr: Capture
    finished: bool = False
    returncode: int | None = None


class _Stopped(BaseException):
    """A stop signal came while a tool ran (BaseException: nothing swallows it)."""


@contextlib.contextmanager
def _stop_signals_held() -> Iterator[list[int]]:
    """Ctrl-C, SIGTERM and SIGHUP, only recorded (in the list it gives) while a tool is
    started, run and ended: none can land between the tool's start and the `finally`
    that kills it, nor stop that kill. The I/O loop ends on one (_Stopped); once the tool
    is ended and collected, the first is delivered again, the caller's handler back in
    place: Ctrl-C (SIGTERM and SIGHUP under stop_signals.as_ctrl_c) a KeyboardInterrupt,
    by default SIGTERM and SIGHUP end the process as their sender expects. A signal the
    caller ignores (nohup) stays ignored; outside the main thread nothing changes."""
    stops: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield stops
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    held = [sig for sig, old in previous.items() if old not in (signal.SIG_IGN, None)]
    try:
        for sig in held:
            signal.signal(sig, lambda signum, _frame: stops.append(signum))
        yield stops
    except _Stopped:
        pass
    finally:
        for sig in held:
            signal.signal(sig, previous[sig])
        if stops:
            signal.raise_signal(stops[0])  # its handler runs now (and raises, as a rule)
            raise InterruptError(f"stopped by {signal.Signals(stops[0]).name}")


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the tool has exited, without collecting it: until it is collected its
    PID (the id of its process group) cannot be reused, so the group kill is safe."""
    if not hasattr(os, "waitid"):
        return proc.poll() is not None
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _pump(selector: selectors.BaseSelector, wait: float, payload: memoryview) -> memoryview:
    """One round of I/O: write what stdin takes, read what stdout and stderr have."""
    for key, _ in selector.select(wait):
        if key.data is None:  # stdin: a pipe reported writable takes PIPE_BUF bytes
            try:
                payload = payload[os.write(key.fd, payload[:select.PIPE_BUF]):]
            except BrokenPipeError:  # the tool does not read its arguments
                payload = payload[:0]
            if not payload:
                selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
        elif chunk := os.read(key.fd, 1 << 16):
            key.data.add(chunk)
        else:
            selector.unregister(key.fileobj)
    return payload


def _collect(
    proc: subprocess.Popen[bytes], payload: bytes, timeout: float, stops: list[int]
) -> Outcome:
    """Feed stdin and read stdout and stderr until both end, or the tool has exited and
    EXIT_GRACE passed, or the timeout: whichever comes first. Never blocks longer. A stop
    signal held for the caller (in `stops`) ends it within POLL: _Stopped."""
    assert proc.stdin and proc.stdout and proc.stderr
    deadline = time.monotonic() + timeout
    outcome = Outcome(Capture(MAX_RESULT_BYTES), Capture(MAX_STDERR_BYTES, tail=True))
    exited_at: float | None = None
    rest = memoryview(payload)
    with selectors.DefaultSelector() as selector:
        if rest:
            selector.register(proc.stdin, selectors.EVENT_WRITE, None)
        else:
            proc.stdin.close()
        selector.register(proc.stdout, selectors.EVENT_READ, outcome.stdout)
        selector.register(proc.stderr, selectors.EVENT_READ, outcome.stderr)
        while True:
            if stops:
                raise _Stopped
            now = time.monotonic()
            if exited_at is None and _exited(proc):
                exited_at = now
            reading = any(key.data is not None for key in selector.get_map().values())
            done = exited_at is not None and (not reading or now >= exited_at + EXIT_GRACE)
            if done or now >= deadline:
                break
            rest = _pump(selector, min(POLL, deadline - now), rest)
    outcome.finished = exited_at is not None
    return outcome


def _end(proc: subprocess.Popen[bytes]) -> int | None:
    """SIGKILL the tool's process group (and the tool, should it have left it), close our
    ends of its pipes, and collect it; its own exit status, None if it was still running."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        proc.kill()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(REAP_TIMEOUT)
    return proc.returncode


def _start(argv: tuple[str, ...]) -> subprocess.Popen[bytes]:
    """The tool, in its own session: the group kill ends it and what it started."""
    return subprocess.Popen(
        list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=_tool_environment(), start_new_session=True, bufsize=0,
    )


def run_command(argv: tuple[str, ...], payload: bytes, timeout: float) -> Outcome:
    """Run one tool command to its end or its timeout; nothing of its group outlives this
    call, whatever ends it, at whatever instant (OSError: it could not be started). The
    one place a tool starts: the stop signals are held from before its start to after
    its end, so the `finally` that ends it is in place before any of them can act."""
    with _stop_signals_held() as stops:
        proc = _start(argv)
        try:
            outcome = _collect(proc, payload, timeout, stops)
        finally:
            status = _end(proc)
    outcome.returncode = status
    return outcome


def _error_result(call: dict[str, Any], text: str) -> dict[str, Any]:
    content = orjson.dumps({"error": text}).decode()
    return {"role": "tool", "tool_call_id": call["id"], "content": content}


def run_tool(
    call: dict[str, Any], argv: tuple[str, ...], timeout: float,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """One tool call: the tool message that carries the command's stdout (or its error)."""
    arguments = call.get("arguments")
    payload = arguments.encode() if isinstance(arguments, str) else orjson.dumps(arguments)
    try:
        outcome = run_command(argv, payload, timeout)
    except OSError as exc:
        return _error_result(call, f"cannot run {argv[0]}: {exc.strerror or exc}")
    code = outcome.returncode
    if not outcome.finished or code is None:
        return _error_result(call, f"the tool timed out after {timeout:g}s")
    if code != 0:
        detail = outcome.stderr.data.decode("utf-8", "replace").strip()[-500:]
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        return _error_result(call, f"the tool {how}" + (f": {detail}" if detail else ""))
    stdout = outcome.stdout
    if stdout.cut:
        log(f"tool {call.get('name')}: its output past {MAX_RESULT_BYTES} bytes was cut")
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    output = decoder.decode(bytes(stdout.data), final=not stdout.cut)
    return {"role": "tool", "tool_call_id": call["id"], "content": output}


def run_tool_calls(
    calls: list[dict[str, Any]], settings: ToolSettings, log: Callable[[str], None],
    deadline: Deadline = NO_DEADLINE,
) -> list[dict[str, Any]]:
    """A tool message for each call, in order; a tool without a command is a usage error.
    A tool runs at most --tool-timeout and never past --max-time (TimeLimitError)."""
    for call in calls:
        if settings.command(str(call.get("name"))) is None:
            raise UsageError(f'the model asked for the tool "{call.get("name")}", '
                             "which no --tool-exec maps to a command")
    make_undumpable()
    results = []
    for call in calls:
        argv = settings.command(str(call["name"]))
        assert argv is not None
        deadline.check(f"before the tool {call['name']} could run")
        log(f"tool {call['name']}: running {shlex.join(argv)}")
        results.append(run_tool(call, argv, deadline.cap(settings.timeout), log))
        deadline.check(f"the tool {call['name']} was still running")
    return results
