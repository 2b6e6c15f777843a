"""Presets (issue 16): --preset NAME|PATH, CO_PRESET, `preset` in the config, `presets`,
--save-preset, in batch and with --dry-run."""
from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import TEST_KEY, chat_bodies, invoke

TRIAGE = {"model": "command-r7b-12-2024", "temperature": 0,
          "messages": [{"role": "system", "content": "Be terse"}]}


def presets_dir(home: Path) -> Path:
    return home / ".config" / "cohere-chat" / "presets"


def write_preset(home: Path, name: str, document: Any) -> Path:
    folder = presets_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_bytes(orjson.dumps(document))
    return path


def summary(body: dict[str, Any]) -> list[Any]:
    """The issue's jq: [.model, .temperature, .messages[0].content, .messages[1].content]."""
    return [body["model"], body.get("temperature"), body["messages"][0]["content"],
            body["messages"][1]["content"]]


def text(message: dict[str, Any]) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(b["text"] for b in content)


def dry_run(args: list[str], stdin: bytes = b"log\n") -> dict[str, Any]:
    result = invoke([*args, "--dry-run", "summarise"], stdin=stdin)
    assert result.exit_code == 0, result.stderr
    body: dict[str, Any] = orjson.loads(result.stdout)
    return body


def test_preset_by_path_by_name_and_flag_override(clean_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "triage.json"
    path.write_bytes(orjson.dumps(TRIAGE))
    expected = ["command-r7b-12-2024", 0, "Be terse", "log\n\nsummarise"]
    assert summary(dry_run(["--preset", str(path)])) == expected
    write_preset(clean_env, "triage", TRIAGE)
    assert summary(dry_run(["--preset", "triage"])) == expected
    assert summary(dry_run(["--preset", "triage", "-t", "0.5"]))[1] == 0.5


def test_done_when_command_in_a_shell(clean_env: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "triage.json").write_bytes(orjson.dumps(TRIAGE))
    monkeypatch.chdir(tmp_path)  # `--preset ./triage.json`: a path, relative to here
    result = invoke(["--preset", "./triage.json", "--dry-run", "summarise"], stdin=b"log\n")
    assert result.exit_code == 0, result.stderr
    assert summary(orjson.loads(result.stdout)) == [
        "command-r7b-12-2024", 0, "Be terse", "log\n\nsummarise"]


def test_precedence_stdin_document_over_preset_over_environment(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_preset(clean_env, "p", {"model": "from-preset", "temperature": 0.1, "seed": 3,
                                  "history_turns": 1})
    monkeypatch.setenv("CO_MODEL", "from-env")
    document = orjson.dumps({"temperature": 0.7, "messages": [{"role": "user", "content": "q"}]})
    result = invoke(["--preset", "p", "-i", "json", "--dry-run"], stdin=document)
    body = orjson.loads(result.stdout)
    assert (body["model"], body["temperature"], body["seed"]) == ("from-preset", 0.7, 3)
    assert orjson.loads(invoke(["--preset", "p", "-m", "flag", "--dry-run", "x"]).stdout)[
        "model"] == "flag"
    shown = invoke(["config", "--preset", "p"]).stdout
    assert "history_turns = 1  # preset p" in shown
    assert "model = from-preset  # preset p" in shown


def test_co_preset_and_config_key(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_preset(clean_env, "a", {"seed": 1})
    write_preset(clean_env, "b", {"seed": 2})
    config = clean_env / ".config" / "cohere-chat" / "config.ini"
    config.write_text("[profile work]\npreset = b\n")
    assert orjson.loads(invoke(["--profile", "work", "--dry-run", "x"]).stdout)["seed"] == 2
    monkeypatch.setenv("CO_PRESET", "a")
    assert orjson.loads(invoke(["--profile", "work", "--dry-run", "x"]).stdout)["seed"] == 1
    assert orjson.loads(invoke(["--preset", "b", "--dry-run", "x"]).stdout)["seed"] == 2


def test_message_order_and_system_replaced(
    clean_env: Path, tmp_path: Path, stub: Any
) -> None:
    write_preset(clean_env, "few", {"messages": [
        {"role": "system", "content": "Be terse"},
        {"role": "user", "content": "example q"},
        {"role": "assistant", "content": "example a"}]})
    conversation = tmp_path / "c.jsonl"
    assert invoke(["--preset", "few", "-c", str(conversation), "first"]).exit_code == 0
    assert invoke(["--preset", "few", "-c", str(conversation), "second"]).exit_code == 0
    sent = [text(m) for m in chat_bodies(stub)[1]["messages"]]
    assert sent == ["Be terse", "example q", "example a", "first", "echo: first", "second"]
    saved = [text(orjson.loads(line)) for line in conversation.read_bytes().splitlines()]
    assert saved == ["first", "echo: first", "second", "echo: second"]  # no preset messages
    body = orjson.loads(invoke(["--preset", "few", "-s", "Be kind", "--history-turns", "0",
                                "--dry-run", "x"]).stdout)
    assert [m["content"] for m in body["messages"]] == ["Be kind", "example q", "example a", "x"]


@pytest.mark.parametrize(("content", "problem"), [
    (b"{nope", "invalid JSON"),
    (b"[1]", "must be a JSON object"),
    (b'{"temprature": 1}', 'unknown field "temprature"'),
    (b'{"messages": [{"role": "robot"}]}', "messages[0]"),
    (b'{"temperature": "hot"}', "temperature"),
    (b'{"history_turns": "two"}', '"history_turns" must be a whole number'),
    (b'{"history_tokens": "all"}', '"history_tokens" must be a whole number or "auto"'),
    (b'{"fit": "yes"}', '"fit" must be true or false'),
    (b'{"stream": true}', '"stream" is not taken'),
])
def test_bad_preset_is_input_error_naming_it(
    clean_env: Path, content: bytes, problem: str
) -> None:
    folder = presets_dir(clean_env)
    folder.mkdir(parents=True)
    (folder / "bad.json").write_bytes(content)
    result = invoke(["--preset", "bad", "--dry-run", "x"])
    assert result.exit_code == 3
    assert "preset bad" in result.stderr and problem in result.stderr


def test_missing_preset_lists_the_ones_that_exist(clean_env: Path) -> None:
    write_preset(clean_env, "triage", TRIAGE)
    write_preset(clean_env, "review", {})
    result = invoke(["--preset", "triag", "x"])
    assert result.exit_code == 3
    assert "no such preset" in result.stderr and "review, triage" in result.stderr
    assert invoke(["--preset", "./nowhere.json", "x"]).exit_code == 3


def test_presets_command_lists_name_and_first_system_line(clean_env: Path) -> None:
    write_preset(clean_env, "triage", {"messages": [
        {"role": "system", "content": "Be terse\nand kind"}]})
    write_preset(clean_env, "plain", {"seed": 1})
    result = invoke(["presets"])
    assert (result.exit_code, result.stdout) == (0, "plain\ntriage  Be terse\n")


def test_save_preset_writes_refuses_and_forces(clean_env: Path, stub: Any) -> None:
    result = invoke(["--save-preset", "mine", "-t", "0.3", "-m", "m1", "-s", "Be brief",
                     "--param", "seed=4", "--history-turns", "2"], stdin=b"not read")
    assert result.exit_code == 0, result.stderr
    assert chat_bodies(stub) == []  # nothing sent
    path = presets_dir(clean_env) / "mine.json"
    assert orjson.loads(path.read_bytes()) == {
        "model": "m1", "temperature": 0.3, "seed": 4, "history_turns": 2,
        "messages": [{"role": "system", "content": "Be brief"}]}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = invoke(["--save-preset", "mine", "-t", "0.9"])
    assert again.exit_code == 2 and "--force" in again.stderr
    assert invoke(["--save-preset", "mine", "-t", "0.9", "--force"]).exit_code == 0
    assert orjson.loads(path.read_bytes()) == {"temperature": 0.9}
    body = orjson.loads(invoke(["--preset", "mine", "--dry-run", "x"]).stdout)
    assert body["temperature"] == 0.9


def test_batch_uses_the_preset_for_every_line(
    clean_env: Path, tmp_path: Path, stub: Any
) -> None:
    few_shot = [{"role": "system", "content": "Be terse"},
                {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    write_preset(clean_env, "p", {"temperature": 0.2, "seed": 9, "messages": few_shot})
    lines = tmp_path / "in.jsonl"
    lines.write_bytes(b'"one"\n{"prompt": "two", "seed": 1}\n')
    result = invoke(["batch", str(lines), "--preset", "p", "-t", "0.4", "--history-turns", "0"])
    assert result.exit_code == 0, result.stderr
    bodies = sorted(chat_bodies(stub), key=lambda b: b["messages"][-1]["content"])
    assert [(b["temperature"], b["seed"]) for b in bodies] == [(0.4, 9), (0.4, 1)]
    assert [b["messages"][:3] for b in bodies] == [few_shot, few_shot]  # never windowed
    assert TEST_KEY not in result.stderr


def test_save_preset_never_replaces_what_is_not_a_regular_file(tmp_path: Path) -> None:
    folder = tmp_path / "folder.json"
    folder.mkdir()
    for target in ("/dev/null", str(folder)):
        result = invoke(["--save-preset", target, "--force", "-s", "x"])
        assert result.exit_code == 3, result.stderr  # named_files' refusal, as on reading
        assert "not a regular file" in result.stderr
    assert folder.is_dir() and Path("/dev/null").is_char_device()


def test_a_preset_takes_auto_as_the_flag_does(clean_env: Path) -> None:
    """`"history_tokens": " Auto "` is auto, as `--history-tokens " Auto "` and the
    config's `history_tokens = Auto` are (values.history_tokens' rule)."""
    write_preset(clean_env, "long", {"history_tokens": " Auto "})
    result = invoke(["config", "--preset", "long"])
    assert result.exit_code == 0, result.stderr
    assert "history_tokens = auto  # preset long" in result.stdout
