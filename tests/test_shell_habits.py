"""Shell habits (issue 16), --param typos (issue 17 item 4), `--image -` and
`--document -` (issue 17 item 6), and the no-key hint (issue 18)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from conftest import chat_bodies, invoke

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


def config_file(home: Path, text: str) -> Path:
    path = home / ".config" / "cohere-chat" / "config.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_unknown_key_and_section_warn_with_their_line(clean_env: Path) -> None:
    path = config_file(clean_env, "[default]\nmodle = x\n[local]\nmodel = y\n")
    result = invoke(["config"])
    assert result.exit_code == 0
    assert f'{path}:2: unknown key "modle" (did you mean "model"?)' in result.stderr
    assert f"{path}:3: unknown section [local]" in result.stderr


def test_missing_profile_lists_the_profiles(clean_env: Path) -> None:
    config_file(clean_env, "[profile work]\nmodel = a\n[profile home]\nmodel = b\n")
    result = invoke(["config", "--profile", "nosuch"])
    assert result.exit_code == 2
    assert "the profiles: work, home" in result.stderr


def test_config_syntax_error_names_the_line(clean_env: Path) -> None:
    path = config_file(clean_env, "[default]\nmodel = x\nnot a setting\n")
    result = invoke(["config"])
    assert result.exit_code == 3
    assert f"{path}:3: bad config" in result.stderr and "not a setting" in result.stderr


def test_config_profile_line_and_path(clean_env: Path) -> None:
    assert "\nprofile = (none)\n" in invoke(["config"]).stdout
    result = invoke(["config", "--path"])
    expected = clean_env / ".config" / "cohere-chat" / "config.ini"
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"{expected}\n", "")


def test_conversation_without_prompt_leaves_no_lock(tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    result = invoke(["-c", str(folder / "what next")], stdin=b"")
    assert result.exit_code == 2
    assert "nothing to send" in result.stderr
    assert list(folder.iterdir()) == []
    invoke(["-c", str(folder / "dry"), "--dry-run", "hi"])
    assert list(folder.iterdir()) == []


def test_jsonl_piped_as_text_gets_a_hint(stub: Any) -> None:
    lines = b'{"role": "user", "content": "hi"}\n\n{"role": "user", "content": "again"}\n'
    result = invoke([], stdin=lines)
    assert result.exit_code == 0
    assert "use --jsonl" in result.stderr and result.stderr.count("\n") == 1
    assert chat_bodies(stub)[0]["messages"][0]["content"] == lines.decode().rstrip("\n")
    assert "--jsonl" not in invoke([], stdin=b'{"a": 1}\n').stderr


def test_extract_flags_exclude_each_other(stub: Any) -> None:
    result = invoke(["-x", "--extract-last", "hi"])
    assert result.exit_code == 2 and "not both" in result.stderr
    assert chat_bodies(stub) == []
    assert invoke(["--show-plan", "hi"]).exit_code == 0


def test_unknown_param_warns_once_and_is_sent(stub: Any, tmp_path: Path) -> None:
    result = invoke(["--param", "temprature=0.2", "--param", "temprature=0.3", "hi"])
    assert result.exit_code == 0
    assert result.stderr.count('--param temprature') == 1
    assert 'did you mean "temperature"' in result.stderr
    assert "--param" not in invoke(["--param", "seed=1", "hi"]).stderr
    lines = tmp_path / "in.jsonl"
    lines.write_bytes(b'"a"\n"b"\n"c"\n')
    batch = invoke(["batch", str(lines), "--param", "temprature=0.2"])
    assert batch.stderr.count("--param temprature") == 1
    assert [body.get("temprature") for body in chat_bodies(stub)] == [0.3, None, 0.2, 0.2, 0.2]


def test_image_and_document_from_stdin(stub: Any) -> None:
    result = invoke(["--image", "-", "--dry-run", "describe"], stdin=PNG)
    body = orjson.loads(result.stdout)
    content = body["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "describe"}
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    result = invoke(["--document", "-", "--dry-run", "summarise"], stdin=b"the text")
    body = orjson.loads(result.stdout)
    assert body["documents"] == [{"id": "stdin", "data": {"title": "stdin",
                                                          "snippet": "the text"}}]
    assert body["messages"] == [{"role": "user", "content": "summarise"}]
    both = invoke(["--image", "-", "--document", "-", "x"], stdin=PNG)
    assert both.exit_code == 2


def test_no_key_error_points_at_the_stub() -> None:
    result = invoke(["hi"])
    assert result.exit_code == 2
    assert "no API key" in result.stderr and "set CO_API_KEY" in result.stderr
    assert "to try it offline: cohere-chat stub" in result.stderr
