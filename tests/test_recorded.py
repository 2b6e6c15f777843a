"""cohere-chat against recorded exchanges with Cohere's live /v2/chat (issue 30).

Every exchange in tests/recorded/ is played back over loopback (replay.py): its request
body goes in as an `-i json` document, and what cohere-chat prints is checked against
what was recorded -- the text byte for byte (in whole bodies and in 1- and 7-byte
chunks), `-F json`, `-F message`, `-F events`, tool calls, usage and exit codes -- and
the request it sends against the one recorded. The tests after the replay of every
exchange are the edges of issue 30, each on the exchange that shows it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import official
import orjson
import pytest
from conftest import Result, Served, invoke
from replay import Exchange, ReplayServer, load, names

EXIT_FOR_STATUS = {400: 5, 401: 4, 404: 5, 422: 5, 429: 6}


@pytest.fixture
def replay(served: Served) -> Any:
    """A factory: a ReplayServer playing a script, with CO_API_URL and a made-up key set."""

    def make(*script: Exchange, chunk: int | None = None) -> ReplayServer:
        return served(ReplayServer(script, chunk))

    return make


# --- what the recording says cohere-chat should print ----------------------------------

def _streamed_blocks(exchange: Exchange) -> dict[int, tuple[str, list[str]]]:
    """Each content block of a stream: its kind and its delta texts."""
    blocks: dict[int, tuple[str, list[str]]] = {}
    for event in exchange.events():
        content = event.get("delta", {}).get("message", {}).get("content", {})
        index = event.get("index", 0)
        if event["type"] == "content-start":
            blocks[index] = (content.get("type", "text"), [])
        elif event["type"] == "content-delta":
            kind, parts = blocks.setdefault(index, ("text", []))
            parts.append(content.get(kind, ""))
    return blocks


def recorded_text(exchange: Exchange) -> str:
    """The reply's text as recorded: its text blocks (a stream's text deltas), joined."""
    if exchange.streamed:
        return "".join("".join(parts) for kind, parts in _streamed_blocks(exchange).values()
                       if kind == "text")
    content = exchange.json()["message"].get("content") or []
    if isinstance(content, str):
        return content
    return "".join(block["text"] for block in content if block["type"] == "text")


def recorded_calls(exchange: Exchange) -> list[dict[str, Any]]:
    """The tool calls as recorded, each {"id", "name", "arguments"} (arguments as sent)."""
    if not exchange.streamed:
        return [{"id": call["id"], "name": call["function"]["name"],
                 "arguments": call["function"]["arguments"]}
                for call in exchange.json()["message"].get("tool_calls") or []]
    calls: dict[int, dict[str, Any]] = {}
    for event in exchange.events():
        call = event.get("delta", {}).get("message", {}).get("tool_calls", {})
        if event["type"] == "tool-call-start":
            calls[event["index"]] = {"id": call["id"], "name": call["function"]["name"],
                                     "arguments": call["function"].get("arguments", "")}
        elif event["type"] == "tool-call-delta":
            calls[event["index"]]["arguments"] += call["function"]["arguments"]
    return [calls[index] for index in sorted(calls)]


def recorded_usage(exchange: Exchange) -> dict[str, Any]:
    if not exchange.streamed:
        return dict(exchange.json().get("usage") or {})
    end = next(e for e in exchange.events() if e["type"] == "message-end")
    return dict(end["delta"].get("usage") or {})


def recorded_finish(exchange: Exchange) -> str:
    if not exchange.streamed:
        return str(exchange.json()["finish_reason"])
    end = next(e for e in exchange.events() if e["type"] == "message-end")
    return str(end["delta"]["finish_reason"])


def call_lines(exchange: Exchange) -> list[dict[str, Any]]:
    """The tool call lines `-F text` prints: arguments parsed (an empty string is {})."""
    return [{**call, "arguments": orjson.loads(call["arguments"] or "{}")}
            for call in recorded_calls(exchange)]


def send(exchange: Exchange, *flags: str, document: dict[str, Any] | None = None) -> Result:
    """cohere-chat with the recorded request as its `-i json` document, streamed as the
    recording was (unless `flags` say otherwise)."""
    stream = () if {"--stream", "--no-stream"} & set(flags) else (
        "--stream" if exchange.streamed else "--no-stream",)
    body = exchange.request if document is None else document
    return invoke(["-i", "json", *stream, "--retries", "0", *flags], orjson.dumps(body))


def as_sent(request: dict[str, Any], stream: bool) -> dict[str, Any]:
    """The recorded request as cohere-chat sends it: an assistant message's
    `"content": null` beside its tool calls is left out (issue 30, item 2)."""
    messages = [{k: v for k, v in m.items() if not (k == "content" and v is None
                                                     and m.get("tool_calls"))}
                for m in request["messages"]]
    return {**request, "messages": messages, "stream": stream}


def expected_exit(exchange: Exchange) -> int:
    if exchange.status != 200:
        return EXIT_FOR_STATUS[exchange.status]
    return 8 if recorded_finish(exchange) in ("ERROR", "TIMEOUT") else 0


ALL = names()
STREAMS = [name for name in ALL if load(name).streamed]
ANSWERED = [name for name in ALL if load(name).status == 200]


# --- every recording: the earlier behaviour, kept -------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_text_and_exit_code_as_recorded(replay: Any, name: str) -> None:
    """-F text: the reply's text byte for byte, a line per tool call, the exit code the
    status calls for; and the request sent is the recorded one."""
    exchange = load(name)
    server = replay(exchange)
    result = send(exchange)
    assert result.exit_code == expected_exit(exchange), result.stderr
    assert server.count == 1
    sent = server.bodies[0]
    official.validate_request(sent)
    assert sent == as_sent(exchange.request, exchange.streamed)
    if exchange.status != 200:
        message = orjson.loads(exchange.body)["message"]
        assert message in result.stderr
        assert result.stdout == ""
        return
    text = recorded_text(exchange)
    lines = result.stdout_bytes.split(b"\n")
    expected = (text.encode() + b"\n") if text else b""
    assert result.stdout_bytes[:len(expected)] == expected
    calls = result.stdout_bytes[len(expected):].splitlines()
    assert [orjson.loads(line) for line in calls] == call_lines(exchange), lines


@pytest.mark.parametrize("chunk", [1, 7])
@pytest.mark.parametrize("name", STREAMS)
def test_streams_in_small_chunks_print_the_same(replay: Any, name: str, chunk: int) -> None:
    """A stream that arrives one or seven bytes at a time (UTF-8 characters cut) prints
    what the whole body prints, byte for byte, -F text and -F events alike."""
    exchange = load(name)
    replay(exchange)
    whole = send(exchange), send(exchange, "-F", "events")
    replay(exchange, chunk=chunk)
    pieces = send(exchange), send(exchange, "-F", "events")
    assert [r.exit_code for r in pieces] == [r.exit_code for r in whole] == [0, 0]
    assert [r.stdout_bytes for r in pieces] == [r.stdout_bytes for r in whole]


@pytest.mark.parametrize("name", STREAMS)
def test_events_are_the_recorded_events(replay: Any, name: str) -> None:
    """-F events: one line per recorded event, its data as sent, up to message-end."""
    exchange = load(name)
    replay(exchange)
    result = send(exchange, "-F", "events")
    assert result.exit_code == 0, result.stderr
    assert result.lines() == exchange.events()


@pytest.mark.parametrize("name", ANSWERED)
def test_json_format_as_recorded(replay: Any, name: str) -> None:
    """-F json: a non-streamed reply's bytes exactly; a stream rebuilt as the reply with
    the recorded text, tool calls, citations, finish reason and usage."""
    exchange = load(name)
    replay(exchange)
    result = send(exchange, "-F", "json")
    assert result.exit_code == 0, result.stderr
    if not exchange.streamed:
        body = exchange.body
        assert result.stdout_bytes == (body if body.endswith(b"\n") else body + b"\n")
        return
    (rebuilt,) = result.lines()
    official.validate_response(rebuilt)
    message = rebuilt["message"]
    text = "".join(b["text"] for b in message.get("content", []) if b["type"] == "text")
    assert text == recorded_text(exchange)
    calls = [{"id": c["id"], "name": c["function"]["name"],
              "arguments": orjson.loads(c["function"]["arguments"] or "{}")}
             for c in message.get("tool_calls", [])]
    assert calls == call_lines(exchange)
    starts = [e for e in exchange.events() if e["type"] == "citation-start"]
    assert len(message.get("citations", [])) == len(starts)
    assert rebuilt["finish_reason"] == recorded_finish(exchange)
    assert rebuilt["usage"] == recorded_usage(exchange)


@pytest.mark.parametrize("name", ANSWERED)
def test_message_format_as_recorded(replay: Any, name: str) -> None:
    """-F message: the assistant message as a request takes it back, the same whether
    the reply was streamed or not; it holds the recorded text and tool calls."""
    exchange = load(name)
    replay(exchange)
    result = send(exchange, "-F", "message")
    assert result.exit_code == 0, result.stderr
    (message,) = result.lines()
    official.validate_request({"model": "m", "messages": [message]})
    assert message["role"] == "assistant"
    content = message.get("content", [])
    text = content if isinstance(content, str) else "".join(
        b["text"] for b in content if b["type"] == "text")
    assert text == recorded_text(exchange)
    assert [c["id"] for c in message.get("tool_calls", [])] == [
        c["id"] for c in recorded_calls(exchange)]


# --- issue 30, item 2: "content": null beside tool calls -------------------------------

NULL_CONTENT = "openllmetry__v2_chat_legacy_with_tool_calls_and_history_1"


def _null_content_messages() -> list[dict[str, Any]]:
    messages = load(NULL_CONTENT).request["messages"]
    assert messages[1] == {**messages[1], "role": "assistant", "content": None}
    assert messages[1]["tool_calls"]
    return list(messages)


def _flags(exchange: Exchange, folder: Path) -> list[str]:
    """The recorded request's model and tools as flags (--tools FILE)."""
    tools = folder / "tools.json"
    tools.write_bytes(orjson.dumps(exchange.request["tools"]))
    return ["-m", exchange.request["model"], "--tools", str(tools), "--no-stream"]


def test_null_content_with_tool_calls_from_stdin(replay: Any, tmp_path: Path) -> None:
    """Cohere answered 200 to an assistant message with `"content": null` beside its
    tool calls: from an -i json document and from --jsonl it is sent, without the null
    (as every recorded client that leaves content out sends it), and the reply shown."""
    exchange = load(NULL_CONTENT)
    text = recorded_text(exchange).encode() + b"\n"
    server = replay(exchange)
    assert send(exchange).stdout_bytes == text
    jsonl = b"".join(orjson.dumps(m) + b"\n" for m in _null_content_messages())
    result = invoke(["--jsonl", *_flags(exchange, tmp_path)], jsonl)
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == text
    expected = as_sent(exchange.request, False)
    assert server.bodies == [expected, expected]


def test_null_content_with_tool_calls_in_a_conversation_file(
    replay: Any, tmp_path: Path
) -> None:
    """The same messages as a -c conversation: read, sent, and saved without the null."""
    exchange = load(NULL_CONTENT)
    *history, last = _null_content_messages()
    conversation = tmp_path / "talk.jsonl"
    conversation.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in history))
    server = replay(exchange)
    result = invoke(["-c", str(conversation), "--jsonl", *_flags(exchange, tmp_path)],
                    orjson.dumps(last) + b"\n")
    assert result.exit_code == 0, result.stderr
    assert server.bodies == [as_sent(exchange.request, False)]
    saved = [orjson.loads(line) for line in conversation.read_bytes().splitlines()]
    assert saved[:4] == as_sent(exchange.request, False)["messages"]


def test_null_content_with_tool_calls_in_a_batch_line(replay: Any) -> None:
    exchange = load(NULL_CONTENT)
    server = replay(exchange)
    line = {k: v for k, v in exchange.request.items() if k != "stream"}
    result = invoke(["batch"], orjson.dumps(line) + b"\n")
    assert result.exit_code == 0, result.stderr
    (record,) = result.lines()
    assert record["text"] == recorded_text(exchange)
    assert server.bodies == [as_sent(exchange.request, False)]


# --- issue 30, item 1: a streamed tool call without arguments --------------------------

NO_PARAMETERS = "can_use_tools_without_parameters_in_mu__7c4b14aa_"
NO_PARAMETERS_PLAIN = "can_use_tools_without_parameters__7c4b14aa_0"


def _arguments(message: dict[str, Any]) -> list[str]:
    return [call["function"]["arguments"] for call in message["tool_calls"]]


@pytest.mark.parametrize("name", [
    f"ruby_llm__function_calling_cohere_command-a-plus-05-2026_{NO_PARAMETERS}0",
    "ruby_llm__function_calling_cohere_command-a-03-2025_can_use_tools_without_parameters"
    "_in_multi-t__d94ce71a_0",
])
def test_a_streamed_call_without_arguments_is_rebuilt_as_the_plain_reply_has_it(
    replay: Any, name: str
) -> None:
    """For a tool without parameters Cohere streams `"arguments": ""` and no delta, and
    answers "{}" without streaming (the same test, recorded both ways): -F json and
    -F message print "{}" streamed and not."""
    streamed = load(name)
    assert recorded_calls(streamed)[0]["arguments"] == ""
    plain = load(f"ruby_llm__function_calling_cohere_command-a-plus-05-2026_{NO_PARAMETERS_PLAIN}")
    assert _arguments(plain.json()["message"]) == ["{}"]
    replay(streamed)
    (rebuilt,) = send(streamed, "-F", "json").lines()
    (message,) = send(streamed, "-F", "message").lines()
    assert _arguments(rebuilt["message"]) == _arguments(message) == ["{}"]


def test_the_tool_loop_sends_empty_arguments_back_as_an_empty_object(
    replay: Any, tmp_path: Path
) -> None:
    """The tool loop and -c: the round after a streamed call without arguments sends
    "{}" back, as ruby_llm's recorded follow-up does (and Cohere answered 200 to)."""
    name = f"ruby_llm__function_calling_cohere_command-a-plus-05-2026_{NO_PARAMETERS}"
    first, second = load(name + "0"), load(name + "1")
    server = replay(first, second)
    conversation = tmp_path / "talk.jsonl"
    result = send(first, "--tool-exec", "best_language_to_learn=printf Ruby",
                  "-c", str(conversation))
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == recorded_text(second).encode() + b"\n"
    recorded = second.request["messages"][2]
    sent = server.bodies[1]["messages"][2]
    assert sent["tool_calls"] == recorded["tool_calls"]
    assert server.bodies[1]["messages"][3] == second.request["messages"][3]
    saved = [orjson.loads(line) for line in conversation.read_bytes().splitlines()]
    assert _arguments(saved[2]) == ["{}"]


def test_empty_arguments_in_a_conversation_file_go_back_as_an_empty_object(
    replay: Any, tmp_path: Path
) -> None:
    """A -c file written before the fix holds `"arguments": ""`: it is sent as "{}"."""
    name = f"ruby_llm__function_calling_cohere_command-a-plus-05-2026_{NO_PARAMETERS}"
    second = load(name + "1")
    *history, last = second.request["messages"]
    old = [{**m, "tool_calls": [{**c, "function": {**c["function"], "arguments": ""}}
                                for c in m["tool_calls"]]} if "tool_calls" in m else m
           for m in history]
    conversation = tmp_path / "talk.jsonl"
    conversation.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in old))
    server = replay(second)
    document = {**second.request, "messages": [last]}
    assert send(second, "-c", str(conversation), document=document).exit_code == 0
    assert server.bodies == [as_sent(second.request, True)]


def test_the_stub_streams_a_call_without_arguments_as_cohere_does(make_stub: Any) -> None:
    """The stub's stream of a call without arguments has the recorded shape: the
    tool-call-start's `"arguments": ""`, then tool-call-end, no delta."""
    recorded = load(f"ruby_llm__function_calling_cohere_command-a-plus-05-2026_{NO_PARAMETERS}0")
    call = {"id": "best_language_to_learn_whr6dgszbdv7", "type": "function",
            "function": {"name": "best_language_to_learn", "arguments": "{}"}}
    make_stub(replies=({"message": {"tool_calls": [call]}},))
    result = invoke(["--no-stdin", "-F", "events", "hi"])
    assert result.exit_code == 0, result.stderr

    def tool_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in events if e["type"].startswith("tool-call")]

    assert tool_events(result.lines()) == tool_events(recorded.events())
    (message,) = invoke(["--no-stdin", "-F", "message", "--stream", "hi"]).lines()
    assert _arguments(message) == ["{}"]


# --- issue 30, item 3: a request document's own "stream" ------------------------------

PLAIN = ("ruby_llm__basic_chat_functionality_cohere_command-a-03-2025_can_have_a_basic"
         "_conversation__0cded6f9_0")
STREAMED = ("ruby_llm__streaming_responses_cohere_command-a-03-2025_supports_streaming"
            "_responses__0cded6f9_0")


def test_the_documents_own_stream_is_kept_when_no_flag_decides(replay: Any) -> None:
    """-i json with `"stream": false` (ruby_llm's recorded request) and no stream flag:
    sent as the document says, for --dry-run too, and the text shown; `"stream": true`
    with -F json streams, and prints the reply rebuilt."""
    plain, streamed = load(PLAIN), load(STREAMED)
    assert plain.request["stream"] is False and streamed.request["stream"] is True
    server = replay(plain)
    document = orjson.dumps(plain.request)
    dry = invoke(["-i", "json", "--dry-run"], document)
    assert dry.lines() == [plain.request] and dry.stderr == ""
    result = invoke(["-i", "json"], document)
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout_bytes == recorded_text(plain).encode() + b"\n"
    assert server.bodies == [plain.request]
    server = replay(streamed)
    result = invoke(["-i", "json", "-F", "json"], orjson.dumps(streamed.request))
    assert result.exit_code == 0 and result.stderr == ""
    assert server.bodies == [streamed.request]
    assert result.lines()[0]["usage"] == recorded_usage(streamed)


@pytest.mark.parametrize(("name", "flags", "note"), [
    (PLAIN, ["--stream"], '"stream": false gives way to --stream'),
    (PLAIN, ["-F", "events"], '"stream": false gives way to --format events'),
    (STREAMED, ["--no-stream"], '"stream": true gives way to --no-stream'),
])
def test_a_flag_or_format_decides_over_the_document_and_says_so(
    replay: Any, name: str, flags: list[str], note: str
) -> None:
    exchange = load(name)
    other = load(STREAMED if name == PLAIN else PLAIN)  # an answer of the other kind
    server = replay(other)
    result = invoke(["-i", "json", *flags], orjson.dumps(exchange.request))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"cohere-chat: the request document's {note}\n"
    assert server.bodies[0]["stream"] is (not exchange.request["stream"])


# --- issue 30, item 4: the same bad data, the same exit code ---------------------------

TOOLS = ("ruby_llm__function_calling_cohere_command-a-03-2025_can_use_tools_without_parameters"
         "__0cded6f9_0")
DOCUMENTS = ("ruby_llm__citations_with_cohere_command-a-plus-05-2026_cites_text_documents_in"
             "_responses__7c4b14aa_0")


@pytest.mark.parametrize(("name", "field", "words"), [
    (TOOLS, "tools", "stdin: tools[0]: each tool must be"),
    (DOCUMENTS, "documents", "stdin: documents[0]: each document must be"),
])
def test_a_bad_tool_or_document_in_the_document_is_bad_input(
    replay: Any, tmp_path: Path, name: str, field: str, words: str
) -> None:
    """A recorded request whose first tool (or document) lost what the API needs: from
    an -i json document it is bad data from stdin, exit 3 naming stdin, as a bad message
    in the same document is, and as the same tool in --tools FILE is."""
    exchange = load(name)
    server = replay(exchange)
    broken = dict(exchange.request[field][0])
    broken.pop("function" if field == "tools" else "data")
    document = {**exchange.request, field: [broken, *exchange.request[field][1:]]}
    result = send(exchange, document=document)
    assert result.exit_code == 3, result.stderr
    assert result.stderr.startswith(f"cohere-chat: error: {words}")
    bad_message = {**exchange.request, "messages": [{"role": "user"}]}
    assert send(exchange, document=bad_message).exit_code == 3
    if field == "tools":
        tools = tmp_path / "tools.json"
        tools.write_bytes(orjson.dumps(document["tools"]))
        flags = ["--tools", str(tools), "-m", exchange.request["model"]]
        assert invoke([*flags, "--no-stream", "hi"]).exit_code == 3
    assert server.count == 0


# --- issue 30, item 5: a monthly trial limit is not a rate limit -----------------------

@pytest.mark.parametrize("name", ["aalittle__trial-monthly-limit-429",
                                  "documented__trial-monthly-limit-429-long"])
def test_a_spent_monthly_trial_limit_is_not_retried(replay: Any, name: str) -> None:
    """Cohere's 429 for a trial key whose monthly calls are spent: sent once (the default
    --retries 2 would only spend time), exit 6, and a hint that names the monthly trial
    limit and the production key instead of "slow down"."""
    exchange = load(name)
    server = replay(exchange)
    result = invoke(["-i", "json", "--max-wait", "0"], orjson.dumps(exchange.request))
    assert result.exit_code == 6
    assert server.count == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("cohere-chat: error: HTTP 429: You are using a Trial key, which"
                           " is limited to 1000 API calls / month.")
    assert "monthly trial limit" in line and "production key" in line
    assert "slow down" not in line and "--retries" not in line


def test_a_per_minute_trial_limit_is_still_retried(replay: Any) -> None:
    """The per-minute trial limit is a rate limit: a wait clears it, so it is retried."""
    exchange = load("documented__trial-minute-limit-429")
    server = replay(exchange)
    result = invoke(["-i", "json", "--max-wait", "0"], orjson.dumps(exchange.request))
    assert result.exit_code == 6
    assert server.count == 3
    assert "slow down" in result.stderr and "monthly" not in result.stderr


# --- issue 30, item 6: usage.tokens.reasoning_tokens ------------------------------------

REASONING = "aalittle__chat-basic"  # billed 13 in, 62 out; tokens 38 in, 65 out, 29 reasoning
PRICES = "[default]\nprice_input = 2.5\nprice_output = 10\n"
COST = 0.000653  # (13 * 2.5 + 62 * 10) / 1e6: the reasoning is in the 62, priced once


def _write_prices(home: Path) -> None:
    config = home / ".config" / "cohere-chat" / "config.ini"
    config.parent.mkdir(parents=True)
    config.write_text(PRICES)
    config.chmod(0o600)


def test_reasoning_tokens_in_the_usage_line_and_the_run_log(
    replay: Any, clean_env: Path, tmp_path: Path
) -> None:
    """A reasoning model's `usage.tokens.reasoning_tokens` is shown beside the other
    counts in --usage and in the run log; the cost prices it once, as output."""
    exchange = load(REASONING)
    assert recorded_usage(exchange)["tokens"]["reasoning_tokens"] == 29
    _write_prices(clean_env)
    replay(exchange)
    log = tmp_path / "runs.jsonl"
    result = send(exchange, "--usage", "--log", str(log))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ("usage: input_tokens=38 output_tokens=65 reasoning_tokens=29 "
                             f"billed_input_tokens=13 billed_output_tokens=62 cached_tokens=0 "
                             f"cost_usd={COST}\n")
    (run,) = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    assert run["usage"] == {"input_tokens": 38, "output_tokens": 65, "reasoning_tokens": 29,
                            "billed_input_tokens": 13, "billed_output_tokens": 62,
                            "cached_tokens": 0, "cost_usd": COST}


def test_reasoning_tokens_in_batch_result_lines(replay: Any, clean_env: Path) -> None:
    exchange = load(REASONING)
    _write_prices(clean_env)
    replay(exchange)
    line = {"messages": exchange.request["messages"], "model": exchange.request["model"]}
    result = invoke(["batch"], orjson.dumps(line) + b"\n" + orjson.dumps(line) + b"\n")
    assert result.exit_code == 0, result.stderr
    assert [r["usage"]["reasoning_tokens"] for r in result.lines()] == [29, 29]
    assert [r["usage"]["cost_usd"] for r in result.lines()] == [COST, COST]


def test_reasoning_tokens_shown_and_unknown_usage_fields_kept(replay: Any) -> None:
    """A stream's message-end usage (reasoning_tokens, and the image_tokens no client
    knows yet): --usage shows reasoning_tokens, --json keeps every field as sent."""
    exchange = load("ruby_llm__vision_models_cohere_command-a-plus-05-2026_can_understand"
                    "_remote_images_without_exte__429c7202_1")
    usage = recorded_usage(exchange)
    assert {"reasoning_tokens", "image_tokens"} <= set(usage["tokens"])
    replay(exchange)
    shown = send(exchange, "--usage").stderr
    assert f"reasoning_tokens={usage['tokens']['reasoning_tokens']} " in shown
    assert orjson.loads(send(exchange, "--json").stdout)["usage"] == usage
    streamed = load("ruby_llm__streaming_responses_cohere_command-a-plus-05-2026_reports"
                    "_consistent_token_counts_com__7c4b14aa_0")
    replay(streamed)
    reasoning = recorded_usage(streamed)["tokens"]["reasoning_tokens"]
    assert f"reasoning_tokens={reasoning} " in send(streamed, "--usage").stderr
    (rebuilt,) = send(streamed, "-F", "json").lines()
    assert rebuilt["usage"] == recorded_usage(streamed)


# --- issue 30, item 7: what goes back to the API ---------------------------------------

EMPTIES = ("ruby_llm__function_calling_cohere_command-a-03-2025_can_use_tools_without_parameters"
           "_in_multi-t__0cded6f9_2")


def test_empty_tool_plan_and_citations_are_not_sent_back(replay: Any, tmp_path: Path) -> None:
    """A -c history whose assistant turn has the empty fields of a stream's message-start
    (`"content": []`, `"tool_plan": ""`, `"citations": []`, as a client that builds its
    message from message-start keeps them): they are left out, and the follow-up is sent
    as ruby_llm's recorded one, which Cohere answered; ruby_llm notes newer models refuse
    a tool_plan on the way back."""
    exchange = load(EMPTIES)
    empties = exchange.events()[0]["delta"]["message"]
    assert empties == {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [],
                       "citations": []}
    *history, last = exchange.request["messages"]
    history[2] = {**empties, "tool_calls": history[2]["tool_calls"]}
    conversation = tmp_path / "talk.jsonl"
    conversation.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in history))
    server = replay(exchange)
    document = {**exchange.request, "messages": [last]}
    result = send(exchange, "-c", str(conversation), document=document)
    assert result.exit_code == 0, result.stderr
    assert server.bodies == [exchange.request]


def test_a_tool_plan_goes_back_as_recorded_accepted(replay: Any) -> None:
    """The tool loop sends a tool plan with something in it back beside its calls, as
    langchain-cohere's recorded follow-up did (answered 200; it wrote the arguments
    again with a space, cohere-chat sends the API's own string)."""
    first = load("langchain_cohere__langchain_tool_calling_agent_0")
    second = load("langchain_cohere__langchain_tool_calling_agent_1")
    server = replay(first, second)
    result = send(first, "--tool-exec", "magic_function=printf 5")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == recorded_text(second).encode() + b"\n"
    sent, recorded = server.bodies[1]["messages"][2], second.request["messages"][2]
    assert sent["tool_plan"] == recorded["tool_plan"] == first.json()["message"]["tool_plan"]
    assert [(c["id"], orjson.loads(c["function"]["arguments"])) for c in sent["tool_calls"]] == [
        (c["id"], orjson.loads(c["function"]["arguments"])) for c in recorded["tool_calls"]]


def test_thinking_goes_back_as_recorded_accepted(replay: Any, tmp_path: Path) -> None:
    """A -c turn's thinking block goes back with its text, as pydantic-ai's recorded
    follow-up to command-a-reasoning did (answered 200)."""
    exchange = load("pydantic_ai__cohere_model_thinking_part_1")
    *history, last = exchange.request["messages"]
    assert [b["type"] for b in history[1]["content"]] == ["thinking", "text"]
    conversation = tmp_path / "talk.jsonl"
    conversation.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in history))
    server = replay(exchange)
    result = send(exchange, "-c", str(conversation),
                  document={**exchange.request, "messages": [last]})
    assert result.exit_code == 0, result.stderr
    assert server.bodies == [exchange.request]
