"""A batch's output records (`cohere.batch_chat_v2_output`) and its Avro parts.

The reply to each record is the stub's echo for the same chat request (answers.py), so a
remote batch and a local batch against the stub give the same text for the same line.
fastavro is imported only when a part is written."""
from __future__ import annotations

import io
from typing import Any

from cohere_cli.batch.remote.schema import OUTPUT_SCHEMA
from cohere_cli.stub import answers

ERROR_TEXT = "stub: injected record error"


def _output_body(response: dict[str, Any]) -> dict[str, Any]:
    message = response["message"]
    return {
        "message": {
            "role": message.get("role", "assistant"),
            "content": [{"type": block.get("type", "text"), "text": block.get("text"),
                         "thinking": block.get("thinking")}
                        for block in message.get("content") or []],
            "tool_calls": message.get("tool_calls"),
            "tool_plan": message.get("tool_plan"),
        },
        "id": response["id"], "finish_reason": response.get("finish_reason"),
        "prompt": None, "raw_generation": None,
        "logprobs": response.get("logprobs"), "usage": response["usage"],
    }


def output_record(custom_id: str, body: dict[str, Any], number: int, errored: bool,
                  echoed: tuple[str, ...] = ()) -> dict[str, Any]:
    """The output record of one input record: the echo reply (ECHOED at its end: stub
    --echo-key), or an error record."""
    if errored:
        return {"custom_id": custom_id, "body": None, "error": ERROR_TEXT}
    response = answers.build_reply(body, None, answers.reply_id(number), echoed)
    return {"custom_id": custom_id, "body": _output_body(response), "error": ""}


def record_tokens(record: dict[str, Any]) -> tuple[int, int]:
    """The (input, output) tokens of an output record (0, 0 for an error)."""
    if record["body"] is None:
        return 0, 0
    tokens = record["body"]["usage"]["tokens"]
    return int(tokens["input_tokens"]), int(tokens["output_tokens"])


def avro_file(records: list[dict[str, Any]]) -> bytes:
    """One Avro object container file (codec null, as seen live) holding `records`."""
    import fastavro  # only on this path: start-up stays fast

    buffer = io.BytesIO()
    fastavro.writer(buffer, fastavro.parse_schema(OUTPUT_SCHEMA), records, codec="null")
    return buffer.getvalue()
