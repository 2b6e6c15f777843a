"""The rules for the values a flag and the config file share: durations, counts, the base
URL, header text and the API key. Each rule turns text into a typed value or raises
`ValueProblem`; the click types (flags.py) and the config reader (config.py) both call
them, so a value is checked by the same rule wherever it comes from.
"""
from __future__ import annotations

import math
from urllib.parse import urlsplit

MAX_SECONDS = 86400.0  # a day: the longest timeout or wait any option takes
MAX_DELAY_MS = 3_600_000.0  # an hour: the longest delay the stub adds (--latency, --token-delay)
MAX_RETRIES = 100
MAX_PER_MINUTE = 1_000_000.0
MAX_PORT = 65535
MAX_HISTORY = 1_000_000_000  # turns or estimated tokens of history
MAX_PRICE = 1_000_000.0  # USD per million tokens (price_input, price_output)
MAX_COST = 1_000_000_000.0  # USD (--max-cost)


class ValueProblem(ValueError):
    """Why a value is refused, worded to follow the value's name: "must be ..."."""


def seconds(
    value: str | float, positive: bool = False, maximum: float = MAX_SECONDS,
    unit: str = "seconds",
) -> float:
    """A finite number of seconds (or `unit`) from 0, or more than 0 if `positive`, to
    `maximum`: never NaN or infinite, which would remove a limit or crash a socket."""
    span = "more than 0 and at most" if positive else "from 0 to"
    rule = f"must be a number of {unit} {span} {maximum:.15g}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueProblem(rule) from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0) or number > maximum:
        raise ValueProblem(rule)
    return number


def positive_seconds(value: str | float) -> float:
    """More than 0 seconds, at most a day (--timeout, --tool-timeout)."""
    return seconds(value, positive=True)


def per_minute(value: str | float) -> float:
    """A finite rate of requests a minute, more than 0 (batch --rpm)."""
    return seconds(value, positive=True, maximum=MAX_PER_MINUTE, unit="requests a minute")


def price(value: str | float) -> float:
    """USD per million billed tokens, from 0 (`price_input`, `price_output`)."""
    return seconds(value, maximum=MAX_PRICE, unit="USD per million tokens")


def cost(value: str | float) -> float:
    """A budget in USD, more than 0 (--max-cost, `max_cost`)."""
    return seconds(value, positive=True, maximum=MAX_COST, unit="USD")


def path_text(value: str) -> str:
    """A file name (`log`, `api_key_file`, `preset`): not empty, no NUL byte (which no
    path can hold)."""
    if not value.strip():
        raise ValueProblem("must name a file")
    if "\0" in value:
        raise ValueProblem("is not a usable path (it holds a NUL byte)")
    return value


def some_text(value: str) -> str:
    """Text that is not blank (--compact-prompt, --compact-model)."""
    if not value.strip():
        raise ValueProblem("must not be empty")
    return value


def whole_number(value: str | int, lowest: int, highest: int) -> int:
    """A whole number from `lowest` to `highest`."""
    rule = f"must be a whole number from {lowest} to {highest}"
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueProblem(rule) from None
    if not lowest <= number <= highest:
        raise ValueProblem(rule)
    return number


def retries(value: str | int) -> int:
    return whole_number(value, 0, MAX_RETRIES)


def history_turns(value: str | int) -> int:
    """How many history turns to send: a whole number from 0 (--history-turns)."""
    return whole_number(value, 0, MAX_HISTORY)


AUTO = "auto"


def token_count(value: str | int) -> int:
    """A number of tokens: a whole number from 1 (the stub's --context-limit)."""
    return whole_number(value, 1, MAX_HISTORY)


def history_tokens(value: str | int) -> int | str:
    """A token budget for a request: a whole number from 1, or `auto`, the model's own
    context (--history-tokens)."""
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    try:
        return token_count(value)
    except ValueProblem:
        raise ValueProblem(f"must be a whole number from 1 to {MAX_HISTORY} or auto") from None


BOOLEANS = {"yes": True, "true": True, "on": True, "1": True,
            "no": False, "false": False, "off": False, "0": False}


def boolean(value: str) -> bool:
    """yes/no, true/false, on/off or 1/0, in any case (a config file's `fit`)."""
    try:
        return BOOLEANS[value.strip().lower()]
    except KeyError:
        raise ValueProblem("must be yes or no (or true/false, on/off, 1/0)") from None


def milliseconds(value: str | float) -> float:
    return seconds(value, maximum=MAX_DELAY_MS, unit="milliseconds")


def millisecond_range(text: str) -> tuple[float, float | None]:
    """`MS` or `MS-MAX`: milliseconds as `milliseconds` takes them, with MS <= MAX."""
    rule = f"must be MS or MS-MAX, milliseconds from 0 to {MAX_DELAY_MS:.15g}, MS <= MAX"
    low, dash, high = text.partition("-")
    try:
        first = milliseconds(low)
        last = milliseconds(high) if dash else None
    except ValueProblem:
        raise ValueProblem(rule) from None
    if last is not None and last < first:
        raise ValueProblem(rule)
    return first, last


def text_problem(text: str) -> str | None:
    """What keeps text from going into an HTTP header: a line break, another control
    character, or a character that is not ASCII (bytes that were not UTF-8 included)."""
    if "\n" in text or "\r" in text:
        return "contains a line break"
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        return "contains a control character"
    if not text.isascii():
        return "contains a character that is not ASCII"
    return None


def header_text(text: str) -> str:
    """Text for a header such as X-Client-Name: one line of ASCII."""
    problem = text_problem(text)
    if problem:
        raise ValueProblem(f"must be one line of ASCII text (it {problem})")
    return text


def has_bad_utf8(text: str) -> bool:
    """Whether text holds bytes that were not UTF-8 (Python keeps those in an argument or
    an environment variable as lone surrogates, which cannot be sent)."""
    return any("\ud800" <= char <= "\udfff" for char in text)


def base_url(text: str) -> str:
    """An http(s) URL with a host and, if any, a valid port; without a trailing slash.
    (Whether the key may be sent there is the wire's question: wire/connection.py.)"""
    if any(char.isspace() or not char.isprintable() for char in text):  # surrogates too
        raise ValueProblem("must not contain spaces or control characters")
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # "Invalid IPv6 URL"
        reason = str(exc)
        raise ValueProblem(f"must be a valid URL ({reason[:1].lower()}{reason[1:]})") from None
    try:
        port = parts.port
    except ValueError:  # not a number, or past 65535
        port = 0
    if parts.scheme not in ("https", "http"):
        raise ValueProblem("must start with https:// or http://")
    if not parts.hostname:
        raise ValueProblem("must name a host (https://HOST)")
    if port == 0:
        raise ValueProblem(f"must have a port number from 1 to {MAX_PORT}, if any")
    if parts.query or parts.fragment:
        raise ValueProblem("must not have a query or a fragment")
    _api_path(text.rstrip("/"), parts.path.rstrip("/"))
    return text.rstrip("/")


API_PATHS = ("/v1", "/v2", "/v1/chat", "/v2/chat")  # what the program adds to the base URL


def _api_path(url: str, path: str) -> None:
    """A base URL is the API's root: one that already ends in an API path would be sent
    to `.../v2/v2/chat`, a 404 that reads like a wrong model name."""
    for end in API_PATHS:
        if path.lower().endswith(end):
            raise ValueProblem(f"must not end in {end}: the program adds /v2/chat itself "
                               f"(give {url[: -len(end)]})")


MAX_HEADER_VALUE = 8192  # bytes of one --header value
SHORTEST_SECRET = 8  # characters: a secret any shorter cannot be hidden (wire/redact.py)
TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789"
                        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# names cohere-chat sets itself: the framing, the content's type, the stream's Accept
RESERVED_HEADERS = {
    "host": "the host comes from the base URL",
    "content-type": "cohere-chat sets it for each request",
    "content-length": "cohere-chat sets it for each request",
    "transfer-encoding": "cohere-chat sets it for each request",
    "connection": "cohere-chat keeps its connections itself",
    "accept": "cohere-chat sets it for each request (a stream needs its own)",
    "accept-encoding": "cohere-chat sets it for each request (a stream needs its own)",
    "x-client-name": "it is the client_name setting",
}


def header_line(text: str) -> tuple[str, str]:
    """`NAME: VALUE` (--header, a line of the config's `headers`) as (NAME, VALUE): NAME a
    header token, VALUE one line of printable ASCII up to 8 KiB, spaces around it dropped.
    A header's value is a secret: no problem names it, nor a name that is not a token
    (it may be a value or a key put in the wrong place)."""
    name, colon, value = text.partition(":")
    if not colon:
        raise ValueProblem("must be NAME: VALUE (no colon found)")
    if not name or not set(name) <= TOKEN_CHARS:
        raise ValueProblem("must be NAME: VALUE with NAME a header name (letters, digits "
                           "and !#$%&'*+-.^_`|~ only, no spaces)")
    if reason := RESERVED_HEADERS.get(name.lower()):
        raise ValueProblem(f"may not set {name} ({reason})")
    value = value.strip(" \t")
    if "\n" in value or "\r" in value:
        raise ValueProblem(f"has a line break in the value of {name}")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueProblem(f"has a control character in the value of {name}")
    if not value.isascii():
        raise ValueProblem(f"has a character that is not ASCII in the value of {name}")
    if not value:
        raise ValueProblem(f"has no value for {name}")
    if len(value) > MAX_HEADER_VALUE:
        raise ValueProblem(f"has a value of {name} longer than {MAX_HEADER_VALUE} bytes")
    return name, value


def header_lines(text: str) -> tuple[tuple[str, str], ...]:
    """The config's `headers`: one `NAME: VALUE` a line (blank lines skipped), each by
    `header_line`, no name twice."""
    found = tuple(header_line(line.strip(" \t")) for line in text.split("\n") if line.strip())
    unique_names(found)
    return found


def unique_names(headers: tuple[tuple[str, str], ...]) -> None:
    """No header name twice (in any case): which one would be sent is not clear."""
    seen: set[str] = set()
    for name, _ in headers:
        if name.lower() in seen:
            raise ValueProblem(f"names the header {name} twice")
        seen.add(name.lower())
