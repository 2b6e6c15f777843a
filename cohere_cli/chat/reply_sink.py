"""Where the pieces of a reply go as they arrive (`ReplySink`; render.Renderer is one),
and `KeepOnBrokenPipe`, the sink of a `-c FILE` turn: a broken pipe stops the showing,
not the turn; the turn is saved, then the broken pipe ends the run (exit 141)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cohere_cli.wire.chat_events import Delta


class ReplySink(Protocol):
    """Where the pieces of a reply go as they arrive (render.Renderer is one)."""

    started: bool

    def event(self, event: dict[str, Any]) -> None: ...

    def delta(self, delta: Delta) -> None: ...

    def body(self, body: dict[str, Any]) -> None: ...

    def finish(self, response: dict[str, Any], raw: bytes | None, streamed: bool) -> None: ...

    def interrupted_line(self) -> None: ...

    def note(self, text: str) -> None: ...

    def warning(self, text: str) -> None: ...

    def begin(self) -> None: ...

    def tool_results(self, messages: list[dict[str, Any]]) -> None: ...

    def extra_usage(self, label: str, response: dict[str, Any]) -> None: ...


class KeepOnBrokenPipe:
    """A conversation turn's sink: when stdout's reader goes away (a broken pipe), the
    reply is no longer shown, but the turn goes on to its end and is saved ("never loses
    a conversation", as with a full disk); `run_send` then raises the BrokenPipeError
    (exit 141). Diagnostics (notes, warnings) still go to stderr."""

    def __init__(self, sink: ReplySink) -> None:
        self.sink = sink
        self.broken = False

    @property
    def started(self) -> bool:
        return self.sink.started

    @started.setter
    def started(self, value: bool) -> None:
        self.sink.started = value

    def _show(self, show: Callable[..., None], *args: Any, **named: Any) -> None:
        if self.broken:
            return
        try:
            show(*args, **named)
        except BrokenPipeError:
            self.broken = True

    def event(self, event: dict[str, Any]) -> None:
        self._show(self.sink.event, event)

    def delta(self, delta: Delta) -> None:
        self._show(self.sink.delta, delta)

    def body(self, body: dict[str, Any]) -> None:
        self._show(self.sink.body, body)

    def finish(self, response: dict[str, Any], raw: bytes | None, streamed: bool) -> None:
        self._show(self.sink.finish, response, raw, streamed=streamed)

    def interrupted_line(self) -> None:
        self._show(self.sink.interrupted_line)

    def note(self, text: str) -> None:
        self.sink.note(text)

    def warning(self, text: str) -> None:
        self.sink.warning(text)

    def begin(self) -> None:
        self._show(self.sink.begin)

    def tool_results(self, messages: list[dict[str, Any]]) -> None:
        self._show(self.sink.tool_results, messages)

    def extra_usage(self, label: str, response: dict[str, Any]) -> None:
        self._show(self.sink.extra_usage, label, response)
