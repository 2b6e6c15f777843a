"""Batch lines: one input line into a request, one response into a result line, and
the ids an earlier run already finished (for --resume)."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from cohere_cli.base.errors import APIError, CohereChatError, InputError, UsageError
from cohere_cli.base.files import MAX_INPUT_BYTES
from cohere_cli.chat.media import DocumentError, as_document, attach_images, image_blocks
from cohere_cli.chat.messages import MessageInputs, read_system, sendable_message, with_system
from cohere_cli.chat.request import RequestOptions, build_request
from cohere_cli.chat.response import reply_text, request_message
from cohere_cli.chat.rules import REQUEST_FIELDS, body_problem, message_problem
from cohere_cli.chat.send import check_finish, send_chat
from cohere_cli.chat.usage import Prices, usage_counts
from cohere_cli.conversation.fit import HistoryFit, HistoryLimits
from cohere_cli.conversation.window import new_input_count
from cohere_cli.settings.presets import with_preset
from cohere_cli.wire.api_client import ChatClient
from cohere_cli.wire.deadline import Deadline

LINE_FIELDS = ("id", "prompt", "messages")
MAX_LINE_BYTES = MAX_INPUT_BYTES  # one input line, its newline included
NO_IMAGES = ('a line cannot take "images": put image_url blocks in its "messages" '
             "(a URL or a data: URI), or give --image for every line")


@dataclass(frozen=True)
class Job:
    seq: int
    line: int
    id: Any
    body: dict[str, Any] | None = None
    error: str | None = None
    new_count: int = 0  # the last new_count messages of the body are the line's new input
    fixed: int = 0  # the first `fixed` messages (a preset's) always go: never windowed


class LineError(ValueError):
    """Why one batch line cannot be sent; the batch goes on."""


class IdSet:
    """Ids kept as 16-byte digests (BLAKE2b of their JSON) in one flat open-addressing
    table: 32 to 64 bytes an id, however long the id is."""

    SLOT = 16
    EMPTY = bytes(SLOT)

    def __init__(self) -> None:
        self._table = bytearray(self.SLOT * 1024)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @staticmethod
    def _key(value: Any) -> bytes:
        digest = hashlib.blake2b(orjson.dumps(value), digest_size=IdSet.SLOT).digest()
        return bytes([digest[0] | 1]) + digest[1:]  # never all zeros: zeros mark a free slot

    def _find(self, key: bytes) -> tuple[int, bool]:
        """The offset of KEY's slot, or of the free slot it would take; and whether found."""
        slots = len(self._table) // self.SLOT
        index = int.from_bytes(key[8:], "little") & (slots - 1)
        while True:
            offset = index * self.SLOT
            slot = self._table[offset:offset + self.SLOT]
            if slot == key:
                return offset, True
            if slot == self.EMPTY:
                return offset, False
            index = (index + 1) & (slots - 1)

    def __contains__(self, value: Any) -> bool:
        return self._find(self._key(value))[1]

    def add(self, value: Any) -> bool:
        """Add VALUE; False when it was there already."""
        key = self._key(value)
        offset, found = self._find(key)
        if found:
            return False
        self._table[offset:offset + self.SLOT] = key
        self._count += 1
        if self._count * 2 > len(self._table) // self.SLOT:
            self._grow()
        return True

    def _grow(self) -> None:
        old, self._table = self._table, bytearray(len(self._table) * 2)
        for offset in range(0, len(old), self.SLOT):
            key = bytes(old[offset:offset + self.SLOT])
            if key != self.EMPTY:
                at, _ = self._find(key)
                self._table[at:at + self.SLOT] = key


class JobMaker:
    """Turns one input line into a request body: flags (over a preset's fields) are
    defaults, the line's fields override. The template is a body built for one
    placeholder message: the messages before it (a preset's) open every line."""

    def __init__(self, template: dict[str, Any], system: str | None,
                 images: list[dict[str, Any]] | None = None) -> None:
        self.template = {k: v for k, v in template.items() if k != "messages"}
        self.prefix: list[dict[str, Any]] = list(template.get("messages", [])[:-1])
        self.system = system
        self.images = images or []
        self.seen = IdSet()  # explicit ids
        self.numbered = bytearray()  # a bit for each line whose id is its line number

    @classmethod
    def from_flags(cls, options: RequestOptions, fallback_model: str, system: str | None,
                   system_file: str | None, images: tuple[str, ...],
                   image_detail: str | None) -> JobMaker:
        """Flags are checked and files read once, into a template every line starts from."""
        read = read_system(MessageInputs(system=system, system_file=system_file))
        template = build_request([{"role": "user", "content": "-"}], options, {},
                                 fallback_model)
        try:  # what every line carries must be sendable, or no line is
            orjson.dumps([template, read])
        except orjson.JSONEncodeError:
            raise InputError("the command line", "a value is not valid UTF-8") from None
        return cls(template, read, image_blocks(images, image_detail))

    def _claim_line(self, number: int) -> bool:
        """Take line NUMBER's own id; False when an explicit id took it before."""
        if self.seen and number in self.seen:
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
        if isinstance(job_id, int) and not isinstance(job_id, bool) and 0 < job_id < number:
            index, bit = divmod(job_id, 8)
            if index < len(self.numbered) and self.numbered[index] & (1 << bit):
                return False
        return self.seen.add(job_id)

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
            body, fixed = self._body(fields)
        except LineError as exc:
            return Job(seq, number, job_id, error=str(exc))
        return Job(seq, number, job_id, body=body, new_count=new_input_count(body["messages"]),
                   fixed=fixed)

    def _body(self, fields: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """The line's body, and how many messages at its start are the preset's."""
        _check_fields(fields)
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
        messages = [sendable_message(message) for message in messages]
        fields.pop("stream", None)
        own = with_system(messages, self.system)
        messages = with_preset(self.prefix, own)
        fixed = len(messages) - len(own)
        if self.prefix and own[0].get("role") == "system":
            fixed += 1  # the line's system message stays first, before the preset's
        try:
            attach_images(messages, self.images)
        except UsageError as exc:
            raise LineError(exc.message) from None
        body = {**self.template, **fields, "messages": messages}
        problem = body_problem(body)
        if problem:
            raise LineError(problem)
        return body, fixed


def _check_fields(fields: dict[str, Any]) -> None:
    """A line takes its own fields and request fields; its documents as --documents does."""
    for name in fields:
        if name == "images":
            raise LineError(NO_IMAGES)
        if name not in LINE_FIELDS and name not in REQUEST_FIELDS:
            raise LineError(f"unknown field {orjson.dumps(name[:80]).decode()} (a line "
                            'takes "id", "prompt" or "messages", and request fields)')
    documents = fields.get("documents")
    if isinstance(documents, list):
        try:
            fields["documents"] = [as_document(document) for document in documents]
        except DocumentError as exc:
            raise LineError(f"documents: {exc}") from None


def _success(
    job: Job, response: dict[str, Any], raw: bool, prices: Prices | None = None
) -> dict[str, Any]:
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


def _send_messages(
    client: ChatClient, body: dict[str, Any], deadline: Deadline,
    head: list[dict[str, Any]], messages: list[dict[str, Any]],
) -> tuple[dict[str, Any], bytes]:
    return send_chat(client, {**body, "messages": [*head, *messages]}, deadline)


def run_job(client: ChatClient, job: Job, raw: bool, fit: HistoryFit | None = None, *,
            max_time: float | None = None, prices: Prices | None = None) -> dict[str, Any]:
    """Send one job; its result record. What fails this line alone (an HTTP error, the
    network, a reply that is not a chat response, a generation that did not complete) is
    a failure record; what every line would meet (a configuration error, or anything
    unexpected while sending) is raised. `fit`: the history window and --fit of the
    line's messages (fitting.py); none: they are all sent. `max_time`: --max-time for
    this line, from its first request (its --fit retries and retry waits included);
    `prices`: cost_usd in its usage."""
    if job.body is None:
        return failure(job, None, job.error or "bad line")
    fit = fit or HistoryFit(HistoryLimits())
    deadline = Deadline(max_time)
    try:
        every = job.body["messages"]
        response, _ = fit.send(every[job.fixed:], job.new_count,
                               partial(_send_messages, client, job.body, deadline,
                                       every[:job.fixed]))
        check_finish(response)
    except APIError as exc:
        return failure(job, exc.status, exc.api_message)
    except (UsageError, InputError):
        raise
    except CohereChatError as exc:
        return failure(job, None, exc.message)
    try:
        return _success(job, response, raw, prices)
    except Exception as exc:  # a reply shape the check above let through: this line alone
        return failure(job, None, f"internal error reading the reply: {type(exc).__name__}")


def _bounded(stream: Iterable[bytes], source: str) -> Iterator[bytes]:
    """Lines of a stream, none longer than MAX_LINE_BYTES (an endless line, as from
    /dev/zero, is an InputError, not all the memory)."""
    readline = getattr(stream, "readline", None)
    lines = iter(lambda: readline(MAX_LINE_BYTES + 1), b"") if readline else iter(stream)
    number = 0
    try:
        for number, data in enumerate(lines, 1):
            if len(data) > MAX_LINE_BYTES:
                raise InputError(source, f"a line longer than {MAX_LINE_BYTES >> 20} MiB",
                                 number)
            yield data
    except OSError as exc:
        raise InputError(source, f"cannot read: {exc.strerror or exc}", number + 1) from None


def iter_lines(stream: Iterable[bytes], source: str = "stdin") -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of each non-blank line, read lazily (a leading BOM dropped)."""
    for number, data in enumerate(_bounded(stream, source), 1):
        if number == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if data.strip():
            yield number, data


def read_finished(path: Path) -> IdSet:
    """For --resume: the ids that already succeeded in FILE, read line by line. A torn
    last line left by a crash is cut off; damage anywhere else is an InputError and FILE
    is left alone."""
    done = IdSet()
    whole = 0  # bytes up to the end of the last complete line
    try:
        with path.open("rb") as handle:
            for number, line in enumerate(_bounded(handle, str(path)), 1):
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


def _note_success(line: bytes, path: Path, number: int, done: IdSet) -> None:
    if not line.strip():
        return
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise InputError(str(path), "not a result line; cannot resume", number) from None
    if isinstance(record, dict) and "id" in record and "error" not in record:
        done.add(record["id"])
