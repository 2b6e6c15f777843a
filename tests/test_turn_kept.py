"""A `-c FILE` turn and the real file descriptors around it (issue 25, case 15 and the
review's broken pipe): a reader of stdout that went away does not lose the turn (it is
saved, exit 141, as a full disk keeps it with exit 10), and Ctrl-C says on stderr that
the turn was not saved."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import ROOT, assert_no_key, wait_for


def _messages(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("stream", ["--no-stream", "--stream"])
def test_a_broken_pipe_keeps_the_turn(stub: Any, tmp_path: Path, stream: str) -> None:
    conversation = tmp_path / "talk.jsonl"
    read_end, write_end = os.pipe()
    os.close(read_end)  # stdout's reader is gone before the reply comes
    try:
        done = subprocess.run([sys.executable, "-m", "cohere_cli", "-c", str(conversation),
                               stream, "--no-stdin", "hi"], cwd=ROOT, env=dict(os.environ),
                              stdout=write_end, stderr=subprocess.PIPE, timeout=30)
    finally:
        os.close(write_end)
    assert_no_key(done.stderr)
    assert done.returncode == 141, done.stderr
    assert done.stderr == b""  # quietly, as SIGPIPE would
    assert [m["role"] for m in _messages(conversation)] == ["user", "assistant"]
    assert _messages(conversation)[0]["content"] == "hi"


@pytest.mark.slow
def test_ctrl_c_during_a_turn_says_it_was_not_saved(make_stub: Any, tmp_path: Path) -> None:
    server = make_stub(fail=("hang",))
    conversation = tmp_path / "talk.jsonl"
    conversation.write_bytes(b'{"role": "user", "content": "before"}\n'
                             b'{"role": "assistant", "content": "yes"}\n')
    before = conversation.read_bytes()
    proc = subprocess.Popen([sys.executable, "-m", "cohere_cli", "-c", str(conversation),
                             "--no-stdin", "hi"], cwd=ROOT, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: server.requests, "the request to reach the stub")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert_no_key(out, err)
    assert proc.returncode == 130
    assert err == (f"cohere-chat: interrupted: this turn was not saved; {conversation} is "
                   "unchanged\n").encode()
    assert conversation.read_bytes() == before
