"""Long conversations end to end (issue 14): --history-turns, --history-tokens and --fit
on `send` and `batch`, their config keys, and the stub's `--context-limit` 400."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from conftest import ROOT, TEST_KEY, assert_no_key, chat_bodies, invoke

from cohere_cli.base.errors import InputError
from cohere_cli.conversation.file import read_history
from cohere_cli.conversation.fit import FIT_TRIES
from cohere_cli.conversation.window import estimate_tokens, new_input_count

FIT_LINE = re.compile(r"cohere-chat: left out (\d+) of (\d+) turns of the history to fit "
                      r"the model's context\n")
TOO_MANY = "too many tokens: total number of tokens in the prompt cannot exceed"
FIT_HINT = "--fit leaves out older turns as needed, --history-turns N sends only the last N"


def stored(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def reply(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def write_turns(path: Path, count: int, size: int = 200, system: str | None = None) -> None:
    """A conversation of `count` user/assistant turns, as the program writes it."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for n in range(count):
        prompt = f"{n:04d} " + "x" * (size - 5)
        messages += [{"role": "user", "content": prompt}, reply(f"echo: {prompt}")]
    path.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in messages))


def write_config(home: Path, text: str) -> None:
    folder = home / ".config" / "cohere-chat"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.ini").write_text(text)


def dry_run(*args: str, stdin: bytes | None = None) -> list[dict[str, Any]]:
    result = invoke(["--dry-run", *args], stdin=stdin)
    assert result.exit_code == 0, result.stderr
    messages: list[dict[str, Any]] = orjson.loads(result.stdout)["messages"]
    return messages


def whole_turns(messages: list[dict[str, Any]]) -> None:
    """What a window may send: system first, then turns that start at a user message, and
    every tool result right after the assistant message whose call it answers."""
    rest = [m for m in messages if m["role"] != "system"]
    assert all(m["role"] != "system" for m in messages[len(messages) - len(rest):])
    assert rest and rest[0]["role"] == "user", [m["role"] for m in messages]
    open_calls: set[str] = set()
    for message in rest:
        if message["role"] == "tool":
            assert message["tool_call_id"] in open_calls, "a tool result without its call"
            open_calls.discard(message["tool_call_id"])
        else:
            assert not open_calls, "a tool call without its result"
            open_calls = {call["id"] for call in message.get("tool_calls", [])}


# --- the first "done when": a window in --dry-run; the file keeps everything ------

@pytest.mark.slow
def test_twenty_turns_then_three_in_a_dry_run_gives_eight_messages(stub: Any,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    for n in range(20):
        assert invoke(["-c", str(path), "-s", "S", f"{n:02d}" + "p" * 1022]).exit_code == 0
    messages = dry_run("-c", str(path), "-s", "S", "--history-turns", "3", "q")
    assert len(messages) == 8
    assert messages[0] == {"role": "system", "content": "S"}
    assert [m["content"][:2] for m in messages[1:7:2]] == ["17", "18", "19"]
    assert messages[-1] == {"role": "user", "content": "q"}
    assert len(path.read_bytes().splitlines()) == 41


def test_a_window_is_sent_and_the_whole_history_is_saved(stub: Any, tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    write_turns(path, 6, system="S")
    before = stored(path)
    result = invoke(["-v", "--no-stream", "-c", str(path), "--history-turns", "2", "next"])
    assert result.exit_code == 0
    assert "cohere-chat: history: sent 2 turns, left out 4\n" in result.stderr
    sent = chat_bodies(stub)[0]["messages"]
    assert sent == [before[0], *before[-4:], {"role": "user", "content": "next"}]
    after = stored(path)
    assert after[:-2] == before and len(after) == len(before) + 2
    assert after[-1] == reply("echo: next")


def test_history_tokens_keeps_the_recent_turns_that_fit(stub: Any, tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    write_turns(path, 10, system="S")
    history = stored(path)
    new = {"role": "user", "content": "q"}
    for budget in (50, 200, 500, 1000, 5000):
        sent = dry_run("-c", str(path), "--history-tokens", str(budget), "q")
        kept = len(sent) - 2
        assert sent == [history[0], *history[len(history) - kept:], new]
        assert estimate_tokens(sent) <= budget or kept == 0
        if kept < len(history) - 1:  # one more turn would not have fitted
            more = history[len(history) - kept - 2:]
            assert estimate_tokens([history[0], *more, new]) > budget


def test_a_new_input_alone_over_the_budget_warns_once_and_goes(stub: Any,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    write_turns(path, 3)
    result = invoke(["-c", str(path), "--history-tokens", "10", "--dry-run", "y" * 400])
    assert result.exit_code == 0
    assert result.stderr == ("cohere-chat: warning: the system message and the new input "
                             "alone are over --history-tokens 10 (estimated); sent with no "
                             "earlier turn\n")
    assert orjson.loads(result.stdout)["messages"] == [{"role": "user", "content": "y" * 400}]


def test_a_history_on_stdin_is_windowed_but_its_last_user_message_never(stub: Any) -> None:
    lines = [{"role": "user", "content": "a"}, reply("A"), {"role": "user", "content": "b"},
             reply("B"), {"role": "user", "content": "c"}]
    stdin = b"".join(orjson.dumps(m) + b"\n" for m in lines)
    assert dry_run("--jsonl", "-s", "S", "--history-turns", "1", stdin=stdin) == [
        {"role": "system", "content": "S"}, *lines[2:]]
    assert dry_run("--jsonl", "--history-turns", "0", stdin=stdin) == lines[4:]
    assert dry_run("--jsonl", "--history-turns", "0", "and d?", stdin=stdin) == [
        {"role": "user", "content": "and d?"}]


# --- tool calls and their results are never separated --------------------------------

def tool_turn(n: int, calls: int) -> list[dict[str, Any]]:
    ids = [f"c{n}_{k}" for k in range(calls)]
    return [
        {"role": "user", "content": f"question {n} " + "q" * 80},
        {"role": "assistant", "tool_plan": "look", "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}}
            for i in ids]},
        *({"role": "tool", "tool_call_id": i, "content": "r" * 120} for i in ids),
        reply(f"answer {n} " + "a" * 60),
    ]


@pytest.mark.slow
def test_a_window_never_cuts_between_tool_calls_and_their_results(stub: Any,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / "tools.jsonl"
    messages = [{"role": "system", "content": "S"}]
    for n in range(8):
        messages += tool_turn(n, n % 3 + 1) if n % 2 == 0 else [
            {"role": "user", "content": f"plain {n}"}, reply(f"ok {n}")]
    path.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in messages))
    seen = set()
    for budget in range(20, 1400, 7):
        sent = dry_run("-c", str(path), "--history-tokens", str(budget), "next")
        whole_turns(sent)
        seen.add(len(sent))
    for turns in range(9):
        whole_turns(dry_run("-c", str(path), "--history-turns", str(turns), "next"))
    assert len(seen) > 5  # the sweep crossed many boundaries


def test_fit_leaves_tool_results_with_their_calls(make_stub: Any, tmp_path: Path) -> None:
    path = tmp_path / "tools.jsonl"
    messages: list[dict[str, Any]] = []
    for n in range(12):
        messages += tool_turn(n, 2)
    path.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in messages))
    server = make_stub(context_limit=700)
    result = invoke(["--no-stream", "-c", str(path), "--fit", "next"])
    assert result.exit_code == 0, result.stderr
    assert FIT_LINE.fullmatch(result.stderr)
    for body in chat_bodies(server):
        whole_turns(body["messages"])
    assert estimate_tokens(chat_bodies(server)[-1]["messages"]) <= 700
    assert stored(path)[:-2] == messages


@pytest.fixture
def big_tool(tmp_path: Path) -> str:
    """A tool whose output is about 750 estimated tokens."""
    return f"big={sys.executable} -c \"print('t' * 3000)\""


def test_a_tool_round_that_overflows_is_fitted_and_nothing_is_sent_twice(
    make_stub: Any, tmp_path: Path, big_tool: str
) -> None:
    path = tmp_path / "h.jsonl"
    write_turns(path, 10)
    before = stored(path)
    call = {"finish_reason": "TOOL_CALL", "message": {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "big", "arguments": "{}"}}]}}
    server = make_stub(context_limit=1500, replies=(call, "done"))
    result = invoke(["--no-stream", "-c", str(path), "--fit", "--tool-exec", big_tool, "go"])
    assert result.exit_code == 0, result.stderr
    bodies = chat_bodies(server)
    over = [estimate_tokens(b["messages"]) > 1500 for b in bodies]
    assert over == [False, True, False]  # round 1, round 2 refused, round 2 smaller
    assert bodies[0]["messages"][:-1] == before  # round 1: the whole history fitted
    last = bodies[2]["messages"]
    assert [m["role"] for m in last[-3:]] == ["user", "assistant", "tool"]
    assert last[-3] == {"role": "user", "content": "go"}
    whole_turns(last)
    match = FIT_LINE.fullmatch(result.stderr)
    assert match and match.group(2) == "10" and int(match.group(1)) > 0
    after = stored(path)
    assert after[:20] == before and [m["role"] for m in after[20:]] == [
        "user", "assistant", "tool", "assistant"]


# --- the second "done when": --fit against stub --context-limit 2000 ----------

@pytest.mark.slow
def test_sixty_turns_keep_working_with_fit_and_fail_without(make_stub: Any,
                                                            tmp_path: Path) -> None:
    server = make_stub(context_limit=2000)
    path = tmp_path / "ops.jsonl"
    prompts = [f"{n:03d} " + "w" * 196 for n in range(60)]
    fitted = 0
    for prompt in prompts:
        result = invoke(["-c", str(path), "--fit", prompt])
        assert result.exit_code == 0, result.stderr
        assert result.stdout == f"echo: {prompt}\n"
        if result.stderr:
            assert FIT_LINE.fullmatch(result.stderr), result.stderr
            fitted += 1
    assert fitted > 30
    history = stored(path)
    assert len(history) == 120
    assert [m["content"] for m in history[::2]] == prompts  # the file keeps every turn
    bodies = chat_bodies(server)
    answered = [b for b in bodies if estimate_tokens(b["messages"]) <= 2000]
    assert len(answered) == 60  # each turn got exactly one 200: none was sent again
    assert len(bodies) <= 60 + fitted * (1 + FIT_TRIES)

    before = path.read_bytes()
    failed = invoke(["-c", str(path), "one more"])
    assert failed.exit_code == 5
    assert failed.stdout == ""
    assert failed.stderr.startswith(f"cohere-chat: error: HTTP 400: {TOO_MANY} 2000 - received ")
    assert FIT_HINT in failed.stderr and failed.stderr.count("\n") == 1
    assert path.read_bytes() == before  # nothing appended on failure


def test_fit_with_a_window_sends_one_request_when_the_window_fits(make_stub: Any,
                                                                  tmp_path: Path) -> None:
    server = make_stub(context_limit=2000)
    path = tmp_path / "ops.jsonl"
    write_turns(path, 60)
    result = invoke(["-c", str(path), "--fit", "--history-turns", "10", "more"])
    assert result.exit_code == 0 and result.stderr == ""
    assert len(chat_bodies(server)) == 1


def test_fit_tries_a_bounded_number_of_times(raw_server: Any, tmp_path: Path) -> None:
    server = raw_server(400, "application/json", b'{"message": "too many tokens"}')
    path = tmp_path / "h.jsonl"
    write_turns(path, 40)
    before = path.read_bytes()
    result = invoke(["--no-stream", "-c", str(path), "--fit", "next"])
    assert result.exit_code == 5
    assert server.count == 1 + FIT_TRIES
    assert f"still too long after {FIT_TRIES} smaller tries of --fit" in result.stderr
    assert path.read_bytes() == before


def test_fit_stops_when_no_turn_is_left_to_leave_out(make_stub: Any, tmp_path: Path) -> None:
    server = make_stub(context_limit=100)
    path = tmp_path / "h.jsonl"
    write_turns(path, 3)
    result = invoke(["-c", str(path), "--fit", "z" * 800])
    assert result.exit_code == 5
    assert "too long even with no earlier turn" in result.stderr
    assert [len(b["messages"]) for b in chat_bodies(server)][-1] == 1


def test_other_400s_are_not_fitted(make_stub: Any, tmp_path: Path) -> None:
    server = make_stub(fail=("400",))
    path = tmp_path / "h.jsonl"
    write_turns(path, 5)
    result = invoke(["-c", str(path), "--fit", "next"])
    assert result.exit_code == 5
    assert "--fit" not in result.stderr
    assert len(server.requests) == 1


# --- flags and config keys ---------------------------------------------------------------

@pytest.mark.parametrize(("args", "problem"), [
    (["--history-turns", "-1"], "Invalid value for '--history-turns': must be a whole number "
     "from 0 to 1000000000"),
    (["--history-tokens", "0"], "Invalid value for '--history-tokens': must be a whole number "
     "from 1 to 1000000000"),
    (["--history-turns", "x"], "'--history-turns'"),
])
def test_bad_values_are_refused_at_the_option(stub: Any, args: list[str], problem: str) -> None:
    for command in (["send"], ["batch"]):
        result = invoke([*command, *args, "hi"], stdin=b'"hi"\n')
        assert result.exit_code == 2
        assert problem in result.stderr
    assert stub.requests == []


def test_config_keys_set_the_window_and_the_fit(stub: Any, clean_env: Path,
                                                tmp_path: Path) -> None:
    write_config(clean_env, "[default]\nhistory_turns = 1\n\n[profile cron]\nhistory_turns = 2\n"
                 "history_tokens = 100000\nfit = yes\n")
    path = tmp_path / "h.jsonl"
    write_turns(path, 5)
    assert len(dry_run("-c", str(path), "q")) == 3
    assert len(dry_run("-c", str(path), "--profile", "cron", "q")) == 5
    assert len(dry_run("-c", str(path), "--profile", "cron", "--history-turns", "4", "q")) == 9
    shown = invoke(["config", "--profile", "cron"]).stdout
    assert re.search(r"^history_turns = 2  # .*\[profile cron\]$", shown, re.M)
    assert re.search(r"^history_tokens = 100000  # .*\[profile cron\]$", shown, re.M)
    assert re.search(r"^fit = yes  # .*\[profile cron\]$", shown, re.M)
    assert "fit = no  # flag --fit" in invoke(["config", "--profile", "cron", "--no-fit"]).stdout
    write_config(clean_env, "")
    shown = invoke(["config"]).stdout
    assert "history_turns = (all)  # built-in default" in shown
    assert "history_tokens = (no limit)  # built-in default" in shown
    assert "fit = no  # built-in default" in shown


def test_config_fit_makes_a_cron_line_short(make_stub: Any, clean_env: Path,
                                            tmp_path: Path) -> None:
    write_config(clean_env, "[default]\nfit = on\n")
    make_stub(context_limit=500)
    path = tmp_path / "h.jsonl"
    write_turns(path, 20)
    result = invoke(["-c", str(path), "next"])
    assert result.exit_code == 0 and FIT_LINE.fullmatch(result.stderr)
    result = invoke(["-c", str(path), "--no-fit", "next"])
    assert result.exit_code == 5 and FIT_HINT in result.stderr


@pytest.mark.parametrize(("line", "problem"), [
    ("history_turns = -2", "history_turns must be a whole number from 0 to 1000000000 "
     "(got '-2' from"),
    ("history_tokens = lots", "history_tokens must be a whole number from 1 to"),
    ("fit = perhaps", "fit must be yes or no (or true/false, on/off, 1/0) (got 'perhaps' from"),
])
def test_bad_config_values_name_the_key_and_the_file(stub: Any, clean_env: Path, line: str,
                                                     problem: str) -> None:
    write_config(clean_env, f"[default]\n{line}\n")
    for args in (["hi"], ["config"]):
        result = invoke(args)
        assert result.exit_code == 2
        assert problem in result.stderr and "config.ini [default]" in result.stderr
    assert stub.requests == []


# --- batch lines ---------------------------------------------------------------------------

def batch_line(n: int, turns: int, **fields: Any) -> bytes:
    messages: list[dict[str, Any]] = []
    for t in range(turns):
        messages += [{"role": "user", "content": f"{n}.{t} " + "b" * 200}, reply("r" * 200)]
    messages.append({"role": "user", "content": f"last {n}"})
    return orjson.dumps({"id": n, "messages": messages, **fields}) + b"\n"


def test_batch_lines_are_windowed(stub: Any) -> None:
    stdin = batch_line(1, 6) + b'"plain"\n' + batch_line(3, 1)
    result = invoke(["batch", "-j", "1", "-v", "--history-turns", "2", "-s", "S"], stdin=stdin)
    assert result.exit_code == 0, result.stderr
    bodies = sorted(chat_bodies(stub), key=lambda b: len(b["messages"]))
    assert [len(b["messages"]) for b in bodies] == [2, 4, 6]
    long = bodies[2]["messages"]
    assert long[0] == {"role": "system", "content": "S"}
    assert long[1]["content"].startswith("1.4 ") and long[-1]["content"] == "last 1"
    assert "cohere-chat: line 1: history: sent 2 turns, left out 4\n" in result.stderr
    assert "cohere-chat: line 3: history: sent 1 turns, left out 0\n" in result.stderr
    assert [r["id"] for r in result.lines()] == [1, 2, 3]


def test_batch_lines_are_fitted_and_fail_alone_without_fit(make_stub: Any) -> None:
    server = make_stub(context_limit=1000)
    stdin = batch_line(1, 20) + b'"short"\n' + batch_line(3, 2)
    result = invoke(["batch", "-j", "2", "--fit"], stdin=stdin)
    assert result.exit_code == 0, result.stderr
    assert re.search(r"^cohere-chat: line 1: left out \d+ of 20 turns of the history to fit "
                     r"the model's context$", result.stderr, re.M)
    assert "line 3:" not in result.stderr
    assert all("error" not in r for r in result.lines())
    assert sum(estimate_tokens(b["messages"]) <= 1000 for b in chat_bodies(server)) == 3

    result = invoke(["batch", "-j", "2"], stdin=stdin)
    assert result.exit_code == 9
    records = result.lines()
    assert records[0]["error"]["status"] == 400
    assert records[0]["error"]["message"].startswith(f"{TOO_MANY} 1000 - received ")
    assert "error" not in records[1] and "error" not in records[2]


# --- the stub's 400 ----------------------------------------------------------------------------

def post(url: str, messages: list[dict[str, Any]]) -> requests.Response:
    with requests.Session() as client:
        client.trust_env = False
        return client.post(f"{url}/v2/chat", json={"model": "m", "messages": messages},
                           headers={"Authorization": f"Bearer {TEST_KEY}"}, timeout=10)


def test_the_stub_answers_coheres_too_many_tokens_400(make_stub: Any) -> None:
    server = make_stub(context_limit=60)
    fits = [{"role": "user", "content": "a" * 224}]  # 4 + 56 tokens: just at the limit
    assert estimate_tokens(fits) == 60
    assert post(server.url, fits).status_code == 200
    over = [{"role": "user", "content": "a" * 225}]
    answer = post(server.url, over)
    assert answer.status_code == 400
    assert answer.json() == {"message": (
        "too many tokens: total number of tokens in the prompt cannot exceed 60 - received 61. "
        "Try using a shorter prompt, or enabling prompt truncations. See "
        "https://docs.cohere.com/reference/chat for more details.")}


@pytest.fixture
def stub_program() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "cohere_cli", "stub", "--context-limit",
                             "50"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ))
    assert proc.stdout is not None
    try:
        yield proc.stdout.readline().decode().strip()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
        assert_no_key(out, err)


@pytest.mark.slow
def test_the_stub_program_takes_context_limit(stub_program: str) -> None:
    answer = post(stub_program, [{"role": "user", "content": "a" * 400}])
    assert answer.status_code == 400
    assert answer.json()["message"].startswith(f"{TOO_MANY} 50 - received 104.")


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_the_stub_refuses_a_bad_context_limit(value: str) -> None:
    result = invoke(["stub", "--context-limit", value])
    assert result.exit_code == 2 and "'--context-limit'" in result.stderr


# --- pieces -------------------------------------------------------------------------------

@pytest.mark.parametrize(("roles", "count"), [
    (["user"], 1), (["user", "assistant", "user"], 1), (["tool"], 1), (["tool", "tool"], 2),
    (["user", "assistant", "tool"], 3), ([], 0), (["system", "user"], 1),
])
def test_new_input_is_from_the_last_user_message(roles: list[str], count: int) -> None:
    assert new_input_count([{"role": role} for role in roles]) == count


def test_reading_a_history_line_by_line_keeps_its_rules(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"role":"user","content":"a"}\r\n\n  \n'
                     b'{"role":"assistant","content":"b\xe2\x80\xa8c"}')
    assert read_history(path) == [{"role": "user", "content": "a"},
                                  {"role": "assistant", "content": "b\u2028c"}]
    path.write_bytes(b'{"role":"user","content":"a"}\n{"role":"user","content":"\xff"}\n')
    with pytest.raises(InputError, match=r"h.jsonl:2: invalid UTF-8 \(byte 56\)"):
        read_history(path)
