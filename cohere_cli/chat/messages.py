"""Reading and validating messages: history, stdin (text, JSONL, JSON), prompt, system.

Every problem is an `InputError` naming its source and line, raised before anything is
sent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from cohere_cli.base.errors import InputError, UsageError
from cohere_cli.base.files import decode_utf8, iter_jsonl, read_file_bytes
from cohere_cli.chat.rules import fields_problem, message_problem
from cohere_cli.conversation.window import new_input_count

INPUT_FORMATS = ("text", "jsonl", "json")


@dataclass(frozen=True, eq=False)  # never compared: no __eq__ to compile
class MessageInputs:
    """Where the messages of one request come from (README "Input", man INPUT FORMATS)."""

    input_format: str = "text"
    stdin: bytes | None = None
    prompt: tuple[str, ...] = ()
    system: str | None = None
    system_file: str | None = None
    history: tuple[dict[str, Any], ...] = ()
    images: tuple[str, ...] = ()
    image_detail: str | None = None


@dataclass(eq=False)
class Assembled:
    """The messages to send, and the fields a JSON request document brought along.

    `new_count`: the last `new_count` messages are the new input (history.new_input_count
    of what stdin and the prompt brought); the ones before are history.
    """

    messages: list[dict[str, Any]]
    defaults: dict[str, Any] = field(default_factory=dict)
    new_count: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass(eq=False)
class NewInput:
    """What stdin and the prompt bring: messages, a JSON document's fields, warnings."""

    messages: list[dict[str, Any]]
    defaults: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Nothing but system messages (or nothing at all) is nothing to send."""
        if not any(m.get("role") != "system" for m in self.messages):
            raise _nothing_to_send()


def _nothing_to_send() -> UsageError:
    return UsageError("nothing to send",
                      hint='give a prompt (cohere-chat "hello"), or pipe text on stdin')


JSONL_HINT = ("stdin looks like JSONL messages but is sent as text; "
              "use --jsonl to send them as messages")


def looks_like_jsonl(text: str) -> bool:
    """Every non-blank line a JSON object with a "role"."""
    lines = [line for line in text.split("\n") if line.strip()]
    for line in lines:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(value, dict) or "role" not in value:
            return False
    return bool(lines)


def _json_error(exc: orjson.JSONDecodeError) -> str:
    return f"invalid JSON ({exc.msg})"


def check_message(message: Any, source: str, line: int | None) -> dict[str, Any]:
    """The message as it is sent (`sendable_message`), if the API would accept it; else
    an InputError at source:line."""
    if not isinstance(message, dict):
        kind = type(message).__name__.replace("dict", "object").replace("list", "array")
        raise InputError(source, f"expected a message object, got {kind}", line)
    problem = message_problem(message)
    if problem:
        raise InputError(source, problem, line)
    return sendable_message(message)


def sendable_message(message: dict[str, Any]) -> dict[str, Any]:
    """An assistant message (one that `message_problem` accepts) in the form recorded
    exchanges show the API taking back (issue 30); other roles as they are.

    Left out: an empty `tool_plan` or `citations` (a stream's message-start has both),
    an empty `tool_calls` list, and `"content": null` (or []) beside tool calls. A tool
    call's empty `arguments` (a stream's, for a tool without parameters) is "{}", as the
    non-streamed reply has it. Thinking blocks, text, a tool plan and citations with
    something in them go back as they came."""
    if message.get("role") != "assistant":
        return message
    sent = {key: value for key, value in message.items()
            if not (key in ("tool_plan", "citations", "tool_calls") and value in ("", []))}
    if sent.get("tool_calls") and sent.get("content", "") in (None, []):
        del sent["content"]
    if isinstance(sent.get("tool_calls"), list):
        sent["tool_calls"] = [_with_arguments(call) for call in sent["tool_calls"]]
    if not any(key in sent for key in ("content", "tool_calls", "tool_plan")):
        sent["content"] = ""
    return sent


def _with_arguments(call: Any) -> Any:
    """A tool call whose empty `arguments` string is "{}" (the call otherwise as it was)."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or function.get("arguments") != "":
        return call
    return {**call, "function": {**function, "arguments": "{}"}}


def parse_jsonl_messages(text: str, source: str) -> list[dict[str, Any]]:
    return [check_message(value, source, n) for n, value in iter_jsonl(text, source)]


def parse_json_document(text: str, source: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """An array of messages, or a request object whose `messages` are taken out."""
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(source, _json_error(exc), exc.lineno) from None
    defaults: dict[str, Any] = {}
    if isinstance(document, dict):
        if "messages" not in document:
            raise InputError(source, 'a JSON object needs a "messages" array')
        defaults = {k: v for k, v in document.items() if k != "messages"}
        problem = fields_problem(defaults)
        if problem:  # bad data from stdin, as a bad message is: exit 3, naming it
            raise InputError(source, problem)
        document = document["messages"]
    if not isinstance(document, list):
        raise InputError(source, "expected an array of messages or a request object")
    messages = [check_message(message, f"{source}: messages[{index}]", None)
                for index, message in enumerate(document)]
    return messages, defaults


def _prompt_text(words: tuple[str, ...]) -> str:
    return " ".join(words)


def read_input(inputs: MessageInputs) -> NewInput:
    """The new input of a request: stdin (as its format says) and the prompt."""
    if inputs.input_format not in INPUT_FORMATS:
        raise UsageError(f"unknown input format {inputs.input_format!r}")
    prompt = _prompt_text(inputs.prompt)
    data = inputs.stdin
    if inputs.input_format == "text":
        text = decode_utf8(data, "stdin").rstrip("\r\n") if data else ""
        if not text.strip():
            text = ""
        joined = f"{text}\n\n{prompt}" if text and prompt else text or prompt
        warnings = [JSONL_HINT] if text and looks_like_jsonl(text) else []
        return NewInput([{"role": "user", "content": joined}] if joined else [], {}, warnings)
    text = decode_utf8(data, "stdin") if data else ""
    defaults: dict[str, Any]
    if inputs.input_format == "jsonl":
        messages, defaults = parse_jsonl_messages(text, "stdin"), {}
    elif text.strip():
        messages, defaults = parse_json_document(text, "stdin")
    else:
        messages, defaults = [], {}
    if prompt:
        messages.append({"role": "user", "content": prompt})
    return NewInput(messages, defaults)


def read_system(inputs: MessageInputs) -> str | None:
    """The system text from --system or --system-file (both at once is a usage error)."""
    if inputs.system is not None and inputs.system_file is not None:
        raise UsageError("give --system or --system-file, not both")
    if inputs.system_file is not None:
        source = inputs.system_file
        return decode_utf8(read_file_bytes(source), source).rstrip("\r\n")
    return inputs.system


def with_system(messages: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
    """Put the system message first, replacing one that already opens the list."""
    if system is None:
        return messages
    rest = messages[1:] if messages and messages[0].get("role") == "system" else messages
    return [{"role": "system", "content": system}, *rest]


def assemble_messages(inputs: MessageInputs, given: NewInput | None = None) -> Assembled:
    """All messages of one request, in order: history, stdin, prompt; system first.
    `given`: the new input read already (read_input)."""
    system = read_system(inputs)
    new = given or read_input(inputs)
    new.check()
    history = list(inputs.history)
    if not any(m.get("role") in ("user", "tool") for m in history + new.messages):
        raise _nothing_to_send()
    messages = with_system(history + new.messages, system)
    return Assembled(messages, new.defaults, new_input_count(new.messages), new.warnings)
