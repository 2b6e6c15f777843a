"""Batch lines: one input line into a request, one response into a result line, and
the ids an earlier run already finished (for --resume)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cohere_cli.client import ChatClient
from cohere_cli.errors import APIError, CohereChatError, InputError
from cohere_cli.messages import with_system
from cohere_cli.reply import reply_text, request_message, usage_counts
from cohere_cli.rules import body_problem, message_problem

CHAT_PATH = "/v2/chat"


@dataclass(frozen=True)
class Job:
    seq: int
    line: int
    id: Any
    body: dict[str, Any] | None = None
    error: str | None = None


class LineError(ValueError):
    """Why one batch line cannot be sent; the batch goes on."""


class JobMaker:
    """Turns one input line into a request body: flags are defaults, fields override."""

    def __init__(self, template: dict[str, Any], system: str | None) -> None:
        self.template = {k: v for k, v in template.items() if k != "messages"}
        self.system = system
        self.seen: set[bytes] = set()  # explicit ids only: line numbers are unique anyway

    def make(self, seq: int, number: int, text: str) -> Job:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return Job(seq, number, number, error=f"invalid JSON ({exc.msg})")
        if isinstance(value, str):
            value = {"prompt": value}
        if not isinstance(value, dict):
            return Job(seq, number, number, error="a line must be a JSON string or object")
        fields = dict(value)
        job_id = fields.pop("id", number)
        if "id" in value:
            key = orjson.dumps(job_id)
            if key in self.seen:
                return Job(seq, number, job_id, error="the same id is on an earlier line")
            self.seen.add(key)
        try:
            body = self._body(fields)
        except LineError as exc:
            return Job(seq, number, job_id, error=str(exc))
        return Job(seq, number, job_id, body=body)

    def _body(self, fields: dict[str, Any]) -> dict[str, Any]:
        prompt, messages = fields.pop("prompt", None), fields.pop("messages", None)
        if (prompt is None) == (messages is None):
            raise LineError('a line needs either "prompt" or "messages"')
        if prompt is not None:
            if not isinstance(prompt, str) or not prompt.strip():
                raise LineError('"prompt" must be a non-empty string')
            messages = [{"role": "user", "content": prompt}]
        elif not isinstance(messages, list) or not messages:
            raise LineError('"messages" must be a non-empty list')
        for index, message in enumerate(messages):
            problem = message_problem(message)
            if problem:
                raise LineError(f"messages[{index}]: {problem}")
        fields.pop("stream", None)
        body = {**self.template, **fields, "messages": with_system(messages, self.system)}
        problem = body_problem(body)
        if problem:
            raise LineError(problem)
        return body


def _success(job: Job, response: dict[str, Any], raw: bool) -> dict[str, Any]:
    record = {
        "id": job.id, "line": job.line, "text": reply_text(response),
        "finish_reason": response.get("finish_reason"), "usage": usage_counts(response),
        "message": request_message(response),
    }
    if raw:
        record["response"] = response
    return record


def _failure(job: Job, status: int | None, message: str) -> dict[str, Any]:
    return {"id": job.id, "line": job.line, "error": {"status": status, "message": message}}


def run_job(client: ChatClient, job: Job, raw: bool) -> dict[str, Any]:
    """Send one job; its result record, never an exception for the line's own failure."""
    if job.body is None:
        return _failure(job, None, job.error or "bad line")
    try:
        _, response = client.post_json(CHAT_PATH, job.body)
    except APIError as exc:
        return _failure(job, exc.status, exc.api_message)
    except CohereChatError as exc:
        return _failure(job, None, exc.message)
    if not isinstance(response, dict) or not isinstance(response.get("message"), dict):
        return _failure(job, None, "the API answered 200 with a body that is not a chat response")
    reason = response.get("finish_reason")
    if reason in ("ERROR", "TIMEOUT"):
        return _failure(job, None, f"generation did not complete (finish_reason {reason})")
    return _success(job, response, raw)


def iter_lines(stream: Iterable[bytes], source: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line, read lazily."""
    for number, data in enumerate(stream, 1):
        try:
            text = data.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(source, f"invalid UTF-8 (byte {exc.start})", number) from None
        if text.strip():
            yield number, text


def read_finished(path: Path) -> set[bytes]:
    """For --resume: the ids that already succeeded in FILE. A torn last line left by a
    crash is cut off; damage anywhere else is an InputError and FILE is left alone."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror}") from None
    whole = data[: data.rfind(b"\n") + 1]
    done: set[bytes] = set()
    for number, line in enumerate(whole.splitlines(), 1):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise InputError(str(path), "not a result line; cannot resume", number) from None
        if isinstance(record, dict) and "id" in record and "error" not in record:
            done.add(orjson.dumps(record["id"]))
    if len(whole) != len(data):
        with path.open("r+b") as handle:
            handle.truncate(len(whole))
    return done
