"""Sending a long conversation: the history window (--history-turns, --history-tokens)
before the first try and, with --fit, fewer turns after a `too many tokens` 400.

window.py says what a turn is and how tokens are estimated; this module decides what
each request holds and when to send a smaller one. A 400 is a refusal, not a reply: a
smaller request after it is a new request (a request that got a 200 is never sent again).
The system message and the new input are always sent whole.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from cohere_cli.base.errors import RejectedError
from cohere_cli.conversation.window import (
    Count,
    Message,
    TooManyTokens,
    Windowed,
    fit_next,
    leave_out,
    parse_too_many_tokens,
    window,
)

FIT_TRIES = 4  # smaller requests --fit sends after a `too many tokens` 400, at most
T = TypeVar("T")


@dataclass(frozen=True)
class HistoryLimits:
    """--history-turns, --history-tokens and --fit (or their config keys). With
    `--history-tokens auto`, `auto` until the model's context makes `tokens`
    (chat/context.py), counted by `count` (None: the estimate)."""

    turns: int | None = None
    tokens: int | None = None
    fit: bool = False
    auto: bool = False
    count: Count | None = field(default=None, compare=False)
    exact: bool = False  # `count` is the model's tokenizer

    @property
    def tokens_name(self) -> str:
        """The token budget as the user gave it, and how it is counted."""
        given = f"auto ({self.tokens})" if self.auto else str(self.tokens)
        return f"--history-tokens {given} ({'exact' if self.exact else 'estimated'})"


@dataclass(frozen=True, eq=False)
class NextTry:
    """After a `too many tokens` 400: the next, smaller try leaves out `left_out` turns;
    or, with a `hint`, there is none and the 400 is raised with that hint."""

    left_out: int = 0
    hint: str | None = None


def too_many_tokens(error: RejectedError) -> TooManyTokens | None:
    """The numbers of a 400 that says the prompt is too long for the model; else None."""
    return parse_too_many_tokens(error.api_message) if error.status == 400 else None


def _hinted(error: RejectedError, hint: str) -> RejectedError:
    return RejectedError(error.status, error.api_message, error.error_id, hint)


class HistoryFit:
    """The window and the fit of one request, or of the rounds of one tool loop: turns
    that --fit had to leave out stay out of the later rounds. `log` gets the -v line of
    each request, `warn` the one warning when the new input alone is over the budget."""

    def __init__(self, limits: HistoryLimits, log: Callable[[str], None] = lambda _: None,
                 warn: Callable[[str], None] = lambda _: None) -> None:
        self.limits = limits
        self.log = log
        self.warn = warn
        self.fit_left_out = 0  # turns --fit found it had to leave out
        self.last: Windowed | None = None  # what the last request held
        self._warned = False

    def window(self, messages: Sequence[Message], new_count: int) -> Windowed:
        """What the next request holds: the limits' window, less what --fit left out."""
        limits = self.limits
        windowed = window(messages, new_count, limits.turns, limits.tokens, limits.count)
        if windowed.turns_left_out < self.fit_left_out:
            windowed = leave_out(messages, new_count, self.fit_left_out)
        if windowed.over_budget and not self._warned:
            self._warned = True
            self.warn(f"the system message and the new input alone are over "
                      f"{limits.tokens_name}; sent with no earlier turn")
        self.last = windowed
        return windowed

    def fit_note(self) -> str | None:
        """The line to show after a request that --fit made smaller; None otherwise."""
        last = self.last
        if not self.fit_left_out or last is None:
            return None
        total = last.turns_sent + last.turns_left_out
        return (f"left out {last.turns_left_out} of {total} turns of the history to fit "
                "the model's context")

    def send(self, messages: Sequence[Message], new_count: int,
             attempt: Callable[[list[Message]], T]) -> T:
        """`attempt` with the window of `messages`; after a `too many tokens` 400, with
        --fit, again with fewer turns (at most FIT_TRIES times). That 400, when it stays,
        is raised with a hint."""
        windowed = self.window(messages, new_count)
        tries = 0
        while True:
            if windowed.turns_sent or windowed.turns_left_out:
                self.log(f"history: sent {windowed.turns_sent} turns, "
                         f"left out {windowed.turns_left_out}")
            try:
                return attempt(windowed.messages)
            except RejectedError as error:
                overflow = too_many_tokens(error)
                if overflow is None:
                    raise
                step = self._next_try(messages, new_count, windowed, overflow, tries)
                if step.hint is not None:
                    raise _hinted(error, step.hint) from None
            tries += 1
            self.fit_left_out = step.left_out
            windowed = self.last = leave_out(messages, new_count, step.left_out)

    def _next_try(self, messages: Sequence[Message], new_count: int, windowed: Windowed,
                  overflow: TooManyTokens, tries: int) -> NextTry:
        """The next try after a `too many tokens` 400, or why there is none."""
        if not self.limits.fit:
            return NextTry(hint="the conversation is too long for the model: --fit leaves "
                           "out older turns as needed, --history-turns N sends only the "
                           "last N")
        total = windowed.turns_sent + windowed.turns_left_out
        if tries >= FIT_TRIES:
            return NextTry(hint=f"still too long after {FIT_TRIES} smaller tries of --fit "
                           f"({windowed.turns_left_out} of {total} turns left out); lower "
                           "--history-turns or --history-tokens")
        fewer = fit_next(messages, new_count, windowed.turns_left_out, overflow)
        if fewer is None:
            return NextTry(hint="too long even with no earlier turn: the system message "
                           "and the new input alone are over the model's context")
        return NextTry(left_out=fewer)
