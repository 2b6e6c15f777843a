"""The opt-in tool loop: run a local command for each tool call the model makes.

`--tool-exec NAME=COMMAND` maps a tool to a command line, split like a shell would
split it but never run through a shell. The call's arguments go to the command's stdin
as JSON; its stdout comes back to the model as the tool result. A command that fails or
times out gives the model an error result; a tool with no command ends the run.
"""
from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from cohere_cli.config import KEY_VARIABLES
from cohere_cli.errors import UsageError

MAX_RESULT_BYTES = 1 << 20


@dataclass(frozen=True)
class ToolSettings:
    commands: tuple[tuple[str, tuple[str, ...]], ...] = ()
    max_rounds: int = 5
    timeout: float = 60.0

    def command(self, name: str) -> tuple[str, ...] | None:
        return dict(self.commands).get(name)


def parse_tool_exec(specs: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """NAME=COMMAND pairs, each COMMAND split into words (no shell is involved)."""
    commands = []
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


def _error_result(call: dict[str, Any], text: str) -> dict[str, Any]:
    content = orjson.dumps({"error": text}).decode()
    return {"role": "tool", "tool_call_id": call["id"], "content": content}


def run_tool(call: dict[str, Any], argv: tuple[str, ...], timeout: float) -> dict[str, Any]:
    """One tool call: the tool message that carries the command's stdout (or its error)."""
    arguments = call.get("arguments")
    payload = arguments.encode() if isinstance(arguments, str) else orjson.dumps(arguments)
    try:
        # Its own session, so that a timeout ends the tool and everything it started.
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=_tool_environment(), start_new_session=True,
        )
    except OSError as exc:
        return _error_result(call, f"cannot run {argv[0]}: {exc.strerror or exc}")
    try:
        stdout, stderr = proc.communicate(payload, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return _error_result(call, f"the tool timed out after {timeout:g}s")
    if proc.returncode != 0:
        detail = stderr.decode("utf-8", "replace").strip()[-500:]
        how = (f"was killed by signal {-proc.returncode}" if proc.returncode < 0
               else f"exited with status {proc.returncode}")
        return _error_result(call, f"the tool {how}" + (f": {detail}" if detail else ""))
    output = stdout[:MAX_RESULT_BYTES].decode("utf-8", "replace")
    return {"role": "tool", "tool_call_id": call["id"], "content": output}


def run_tool_calls(
    calls: list[dict[str, Any]], settings: ToolSettings, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """A tool message for each call, in order; a tool without a command is a usage error."""
    for call in calls:
        if settings.command(str(call.get("name"))) is None:
            raise UsageError(f'the model asked for the tool "{call.get("name")}", '
                             "which no --tool-exec maps to a command")
    results = []
    for call in calls:
        argv = settings.command(str(call["name"]))
        assert argv is not None
        log(f"tool {call['name']}: running {shlex.join(argv)}")
        results.append(run_tool(call, argv, settings.timeout))
    return results
