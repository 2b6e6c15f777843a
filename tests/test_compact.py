"""--compact (issue 29): the turns the history window leaves out are folded into a running
summary kept beside the conversation (FILE.summary.json), with one more request when
turns newly leave the window; every request carries the summary in their place."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import ROOT, assert_no_key, chat_bodies, invoke

from cohere_cli.base.errors import ExitCode
from cohere_cli.chat.compact import DEFAULT_PROMPT, SUMMARY_LEAD, transcript
from cohere_cli.conversation.summary import history_digest, plan_fold

WINDOW = ("--compact", "--history-turns", "2", "--no-stream")
TURN_MARK = re.compile(r"\[user\] (\d{4}) ")


def reply(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def write_turns(path: Path, count: int, system: str | None = "Be brief.") -> None:
    """A conversation of `count` user/assistant turns, as the program writes it."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for n in range(count):
        messages += [{"role": "user", "content": f"{n:04d} question"}, reply(f"answer {n:04d}")]
    path.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in messages))


def stored(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def summary_of(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(path.with_name(path.name + ".summary.json")
                                            .read_bytes())
    return document


def is_fold(body: dict[str, Any]) -> bool:
    return body["messages"][0]["content"] == DEFAULT_PROMPT


def folded_turns(body: dict[str, Any]) -> list[int]:
    """The history turns (from 0, by their `NNNN question` text) a fold request carries to
    add (the summary so far, the stub's echo of an earlier fold, may name others)."""
    added = body["messages"][1]["content"].rpartition("<messages_to_add>")[2]
    return [int(n) for n in TURN_MARK.findall(added)]


def summary_lines(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"]
            if m["role"] == "system" and m["content"].startswith(SUMMARY_LEAD)]


def send(path: Path, *args: str) -> Any:
    result = invoke(["-c", str(path), *WINDOW, *args])
    assert result.exit_code == 0, result.stderr
    return result


# --- the "done when" ------------------------------------------------------------

def test_two_runs_roll_the_summary_forward(make_stub: Any, tmp_path: Path) -> None:
    """The first run folds turns 1-3 (of 5: two stay in the window); the second only turn
    4, which newly left it, carrying the first summary but none of turns 1-3."""
    server = make_stub(replies=("SUMMARY ONE", "reply a", "SUMMARY TWO", "reply b"))
    path = tmp_path / "chat.jsonl"
    write_turns(path, 5)
    before = path.read_bytes()
    assert send(path, "next").stdout == "reply a\n"
    fold, main = chat_bodies(server)
    assert is_fold(fold) and folded_turns(fold) == [0, 1, 2]
    assert "(none yet)" in fold["messages"][1]["content"]
    assert fold["stream"] is False and fold["model"] == main["model"]
    assert [m["role"] for m in main["messages"]] == ["system", "system", "user", "assistant",
                                                     "user", "assistant", "user"]
    assert main["messages"][0]["content"] == "Be brief."
    assert summary_lines(main) == [SUMMARY_LEAD + "SUMMARY ONE"]
    assert main["messages"][2]["content"] == "0003 question"
    summary = summary_of(path)
    assert (summary["summary"], summary["messages"]) == ("SUMMARY ONE", 6)
    assert summary["sha256"] == history_digest(stored(path)[1:7])

    send(path, "again")
    assert path.read_bytes().startswith(before)  # every earlier byte as it was
    fold, main = chat_bodies(server)[2:]
    assert is_fold(fold) and folded_turns(fold) == [3]
    assert "SUMMARY ONE" in fold["messages"][1]["content"]
    assert not any(f"{n:04d}" in fold["messages"][1]["content"] for n in (0, 1, 2, 4))
    assert summary_lines(main) == [SUMMARY_LEAD + "SUMMARY TWO"]
    assert (summary_of(path)["summary"], summary_of(path)["messages"]) == ("SUMMARY TWO", 8)
    assert len(stored(path)) == 1 + 2 * 7


def test_no_request_more_while_no_turn_newly_leaves_the_window(make_stub: Any,
                                                              tmp_path: Path) -> None:
    """Raising the window: the summary reaches further than what is left out; it is sent
    as it is, with no summarising request."""
    server = make_stub(replies=("SUMMARY", "reply"))
    path = tmp_path / "chat.jsonl"
    write_turns(path, 4)
    send(path, "one")
    result = invoke(["-c", str(path), "--compact", "--history-turns", "3", "--no-stream", "two"])
    assert result.exit_code == 0, result.stderr
    bodies = chat_bodies(server)
    assert len(bodies) == 3 and not is_fold(bodies[2])
    assert summary_lines(bodies[2]) == [SUMMARY_LEAD + "SUMMARY"]


def test_dry_run_shows_the_stored_summary_and_sends_nothing(make_stub: Any,
                                                            tmp_path: Path) -> None:
    server = make_stub(replies=("SUMMARY ONE", "reply a"))
    path = tmp_path / "chat.jsonl"
    write_turns(path, 5)
    send(path, "next")
    summary_file = path.with_name("chat.jsonl.summary.json")
    before = (path.read_bytes(), summary_file.read_bytes())
    count = len(server.requests)
    result = invoke(["-c", str(path), *WINDOW, "--dry-run", "later"])
    assert result.exit_code == 0, result.stderr
    assert len(server.requests) == count
    assert summary_lines(orjson.loads(result.stdout)) == [SUMMARY_LEAD + "SUMMARY ONE"]
    assert ("--dry-run: would fold turn 4 (2 messages) into the summary, with one more "
            "request" in result.stderr)
    assert (path.read_bytes(), summary_file.read_bytes()) == before


def test_a_failed_summarising_request_leaves_the_stored_summary(make_stub: Any,
                                                                tmp_path: Path) -> None:
    make_stub(replies=("SUMMARY ONE", "reply a"))
    path = tmp_path / "chat.jsonl"
    write_turns(path, 5)
    send(path, "next")
    summary_file = path.with_name("chat.jsonl.summary.json")
    before = summary_file.read_bytes()
    failing = make_stub(fail=("500",))
    result = send(path, "--retries", "0", "again")
    assert result.stdout == "echo: again\n"
    assert result.stderr.count("warning") == 1
    assert "the summarising request failed (HTTP 500" in result.stderr
    assert "went on with the summary it had" in result.stderr
    assert summary_file.read_bytes() == before
    fold, main = chat_bodies(failing)
    assert is_fold(fold) and summary_lines(main) == [SUMMARY_LEAD + "SUMMARY ONE"]
    assert len(stored(path)) == 1 + 2 * 7  # the turn itself went on and was saved


@pytest.mark.parametrize(("spec", "why"), [
    ({"message": {"content": "a summary cut"}, "finish_reason": "MAX_TOKENS"},
     "did not complete (finish_reason MAX_TOKENS)"),
    ({"message": {"content": "half"}, "finish_reason": "ERROR"}, "finish_reason ERROR"),
    ("   ", "the reply has no text"),
    ({"message": {"tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
      "finish_reason": "COMPLETE"}, "the reply asks for tools"),
    ("x" * (512 * 1024 + 1), "the reply is over 512 KiB"),
])
def test_a_cut_or_malformed_summary_is_never_stored(make_stub: Any, tmp_path: Path,
                                                    spec: object, why: str) -> None:
    server = make_stub(replies=(spec, "reply"))
    path = tmp_path / "chat.jsonl"
    write_turns(path, 5)
    result = send(path, "next")
    assert why in result.stderr and "went on without one" in result.stderr
    assert not path.with_name("chat.jsonl.summary.json").exists()
    assert summary_lines(chat_bodies(server)[1]) == []


def test_a_body_that_is_no_chat_response_is_never_stored(make_stub: Any,
                                                         tmp_path: Path) -> None:
    make_stub(replies=("SUMMARY ONE", "reply a"))
    path = tmp_path / "chat.jsonl"
    write_turns(path, 5)
    send(path, "next")
    before = path.with_name("chat.jsonl.summary.json").read_bytes()
    make_stub(fail=("garbage",))
    result = send(path, "--retries", "0", "again")
    assert "the summarising request failed" in result.stderr
    assert path.with_name("chat.jsonl.summary.json").read_bytes() == before


def test_max_time_during_the_summarising_request_stops_the_turn(make_stub: Any,
                                                                tmp_path: Path) -> None:
    server = make_stub(fail=("hang",))
    path = tmp_path / "chat.jsonl"
    write_turns(path, 5)
    before = path.read_bytes()
    result = invoke(["-c", str(path), *WINDOW, "--max-time", "0.5", "hi"])
    assert result.exit_code == 7 and "stopped after --max-time" in result.stderr
    assert "warning" not in result.stderr and len(server.requests) == 1
    assert path.read_bytes() == before
    assert not path.with_name("chat.jsonl.summary.json").exists()


def test_every_round_of_a_tool_loop_carries_the_summary(make_stub: Any,
                                                        tmp_path: Path) -> None:
    call = {"message": {"tool_calls": [{"id": "c1", "type": "function",
                                        "function": {"name": "add", "arguments": "{}"}}]}}
    server = make_stub(replies=("SUMMARY", call, "done"))
    path = tmp_path / "chat.jsonl"
    write_turns(path, 4)
    tool = tmp_path / "add.sh"
    tool.write_text("#!/bin/sh\ncat >/dev/null\necho '{\"sum\": 3}'\n")
    tool.chmod(0o755)
    result = send(path, "--tool-exec", f"add={tool}", "add them")
    assert result.stdout == "done\n"
    fold, first, second = chat_bodies(server)
    assert is_fold(fold) and folded_turns(fold) == [0, 1]
    assert summary_lines(first) == summary_lines(second) == [SUMMARY_LEAD + "SUMMARY"]
    assert second["messages"][-1]["role"] == "tool"


@pytest.mark.slow
def test_concurrent_runs_keep_one_consistent_summary(make_stub: Any, tmp_path: Path) -> None:
    """Six processes at once on one conversation, each leaving one more turn out of a
    window of one: the summary at the end sums up exactly what the last window left out,
    and no turn was folded twice or skipped."""
    server = make_stub(latency_ms=10)
    path = tmp_path / "chat.jsonl"
    write_turns(path, 2)
    procs = [subprocess.Popen([sys.executable, "-m", "cohere_cli", "-c", str(path), "--compact",
                               "--history-turns", "1", "--no-stream", f"{n + 2:04d} question"],
                              cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for n in range(6)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert_no_key(out, err)
        assert proc.returncode == 0, err
    messages = stored(path)
    assert len(messages) == 1 + 2 * 8
    summary = summary_of(path)
    assert summary["messages"] == 2 * 6  # what the last run's window (of 7 turns) left out
    assert summary["sha256"] == history_digest(messages[1:13])
    folds = [body for body in chat_bodies(server) if is_fold(body)]
    assert len(folds) == 6
    asked = [messages[1 + 2 * n]["content"] for n in range(8)]
    numbers = [asked.index(f"{turn:04d} question") for body in folds
               for turn in folded_turns(body)]
    assert numbers == list(range(6))  # in order, each once


# --- what --compact needs, and where it comes from ---------------------------------------

def test_compact_needs_a_window_and_a_file_before_anything_is_sent(stub: Any,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    write_turns(path, 3)
    result = invoke(["-c", str(path), "--compact", "hi"])
    assert result.exit_code == 2 and "--compact needs a history window" in result.stderr
    result = invoke(["--compact", "--history-turns", "1", "hi"])
    assert result.exit_code == 2 and "give -c FILE" in result.stderr
    assert stub.requests == []


def write_config(home: Path, text: str) -> None:
    folder = home / ".config" / "cohere-chat"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.ini").write_text(text)


def test_the_config_key_compacts_conversations_and_leaves_one_offs_alone(
        make_stub: Any, tmp_path: Path, clean_env: Path) -> None:
    server = make_stub(replies=("one-off reply", "SUMMARY", "reply"))
    write_config(clean_env, "[default]\ncompact = yes\nhistory_turns = 1\n"
                 "compact_model = small-model\ncompact_prompt = Sum it up.\n")
    assert invoke(["--no-stream", "one-off"]).exit_code == 0  # no -c: nothing to compact
    path = tmp_path / "chat.jsonl"
    write_turns(path, 3)
    assert invoke(["-c", str(path), "--no-stream", "hi"]).exit_code == 0
    one_off, fold, main = chat_bodies(server)
    assert summary_lines(one_off) == []
    assert fold["model"] == "small-model" and fold["messages"][0]["content"] == "Sum it up."
    assert folded_turns(fold) == [0, 1]
    assert summary_lines(main) == [SUMMARY_LEAD + "SUMMARY"]
    assert main["model"] != "small-model"
    result = invoke(["-c", str(path), "--no-compact", "--dry-run", "hi"])
    assert summary_lines(orjson.loads(result.stdout)) == []
    shown = invoke(["config"]).stdout
    assert "compact = yes  # " in shown and "compact_model = small-model  # " in shown


def test_the_flags_name_the_model_and_the_instruction(make_stub: Any, tmp_path: Path) -> None:
    server = make_stub()
    path = tmp_path / "chat.jsonl"
    write_turns(path, 3)
    send(path, "--compact-model", "cheap", "--compact-prompt", "Keep names.", "hi")
    fold = chat_bodies(server)[0]
    assert (fold["model"], fold["messages"][0]["content"]) == ("cheap", "Keep names.")
    result = invoke(["-c", str(path), *WINDOW, "--compact-prompt", " ", "hi"])
    assert result.exit_code == 2 and "must not be empty" in result.stderr


def test_a_preset_turns_it_on_and_its_messages_come_before_the_summary(
        stub: Any, tmp_path: Path) -> None:
    preset = tmp_path / "bot.json"
    preset.write_bytes(orjson.dumps({
        "compact": True, "history_turns": 1,
        "messages": [{"role": "system", "content": "You are a bot."},
                     {"role": "user", "content": "example question"},
                     {"role": "assistant", "content": "example answer"}]}))
    path = tmp_path / "chat.jsonl"
    write_turns(path, 3, system=None)
    result = invoke(["-c", str(path), "--preset", str(preset), "--no-stream", "hi"])
    assert result.exit_code == 0, result.stderr
    main = chat_bodies(stub)[1]
    contents = [m["content"] if isinstance(m["content"], str) else m["content"][0]["text"]
                for m in main["messages"]]
    assert contents[:3] == ["You are a bot.", "example question", "example answer"]
    assert contents[3].startswith(SUMMARY_LEAD) and contents[4] == "0002 question"


def test_save_preset_keeps_the_compact_settings(tmp_path: Path) -> None:
    target = tmp_path / "p.json"
    result = invoke(["--save-preset", str(target), "--compact", "--compact-model", "m2",
                     "--history-turns", "4"])
    assert result.exit_code == 0, result.stderr
    document = orjson.loads(target.read_bytes())
    assert (document["compact"], document["compact_model"]) == (True, "m2")


# --- the stored summary: restarted when FILE changed, never repaired ---------------------

def test_an_edited_conversation_starts_a_new_summary(make_stub: Any, tmp_path: Path) -> None:
    server = make_stub(replies=("SUMMARY ONE", "reply a", "SUMMARY NEW", "reply b"))
    path = tmp_path / "chat.jsonl"
    write_turns(path, 5)
    send(path, "next")
    path.write_bytes(path.read_bytes().replace(b"0001 question", b"0001 edited!"))
    result = send(path, "again")
    assert "no longer matches" in result.stderr and "starting a new summary" in result.stderr
    fold = chat_bodies(server)[2]
    assert folded_turns(fold) == [0, 1, 2, 3] and "0001 edited!" in fold["messages"][1]["content"]
    assert "SUMMARY ONE" not in fold["messages"][1]["content"]
    assert summary_of(path)["summary"] == "SUMMARY NEW"


def test_deleting_the_summary_starts_a_new_one(make_stub: Any, tmp_path: Path) -> None:
    server = make_stub(replies=("SUMMARY ONE", "reply a", "SUMMARY NEW", "reply b"))
    path = tmp_path / "chat.jsonl"
    write_turns(path, 5)
    send(path, "next")
    path.with_name("chat.jsonl.summary.json").unlink()
    result = send(path, "again")
    assert "warning" not in result.stderr
    assert folded_turns(chat_bodies(server)[2]) == [0, 1, 2, 3]
    assert summary_of(path)["messages"] == 8


@pytest.mark.parametrize(("content", "problem"), [
    (b"{not json", "invalid JSON"),
    (b'{"version": 1, "summary": "x", "messages": 0, "sha256": "00"}', '"messages" must'),
    (b'{"version": 2}', "not a summary file"),
    (None, "a symbolic link"),
])
def test_a_damaged_summary_file_is_reported_before_anything_is_sent(
        stub: Any, tmp_path: Path, content: bytes | None, problem: str) -> None:
    path = tmp_path / "chat.jsonl"
    write_turns(path, 5)
    summary_file = path.with_name("chat.jsonl.summary.json")
    if content is None:
        (tmp_path / "elsewhere.json").write_bytes(b"{}")
        summary_file.symlink_to(tmp_path / "elsewhere.json")
    else:
        summary_file.write_bytes(content)
    result = invoke(["-c", str(path), *WINDOW, "hi"])
    assert result.exit_code == 3 and problem in result.stderr
    assert "delete it to start a new summary" in result.stderr
    assert stub.requests == []


def test_the_summary_lives_beside_a_links_target(stub: Any, tmp_path: Path) -> None:
    real = tmp_path / "real.jsonl"
    write_turns(real, 4)
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    send(link, "hi")
    assert summary_of(real)["messages"] == 4
    assert not (tmp_path / "link.jsonl.summary.json").exists()


# --- both requests count ----------------------------------------------------------------

def test_both_requests_count_in_usage_the_run_log_and_the_cost(
        stub: Any, tmp_path: Path, clean_env: Path) -> None:
    write_config(clean_env, "[default]\nprice_input = 1000000\nprice_output = 1000000\n")
    path, log = tmp_path / "chat.jsonl", tmp_path / "runs.jsonl"
    write_turns(path, 5)
    result = send(path, "--usage", "--log", str(log), "hi")
    fold_usage, main_usage = re.findall(r"input_tokens=(\d+) output_tokens=(\d+)", result.stderr)
    assert "usage (summary): input_tokens=" in result.stderr
    counted = orjson.loads(log.read_bytes())["usage"]
    assert counted["input_tokens"] == int(fold_usage[0]) + int(main_usage[0])
    assert counted["output_tokens"] == int(fold_usage[1]) + int(main_usage[1])
    assert counted["cost_usd"] == counted["input_tokens"] + counted["output_tokens"]


def test_the_summarising_request_counts_against_max_cost(
        stub: Any, tmp_path: Path, clean_env: Path) -> None:
    """--compact's request is paid too: once it spent --max-cost, the turn's own request
    is not sent (exit 11) and the turn is not saved."""
    write_config(clean_env, "[default]\nprice_input = 1000000\nprice_output = 1000000\n")
    path = tmp_path / "chat.jsonl"
    write_turns(path, 5)
    before = path.read_bytes()
    result = invoke(["-c", str(path), *WINDOW, "--max-cost", "0.5", "hi"])
    assert result.exit_code == ExitCode.BUDGET, result.stderr
    bodies = chat_bodies(stub)
    assert len(bodies) == 1 and is_fold(bodies[0])  # the fold only: nothing more was paid
    assert path.read_bytes() == before


# --- the parts ---------------------------------------------------------------------------

def test_a_tool_call_and_its_results_are_folded_together() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_plan": "look it up",
         "tool_calls": [{"id": "c1", "type": "function",
                         "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "c1",
         "content": [{"type": "document", "document": {"data": "rain"}}]},
        reply("rain in Oslo"),
        {"role": "user", "content": "thanks"}, reply("welcome"),
        {"role": "user", "content": "new"},
    ]
    plan = plan_fold(messages, 1, 1, None)
    assert (plan.start, plan.stop, plan.turns()) == (0, 4, "turn 1")
    text = transcript(messages[plan.start:plan.stop])
    assert '[assistant calls tool weather c1] {"city": "Oslo"}' in text
    assert '[tool result c1] {"type":"document","document":{"data":"rain"}}' in text
    assert "[assistant, planning] look it up" in text


def test_a_summary_that_does_not_end_a_whole_turn_is_stale() -> None:
    from cohere_cli.conversation.summary import StoredSummary

    messages = [{"role": "user", "content": f"q{n}"} if n % 2 == 0 else reply(f"a{n}")
                for n in range(6)] + [{"role": "user", "content": "new"}]
    whole = StoredSummary("s", 2, history_digest(messages[:2]))
    assert plan_fold(messages, 1, 2, whole).previous == whole
    torn = StoredSummary("s", 1, history_digest(messages[:1]))
    plan = plan_fold(messages, 1, 2, torn)
    assert plan.stale and plan.previous is None and (plan.start, plan.stop) == (0, 4)
