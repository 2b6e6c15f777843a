"""The model's context, for a run that sends (or counts): each model's details and
tokenizer, had at most once a run; the window of `--history-tokens auto`; and the
refusal, before anything is paid for, of a request whose own input is over the context.

`--history-tokens auto`: the budget is the model's `context_length`, less CONTEXT_MARGIN
of it (the template's and the API's own tokens), less room for the reply: `max_tokens`
when the request has it, else REPLY_RESERVE. Details that cannot be had: one warning, and
no token window (--fit still applies).

A request whose own input (system message, preset messages, new input, documents and
tools; no history) is over the context length is refused (exit 5, nothing sent) when the
context length is known: from cached details, or fetched for `auto`. An estimate refuses
only past ESTIMATE_SLACK times the limit (it may be off either way: the API decides).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cohere_cli.base.errors import ContextError
from cohere_cli.chat.model_details import DetailsSource, ModelDetails
from cohere_cli.chat.tokenizer import NOT_CACHED, NOT_INSTALLED, load_tokenizer
from cohere_cli.conversation.fit import HistoryLimits
from cohere_cli.wire.connection import Connection
from cohere_cli.wire.deadline import NO_DEADLINE, Deadline

if TYPE_CHECKING:  # counting is imported by the runs that count (token_count.py)
    from cohere_cli.base.cache import Cache
    from cohere_cli.chat.token_count import Counter

REPLY_RESERVE = 8192  # tokens left for the reply when the request sets no max_tokens
CONTEXT_MARGIN = 0.05  # of the context length, left for the tokens the API adds
ESTIMATE_SLACK = 1.25
Message = dict[str, Any]
NO_URL = "the model's details name no tokenizer_url"
QUIET = (NOT_INSTALLED, NOT_CACHED, NO_URL)  # reasons for the estimate that are no failure


class ModelContext:
    """The details and counter of each model a run uses, each had once (thread-safe:
    a batch's workers share one). `offline`: the cache only (--dry-run); `refuse`: an
    input over the context is refused (not by `tokens`, which counts it)."""

    def __init__(self, connection: Connection, cache: Cache, log: Callable[[str], None],
                 warn: Callable[[str], None], offline: bool = False,
                 refuse: bool = True) -> None:
        self.source = DetailsSource(connection, cache, log, self.warn_once)
        self.connection, self.cache, self.log, self.warn = connection, cache, log, warn
        self.offline, self.refuse = offline, refuse
        self._lock = threading.Lock()
        self._details: dict[tuple[str, bool], tuple[ModelDetails | None, str | None]] = {}
        self._counters: dict[str, tuple[Counter, str | None]] = {}
        self._said: set[str] = set()
        self._said_lock = threading.Lock()  # apart: a warning comes while _lock is held

    def details(self, model: str, fetch: bool = True, deadline: Deadline = NO_DEADLINE
                ) -> tuple[ModelDetails | None, str | None]:
        """The model's details and, without them, why (cached only, unless `fetch`)."""
        fetch = fetch and not self.offline
        with self._lock:
            if (model, fetch) not in self._details:
                found = self.source.get(model, deadline) if fetch else (
                    self.source.cached(model), NOT_CACHED)
                self._details[(model, fetch)] = found
            return self._details[(model, fetch)]

    def counter(self, model: str, deadline: Deadline = NO_DEADLINE) -> tuple[Counter, str | None]:
        """The model's counter: exact with its tokenizer, else the estimate and why. A
        tokenizer that should have loaded and did not is one warning."""
        details, why = self.details(model, True, deadline)
        with self._lock:
            if model not in self._counters:
                self._counters[model] = self._load(details, why, deadline)
            return self._counters[model]

    def _load(self, details: ModelDetails | None, why: str | None,
              deadline: Deadline) -> tuple[Counter, str | None]:
        from cohere_cli.chat.token_count import Counter

        if details is None:
            return self._estimate(why if why == NOT_CACHED else f"no details of the model ({why})")
        if details.tokenizer_url is None:
            return self._estimate(NO_URL)
        tokenizer, problem = load_tokenizer(details.tokenizer_url, self.connection, self.cache,
                                            deadline, self.log, self.warn_once, self.offline)
        if tokenizer is None:
            return self._estimate(problem or "")
        return Counter(tokenizer), None

    def _estimate(self, why: str) -> tuple[Counter, str]:
        """The estimate, and why: a failure is one warning (an expected reason is none)."""
        if why not in QUIET:
            self.warn_once(f"counting tokens with the estimate: {why}")
        from cohere_cli.chat.token_count import Counter

        return Counter(), why

    def warn_once(self, text: str) -> None:
        """A warning, once a run however many lines meet it."""
        with self._said_lock:
            if text in self._said:
                return
            self._said.add(text)
        self.warn(text)


def refuse_over(context: ModelContext, details: ModelDetails, own: dict[str, Any],
                deadline: Deadline = NO_DEADLINE) -> None:
    """ContextError when the request body OWN (its own input only) is over the context."""
    from cohere_cli.chat.token_count import bound

    limit = details.context_length
    if limit is None or bound(own) <= limit:
        return
    counter, _ = context.counter(details.model, deadline)
    tokens = counter.request(own)
    if tokens <= (limit if counter.exact else limit * ESTIMATE_SLACK):
        return
    kind = "exact" if counter.exact else "estimated"
    raise ContextError(
        f"the input alone is {tokens} tokens ({kind}), over the {limit}-token context of "
        f"{details.model}: nothing was sent",
        hint="send less: split the input, or leave out documents")


def _reserve(body: dict[str, Any]) -> int:
    wanted = body.get("max_tokens")
    if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted > 0:
        return wanted
    return REPLY_RESERVE


def auto_budget(context_length: int, body: dict[str, Any]) -> int:
    """The `--history-tokens auto` budget for a request body to a model of that context."""
    return max(1, int(context_length * (1 - CONTEXT_MARGIN)) - _reserve(body))


def prepare(
    context: ModelContext, limits: HistoryLimits, body: dict[str, Any],
    own: Sequence[Message], whole: Sequence[Message], deadline: Deadline = NO_DEADLINE,
) -> HistoryLimits:
    """Before a request (BODY: its fields; OWN: the messages always sent; WHOLE: every
    message it could hold): refuse it when its own input is over the model's context
    (ContextError), and the limits to window it by (auto's budget, counted exactly when
    it has to be)."""
    model = str(body.get("model", ""))
    details, why = context.details(model, fetch=limits.auto, deadline=deadline)
    if details is not None and details.context_length is not None and context.refuse:
        refuse_over(context, details, {**body, "messages": list(own)}, deadline)
    if not limits.auto or limits.tokens is not None:
        return limits
    if details is None or details.context_length is None:
        reason = why if details is None else "; ".join(details.problems) or "no context_length"
        context.warn_once(f"--history-tokens auto: no context length for {model} ({reason}); "
                     "sent with no token window")
        return replace(limits, auto=False)
    budget = auto_budget(details.context_length, body)
    from cohere_cli.chat.token_count import bound

    if bound({**body, "messages": list(whole)}) <= budget:  # it all fits, however counted
        return replace(limits, tokens=budget)
    counter, _ = context.counter(model, deadline)
    return replace(limits, tokens=budget, count=counter.message, exact=counter.exact)
