"""Shared click option groups, so `send` and `batch` take the same request flags."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

F = Callable[..., Any]
FILE = click.Path(dir_okay=False)
EXISTING = click.Path(exists=True, dir_okay=False)


def _choice(*names: str) -> click.Choice:
    return click.Choice(names, case_sensitive=False)


def _apply(options: list[Callable[[F], F]], func: F) -> F:
    for option in reversed(options):
        func = option(func)
    return func


MESSAGE_OPTIONS = [
    click.option("-s", "--system", metavar="TEXT", help="System message, put first."),
    click.option("--system-file", type=FILE, metavar="FILE", help="System message from a file."),
    click.option("--image", "images", multiple=True, metavar="PATH|URL",
                 help="Add an image to the last user message (repeatable, ≤20)."),
    click.option("--image-detail", type=_choice("auto", "low", "high"),
                 help="Detail level of the images."),
    click.option("--document", "document_paths", multiple=True, type=FILE, metavar="PATH",
                 help="A text file as a document to ground the reply (repeatable)."),
    click.option("--documents", "documents_file", type=FILE, metavar="FILE",
                 help="Documents from JSONL: a string or an object a line."),
]

REQUEST_OPTIONS = [
    click.option("-m", "--model", metavar="NAME",
                 help="Model (default: $CO_MODEL, config, command-a-plus-05-2026)."),
    click.option("-t", "--temperature", type=float, metavar="F", help="Sampling temperature, 0-1."),
    click.option("--max-tokens", type=int, metavar="N", help="Most output tokens."),
    click.option("--stop", multiple=True, metavar="TEXT", help="Stop sequence (repeatable, ≤5)."),
    click.option("--seed", type=int, metavar="N", help="Seed for best-effort determinism."),
    click.option("--frequency-penalty", type=float, metavar="F", help="Frequency penalty, 0-1."),
    click.option("--presence-penalty", type=float, metavar="F", help="Presence penalty, 0-1."),
    click.option("-k", "--top-k", "top_k", type=int, metavar="N", help="Top-k sampling, 0-500."),
    click.option("-p", "--top-p", "top_p", type=float, metavar="F",
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
    click.option("--param", multiple=True, metavar="KEY=VALUE",
                 help="Any request field; VALUE is JSON if it parses, else a string."),
]

CONNECTION_OPTIONS = [
    click.option("--api-key-file", type=FILE, metavar="PATH", help="Read the API key from PATH."),
    click.option("--base-url", metavar="URL", help="API base URL (default: https://api.cohere.com)."),
    click.option("--profile", metavar="NAME", help="Config profile ($CO_PROFILE)."),
    click.option("--timeout", type=float, metavar="SECONDS",
                 help="Read timeout, also between stream bytes (default 300)."),
    click.option("--retries", type=int, metavar="N",
                 help="Retries after 429/5xx/network errors (default 2)."),
    click.option("--max-wait", type=float, default=60.0, show_default=True, metavar="SECONDS",
                 help="Longest single wait between retries."),
    click.option("--client-name", metavar="NAME", help="X-Client-Name header (cohere-chat)."),
    click.option("--ca-bundle", type=EXISTING, metavar="FILE",
                 help="CA certificates to verify TLS with ($REQUESTS_CA_BUNDLE)."),
    click.option("-v", "--verbose", is_flag=True, help="Log requests, statuses and retries."),
]


def message_options(func: F) -> F:
    return _apply(MESSAGE_OPTIONS, func)


def request_options(func: F) -> F:
    return _apply(REQUEST_OPTIONS, func)


def connection_options(func: F) -> F:
    return _apply(CONNECTION_OPTIONS, func)
