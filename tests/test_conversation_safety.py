"""Conversation files under stress (issue 12 items 3, 9, 10; issue 20 item 18): line
separators inside messages, a full disk, read-only places, symbolic links, and a
`kill -9` in the middle of the save. Real processes where rlimits and signals matter."""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import ROOT, assert_no_key, invoke, run_process

from cohere_cli.conversation.file import ConversationLock

SEPARATORS = ["\u2028", "\u2029", "\u0085"]
STALE = ".chat.jsonl.0123456789abcdef.tmp"  # the name a save makes, 16 hex digits


def stored(path: Path) -> list[dict[str, Any]]:
    """FILE's lines, split on \\n only as JSONL says; every one must parse."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return [orjson.loads(line) for line in data[:-1].split(b"\n")]


def temporaries(folder: Path, name: str = "chat.jsonl") -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith(f".{name}."))


def chat_count(server: Any) -> int:
    return sum(r.path.startswith("/v2/chat") for r in server.requests)


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file or folder unwritable, for root too (root ignores the mode bits, so
    it gets the immutable attribute instead; skipped where that is not allowed)."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("root cannot make a read-only place here (chattr +i refused)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def limit_file_size(size: int) -> Callable[[], None]:
    """A preexec_fn: `ulimit -f` in bytes, SIGXFSZ ignored (writes past it fail EFBIG)."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return apply


# --- issue 12 item 3: U+2028, U+2029, U+0085 are text, not line ends -----------------

@pytest.mark.parametrize("separator", SEPARATORS, ids=["u2028", "u2029", "u0085"])
def test_a_line_separator_in_a_turn_keeps_the_file_readable(
    stub: Any, tmp_path: Path, separator: str
) -> None:
    path = tmp_path / "chat.jsonl"
    prompt = f"a{separator}b"
    assert invoke(["--no-stream", "-c", str(path), prompt]).exit_code == 0
    second = invoke(["--no-stream", "-c", str(path), "next"])
    assert second.exit_code == 0, second.stderr
    messages = stored(path)
    assert len(messages) == 4
    assert messages[0] == {"role": "user", "content": prompt}
    assert messages[1]["content"][0]["text"] == f"echo: {prompt}"
    assert stub.requests[1].json["messages"][:2] == messages[:2]


def test_jsonl_stdin_with_a_raw_line_separator_is_one_message(stub: Any,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    line = '{"role": "user", "content": "a\u2028b\u2029c\u0085d"}\n'.encode()
    first = invoke(["--no-stream", "-c", str(path), "--jsonl"], stdin=line)
    assert first.exit_code == 0, first.stderr
    assert stub.requests[0].json["messages"] == [
        {"role": "user", "content": "a\u2028b\u2029c\u0085d"}]
    second = invoke(["--no-stream", "-c", str(path), "--jsonl"],
                    stdin=b'{"role": "user", "content": "more"}\n')
    assert second.exit_code == 0, second.stderr
    assert len(stored(path)) == 4


# --- issue 12 item 9: a save that cannot be written -----------------------------------

def test_a_full_disk_during_the_save_exits_10_and_leaves_the_file(stub: Any,
                                                                  tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    assert invoke(["--no-stream", "-c", str(path), "first"]).exit_code == 0
    before = path.read_bytes()
    prompt = "x" * 20_000  # the new version passes the 8 KiB `ulimit -f`, FILE does not
    done = run_process(["--no-stream", "-c", str(path), prompt],
                       preexec_fn=limit_file_size(8192))
    assert done.returncode == 10, done.stderr
    assert done.stdout.decode() == f"echo: {prompt}\n"  # the paid reply is still shown
    err = done.stderr.decode()
    assert str(path) in err and "was not saved" in err and "unchanged" in err
    assert "internal error" not in err and "Traceback" not in err
    assert path.read_bytes() == before
    assert temporaries(tmp_path) == []
    assert chat_count(stub) == 2


def test_a_read_only_folder_is_refused_before_sending(stub: Any, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "chat.jsonl"
    assert invoke(["--no-stream", "-c", str(path), "first"]).exit_code == 0  # FILE.lock exists now
    before = path.read_bytes()
    with read_only(folder):
        result = invoke(["--no-stream", "-c", str(path), "second"])
    assert result.exit_code == 3, result.stderr
    assert f"the folder {folder} is not writable" in result.stderr
    assert chat_count(stub) == 1  # nothing was sent, nothing paid
    assert path.read_bytes() == before


def test_a_file_that_cannot_be_replaced_is_refused_before_sending(stub: Any,
                                                                  tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    assert invoke(["--no-stream", "-c", str(path), "first"]).exit_code == 0
    before = path.read_bytes()
    with read_only(path):
        result = invoke(["--no-stream", "-c", str(path), "second"])
    assert result.exit_code == 3, result.stderr
    assert "read-only" in result.stderr
    assert chat_count(stub) == 1
    assert path.read_bytes() == before


def test_a_fifo_as_the_file_is_refused_not_read(stub: Any, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    os.mkfifo(path)
    done = run_process(["--no-stream", "-c", str(path), "hi"])
    assert done.returncode == 3 and b"not a regular file" in done.stderr
    assert chat_count(stub) == 0


# --- issue 12 item 10: symbolic links and stale temporary files -----------------------

@pytest.mark.slow
def test_a_symlinked_file_updates_its_target_and_shares_its_lock(stub: Any,
                                                                 tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    real = tmp_path / "real" / "chat.jsonl"
    link = tmp_path / "links" / "link.jsonl"
    link.symlink_to(real)  # dangling until the first turn creates the target
    assert invoke(["--no-stream", "-c", str(link), "one"]).exit_code == 0
    assert invoke(["--no-stream", "-c", str(real), "two"]).exit_code == 0
    assert invoke(["--no-stream", "-c", str(link), "three"]).exit_code == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert [m["content"] for m in stored(real)[::2]] == ["one", "two", "three"]
    assert os.listdir(tmp_path / "links") == ["link.jsonl"]  # no lock, no temp beside it
    with ConversationLock(real, timeout=1):
        locked = invoke(["--no-stream", "-c", str(link), "--lock-timeout", "0.3", "four"])
    assert locked.exit_code == 7 and "still locked" in locked.stderr
    assert chat_count(stub) == 3


def test_a_symlinked_lock_file_is_refused_never_followed(stub: Any, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me\n")
    victim.chmod(0o644)
    lock = tmp_path / "chat.jsonl.lock"
    lock.symlink_to(victim)
    result = invoke(["--no-stream", "-c", str(path), "hi"])
    assert result.exit_code == 3, result.stderr
    assert f"{lock}: the lock file is a symbolic link" in result.stderr
    assert victim.read_bytes() == b"keep me\n" and victim.stat().st_mode & 0o777 == 0o644
    lock.unlink()
    lock.symlink_to(tmp_path / "created-through-the-link")  # dangling: O_CREAT would make it
    assert invoke(["--no-stream", "-c", str(path), "hi"]).exit_code == 3
    assert not (tmp_path / "created-through-the-link").exists()
    assert chat_count(stub) == 0 and not path.exists()


def test_only_our_own_stale_temporary_files_are_removed(stub: Any, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    kept = [".chat.jsonl.backup", ".chat.jsonl.20240101", f"{STALE}.keep",
            ".other.jsonl.0123456789abcdef.tmp", "chat.jsonl.0123456789abcdef.tmp"]
    for name in [STALE, *kept]:
        (tmp_path / name).write_bytes(b"partial")
    linked = ".chat.jsonl.fedcba9876543210.tmp"
    (tmp_path / linked).symlink_to(tmp_path / ".chat.jsonl.backup")
    kept.append(linked)
    if os.geteuid() == 0:
        foreign = ".chat.jsonl.00000000000000ff.tmp"
        (tmp_path / foreign).write_bytes(b"someone else's")
        os.chown(tmp_path / foreign, 65534, 65534)
        kept.append(foreign)
    assert invoke(["--no-stream", "-c", str(path), "hi"]).exit_code == 0
    assert not (tmp_path / STALE).exists()
    assert all(os.path.lexists(tmp_path / name) for name in kept)


# --- issue 20 item 18: kill -9 during the temp-file-and-rename step --------------------

def big_history(path: Path, megabytes: int) -> bytes:
    """A conversation of `megabytes` MiB, written as the program writes it."""
    chunk = "lorem ipsum " * (1 << 16)  # 768 KiB of text per message
    count = max(2, megabytes * (1 << 20) // len(chunk)) // 2 * 2
    roles = ["user", "assistant"]
    data = b"".join(orjson.dumps({"role": roles[n % 2], "content": f"{n} {chunk}"}) + b"\n"
                    for n in range(count))
    path.write_bytes(data)
    return data


def kill_during_save(path: Path, deadline: float) -> bool:
    """Start a turn, SIGKILL it as soon as its temporary file appears; whether it was
    killed while a temporary file was there (False: it got done first)."""
    proc = subprocess.Popen([sys.executable, "-m", "cohere_cli", "--no-stream", "-c",
                             str(path), "next"], cwd=ROOT, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if temporaries(path.parent):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.001)
    finally:
        if proc.poll() is None and time.monotonic() >= deadline:
            proc.kill()
        out, err = proc.communicate(timeout=60)
        assert_no_key(out, err)
    assert proc.returncode in (0, -signal.SIGKILL), err.decode(errors="replace")
    return proc.returncode == -signal.SIGKILL and bool(temporaries(path.parent))


@pytest.mark.slow
def test_sigkill_during_the_save_leaves_a_whole_file_and_the_next_run_cleans_up(
    stub: Any, tmp_path: Path
) -> None:
    path = tmp_path / "chat.jsonl"
    before = big_history(path, 48)
    deadline = time.monotonic() + 120
    for _ in range(5):
        if kill_during_save(path, deadline):
            break
        before = path.read_bytes()  # that run finished its save first: try again
    else:
        pytest.fail("never caught a save in progress")
    after = path.read_bytes()
    if after != before:  # the rename won the race: then it is the whole new version
        assert after.startswith(before)
        tail = after[len(before):].split(b"\n")
        assert [orjson.loads(line)["role"] for line in tail[:-1]] == ["user", "assistant"]
        assert tail[-1] == b""
    done = run_process(["--no-stream", "-c", str(path), "--lock-timeout", "5", "last"],
                       timeout=120)
    assert done.returncode == 0, done.stderr
    assert temporaries(tmp_path) == []
    assert stored(path)[-1]["content"][0]["text"] == "echo: last"


@pytest.mark.slow  # over a second
@pytest.mark.parametrize("command", ["send", "batch --remote"])
def test_max_time_ends_the_wait_for_another_runs_lock(make_stub: Any, tmp_path: Path,
                                                      command: str) -> None:
    """--max-time bounds the wait for another run's lock (Deadline.lock_wait, one place for
    send's conversation and a remote batch's -o FILE): exit 7 naming the lock, not the
    --lock-timeout of 300 s."""
    from cohere_cli.batch.lock import OutputLock

    make_stub()
    held = tmp_path / "held.jsonl"
    if command == "send":
        lock: ConversationLock = ConversationLock(held, 5)
        args = ["send", "-c", str(held), "--no-stream", "hi"]
    else:
        lock = OutputLock(held, 5)
        source = tmp_path / "in.jsonl"
        source.write_text('{"prompt": "hi"}\n')
        args = ["batch", "--remote", "-o", str(held), str(source)]
    with lock:
        result = invoke([*args, "--max-time", "1", "--lock-timeout", "300"])
    assert result.exit_code == 7, result.stderr
    assert "waiting for another run's lock on" in result.stderr
