"""Batch API errors get Batch API hints (issue 25, case 11): a batch that is not there is
about its ID and `batches list`, never "the model name"; a cancel the service refuses is
about the batch's status, never --dry-run (which `batches` does not have)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import invoke
from test_remote_batch_e2e import batch_stub, write_input


def test_show_of_a_batch_that_is_not_there(make_stub: Any) -> None:
    batch_stub(make_stub)
    result = invoke(["batches", "show", "nosuch"])
    assert result.exit_code == 5
    assert "HTTP 404" in result.stderr
    assert "check the batch ID nosuch (cohere-chat batches list shows the account's " \
        "batches)" in result.stderr
    assert "model" not in result.stderr and "/v2" not in result.stderr


def test_cancel_of_a_finished_batch(make_stub: Any, tmp_path: Path) -> None:
    batch_stub(make_stub)
    source, out = write_input(tmp_path, 2), tmp_path / "out.jsonl"
    batch_id = invoke(["batch", "--remote", "--detach", "-o", str(out),
                       str(source)]).stdout.strip()
    assert invoke(["batch", "--remote", "-o", str(out), str(source)]).exit_code == 0
    result = invoke(["batches", "cancel", batch_id])
    assert result.exit_code == 5
    assert (f"only a queued or running batch can be canceled: cohere-chat batches show "
            f"{batch_id} gives its status") in result.stderr
    assert "--dry-run" not in result.stderr


@pytest.mark.parametrize(("status", "fragment"), [
    (401, "check the API key"), (403, "the Batch API may not be open to it"),
    (400, "-v shows the requests"), (503, "try again later"),
])
def test_other_statuses(status: int, fragment: str) -> None:
    from cohere_cli.cli.hints import batch_status_hint

    hint = batch_status_hint(status, "the base URL")
    assert fragment in hint and "--dry-run" not in hint and "model" not in hint
