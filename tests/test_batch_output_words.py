"""batch -o FILE where the results cannot be saved says so in a batch's words: the lock
it shares with a conversation (batch/lock.py) does not talk of "the conversation"."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import invoke
from test_conversation_safety import read_only


def test_a_read_only_output_names_the_results(stub: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('"a"\n')
    folder = tmp_path / "ro"
    folder.mkdir()
    out = folder / "out.jsonl"
    with read_only(folder):
        result = invoke(["batch", "-o", str(out), str(source)])
    assert result.exit_code == 3, result.stderr
    assert f"cannot save the results: the folder {folder} is not writable" in result.stderr
    assert invoke(["batch", "-o", str(out), str(source)]).exit_code == 0
    with read_only(out):
        result = invoke(["batch", "--resume", "-o", str(out), str(source)])
    assert result.exit_code == 3, result.stderr
    assert "make it writable to save the results" in result.stderr
    assert "conversation" not in result.stderr
