"""--compact: the turns the history window leaves out are folded into a running summary,
which the request carries in their place.

When turns leave the window that the stored summary does not sum up yet
(conversation/summary.py says which), one more request, not streamed, asks the model
(`--compact-model`, else the request's) for the updated summary: its system message is
the instruction (`--compact-prompt`, else DEFAULT_PROMPT) and its one user message holds
the summary so far and a transcript of only the newly left-out turns. A reply that is
not whole (any finish reason but COMPLETE), has no text, is over MAX_TEXT_BYTES, or
asks for tools is not a summary. A summary is stored at once (the conversation file
keeps its messages as they were); when the request fails or its reply is not a
summary, the turn goes on with the summary it had, one warning says so, and the stored
summary is unchanged (past --max-time, the turn stops there).

Every request of the turn then carries the summary as a system message (`SUMMARY_LEAD`
and the text) after the system message and the preset's messages, before the window.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from cohere_cli.base.errors import CohereChatError, TimeLimitError
from cohere_cli.chat.response import reply_text, tool_calls
from cohere_cli.conversation.file import remove_stale_temporaries
from cohere_cli.conversation.summary import (
    MAX_TEXT_BYTES,
    FoldPlan,
    StoredSummary,
    plan_fold,
    read_summary,
    save_summary,
    summary_path,
)
from cohere_cli.settings.preset_apply import Applied

Message = dict[str, Any]

DEFAULT_PROMPT = (
    "You keep the running summary of the earlier part of a conversation between a user "
    "and an assistant. The conversation goes on without those messages, with your summary "
    "in their place. Update the summary so far with the messages given: keep every fact, "
    "name, number, decision, preference, instruction, open question and tool result that "
    "may matter later; leave out small talk. Reply with the updated summary alone, as "
    "plain text."
)
SUMMARY_LEAD = ("A summary of the earlier part of this conversation (those messages are "
                "not repeated here):\n\n")
NO_SUMMARY = "(none yet)"


@dataclass(frozen=True)
class CompactSettings:
    """--compact-prompt and --compact-model (or their config keys): made only when
    --compact is on, with -c FILE (SendPlan.compact is None otherwise)."""

    prompt: str | None  # None: DEFAULT_PROMPT
    model: str | None  # None: the request's model


class Report(Protocol):
    """Where a fold's warning and --dry-run's note go (send's ReplySink is one)."""

    def note(self, text: str) -> None: ...

    def warning(self, text: str) -> None: ...


def _block_text(block: Any) -> str:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text" and isinstance(block.get("text"), str):
        return str(block["text"])
    if kind == "thinking":
        return ""
    if kind == "image_url":
        return "[an image]"
    return orjson.dumps(block).decode()  # a document, or a block of a kind yet unknown


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(text for text in map(_block_text, content) if text)
    return "" if content is None else orjson.dumps(content).decode()


def _transcript_lines(message: Message) -> list[str]:
    role = str(message.get("role", "?"))
    lines = []
    if isinstance(message.get("tool_plan"), str) and message["tool_plan"]:
        lines.append(f"[{role}, planning] {message['tool_plan']}")
    if text := _content_text(message.get("content")):
        label = f"tool result {message.get('tool_call_id', '')}".strip() if role == "tool" else role
        lines.append(f"[{label}] {text}")
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            arguments = function.get("arguments")
            shown = arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
            lines.append(f"[{role} calls tool {function.get('name')} "
                         f"{call.get('id', '')}] {shown}".replace(" ]", "]"))
    return lines


def transcript(messages: Sequence[Message]) -> str:
    """The messages as text the summariser reads: `[role] text` a message, tool calls
    and their results with their ids, images as `[an image]`, thinking left out."""
    return "\n\n".join(line for message in messages for line in _transcript_lines(message))


def fold_body(previous: StoredSummary | None, messages: Sequence[Message], prompt: str,
              model: str) -> dict[str, Any]:
    """The summarising request: the instruction, the summary so far, the turns to add."""
    so_far = previous.text if previous else NO_SUMMARY
    text = (f"<summary_so_far>\n{so_far}\n</summary_so_far>\n\n"
            f"<messages_to_add>\n{transcript(messages)}\n</messages_to_add>")
    return {"model": model, "stream": False,
            "messages": [{"role": "system", "content": prompt},
                         {"role": "user", "content": text}]}


def summary_problem(response: dict[str, Any]) -> str | None:
    """Why a reply is not a summary to store: cut, empty, or a call for tools."""
    reason = response.get("finish_reason")
    if reason != "COMPLETE":
        return f"the reply did not complete (finish_reason {reason})"
    if tool_calls(response):
        return "the reply asks for tools"
    text = reply_text(response).strip()
    if not text:
        return "the reply has no text"
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        return f"the reply is over {MAX_TEXT_BYTES >> 10} KiB, too long for a summary"
    return None


def with_summary(applied: Applied, summary: StoredSummary | None) -> list[Message]:
    """The messages of a request with the summary after the system message and the
    preset's messages (`applied.fixed`), before the history window."""
    messages = applied.messages
    if summary is None:
        return messages
    at = applied.fixed
    while at < len(messages) and messages[at].get("role") == "system":
        at += 1
    lead = {"role": "system", "content": SUMMARY_LEAD + summary.text.strip()}
    return [*messages[:at], lead, *messages[at:]]


class Compactor:
    """The summary of one turn of the conversation FILE: read, rolled forward with one
    request (`send`, which counts its usage) when turns left the window, and stored."""

    def __init__(self, settings: CompactSettings, conversation: Path,
                 send: Callable[[dict[str, Any]], dict[str, Any]], report: Report,
                 log: Callable[[str], None], dry_run: bool = False) -> None:
        self.settings = settings
        self.conversation = conversation
        self.send = send
        self.report = report
        self.log = log
        self.dry_run = dry_run

    def summary(self, messages: Sequence[Message], new_count: int, left_out: int,
                model: str) -> StoredSummary | None:
        """The summary the requests of this turn carry, when the window leaves out the
        `left_out` oldest history turns of `messages` (FILE's and the new input)."""
        path = summary_path(self.conversation)
        if not self.dry_run:  # under the lock: no other run is writing one
            remove_stale_temporaries(path)
        plan = plan_fold(messages, new_count, left_out, read_summary(path))
        if plan.stale:
            self.report.warning(f"{path} no longer matches {self.conversation} (edited or "
                                "replaced?): starting a new summary")
        if not plan.folds:
            return plan.previous
        model = self.settings.model or model
        if self.dry_run:
            self.report.note(f"--dry-run: would fold {plan.turns()} ({plan.stop - plan.start} "
                             f"messages) into the summary, with one more request ({model})")
            return plan.previous
        return self._fold(plan, messages, model, path)

    def _fold(self, plan: FoldPlan, messages: Sequence[Message], model: str,
              path: Path) -> StoredSummary | None:
        body = fold_body(plan.previous, messages[plan.start:plan.stop],
                         self.settings.prompt or DEFAULT_PROMPT, model)
        self.log(f"compact: folding {plan.turns()} of the history into the summary")
        try:
            response = self.send(body)
        except TimeLimitError:
            raise  # past --max-time the turn is over: the main request would stop too
        except CohereChatError as error:
            return self._kept(plan, path, error.message)
        problem = summary_problem(response)
        if problem:
            return self._kept(plan, path, problem)
        folded = plan.summary(reply_text(response).strip(), messages, model)
        try:
            save_summary(path, folded, self.conversation)
        except OSError as exc:
            self.report.warning(f"cannot save the summary to {path} ({exc.strerror or exc}): "
                                f"the next run folds {plan.turns()} again")
        return folded

    def _kept(self, plan: FoldPlan, path: Path, why: str) -> StoredSummary | None:
        kept = "went on with the summary it had" if plan.previous else "went on without one"
        self.report.warning(f"the summarising request failed ({why}): {kept}; {path} is "
                            "unchanged")
        return plan.previous
