"""Conversations in a JSONL file (README "Conversations"): appended on success, atomic, locked."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import official
import orjson
import pytest
from conftest import ROOT, assert_no_key, invoke, run_process, wait_for

from cohere_cli.conversation.file import ConversationLock


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_two_turns_give_four_lines_the_api_accepts(stub: Any, tmp_path: Path,
                                                   stream: str) -> None:
    path = tmp_path / "chat.jsonl"
    assert invoke([stream, "-c", str(path), "first"]).stdout == "echo: first\n"
    assert invoke([stream, "-c", str(path), "second"]).stdout == "echo: second\n"
    stored = lines(path)
    assert [m["role"] for m in stored] == ["user", "assistant", "user", "assistant"]
    assert stored[3]["content"] == [{"type": "text", "text": "echo: second"}]
    official.validate_request({"model": "m", "messages": stored})
    assert stub.requests[1].json["messages"] == stored[:3]  # the history was sent


def test_the_system_message_is_kept_once_and_replaced_when_it_changes(
    stub: Any, tmp_path: Path
) -> None:
    path = tmp_path / "chat.jsonl"
    invoke(["-c", str(path), "-s", "Be terse", "a"])
    same = invoke(["-c", str(path), "-s", "Be terse", "b"])
    assert same.stderr == ""
    assert [m["role"] for m in lines(path)] == ["system", "user", "assistant", "user", "assistant"]
    changed = invoke(["-c", str(path), "-s", "Be brief", "c"])
    assert changed.stderr == f"cohere-chat: replaced the system message at the top of {path}\n"
    stored = lines(path)
    assert stored[0] == {"role": "system", "content": "Be brief"}
    assert sum(m["role"] == "system" for m in stored) == 1
    assert len(stored) == 7


def test_jsonl_input_and_tool_calls_are_stored_in_request_form(make_stub: Any,
                                                               tmp_path: Path) -> None:
    reply = {"finish_reason": "TOOL_CALL", "message": {
        "role": "assistant", "tool_plan": "look it up",
        "tool_calls": [{"id": "c1", "type": "function",
                        "function": {"name": "f", "arguments": '{"q": 1}'}}]}}
    make_stub(replies=(reply, "the answer is 1"))
    path = tmp_path / "chat.jsonl"
    invoke(["-c", str(path), "what is q?"])
    tool_result = b'{"role": "tool", "tool_call_id": "c1", "content": "1"}\n'
    result = invoke(["-c", str(path), "--jsonl"], stdin=tool_result)
    assert result.stdout == "the answer is 1\n"
    stored = lines(path)
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert stored[1]["tool_calls"][0]["function"]["arguments"] == '{"q": 1}'
    official.validate_request({"model": "m", "messages": stored})


@pytest.mark.parametrize(("rule", "code"), [("400", 5), ("401", 4), ("500x3", 7), ("cut=3", 7)])
def test_a_failed_request_leaves_the_file_exactly_as_it_was(
    make_stub: Any, tmp_path: Path, rule: str, code: int
) -> None:
    path = tmp_path / "chat.jsonl"
    make_stub()
    invoke(["-c", str(path), "first"])
    before = path.read_bytes()
    make_stub(fail=(rule,), retry_after=0)
    result = invoke(["--stream", "--max-wait", "0", "-c", str(path), "second"])
    assert result.exit_code == code
    assert path.read_bytes() == before


def test_a_generation_error_is_not_stored(make_stub: Any, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    make_stub(replies=({"finish_reason": "ERROR",
                        "message": {"role": "assistant", "content": "half"}},))
    assert invoke(["-c", str(path), "q"]).exit_code == 8
    assert not path.exists()


def test_a_damaged_file_is_reported_and_never_repaired(stub: Any, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    damaged = {
        b'{"role":"user","content":"a"}\n{"role": "user", "cont': "chat.jsonl:2: a torn last line",
        b'{"role":"user","content":"a"}\nnope\n{"role":"user","content":"b"}\n':
            "chat.jsonl:2: invalid JSON",
        b'{"role":"usr","content":"a"}\n': 'chat.jsonl:1: unknown role "usr"',
    }
    for content, message in damaged.items():
        path.write_bytes(content)
        result = invoke(["-c", str(path), "next"])
        assert result.exit_code == 3
        assert message in result.stderr
        assert path.read_bytes() == content
    assert stub.requests == []


def test_a_missing_folder_is_caught_before_sending(stub: Any, tmp_path: Path) -> None:
    result = invoke(["-c", str(tmp_path / "no" / "chat.jsonl"), "hi"])
    assert result.exit_code == 3 and "its folder does not exist" in result.stderr
    assert stub.requests == []


def test_dry_run_reads_the_history_but_writes_nothing(stub: Any, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    invoke(["-c", str(path), "first"])
    before = path.read_bytes()
    body = orjson.loads(invoke(["--dry-run", "-c", str(path), "second"]).stdout)
    assert len(body["messages"]) == 3
    assert path.read_bytes() == before


def test_permissions_are_kept(stub: Any, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    assert invoke(["-c", str(path), "first"]).exit_code == 0
    path.chmod(0o600)
    second = invoke(["-c", str(path), "second"])
    assert (second.exit_code, second.stdout) == (0, "echo: second\n"), second.stderr
    saved = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert len(saved) == 4 and saved[-1]["role"] == "assistant"  # the file was rewritten
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
def test_a_held_lock_times_out_with_exit_7(stub: Any, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    with ConversationLock(path, timeout=1):
        started = time.monotonic()
        result = invoke(["-c", str(path), "--lock-timeout", "0.3", "hi"])
        assert time.monotonic() - started >= 0.3  # it waited for the lock
    assert result.exit_code == 7
    assert "is still locked by another run after 0.3s" in result.stderr
    assert stub.requests == [] and not path.exists()


@pytest.mark.slow
def test_sigkill_mid_request_leaves_the_file_and_frees_the_lock(make_stub: Any,
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    make_stub()
    invoke(["-c", str(path), "first"])
    before = path.read_bytes()
    hanging = make_stub(fail=("hang",))
    proc = subprocess.Popen([sys.executable, "-m", "cohere_cli", "-c", str(path), "second"],
                            cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    wait_for(lambda: hanging.requests, "the request to reach the stub (which holds it)")
    proc.send_signal(signal.SIGKILL)  # mid-request: the lock is held, the reply never came
    out, err = proc.communicate(timeout=30)
    assert_no_key(out, err)
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    done = run_process(["-c", str(path), "--lock-timeout", "2", "third"])
    assert done.returncode == 0 and len(lines(path)) == 4


@pytest.mark.slow
def test_eight_processes_at_once_interleave_nothing(make_stub: Any, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    make_stub(latency_ms=20)
    procs = [subprocess.Popen([sys.executable, "-m", "cohere_cli", "-c", str(path), f"q{n}"],
                              cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for n in range(8)]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert_no_key(out, err)
        assert proc.returncode == 0, err
    stored = lines(path)
    assert len(stored) == 16
    for question, answer in zip(stored[::2], stored[1::2], strict=True):
        assert question["role"] == "user" and answer["role"] == "assistant"
        assert answer["content"][0]["text"] == f"echo: {question['content']}"
    assert sorted(m["content"] for m in stored[::2]) == [f"q{n}" for n in range(8)]
