"""Reading a chat response: its text, tool calls, usage, warnings and message form."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, cast

import orjson

from cohere_cli.base.errors import NetworkError

ANSWERED_REPLY = "the API answered 200 with a body"
STREAMED_REPLY = "the API streamed events that make a reply"
MESSAGE_KEYS = ("role", "content", "tool_plan", "tool_calls", "citations")
USAGE_FIELDS = (
    ("input_tokens", "tokens", "input_tokens"),
    ("output_tokens", "tokens", "output_tokens"),
    ("billed_input_tokens", "billed_units", "input_tokens"),
    ("billed_output_tokens", "billed_units", "output_tokens"),
)
PER_MILLION = 1_000_000
MICRODOLLAR = Decimal("0.000001")  # cost_usd is rounded (half up) to a millionth of a dollar


def _message(response: dict[str, Any]) -> dict[str, Any]:
    message = response.get("message")
    return message if isinstance(message, dict) else {}


def _blocks(response: dict[str, Any], kind: str) -> list[str]:
    content = _message(response).get("content")
    if isinstance(content, str):
        return [content] if kind == "text" else []
    if not isinstance(content, list):
        return []
    return [b.get(kind, "") for b in content if isinstance(b, dict) and b.get("type") == kind]


def reply_text(response: dict[str, Any]) -> str:
    """The reply's text: its text blocks, joined as the stream would have printed them."""
    return "".join(_blocks(response, "text"))


def thinking_text(response: dict[str, Any]) -> str:
    return "".join(_blocks(response, "thinking"))


def tool_calls(response: dict[str, Any]) -> list[dict[str, Any]]:
    """Each tool call as {"id", "name", "arguments"} with the arguments parsed from JSON."""
    calls = []
    for call in _message(response).get("tool_calls") or []:
        function = call.get("function") or {}
        arguments: Any = function.get("arguments") or "{}"
        with contextlib.suppress(orjson.JSONDecodeError, TypeError):
            arguments = orjson.loads(arguments)  # when not JSON, keep the API's string
        calls.append({"id": call.get("id"), "name": function.get("name"), "arguments": arguments})
    return calls


def _whole(value: Any) -> Any:
    whole = isinstance(value, float) and value.is_integer() and abs(value) < 2**63
    return int(value) if whole else value


@dataclass(frozen=True)
class Prices:
    """USD per million billed tokens (`price_input`, `price_output` in the config)."""

    input: float
    output: float

    def cost(self, counts: dict[str, Any]) -> float | None:
        """The cost of flat counts: billed tokens, or input/output tokens when the API
        billed none; None when it counted nothing."""
        billed = [counts.get(f"billed_{kind}_tokens") for kind in ("input", "output")]
        if billed == [None, None]:
            billed = [counts.get(f"{kind}_tokens") for kind in ("input", "output")]
        if billed == [None, None]:
            return None
        try:  # in decimal: 6.5431975 is 6.543198, not the float's 6.543197
            usd = (Decimal(str(billed[0] or 0)) * Decimal(str(self.input))
                   + Decimal(str(billed[1] or 0)) * Decimal(str(self.output))) / PER_MILLION
            return float(usd.quantize(MICRODOLLAR, ROUND_HALF_UP))
        except InvalidOperation:  # a count too big to price
            return None


def usage_counts(response: dict[str, Any], prices: Prices | None = None) -> dict[str, Any]:
    """The flat usage counts (--usage, batch result lines, the run log share them): token
    counts from `usage` (current API) or `meta` (older pages), whichever is there,
    `cached_tokens` when the API sent it, and with `prices` `cost_usd`."""
    counts: dict[str, Any] = {}
    for holder in (response.get("usage"), response.get("meta")):
        if not isinstance(holder, dict):
            continue
        for name, group, key in USAGE_FIELDS:
            value = (holder.get(group) or {}).get(key)
            if name not in counts and isinstance(value, (int, float)):
                counts[name] = _whole(value)
        cached = holder.get("cached_tokens")
        if "cached_tokens" not in counts and isinstance(cached, (int, float)):
            counts["cached_tokens"] = _whole(cached)
    return with_cost(counts, prices)


def with_cost(counts: dict[str, Any], prices: Prices | None) -> dict[str, Any]:
    """`counts` with `cost_usd` (when there are prices and something was counted)."""
    counts = {name: value for name, value in counts.items() if name != "cost_usd"}
    cost = prices.cost(counts) if prices is not None else None
    return counts if cost is None else {**counts, "cost_usd": cost}


def add_usage(total: dict[str, Any], counts: dict[str, Any]) -> None:
    """Add flat counts to a running total (a turn's rounds, a batch's lines); the cost
    is made again from the total (`with_cost`)."""
    for name, value in counts.items():
        if name != "cost_usd" and isinstance(value, (int, float)):
            total[name] = _whole(total.get(name, 0) + value)


def api_warnings(response: dict[str, Any]) -> list[str]:
    meta = response.get("meta")
    found = meta.get("warnings") if isinstance(meta, dict) else None
    return [str(w) for w in found] if isinstance(found, list) else []


def request_message(response: dict[str, Any]) -> dict[str, Any]:
    """The assistant message in the form a request accepts (ready for a conversation file)."""
    message = _message(response)
    shaped = {key: message[key] for key in MESSAGE_KEYS if message.get(key) not in (None, [], "")}
    shaped["role"] = "assistant"
    if not any(key in shaped for key in ("content", "tool_calls", "tool_plan")):
        shaped["content"] = ""
    return {key: shaped[key] for key in MESSAGE_KEYS if key in shaped}


def logprobs(response: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The response's `logprobs` (one `LogprobItem` per piece of text), None when it has
    none: the API sends them only when the request asked (`--logprobs`)."""
    found = response.get("logprobs")
    return found if isinstance(found, list) else None


def citations(response: dict[str, Any]) -> list[dict[str, Any]]:
    found = _message(response).get("citations")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _typed(value: Any, kind: type | tuple[type, ...]) -> bool:
    return value is None or (isinstance(value, kind) and not isinstance(value, bool))


def _is_count(value: Any) -> bool:
    """None, or a number a token count can be: not negative, finite, below 2**63."""
    return _typed(value, (int, float)) and (value is None or 0 <= value < 2**63)


def _counts_problem(holder: Any, where: str) -> str | None:
    if not _typed(holder, dict):
        return f"{where} is not an object"
    for group in ("tokens", "billed_units"):
        counts = (holder or {}).get(group)
        if not _typed(counts, dict):
            return f"{where}.{group} is not an object"
        for name, value in (counts or {}).items():
            if not _is_count(value):
                return f"{where}.{group}.{name} is not a count of tokens"
    if not _is_count((holder or {}).get("cached_tokens")):
        return f"{where}.cached_tokens is not a count of tokens"
    return None


def _content_problem(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return None
    if not isinstance(content, list):
        return "message.content is not a list"
    for block in content:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return "a content block is not an object with a type"
        kind = block["type"]
        if kind in ("text", "thinking") and not isinstance(block.get(kind), str):
            return f"a {kind} block has no string {kind!r}"
    return None


def _calls_problem(calls: Any) -> str | None:
    if not _typed(calls, list):
        return "message.tool_calls is not a list"
    for call in calls or ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not _typed(function, dict):
            return "a tool call is not an object with a function object"
        if not _typed(call.get("id"), str) or not all(
                _typed((function or {}).get(key), str) for key in ("name", "arguments")):
            return "a tool call's id, name or arguments is not a string"
    return None


def response_problem(response: Any) -> str | None:
    """Why a 200 body is not a chat response this client can read, or None.

    Only the fields the client uses are checked; unknown fields pass."""
    if not isinstance(response, dict) or not isinstance(response.get("message"), dict):
        return "it has no message object"
    message = response["message"]
    problem = _content_problem(message.get("content")) or _calls_problem(
        message.get("tool_calls"))
    if problem:
        return problem
    for key, kind in (("tool_plan", str), ("citations", list)):
        if not _typed(message.get(key), kind):
            return f"message.{key} is not a {kind.__name__}"
    for key in ("id", "finish_reason"):
        if not _typed(response.get(key), str):
            return f"{key} is not a string"
    items = response.get("logprobs")
    if not _typed(items, list) or not all(isinstance(item, dict) for item in items or ()):
        return "logprobs is not a list of objects"
    meta = response.get("meta")
    if not _typed(meta, dict) or not _typed((meta or {}).get("warnings"), list):
        return "meta is not an object with a warnings list"
    return _counts_problem(response.get("usage"), "usage") or _counts_problem(meta, "meta")


def check_response(response: Any, source: str = ANSWERED_REPLY) -> dict[str, Any]:
    """`response` when it is a chat response this client can read; else a NetworkError
    (exit 7) of one line that says what is wrong with it."""
    problem = response_problem(response)
    if problem:
        raise NetworkError(f"{source} that is not a chat response: {problem}")
    return cast(dict[str, Any], response)  # response_problem found it to be an object
