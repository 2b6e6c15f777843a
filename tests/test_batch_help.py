"""What `batch` and `config` --help say is so (issue 25, docs): their --history-turns
help names no -c FILE (they have none), send's still does."""
from __future__ import annotations

import pytest
from conftest import invoke


@pytest.mark.parametrize("command", ["batch", "config"])
def test_history_turns_help_names_no_conversation_file(command: str) -> None:
    shown = " ".join(invoke([command, "--help"]).stdout.split())
    assert "the new input always go)." in shown
    assert "-c FILE" not in shown


def test_send_still_says_the_conversation_file_keeps_everything() -> None:
    shown = " ".join(invoke(["send", "--help"]).stdout.split())
    assert "the new input always go; -c FILE keeps everything)." in shown
