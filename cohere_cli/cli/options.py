"""Shared click option groups, so `send` and `batch` take the same request flags, and the
click types that check a value at its option by the rules in values.py (the config file
is checked by the same rules).

Each option is declared once, here, with the dataclass its values go into (flags.py builds
it by field name): a request flag's destination is the name of its `RequestOptions` field
(chat/request.py), a setting's the name of its `ConfigFlags` field (settings/config.py),
and the others' a field of `MessageFlags` or `ConnectionFlags` below."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import click

from cohere_cli.base import values

F = Callable[..., Any]
FILE = click.Path()  # what it is (a folder, a FIFO: exit 3) is base/named_files.py's to say
EXISTING = click.Path(exists=True, dir_okay=False)


class Checked(click.ParamType):  # type: ignore[type-arg]  # click 8.2+: generic
    """A value checked, and typed, by one of values.py's rules: a bad one is a usage error
    (exit 2) at its option, e.g. `--timeout nan`."""

    def __init__(
        self, name: str, rule: Callable[[Any], Any], message: str = "{problem} (got {value!r})"
    ) -> None:
        self.name = name
        self.rule = rule
        self.message = message

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self.rule(value)
        except values.ValueProblem as problem:
            self.fail(self.message.format(problem=problem, value=value), param, ctx)


class LocalText(click.ParamType):  # type: ignore[type-arg]  # click 8.2+: generic
    """Text used only on this machine (a command line, a path): it may hold any bytes the
    system allows. `is_sent` tells the group's UTF-8 check which values go to the API."""

    name = "text"

    def is_sent(self, _value: str) -> bool:
        return False


class ImageRef(LocalText):
    """--image: a path (local) or a URL (sent as it is)."""

    def is_sent(self, value: str) -> bool:
        return value.startswith(("https://", "http://", "data:"))


class SentPath(click.Path):
    """A path that goes into the request (a --document's path is its id and title)."""

    def is_sent(self, _value: str) -> bool:
        return True


SECONDS = Checked("seconds", values.seconds)  # from 0
POSITIVE_SECONDS = Checked("seconds", values.positive_seconds)
MILLISECONDS = Checked("ms", values.milliseconds)
MILLISECOND_RANGE = Checked("ms[-max]", values.millisecond_range)
RETRIES = Checked("integer", values.retries)
PER_MINUTE = Checked("n", values.per_minute)  # for batch --rpm (not NaN, not infinite)
BASE_URL = Checked("url", values.base_url, "bad base URL {value!r}: it {problem}")
HEADER_TEXT = Checked("text", values.header_text)
HEADER_LINE = Checked("header", values.header_line, "{problem}")  # never shows the value
HISTORY_TURNS = Checked("n", values.history_turns)
COST = Checked("usd", values.cost)
HISTORY_TOKENS = Checked("n|auto", values.history_tokens)
TOKEN_COUNT = Checked("n", values.token_count)
SOME_TEXT = Checked("text", values.some_text)


def _choice(*names: str) -> click.Choice[str]:
    return click.Choice(names, case_sensitive=False)


def _apply(options: Sequence[Callable[[Any], Any]], func: F) -> F:
    for option in reversed(options):
        func = option(func)
    return func


MESSAGE_OPTIONS = [
    click.option("-s", "--system", metavar="TEXT", help="System message, put first."),
    click.option("--system-file", type=FILE, metavar="FILE", help="System message from a file."),
    click.option("--image", "images", multiple=True, type=ImageRef(), metavar="PATH|URL",
                 help="Add an image to the last user message (repeatable, ≤20)."),
    click.option("--image-detail", type=_choice("auto", "low", "high"),
                 help="Detail level of the images."),
    click.option("--document", "documents", multiple=True, type=SentPath(),
                 metavar="PATH",
                 help="A text file as a document to ground the reply (repeatable)."),
    click.option("--documents", "documents_file", type=FILE, metavar="FILE",
                 help="Documents from JSONL: a string or an object a line."),
]



@dataclass(frozen=True, eq=False)  # never compared: no __eq__ to compile
class MessageFlags:
    """The MESSAGE_OPTIONS that are not request fields (--document and --documents are)."""

    system: str | None
    system_file: str | None
    images: tuple[str, ...]
    image_detail: str | None


def conversation_option(use: str) -> Callable[[F], F]:
    """-c/--conversation FILE (send, tokens); USE: what the command does with FILE."""
    return click.option("-c", "--conversation", type=FILE, metavar="FILE", help=use)


# How stdin is read as the new input (send, tokens): StdinFlags.
STDIN_OPTIONS = [
    click.option("-i", "--input", "input_format", type=click.Choice(["text", "jsonl", "json"]),
                 default="text", show_default=True, help="How to read stdin."),
    click.option("--jsonl", "jsonl_input", is_flag=True, help="Short for --input jsonl."),
    click.option("--no-stdin", is_flag=True, help="Do not read stdin."),
]


@dataclass(frozen=True, eq=False)  # never compared: no __eq__ to compile
class StdinFlags:
    """The STDIN_OPTIONS."""

    input_format: str
    jsonl_input: bool
    no_stdin: bool

    @property
    def format(self) -> str:
        """--input FORMAT, or jsonl with --jsonl."""
        return "jsonl" if self.jsonl_input else self.input_format


PRESET_OPTION = click.option(
    "--preset", type=LocalText(), metavar="NAME|PATH",
    help="Start from a preset: a JSON request document (request fields, messages, "
    "history_turns, history_tokens, fit, compact, compact_prompt, compact_model, "
    "max_time); NAME is in the presets folder "
    "($CO_PRESET, config `preset`).")

MODEL_OPTION = click.option("-m", "--model", metavar="NAME",
                            help="Model ($CO_MODEL, config).  [default: command-a-plus-05-2026]")

MAX_TOKENS_OPTION = click.option(
    "--max-tokens", type=int, metavar="N",
    help="Most output tokens (room kept for the reply by --history-tokens auto).")

REQUEST_OPTIONS = [
    MODEL_OPTION,
    click.option("-t", "--temperature", type=float, metavar="F", help="Sampling temperature, 0-1."),
    MAX_TOKENS_OPTION,
    click.option("--stop", multiple=True, metavar="TEXT", help="Stop sequence (repeatable, ≤5)."),
    click.option("--seed", type=int, metavar="N", help="Seed for best-effort determinism."),
    click.option("--frequency-penalty", type=float, metavar="F", help="Frequency penalty, 0-1."),
    click.option("--presence-penalty", type=float, metavar="F", help="Presence penalty, 0-1."),
    click.option("-k", "--top-k", "k", type=int, metavar="N", help="Top-k sampling, 0-500."),
    click.option("-p", "--top-p", "p", type=float, metavar="F",
                 help="Nucleus sampling, 0.01-0.99."),
    click.option("--safety-mode", type=_choice("contextual", "strict", "off"),
                 help="Safety instruction mode."),
    click.option("--thinking/--no-thinking", default=None, help="Turn reasoning on or off."),
    click.option("--thinking-budget", type=int, metavar="N",
                 help="Token budget for thinking (implies --thinking)."),
    click.option("--response-format", type=_choice("text", "json"), help="Reply as text or JSON."),
    click.option("--json-schema", type=FILE, metavar="FILE",
                 help="JSON schema the reply must follow (implies --response-format json)."),
    click.option("--tools", type=FILE, metavar="FILE",
                 help="Tool definitions (JSON array or JSONL)."),
    click.option("--tool-choice", type=_choice("required", "none"), help="Force or forbid tools."),
    click.option("--strict-tools", is_flag=True, help="Make tool calls follow the schemas."),
    click.option("--citations", type=_choice("enabled", "disabled", "fast", "accurate", "off"),
                 help="Citation mode."),
    click.option("--logprobs", is_flag=True, help="Ask for token log probabilities."),
    click.option("--priority", type=int, metavar="N", help="Priority 0-999 (0 is first)."),
    click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
                 help="Any request field; VALUE is JSON if it parses, else a string."),
]

# The connection flags that are settings: `config` takes them too (with --model), to show
# what they would make.
SETTINGS_OPTIONS = [
    click.option("--api-key-file", type=FILE, metavar="PATH", help="Read the API key from PATH."),
    click.option("--base-url", type=BASE_URL, metavar="URL",
                 help="API base URL ($CO_API_URL, config).  [default: https://api.cohere.com]"),
    click.option("--profile", metavar="NAME", help="Config profile ($CO_PROFILE)."),
    click.option("--timeout", type=POSITIVE_SECONDS, metavar="SECONDS",
                 help="Read timeout, also between stream bytes (at most 86400).  [default: 300]"),
    click.option("--retries", type=RETRIES, metavar="N",
                 help="Retries after 429/5xx/network errors (at most 100).  [default: 2]"),
    click.option("--client-name", type=HEADER_TEXT, metavar="NAME",
                 help="X-Client-Name header (cohere-chat)."),
    click.option("--no-auth", is_flag=True, default=None,
                 help="Send no key and no Authorization header ($CO_NO_AUTH=1, config "
                 "auth = none): a private deployment."),
    click.option("--header", "headers", multiple=True, type=HEADER_LINE,
                 metavar="'NAME: VALUE'",
                 help="Send this header with every request to the API (repeatable; config "
                 "headers); the value is a secret, never shown."),
    click.option("--insecure-http", is_flag=True, default=None,
                 help="Allow --header values over plain http to another machine (anyone on "
                 "the way can read them; config insecure_http)."),
]



def _history_turns(keeps: str) -> Callable[[F], F]:
    return click.option("--history-turns", type=HISTORY_TURNS, metavar="N",
                        help="Send only the last N turns of the history (a turn starts at a "
                        "user message; the system message and the new input always go"
                        f"{keeps}).")


# Which part of a long conversation is sent (history.py, fitting.py); also config keys.
# `send` says that -c FILE keeps everything; `batch` and `config` have no -c.
HISTORY_OPTIONS = [
    _history_turns("; -c FILE keeps everything"),
    click.option("--history-tokens", type=HISTORY_TOKENS, metavar="N|auto",
                 help="Send the most recent whole turns that fit in about N tokens, the new "
                 "input included (an estimate: see LONG CONVERSATIONS in cohere-chat(1)); "
                 "auto: the model's context, less room for the reply."),
    click.option("--fit/--no-fit", default=None,
                 help="On a 'too many tokens' 400, leave out older turns and send again "
                 "(at most 4 more times)."),
]

# --compact (send only; chat/compact.py): a summary of what the window leaves out; also
# config keys and preset settings.
COMPACT_OPTIONS = [
    click.option("--compact/--no-compact", default=None,
                 help="With -c and a history window: fold the turns the window leaves out "
                 "into a running summary (one more request when turns leave the window), "
                 "sent in their place; kept in FILE.summary.json."),
    click.option("--compact-prompt", type=SOME_TEXT, metavar="TEXT",
                 help="The instruction of the summarising request (see LONG CONVERSATIONS "
                 "in cohere-chat(1) for the built-in one)."),
    click.option("--compact-model", type=SOME_TEXT, metavar="NAME",
                 help="The model of the summarising request.  [default: the request's]"),
]

# --max-time of a send (send, tokens, batch); also a config key.
MAX_TIME_OPTION = click.option(
    "--max-time", type=POSITIVE_SECONDS, metavar="SECONDS",
    help="Stop past SECONDS of wall-clock time (exit 7): the whole send, its retries, waits "
    "and tool rounds included; in batch, each line (at most 86400).")

# Unattended runs (send and batch): a total deadline and the run log; also config keys.
RUN_OPTIONS = [
    MAX_TIME_OPTION,
    click.option("--max-cost", type=COST, metavar="USD",
                 help="Start no new request once the finished ones cost USD (exit 11); needs "
                 "price_input and price_output in the config. With batch --remote: refuse "
                 "a batch whose estimate is over USD."),
    click.option("--log", type=FILE, metavar="FILE",
                 help="Append one JSON line about this run to FILE ($COHERE_CHAT_LOG): exit "
                 "status, model, usage, cost, time; never the key."),
]

# --max-time on the commands that only ask the API (models, batches): the whole command.
CALL_TIME_OPTION = click.option(
    "--max-time", type=POSITIVE_SECONDS, metavar="SECONDS",
    help="Stop past SECONDS of wall-clock time (exit 7): every request, its retries and "
    "waits included (at most 86400).")

# The connection flags that are not settings: `config --check` takes them too.
TRANSPORT_OPTIONS = [
    click.option("--max-wait", type=SECONDS, default=60.0, show_default=True, metavar="SECONDS",
                 help="Longest single wait between retries (at most 86400)."),
    click.option("--ca-bundle", type=EXISTING, metavar="FILE",
                 help="CA certificates to verify TLS with ($REQUESTS_CA_BUNDLE)."),
    click.option("-v", "--verbose", is_flag=True, help="Log requests, statuses and retries."),
]
CONNECTION_OPTIONS = [*SETTINGS_OPTIONS, *TRANSPORT_OPTIONS]


@dataclass(frozen=True, eq=False)  # never compared: no __eq__ to compile
class ConnectionFlags:
    """The CONNECTION_OPTIONS that are not settings (those are ConfigFlags fields)."""

    max_wait: float
    ca_bundle: str | None
    verbose: bool


def message_options(func: F) -> F:
    return _apply(MESSAGE_OPTIONS, func)


def stdin_options(func: F) -> F:
    return _apply(STDIN_OPTIONS, func)


def request_options(func: F) -> F:
    return _apply(REQUEST_OPTIONS, func)


def connection_options(func: F) -> F:
    return _apply(CONNECTION_OPTIONS, func)


def transport_options(func: F) -> F:
    """For `config`: the connection flags that are not settings (ConnectionFlags)."""
    return _apply(TRANSPORT_OPTIONS, func)


def call_time_option(func: F) -> F:
    return CALL_TIME_OPTION(func)


def history_options(func: F) -> F:
    return _apply(HISTORY_OPTIONS, func)


def compact_options(func: F) -> F:
    return _apply(COMPACT_OPTIONS, func)


NO_CONVERSATION_HISTORY_OPTIONS: list[Callable[[Any], Any]] = [
    _history_turns(""), *HISTORY_OPTIONS[1:]]


def batch_history_options(func: F) -> F:
    """HISTORY_OPTIONS for a command without -c (batch; config's settings_options)."""
    return _apply(NO_CONVERSATION_HISTORY_OPTIONS, func)


def run_options(func: F) -> F:
    return _apply(RUN_OPTIONS, func)


def settings_options(func: F) -> F:
    """For `config`: every flag a setting comes from (config.ConfigFlags)."""
    return _apply([MODEL_OPTION, *SETTINGS_OPTIONS, *NO_CONVERSATION_HISTORY_OPTIONS,
                   *COMPACT_OPTIONS,
                   *RUN_OPTIONS, PRESET_OPTION], func)


def preset_option(func: F) -> F:
    return PRESET_OPTION(func)
