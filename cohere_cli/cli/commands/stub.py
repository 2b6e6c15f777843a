"""`stub`: the local server of the v2 chat wire format, for offline tests (a second
program: the only face module that imports cohere_cli.stub)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from cohere_cli import collect_as_python_does
from cohere_cli.base.errors import InputError, UsageError
from cohere_cli.cli.checked_command import CheckedCommand
from cohere_cli.cli.commands.stub_options import BatchStubFlags, batch_stub_options
from cohere_cli.cli.flags import part, typed
from cohere_cli.cli.options import MILLISECOND_RANGE, MILLISECONDS, SECONDS, TOKEN_COUNT

if TYPE_CHECKING:
    from cohere_cli.cli.streams import Streams


@dataclass(frozen=True)
class StubFlags:
    """Everything `stub` is given on its command line."""

    host: str
    port: int
    replies: str | None
    latency: tuple[float, float | None]
    token_delay: float
    fail_rules: tuple[str, ...]
    retry_after: float
    context_limit: int | None
    models: str | None
    no_auth: bool
    echo_key: bool
    no_models: bool
    no_batch_api: bool
    verbose: bool
    batch: BatchStubFlags = field(metadata=part(BatchStubFlags))


@click.command(cls=CheckedCommand)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 or ::: every one; the URL printed is then "
              "on loopback).")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port (0: any free port).")
@click.option("--replies", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="Canned replies, JSONL: a string or a response object a line.")
@click.option("--latency", type=MILLISECOND_RANGE, default="0", metavar="MS[-MAX]",
              help="Delay before each answer; MS-MAX: a random delay in that range "
              "(at most 3600000).")
@click.option("--token-delay", type=MILLISECONDS, default=0, metavar="MS",
              help="Delay between streamed deltas (at most 3600000).")
@click.option("--fail", "fail_rules", multiple=True, metavar="RULE",
              help="Inject a fault into the next requests: STATUS, drop, hang, cut=K or "
              "garbage, each optionally xN (repeatable, in order).")
@click.option("--retry-after", type=SECONDS, default=1, show_default=True, metavar="S",
              help="Retry-After seconds on injected 429/503 (at most 86400).")
@click.option("--context-limit", type=TOKEN_COUNT, metavar="TOKENS",
              help="Answer Cohere's 400 'too many tokens' to a chat request whose messages "
              "are estimated over TOKENS (as --history-tokens estimates); also the "
              "context_length of GET /v1/models/MODEL.")
@click.option("--models", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="The models GET /v1/models lists, and the only ones a chat request may "
              "name (else a 404): a JSON array or JSONL of names or model objects.")
@click.option("--no-auth", is_flag=True,
              help="Play a private deployment: serve requests that carry no key.")
@click.option("--echo-key", is_flag=True,
              help="Play a server that echoes the key: each reply's text ends with the "
              "request's key (its Authorization token, its X-Api-Key), cut across two text "
              "blocks and, streamed, across events of 3 characters each.")
@click.option("--no-models", is_flag=True,
              help="Serve no /v1/models (nor /v1/models/NAME): a 404, as Azure AI Foundry.")
@click.option("--no-batch-api", is_flag=True,
              help="Serve no Batch API (/v1/datasets, /v2/batches): a 404.")
@click.option("-v", "--verbose", is_flag=True,
              help="One line a request on stderr: method, path, status, model, tokens.")
@batch_stub_options
@typed(StubFlags)
def stub(flags: StubFlags, _streams: Streams) -> int:
    """Serve the v2 chat wire format locally, for offline tests."""
    from cohere_cli.stub.models import load_models
    from cohere_cli.stub.replies import load_replies
    from cohere_cli.stub.server import run_stub
    from cohere_cli.stub.settings import StubSettings, parse_fail_rule

    collect_as_python_does()  # it serves until stopped
    try:
        rules = tuple(parse_fail_rule(rule) for rule in flags.fail_rules)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        replies = load_replies(flags.replies) if flags.replies else ()
    except ValueError as exc:
        raise InputError("--replies", str(exc)) from None
    run_stub(StubSettings(
        host=flags.host, port=flags.port, replies=replies, latency_ms=flags.latency[0],
        latency_max_ms=flags.latency[1], token_delay_ms=flags.token_delay, fail_rules=rules,
        retry_after=flags.retry_after, context_limit=flags.context_limit,
        batch=flags.batch.settings(),
        models=load_models(flags.models) if flags.models else None, verbose=flags.verbose,
        no_auth=flags.no_auth, echo_key=flags.echo_key, list_models=not flags.no_models,
        batch_api=not flags.no_batch_api,
    ))
    return 0
