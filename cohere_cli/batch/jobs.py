"""Batch jobs: one input line made into a request body (flags under the line's own
fields), or the reason it cannot be sent; and the ids the lines claim, each once."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from cohere_cli.base.errors import InputError, UsageError
from cohere_cli.batch.ids import IdSet
from cohere_cli.chat.media import DocumentError, as_document, attach_images, image_blocks
from cohere_cli.chat.messages import MessageInputs, read_system, sendable_message, with_system
from cohere_cli.chat.request import RequestOptions, build_request
from cohere_cli.chat.rules import REQUEST_FIELDS, body_problem, message_problem
from cohere_cli.conversation.window import new_input_count
from cohere_cli.settings.preset_apply import apply_preset
from cohere_cli.settings.presets import Preset

LINE_FIELDS = ("id", "prompt", "messages")
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


class JobMaker:
    """Turns one input line into a request body: flags (over a preset's fields) are
    defaults, the line's fields override. The template is the body the flags make (its
    messages left out); the preset's messages open every line (presets.apply_preset)."""

    def __init__(self, template: dict[str, Any], system: str | None,
                 images: list[dict[str, Any]] | None = None,
                 preset: Preset | None = None) -> None:
        self.template = {k: v for k, v in template.items() if k != "messages"}
        self.preset = preset  # its fields are in the template; its messages open each line
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
        return cls(template, read, image_blocks(images, image_detail), options.preset)

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
        applied = apply_preset(self.preset, with_system(messages, self.system))
        messages = applied.messages
        try:
            attach_images(messages, self.images)
        except UsageError as exc:
            raise LineError(exc.message) from None
        body = {**self.template, **fields, "messages": messages}
        problem = body_problem(body)
        if problem:
            raise LineError(problem)
        return body, applied.fixed


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
