"""Budgets and estimates (issue 27 items 6 and 7): `batch --estimate` (local and
`--remote`) counts every line and sends nothing; `--max-cost USD` starts no new request
once the finished ones cost USD (exit 11, the lines done kept, the `--resume` command
shown); `--remote --max-cost` refuses before the upload; no prices: exit 2."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import chat_bodies, invoke
from test_tool_loop_safety import call_reply, script

from cohere_cli.base.errors import ExitCode
from cohere_cli.chat.context import REPLY_RESERVE
from cohere_cli.stub.server import StubServer

PRICES = "[default]\nprice_input = 2.5\nprice_output = 10\n"


def write_config(home: Path, text: str) -> None:
    folder = home / ".config" / "cohere-chat"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.ini").write_text(text)


def lines_file(path: Path, count: int, **fields: Any) -> Path:
    path.write_bytes(b"".join(orjson.dumps({"prompt": f"line {n}", **fields}) + b"\n"
                              for n in range(count)))
    return path


# --- no prices, no budget ------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--max-cost", "1", "hi"],
                                  ["batch", "--max-cost", "1", "-"]])
def test_max_cost_without_prices_is_a_usage_error(stub: StubServer, args: list[str]) -> None:
    result = invoke(args, stdin='"hi"\n')
    assert result.exit_code == ExitCode.USAGE and "--max-cost needs prices" in result.stderr
    assert "price_input and price_output" in result.stderr
    assert chat_bodies(stub) == []


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "x"])
def test_a_bad_max_cost_is_refused(value: str) -> None:
    assert invoke(["--max-cost", value, "hi"]).exit_code == ExitCode.USAGE


def test_max_cost_is_a_config_key(stub: StubServer, clean_env: Path) -> None:
    write_config(clean_env, PRICES + "max_cost = 0.5\n")
    shown = invoke(["config"]).stdout
    assert "max_cost = 0.5  #" in shown
    assert invoke(["hi"]).exit_code == 0


# --- send ------------------------------------------------------------------------------------

def test_a_spent_budget_starts_no_new_tool_round(
    make_stub: Any, tmp_path: Path, clean_env: Path
) -> None:
    write_config(clean_env, PRICES)
    billed = {"billed_units": {"input_tokens": 100, "output_tokens": 50}}
    server = make_stub(replies=({**call_reply(("c1", "weather", {})), "usage": billed},
                                "done"))
    tool = script(tmp_path / "weather.sh", "echo '{\"sunny\":true}'")
    chat = tmp_path / "chat.jsonl"
    result = invoke(["-c", str(chat), "--tool-exec", f"weather={tool}", "--max-cost",
                     "0.0000001", "weather?"])
    assert result.exit_code == ExitCode.BUDGET, result.stderr
    assert "the budget is spent" in result.stderr and "no new request" in result.stderr
    assert len(chat_bodies(server)) == 1 and not chat.exists()  # the turn is not saved
    enough = invoke(["-c", str(chat), "--tool-exec", f"weather={tool}", "--max-cost", "1",
                     "weather?"])
    assert enough.exit_code == 0 and enough.stdout.endswith("done\n")


# --- local batch -------------------------------------------------------------------------------

def test_a_spent_budget_stops_the_batch_and_says_how_to_go_on(
    stub: StubServer, tmp_path: Path, clean_env: Path
) -> None:
    write_config(clean_env, PRICES)
    lines = lines_file(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    args = ["batch", "-j", "1", "--max-cost", "0.0000001", "-o", str(out), str(lines)]
    result = invoke(args)
    assert result.exit_code == ExitCode.BUDGET, result.stderr
    assert out.read_bytes().count(b"\n") == 1 and len(chat_bodies(stub)) == 1
    assert "budget spent: 9 of 10 lines not done; to continue: cohere-chat " in result.stderr
    assert "--resume" in result.stderr  # the command line as given, with --resume
    more = invoke(["batch", "-j", "1", "--max-cost", "1", "-o", str(out), "--resume",
                   str(lines)])
    assert more.exit_code == 0, more.stderr
    assert out.read_bytes().count(b"\n") == 10 and len(chat_bodies(stub)) == 10


# --- --estimate ----------------------------------------------------------------------------------

def test_estimate_counts_every_line_and_sends_nothing(
    stub: StubServer, tmp_path: Path, clean_env: Path
) -> None:
    lines = lines_file(tmp_path / "in.jsonl", 3, max_tokens=50)
    with_bad = tmp_path / "bad.jsonl"
    with_bad.write_bytes(lines.read_bytes() + b"not json\n")
    result = invoke(["batch", "--estimate", str(with_bad)])
    assert result.exit_code == 0
    found = orjson.loads(result.stdout)
    counted = [orjson.loads(invoke(["tokens", "--json", f"line {n}"]).stdout)["input_tokens"]
               for n in range(3)]
    assert found == {"lines": 3, "input_tokens": sum(counted), "exact": True,
                     "max_output_tokens": 150, "cost_usd_input": None}
    assert "1 lines cannot be sent" in result.stderr
    assert chat_bodies(stub) == []
    write_config(clean_env, PRICES)
    priced = orjson.loads(invoke(["batch", "--estimate", "-m", "command-r",
                                  str(lines_file(tmp_path / "open.jsonl", 2))]).stdout)
    assert priced["max_output_tokens"] is None
    assert priced["cost_usd_input"] == round(priced["input_tokens"] * 2.5 / 1e6, 6)


def test_estimate_applies_presets_and_windows(stub: StubServer, tmp_path: Path,
                                              clean_env: Path) -> None:
    history = []
    for n in range(10):
        history += [{"role": "user", "content": f"question {n}"},
                    {"role": "assistant", "content": f"answer {n}"}]
    lines = tmp_path / "in.jsonl"
    lines.write_bytes(orjson.dumps({"messages": [*history, {"role": "user",
                                                            "content": "new"}]}) + b"\n")
    whole = orjson.loads(invoke(["batch", "--estimate", str(lines)]).stdout)
    last = orjson.loads(invoke(["batch", "--estimate", "--history-turns", "1",
                                str(lines)]).stdout)
    assert last["input_tokens"] < whole["input_tokens"]
    presets = clean_env / ".config" / "cohere-chat" / "presets"
    presets.mkdir(parents=True)
    (presets / "p.json").write_text('{"messages": [{"role": "system", "content": "a long '
                                    'system message for every line"}]}')
    preset = orjson.loads(invoke(["batch", "--estimate", "--preset", "p", str(lines)]).stdout)
    assert preset["input_tokens"] > whole["input_tokens"]


def test_estimate_with_remote_sends_nothing(stub: StubServer, tmp_path: Path) -> None:
    lines = lines_file(tmp_path / "in.jsonl", 4, max_tokens=10)
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", "--remote", "--estimate", "-o", str(out), str(lines)])
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["lines"] == 4
    assert not [r for r in stub.requests if not r.path.startswith(("/v1/models/",
                                                                   "/tokenizers/"))]
    assert not out.exists() and not Path(f"{out}.remote.json").exists()


def test_remote_max_cost_refuses_before_the_upload(
    stub: StubServer, tmp_path: Path, clean_env: Path
) -> None:
    write_config(clean_env, PRICES)
    lines = lines_file(tmp_path / "in.jsonl", 4)
    out = tmp_path / "out.jsonl"
    most = 4 * REPLY_RESERVE * 10 / 1e6  # the output part alone: lines without max_tokens
    result = invoke(["batch", "--remote", "--max-cost", f"{most / 2}", "-o", str(out),
                     str(lines)])
    assert result.exit_code == ExitCode.BUDGET, result.stderr
    assert "nothing was sent" in result.stderr
    assert not [r for r in stub.requests if r.path.startswith(("/v1/datasets", "/v2/"))]
    from_stdin = invoke(["batch", "--remote", "--max-cost", "1", "-o", str(out), "-"],
                        stdin=lines.read_bytes())
    assert from_stdin.exit_code == ExitCode.USAGE and "give it as a file" in from_stdin.stderr
