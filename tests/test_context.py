"""The model's context (issue 27 items 2 and 5): `--history-tokens auto` windows a long
conversation to the model's `context_length` less room for the reply and a margin; a
request whose own input is over the context is refused before anything is paid for
(exit 5, "nothing was sent"); details that cannot be had are one warning and no window."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from conftest import chat_bodies, invoke
from tokenizers import Tokenizer as HFTokenizer

from cohere_cli.base.errors import ExitCode
from cohere_cli.chat.context import CONTEXT_MARGIN, REPLY_RESERVE, auto_budget
from cohere_cli.conversation.window import MESSAGE_TOKENS
from cohere_cli.stub.models import TOKENIZER_FILE

HF = HFTokenizer.from_str(TOKENIZER_FILE.read_text())
MODEL = "command-a-plus-05-2026"


def exact(messages: list[dict[str, Any]]) -> int:
    return sum(MESSAGE_TOKENS + len(HF.encode(m["content"] if isinstance(m["content"], str)
                                              else m["content"][0]["text"],
                                              add_special_tokens=False).ids)
               for m in messages)


def write_turns(path: Path, count: int, words: int = 40) -> None:
    messages = []
    for n in range(count):
        text = f"turn {n} " + "the quick brown fox " * (words // 4)
        messages += [{"role": "user", "content": text},
                     {"role": "assistant", "content": f"echo: {text}"}]
    path.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in messages))


def write_config(home: Path, text: str) -> None:
    folder = home / ".config" / "cohere-chat"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.ini").write_text(text)


def test_the_auto_budget_leaves_room_for_the_reply_and_a_margin() -> None:
    assert auto_budget(100_000, {}) == int(100_000 * (1 - CONTEXT_MARGIN)) - REPLY_RESERVE
    assert auto_budget(100_000, {"max_tokens": 500}) == 95_000 - 500
    assert auto_budget(1000, {}) == 1  # never below one token


def test_auto_sends_what_fits_the_models_context(make_stub: Any, tmp_path: Path) -> None:
    server = make_stub(context_limit=2000)
    chat = tmp_path / "chat.jsonl"
    write_turns(chat, 60)
    refused = invoke(["-c", str(chat), "--max-tokens", "100", "next"])
    assert refused.exit_code == ExitCode.REJECTED  # the whole history: the API's 400
    result = invoke(["-c", str(chat), "--history-tokens", "auto", "--max-tokens", "100",
                     "next"])
    assert result.exit_code == 0, result.stderr
    sent = chat_bodies(server)[-1]["messages"]
    budget = int(2000 * (1 - CONTEXT_MARGIN)) - 100
    assert exact(sent) <= budget < exact(sent) + exact(sent[:2])  # as many turns as fit
    assert sent[-1]["content"] == "next" and len(sent) < 121
    assert chat.read_bytes().count(b"\n") == 122  # the file keeps everything


def test_auto_in_the_config_and_in_a_preset(make_stub: Any, tmp_path: Path,
                                            clean_env: Path) -> None:
    server = make_stub(context_limit=2000)
    chat = tmp_path / "chat.jsonl"
    write_turns(chat, 60)
    write_config(clean_env, "[default]\nhistory_tokens = auto\n")
    assert invoke(["-c", str(chat), "--max-tokens", "100", "next"]).exit_code == 0
    write_config(clean_env, "")
    presets = clean_env / ".config" / "cohere-chat" / "presets"
    presets.mkdir()
    (presets / "long.json").write_text('{"history_tokens": "auto", "max_tokens": 100}')
    assert invoke(["-c", str(chat), "--preset", "long", "next"]).exit_code == 0
    assert all(len(body["messages"]) < 121 for body in chat_bodies(server))
    saved = invoke(["--save-preset", "again", "--history-tokens", "auto"])
    assert saved.exit_code == 0
    assert orjson.loads((presets / "again.json").read_bytes()) == {"history_tokens": "auto"}


def test_auto_shows_in_a_dry_run_from_the_cache_only(make_stub: Any, tmp_path: Path) -> None:
    server = make_stub(context_limit=2000)
    chat = tmp_path / "chat.jsonl"
    write_turns(chat, 60)
    cold = invoke(["--dry-run", "-c", str(chat), "--history-tokens", "auto", "next"])
    assert cold.exit_code == 0 and server.requests == []  # --dry-run: no network at all
    assert "no context length" in cold.stderr and "not cached" in cold.stderr
    assert len(orjson.loads(cold.stdout)["messages"]) == 121
    invoke(["models", MODEL])  # details cached; the tokenizer not
    warm = invoke(["--dry-run", "-c", str(chat), "--history-tokens", "auto",
                   "--max-tokens", "100", "next"])
    assert warm.exit_code == 0 and warm.stderr == ""
    assert len(orjson.loads(warm.stdout)["messages"]) < 121


def test_auto_without_details_is_one_warning_and_no_window(make_stub: Any,
                                                           tmp_path: Path) -> None:
    server = make_stub(fail=("404",))  # the details request
    chat = tmp_path / "chat.jsonl"
    write_turns(chat, 3)
    result = invoke(["-c", str(chat), "--history-tokens", "auto", "next"])
    assert result.exit_code == 0 and result.stdout == "echo: next\n"
    assert result.stderr.count("warning") == 1
    assert "--history-tokens auto: no context length" in result.stderr
    assert "HTTP 404" in result.stderr
    assert len(chat_bodies(server)[-1]["messages"]) == 7


def test_auto_with_fit_still_fits(make_stub: Any, tmp_path: Path) -> None:
    server = make_stub(fail=("503x3",), context_limit=1000)  # no details: retries spent
    chat = tmp_path / "chat.jsonl"
    write_turns(chat, 40)
    result = invoke(["-c", str(chat), "--history-tokens", "auto", "--fit", "--retries", "2",
                     "--max-wait", "0", "next"])
    assert result.exit_code == 0, result.stderr
    assert "left out" in result.stderr and len(chat_bodies(server)) >= 2


# --- refused before paying ---------------------------------------------------------------

def test_an_input_over_the_known_context_is_refused_unsent(make_stub: Any,
                                                          tmp_path: Path) -> None:
    server = make_stub(context_limit=200)
    invoke(["models", MODEL])  # the context length is known from now on
    chat = tmp_path / "chat.jsonl"
    write_turns(chat, 2)
    before = chat.read_bytes()
    long_input = "the quick brown fox " * 200
    result = invoke(["-c", str(chat), "summarise"], stdin=long_input)
    assert result.exit_code == ExitCode.REJECTED
    assert "nothing was sent" in result.stderr and "(exact)" in result.stderr
    assert "over the 200-token context" in result.stderr
    assert chat_bodies(server) == [] and chat.read_bytes() == before
    fine = invoke(["-c", str(chat), "--history-turns", "0", "short"])  # the history aside
    assert fine.exit_code == 0, fine.stderr


def test_without_known_details_nothing_is_refused_by_the_client(make_stub: Any) -> None:
    server = make_stub(context_limit=200)
    result = invoke(["summarise"], stdin="the quick brown fox " * 200)
    assert result.exit_code == ExitCode.REJECTED and "HTTP 400" in result.stderr
    assert len(chat_bodies(server)) == 1  # no details cached, no auto: the API decides


def test_tokens_counts_an_input_over_the_context(make_stub: Any) -> None:
    make_stub(context_limit=200)
    invoke(["models", MODEL])
    result = invoke(["tokens", "--json"], stdin="the quick brown fox " * 200)
    assert result.exit_code == 0 and orjson.loads(result.stdout)["input_tokens"] > 200


def test_a_batch_line_over_the_context_fails_unsent(make_stub: Any, tmp_path: Path) -> None:
    server = make_stub(context_limit=200)
    invoke(["models", MODEL])
    lines = tmp_path / "in.jsonl"
    lines.write_bytes(b'"short"\n' + orjson.dumps("the quick brown fox " * 200) + b'\n"ok"\n')
    result = invoke(["batch", str(lines)])
    assert result.exit_code == ExitCode.BATCH_FAILED
    records = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [("error" in r) for r in records] == [False, True, False]
    assert "nothing was sent" in records[1]["error"]["message"]
    assert len(chat_bodies(server)) == 2


def test_batch_auto_windows_each_line(make_stub: Any, tmp_path: Path) -> None:
    server = make_stub(context_limit=2000)
    history = []
    for n in range(60):
        text = f"turn {n} " + "the quick brown fox " * 10
        history += [{"role": "user", "content": text},
                    {"role": "assistant", "content": f"echo: {text}"}]
    line = {"messages": [*history, {"role": "user", "content": "next"}], "max_tokens": 100}
    lines = tmp_path / "in.jsonl"
    lines.write_bytes(orjson.dumps(line) + b"\n")
    result = invoke(["batch", "--history-tokens", "auto", str(lines)])
    assert result.exit_code == 0, result.stderr
    assert len(chat_bodies(server)[-1]["messages"]) < 121
