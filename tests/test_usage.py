"""Token totals and cost are counted the same way by local and remote batch (issue 24):
a reply that reports only billed units (no `tokens`) gives the same summary either way,
and the same input through the stub's chat and Batch API gives the same totals."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import invoke

from cohere_cli.batch.remote.records import custom_id, result_line
from cohere_cli.batch.summary import Summary
from cohere_cli.chat.usage import Prices, with_cost
from cohere_cli.stub.batch_settings import BatchStubSettings

BILLED = {"input_tokens": 1_234_567, "output_tokens": 345_678}
BILLED_ONLY = {"message": {"role": "assistant", "content": "ok"}, "finish_reason": "COMPLETE",
               "usage": {"billed_units": BILLED}}
PRICES = Prices(2.5, 10)
TWO_LINES_COST = 13.086395  # 2 * (1_234_567 * 2.5 + 345_678 * 10) / 1e6 USD
SUMMARY = re.compile(r"batch: ok=(\d+) failed=(\d+) skipped=0 tokens=(\d+) "
                     r"seconds=[\d.]+(?: cost_usd=([\d.]+))?")


def priced(home: Path) -> None:
    path = home / ".config" / "cohere-chat" / "config.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[default]\nprice_input = 2.5\nprice_output = 10\n")
    path.chmod(0o600)


def summary_of(stderr: str) -> tuple[int, int, int, float | None]:
    """(ok, failed, tokens, cost_usd) of the summary line `batch` ends with."""
    found = SUMMARY.search(stderr)
    assert found, stderr
    ok, failed, tokens, cost = found.groups()
    return int(ok), int(failed), int(tokens), float(cost) if cost else None


def remote_summary(records: list[dict[str, Any]]) -> Summary:
    """What remote batch counts for output records as it reads them from a part (Avro
    decoded to JSON): each made into its result line, then counted."""
    summary = Summary()
    for number, record in enumerate(records, 1):
        summary.count(result_line(number, number, orjson.loads(orjson.dumps(record)),
                                  prices=PRICES))
    return summary


def test_billed_units_alone_count_the_same_in_local_and_remote_batch(
        make_stub: Any, clean_env: Path, tmp_path: Path) -> None:
    priced(clean_env)
    make_stub(replies=(BILLED_ONLY,))
    source = tmp_path / "in.jsonl"
    source.write_text('"one"\n"two"\n')
    local = invoke(["batch", "-o", str(tmp_path / "out.jsonl"), str(source)])
    assert local.exit_code == 0, local.stderr
    twice = 2 * sum(BILLED.values())
    assert summary_of(local.stderr) == (2, 0, twice, TWO_LINES_COST)
    # the same reply as a Batch API output record: `tokens` absent (null), as it would be
    # if the service reported billed units only
    body = {**BILLED_ONLY, "id": "r", "usage": {"billed_units": BILLED, "tokens": None}}
    remote = remote_summary([{"custom_id": custom_id(n), "body": body, "error": ""}
                             for n in (1, 2)])
    assert (remote.ok, remote.failed, remote.tokens) == (2, 0, twice)
    assert with_cost(remote.usage, PRICES)["cost_usd"] == TWO_LINES_COST


def test_a_billed_only_line_is_counted_once_and_a_failed_one_not_at_all() -> None:
    body = {**BILLED_ONLY, "usage": {"billed_units": BILLED}}
    summary = remote_summary([{"custom_id": "a", "body": body, "error": ""},
                              {"custom_id": "b", "body": None, "error": "refused"}])
    assert (summary.ok, summary.failed, summary.tokens) == (1, 1, sum(BILLED.values()))
    assert summary.usage == {"billed_input_tokens": BILLED["input_tokens"],
                             "billed_output_tokens": BILLED["output_tokens"]}


@pytest.mark.slow
def test_the_stubs_chat_and_batch_api_give_the_same_totals(
        make_stub: Any, clean_env: Path, tmp_path: Path) -> None:
    priced(clean_env)
    make_stub(batch=BatchStubSettings(time=0.05, validation_time=0.01))
    source = tmp_path / "in.jsonl"
    source.write_text('"one two three"\n{"id": "k", "prompt": "four five"}\n"six"\n')
    local = invoke(["batch", "-o", str(tmp_path / "local.jsonl"), str(source)])
    remote = invoke(["batch", "--remote", "-o", str(tmp_path / "remote.jsonl"), str(source)])
    assert (local.exit_code, remote.exit_code) == (0, 0), (local.stderr, remote.stderr)
    ok, failed, tokens, cost = summary_of(local.stderr)
    assert (ok, failed) == (3, 0) and tokens > 0 and cost is not None and cost > 0
    assert summary_of(remote.stderr) == (ok, failed, tokens, cost)
