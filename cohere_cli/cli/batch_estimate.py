"""`batch --estimate` (local or `--remote`): the input tokens of every line, counted and
nothing sent, as one JSON object on stdout; and `batch --remote --max-cost`, refused
before the upload when the most the batch could cost is over the budget."""
from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from cohere_cli.base.errors import BudgetError, InputError, UsageError
from cohere_cli.base.named_files import open_named
from cohere_cli.cli.from_flags import (
    connection_of,
    history_limits,
    model_context,
    param_warnings,
    settings_of,
    with_preset,
)

if TYPE_CHECKING:
    from cohere_cli.batch.estimate import Estimate
    from cohere_cli.cli.commands.batch_flags import BatchFlags
    from cohere_cli.cli.console import Console
    from cohere_cli.cli.streams import Streams
    from cohere_cli.settings.config import Settings


def _input(path: str, streams: Streams) -> BinaryIO | nullcontext[BinaryIO]:
    if path != "-":  # through named_files: a FIFO or a folder is refused, never waited on
        try:
            return os.fdopen(open_named(path), "rb")
        except OSError as exc:
            raise InputError(path, f"cannot open: {exc.strerror}") from None
    if streams.stdin is None or streams.stdin_isatty:
        raise UsageError("no input", hint="give INPUT, or pipe JSONL on stdin")
    return nullcontext(streams.stdin)


def _estimate(flags: BatchFlags, streams: Streams, console: Console,
              settings: Settings) -> Estimate:
    from cohere_cli.batch.estimate import estimate_lines
    from cohere_cli.batch.input import iter_lines
    from cohere_cli.batch.jobs import JobMaker
    from cohere_cli.batch.resume import read_finished

    messages = flags.messages
    maker = JobMaker.from_flags(with_preset(flags.request, settings), settings.model,
                                messages.system, messages.system_file, messages.images,
                                messages.image_detail)
    context = model_context(connection_of(settings, flags.connection), console,
                            flags.connection.verbose, refuse=False)
    remote = flags.remote or flags.attach is not None
    finished = None
    if flags.resume and flags.output and not remote:
        finished = read_finished(Path(flags.output)).ids
    source = "stdin" if flags.input_path == "-" else flags.input_path
    with _input(flags.input_path, streams) as stream:
        found = estimate_lines(maker, iter_lines(stream, source), context,
                               None if remote else history_limits(settings), finished)
    if found.bad_lines:
        console.warning(f"{found.bad_lines} lines cannot be sent (they would fail, unpaid): "
                        "not counted")
    return found


def run_estimate(flags: BatchFlags, streams: Streams, console: Console) -> int:
    """`batch --estimate`: one JSON object on stdout; nothing sent."""
    if "-" in (*flags.messages.images, *flags.request.documents):
        raise UsageError("batch takes no --image - or --document - (stdin is not for them)")
    settings = settings_of(flags.settings, console, with_preset=True)
    param_warnings(flags.request.params, console)
    console.out_json(_estimate(flags, streams, console, settings).as_json(settings.prices))
    return console.written()


def check_remote_budget(flags: BatchFlags, streams: Streams, console: Console,
                        settings: Settings, output: str) -> None:
    """`--remote --max-cost USD`: before a new batch is uploaded, BudgetError (exit 11)
    when its input at price_input and its most output at price_output is over USD."""
    from cohere_cli.cli.from_flags import budget_of

    budget = budget_of(settings)
    if budget is None or flags.attach or os.path.exists(f"{output}.remote.json"):
        return  # no budget, or the batch was submitted before
    if flags.input_path == "-":
        raise UsageError("--max-cost with --remote reads INPUT twice: give it as a file",
                         hint="stdin can be read once")
    most = _estimate(flags, streams, console, settings).most_cost(budget.prices)
    if most > budget.limit:
        raise BudgetError(f"the batch could cost up to {most:.6g} USD (its input, and the "
                          f"most output its lines allow), over --max-cost {budget.limit:g}: "
                          "nothing was sent",
                          hint="set max_tokens on the lines (or --max-tokens), or raise "
                          "--max-cost; batch --remote --estimate shows the counts")
