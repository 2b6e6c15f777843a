"""A batch line's result record: what a success or a failure writes to the output, one
JSON line each (README "Batch", man BATCH)."""
from __future__ import annotations

from typing import Any

from cohere_cli.batch.jobs import Job
from cohere_cli.chat.response import reply_text, request_message
from cohere_cli.chat.usage import Prices, usage_counts


def success(
    job: Job, response: dict[str, Any], raw: bool, prices: Prices | None = None
) -> dict[str, Any]:
    """The result line of a line that got its reply: `raw` keeps the whole response,
    `prices` add cost_usd to its usage."""
    record = {
        "id": job.id, "line": job.line, "text": reply_text(response),
        "finish_reason": response.get("finish_reason"),
        "usage": usage_counts(response, prices),
        "message": request_message(response),
    }
    if "logprobs" in response:  # asked for with --logprobs (or a line's own field)
        record["logprobs"] = response["logprobs"]
    if raw:
        record["response"] = response
    return record


def failure(job: Job, status: int | None, message: str) -> dict[str, Any]:
    """The result line of a line that failed."""
    return {"id": job.id, "line": job.line, "error": {"status": status, "message": message}}
