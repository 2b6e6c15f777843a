"""Unattended runs (issue 15): the mistyped-command guard and `help`, `--max-time`, the run
log, and complete usage (`cached_tokens`, `cost_usd`) (README "Unattended runs")."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import ROOT, TEST_KEY, chat_bodies, invoke, run_process, wait_for

COMMANDS = ["batch", "config", "help", "models", "send", "stub"]


def write_config(home: Path, text: str) -> Path:
    path = home / ".config" / "cohere-chat" / "config.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


def log_lines(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert TEST_KEY.encode() not in data
    assert data.endswith(b"\n")
    return [orjson.loads(line) for line in data.splitlines()]


# The mistyped-command guard and `help`

@pytest.mark.parametrize(("args", "meant"), [
    (["bacth", "x"], "batch"), (["Models"], "models"), (["confg"], "config"),
    (["modles"], "models"), (["Batch", "prompts.jsonl"], "batch"), (["HELP"], "help"),
])
def test_a_mistyped_command_exits_2_and_sends_nothing(
    stub: Any, args: list[str], meant: str
) -> None:
    result = invoke(args, stdin=b"some input\n")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"did you mean '{meant}'?" in result.stderr
    assert f"cohere-chat send {args[0]}" in result.stderr
    assert result.stderr.count("\n") == 1
    assert stub.requests == []


def test_a_prompt_far_from_every_command_is_sent(stub: Any) -> None:
    assert invoke(["hello"]).stdout == "echo: hello\n"
    assert invoke(["send", "bacth", "x"]).stdout == "echo: bacth x\n"  # the escape
    assert invoke(["bacth x"]).stdout == "echo: bacth x\n"  # not one word: a prompt
    assert len(chat_bodies(stub)) == 3


@pytest.mark.parametrize(("word", "meant"), [
    ("bacth", "batch"), ("confg", "config"), ("conifg", "config"), ("modles", "models"),
    ("model", "models"), ("Stub", "stub"), ("sedn", "send"), ("hlep", "help"),
    ("hello", None), ("hi", None), ("summarize", None), ("test", None), ("why", None),
    ("batch!", None), ("bätch", None), ("", None),
])
def test_the_rule_of_closeness(word: str, meant: str | None) -> None:
    from cohere_cli.cli.group import close_command

    assert close_command(word, COMMANDS) == meant


def test_help_prints_the_command_list_and_a_commands_help() -> None:
    listing = invoke(["help"])
    assert listing.exit_code == 0 and listing.stderr == ""
    assert listing.stdout == invoke(["--help"]).stdout
    for command in COMMANDS:
        assert re.search(rf"^  {command}\s+\S", listing.stdout, re.M)
    batch = invoke(["help", "batch"])
    assert batch.exit_code == 0
    assert batch.stdout == invoke(["batch", "--help"]).stdout
    unknown = invoke(["help", "bacth"])
    assert unknown.exit_code == 2 and "did you mean 'batch'?" in unknown.stderr


# --max-time

@pytest.mark.slow
def test_max_time_stops_a_slow_stream_and_keeps_the_text(
    make_stub: Any, tmp_path: Path
) -> None:
    make_stub(token_delay_ms=1000)  # the whole reply would take 15 s, and exit 0
    log = tmp_path / "runs.jsonl"
    result = invoke(["--max-time", "3", "--log", str(log), "a b c d e f g h"])
    assert result.exit_code == 7
    whole = "echo: a b c d e f g h"
    assert result.stdout.startswith("echo") and whole.startswith(result.stdout)  # what came
    assert len(result.stdout) < len(whole)
    assert result.stderr.count("\n") == 1 and "--max-time 3s" in result.stderr
    [line] = log_lines(log)
    assert (line["exit"], line["finish_reason"]) == (7, None)
    assert "--max-time" in line["error"]


def test_max_time_is_not_spent_waiting_for_a_retry(make_stub: Any) -> None:
    server = make_stub(fail=("503x5",), retry_after=30)
    result = invoke(["--retries", "5", "--max-time", "5", "hi"])  # stops at once: 30 > 5
    assert result.exit_code == 7
    assert "stopped after --max-time 5s (the retry after HTTP 503 would wait" in result.stderr
    assert len(server.requests) == 1


@pytest.mark.slow
def test_max_time_in_batch_fails_only_the_slow_line(make_stub: Any, tmp_path: Path) -> None:
    make_stub(fail=("hang",))  # the first request is never answered
    lines = tmp_path / "in.jsonl"
    lines.write_text('"one"\n"two"\n"three"\n')
    # 3 s a line: a busy machine still answers the other lines within it
    result = invoke(["batch", "-j", "1", "--max-time", "3", str(lines)])
    assert result.exit_code == 9
    first, *rest = result.lines()
    assert first["error"]["message"].startswith("stopped after --max-time 3s")
    assert [line["text"] for line in rest] == ["echo: two", "echo: three"]


@pytest.mark.slow
def test_max_time_stops_a_tool_round(make_stub: Any, tmp_path: Path) -> None:
    call = {"id": "c1", "type": "function",
            "function": {"name": "slow", "arguments": "{}"}}
    make_stub(replies=({"message": {"role": "assistant", "tool_calls": [call]}}, "done"))
    result = invoke(["--no-stream", "--tool-exec", "slow=sleep 30", "--max-time", "1.5",
                     "hi"])
    assert result.exit_code == 7
    assert "the tool slow was still running" in result.stderr


def test_max_time_is_a_config_key_held_to_the_flags_rule(
    stub: Any, clean_env: Path
) -> None:
    write_config(clean_env, "[default]\nmax_time = 2.5\n")
    assert re.search(r"^max_time = 2.5  # .*\[default\]$", invoke(["config"]).stdout, re.M)
    write_config(clean_env, "[default]\nmax_time = nan\n")
    bad = invoke(["hi"])
    assert bad.exit_code == 2 and "max_time must be a number of seconds" in bad.stderr
    assert invoke(["--max-time", "0", "hi"]).exit_code == 2
    assert stub.requests == []


# The run log

def test_two_runs_give_two_lines_with_exit_and_finish_reason(
    make_stub: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv("COHERE_CHAT_LOG", str(log))
    make_stub()
    assert invoke(["hi"]).exit_code == 0
    make_stub(fail=("400",))
    assert invoke(["hi"]).exit_code == 5
    first, second = log_lines(log)
    assert [[line["exit"], line["finish_reason"]] for line in (first, second)] == [
        [0, "COMPLETE"], [5, None]]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert first["command"] == "send" and first["model"] == "command-a-plus-05-2026"
    assert first["usage"]["output_tokens"] == 2 and first["response_id"]
    assert first["error"] is None and first["duration_s"] >= 0
    assert second["error"] == "HTTP 400: stub: injected 400"
    assert "messages" not in first and "reply" not in first
    assert log.stat().st_mode & 0o777 == 0o600
    if shutil.which("jq"):
        shown = subprocess.run(["jq", "-c", "[.exit, .finish_reason]", str(log)],
                               capture_output=True, check=True, timeout=30)
        assert shown.stdout == b'[0,"COMPLETE"]\n[5,null]\n'


LAST_NIGHT = ("map(select(.time >= $since)) | {runs: length, failed: map(select(.exit != 0))"
              " | length, cost_usd: (map(.usage.cost_usd // 0) | add)}")  # the README's


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_the_documented_jq_answers_what_it_cost_and_whether_it_failed(
    make_stub: Any, clean_env: Path, tmp_path: Path
) -> None:
    assert LAST_NIGHT in (ROOT / "README.md").read_text()
    write_config(clean_env, "[default]\nprice_input = 2.5\nprice_output = 10\n")
    log = tmp_path / "runs.jsonl"
    make_stub(replies=(CACHED,))
    assert invoke(["--log", str(log), "hi"]).exit_code == 0
    make_stub(fail=("500x9",))
    assert invoke(["--log", str(log), "--retries", "0", "hi"]).exit_code == 7
    shown = subprocess.run(["jq", "-sc", "--arg", "since", "2000-01-01T00:00:00", LAST_NIGHT,
                            str(log)], capture_output=True, check=True, timeout=30)
    assert orjson.loads(shown.stdout) == {"runs": 2, "failed": 1, "cost_usd": 6.543198}


@pytest.mark.slow
def test_eight_runs_at_once_give_eight_whole_lines(stub: Any, tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    prompt = "word " * 20_000  # a line of about 200 KB: still one write
    procs = [subprocess.Popen(
        [sys.executable, "-m", "cohere_cli", "--log", str(log), "--log-content",
         f"run {number} {prompt}"], cwd=ROOT, env=dict(os.environ),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for number in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    lines = log_lines(log)
    assert sorted(line["reply"].split()[2] for line in lines) == [str(n) for n in range(8)]
    assert all(line["messages"][-1]["content"].startswith("run ") for line in lines)


@pytest.mark.slow
def test_ctrl_c_and_a_timeout_are_logged(make_stub: Any, tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    server = make_stub(fail=("hang",))
    proc = subprocess.Popen([sys.executable, "-m", "cohere_cli", "--log", str(log), "hi"],
                            cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    wait_for(lambda: server.requests, "the request to reach the stub")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert (proc.returncode, out, err) == (130, b"", b"")
    make_stub(fail=("hang",))
    assert run_process(["--timeout", "0.5", "--retries", "0", "--log", str(log),
                        "hi"]).returncode == 7
    interrupted, timed_out = log_lines(log)
    assert (interrupted["exit"], interrupted["error"]) == (130, "interrupted (Ctrl-C)")
    assert timed_out["exit"] == 7 and "--timeout" in timed_out["error"]


def test_a_log_that_cannot_be_written_only_warns(stub: Any, tmp_path: Path) -> None:
    result = invoke(["--log", str(tmp_path / "no" / "such" / "runs.jsonl"), "hi"])
    assert result.exit_code == 0 and result.stdout == "echo: hi\n"
    assert "warning: cannot write the run log" in result.stderr
    assert "No such file or directory" in result.stderr


def test_content_only_when_asked_and_the_config_names_the_log(
    stub: Any, clean_env: Path, tmp_path: Path
) -> None:
    config = write_config(clean_env, "[default]\nlog = runs.jsonl\n")
    log = config.parent / "runs.jsonl"  # relative: beside the config file
    assert invoke(["-c", str(tmp_path / "chat.jsonl"), "hi"]).exit_code == 0
    assert invoke(["--log-content", "-s", "terse", "hi"]).exit_code == 0
    plain, content = log_lines(log)
    assert plain["conversation"] == str(tmp_path / "chat.jsonl")
    assert "messages" not in plain
    assert content["messages"] == [{"role": "system", "content": "terse"},
                                   {"role": "user", "content": "hi"}]
    assert content["reply"] == "echo: hi"


def test_a_batch_appends_one_line_with_its_totals(make_stub: Any, tmp_path: Path) -> None:
    make_stub(fail=("400",))
    log = tmp_path / "runs.jsonl"
    lines = tmp_path / "in.jsonl"
    lines.write_text('"one two"\n"three"\n\n"four"\n')
    result = invoke(["batch", "-j", "1", "--log", str(log), str(lines)])
    assert result.exit_code == 9
    [line] = log_lines(log)
    assert {key: line[key] for key in ("command", "exit", "ok", "failed", "skipped")} == {
        "command": "batch", "exit": 9, "ok": 2, "failed": 1, "skipped": 0}
    assert line["input"] == str(lines) and line["error"] == "1 of 3 lines failed"
    assert line["usage"]["output_tokens"] == 2 + 2  # "echo: three", "echo: four"


# Usage: cached_tokens and cost

CACHED = {"message": {"role": "assistant", "content": "ok"}, "usage": {
    "billed_units": {"input_tokens": 1_234_567, "output_tokens": 345_678},
    "tokens": {"input_tokens": 1_300_000, "output_tokens": 345_678}, "cached_tokens": 65_433}}
COST = (1_234_567 * 2.5 + 345_678 * 10) / 1_000_000  # 6.5431975 USD


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_cached_tokens_and_cost_in_the_usage_line(
    make_stub: Any, clean_env: Path, stream: str
) -> None:
    make_stub(replies=(CACHED,))
    write_config(clean_env, "[profile priced]\nprice_input = 2.5\nprice_output = 10\n")
    result = invoke([stream, "--usage", "hi"])
    assert "cached_tokens=65433" in result.stderr and "cost_usd" not in result.stderr
    priced = invoke([stream, "--usage", "--profile", "priced", "hi"]).stderr
    assert priced == ("usage: input_tokens=1300000 output_tokens=345678 "
                      "billed_input_tokens=1234567 billed_output_tokens=345678 "
                      "cached_tokens=65433 cost_usd=6.543198\n")


def test_cost_is_right_to_the_cent_in_batch_lines_summary_and_log(
    make_stub: Any, clean_env: Path, tmp_path: Path
) -> None:
    make_stub(replies=(CACHED,))
    write_config(clean_env, "[default]\nprice_input = 2.5\nprice_output = 10\n")
    log = tmp_path / "runs.jsonl"
    lines = tmp_path / "in.jsonl"
    lines.write_text('"a"\n"b"\n')
    result = invoke(["batch", "--log", str(log), str(lines)])
    assert result.exit_code == 0
    for line in result.lines():
        assert line["usage"]["cached_tokens"] == 65_433
        assert round(line["usage"]["cost_usd"], 2) == round(COST, 2) == 6.54
    summary = re.search(r"cost_usd=([\d.]+)$", result.stderr.strip())
    assert summary and round(float(summary.group(1)), 2) == round(2 * COST, 2) == 13.09
    [logged] = log_lines(log)
    assert logged["usage"]["cached_tokens"] == 2 * 65_433
    assert round(logged["usage"]["cost_usd"], 2) == 13.09


def test_one_price_alone_is_a_configuration_error(stub: Any, clean_env: Path) -> None:
    write_config(clean_env, "[default]\nprice_input = 2.5\n")
    result = invoke(["hi"])
    assert result.exit_code == 2
    assert "price_input is set" in result.stderr and "price_output" in result.stderr
    write_config(clean_env, "[default]\nprice_input = 2.5\nprice_output = -1\n")
    assert "price_output must be" in invoke(["hi"]).stderr
    assert stub.requests == []
