"""A preset joins a request in one place (settings/preset_apply.py), for send,
--dry-run and batch lines alike; the --param refusal is written once and holds for a
request and for --save-preset (issue 24)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import invoke

from cohere_cli.settings.preset_apply import apply_preset
from cohere_cli.settings.presets import Preset

SYSTEM = {"role": "system", "content": "Be terse"}
SHOT = [{"role": "user", "content": "2+2"}, {"role": "assistant", "content": "4"}]
PRESET = Preset("p", Path("p.json"), (SYSTEM, *SHOT), {"temperature": 0, "seed": 1})
ASK = {"role": "user", "content": "hi"}


def test_the_preset_fields_go_under_and_its_messages_first() -> None:
    applied = apply_preset(PRESET, [ASK], {"seed": 7})
    assert applied.fields == {"temperature": 0, "seed": 7}
    assert applied.messages == [SYSTEM, *SHOT, ASK]
    assert applied.fixed == 3


def test_a_system_message_of_the_request_replaces_the_presets() -> None:
    own = {"role": "system", "content": "Be kind"}
    applied = apply_preset(PRESET, [own, ASK])
    assert applied.messages == [own, *SHOT, ASK]
    assert applied.fixed == 3  # the request's system message and the preset's examples


def test_no_preset_or_one_without_messages_changes_no_message() -> None:
    for preset in (None, Preset("f", Path("f.json"), (), {"seed": 2})):
        applied = apply_preset(preset, [ASK])
        assert (applied.messages, applied.fixed) == ([ASK], 0)
    assert apply_preset(None, [ASK], {"k": 1}).fields == {"k": 1}


def test_send_batch_and_dry_run_open_with_the_same_preset_messages(
        clean_env: Path, stub: Any, tmp_path: Path) -> None:
    folder = clean_env / ".config" / "cohere-chat" / "presets"
    folder.mkdir(parents=True)
    (folder / "p.json").write_bytes(orjson.dumps({"messages": [SYSTEM, *SHOT], "seed": 1}))
    dry = orjson.loads(invoke(["--preset", "p", "--dry-run", "hi"]).stdout)
    lines = tmp_path / "in.jsonl"
    lines.write_text('"hi"\n')
    assert invoke(["batch", "--preset", "p", str(lines)]).exit_code == 0
    assert invoke(["--preset", "p", "hi"]).exit_code == 0
    [batch_body, send_body] = [request.json for request in stub.requests]
    for body in (dry, batch_body, send_body):
        assert body["messages"] == [SYSTEM, *SHOT, ASK] and body["seed"] == 1


@pytest.mark.parametrize("key", ["stream", "messages"])
def test_param_stream_or_messages_is_refused_for_a_request_and_a_preset(
        clean_env: Path, key: str) -> None:
    message = f"--param {key} is not allowed; the command line decides {key}"
    sent = invoke(["--dry-run", "--param", f"{key}=true", "hi"])
    saved = invoke(["--save-preset", "x", "--param", f"{key}=true"])
    assert (sent.exit_code, saved.exit_code) == (2, 2)
    assert message in sent.stderr and message in saved.stderr
    assert not (clean_env / ".config" / "cohere-chat" / "presets" / "x.json").exists()
