"""Batch lines: one input line into a request, one response into a result line, and
the ids an earlier run already finished (for --resume)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cohere_cli.client import ChatClient
from cohere_cli.errors import APIError, CohereChatError, InputError, UsageError
from cohere_cli.media import attach_images
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

    def __init__(self, template: dict[str, Any], system: str | None,
                 images: list[dict[str, Any]] | None = None) -> None:
        self.template = {k: v for k, v in template.items() if k != "messages"}
        self.system = system
        self.images = images or []
        self.seen: set[bytes] = set()  # explicit ids, as JSON
        self.numbered = bytearray()  # a bit for each line whose id is its line number

    def _claim_line(self, number: int) -> bool:
        """Take line NUMBER's own id; False when an explicit id took it before."""
        if orjson.dumps(number) in self.seen:
            return False
        index, bit = divmod(number, 8)
        if index >= len(self.numbered):
            self.numbered.extend(bytes(index + 1 - len(self.numbered)))
        self.numbered[index] |= 1 << bit
        return True

    def _claim(self, job_id: Any, number: int, explicit: bool) -> bool:
        """Whether `job_id` is still free; memory grows only with explicit ids."""
        if not explicit:
            return self._claim_line(number)
        key = orjson.dumps(job_id)
        if key in self.seen:
            return False
        if isinstance(job_id, int) and not isinstance(job_id, bool) and 0 < job_id < number:
            index, bit = divmod(job_id, 8)
            if index < len(self.numbered) and self.numbered[index] & (1 << bit):
                return False
        self.seen.add(key)
        return True

    def make(self, seq: int, number: int, data: bytes) -> Job:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            self._claim_line(number)
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as bad:
                return Job(seq, number, number, error=f"invalid UTF-8 (byte {bad.start})")
            return Job(seq, number, number, error=f"invalid JSON ({exc.msg})")
        if isinstance(value, str):
            value = {"prompt": value}
        if not isinstance(value, dict):
            self._claim_line(number)
            return Job(seq, number, number, error="a line must be a JSON string or object")
        fields = dict(value)
        job_id = fields.pop("id", number)
        if not self._claim(job_id, number, explicit="id" in value):
            return Job(seq, number, job_id, error="the same id is on an earlier line")
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
        messages = with_system(messages, self.system)
        try:
            attach_images(messages, self.images)
        except UsageError as exc:
            raise LineError(exc.message) from None
        body = {**self.template, **fields, "messages": messages}
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


def iter_lines(stream: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of each non-blank line, read lazily (a leading BOM dropped)."""
    for number, data in enumerate(stream, 1):
        if number == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if data.strip():
            yield number, data


def read_finished(path: Path) -> set[bytes]:
    """For --resume: the ids that already succeeded in FILE, read line by line. A torn
    last line left by a crash is cut off; damage anywhere else is an InputError and FILE
    is left alone."""
    done: set[bytes] = set()
    whole = 0  # bytes up to the end of the last complete line
    try:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if not line.endswith(b"\n"):
                    break  # a torn last line
                whole += len(line)
                _note_success(line, path, number, done)
            torn = handle.tell() > whole
    except FileNotFoundError:
        return done
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror}") from None
    if torn:
        with path.open("r+b") as handle:
            handle.truncate(whole)
    return done


def _note_success(line: bytes, path: Path, number: int, done: set[bytes]) -> None:
    if not line.strip():
        return
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise InputError(str(path), "not a result line; cannot resume", number) from None
    if isinstance(record, dict) and "id" in record and "error" not in record:
        done.add(orjson.dumps(record["id"]))
