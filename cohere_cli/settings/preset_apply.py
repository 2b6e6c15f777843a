"""Where a preset joins a request: the one place its fields go under the request's own
and its messages before the conversation's (send, each batch line, --dry-run). Apart from
presets.py (reading and writing preset files), so that a run without a preset imports
no preset code but this."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cohere_cli.settings.presets import Preset


@dataclass(frozen=True, eq=False)
class Applied:
    """A request's fields and messages with a preset applied."""

    fields: dict[str, Any]  # the preset's fields under the request's own
    messages: list[dict[str, Any]]  # the preset's messages first
    fixed: int = 0  # how many messages at the start are the preset's: never windowed


def apply_preset(preset: Preset | None, messages: list[dict[str, Any]],
                 fields: Mapping[str, Any] | None = None) -> Applied:
    """The one place a preset joins a request (send, batch lines, --dry-run): its fields
    under `fields`, its messages before `messages`. A system message that opens
    `messages` (--system, or the conversation's own) replaces the preset's and stays
    first; it then counts among the `fixed` ones."""
    under = {**preset.fields, **(fields or {})} if preset else dict(fields or {})
    prefix = list(preset.messages) if preset else []
    if not prefix:
        return Applied(under, messages)
    if messages and messages[0].get("role") == "system":
        rest = prefix[1:] if prefix[0].get("role") == "system" else prefix
        return Applied(under, [messages[0], *rest, *messages[1:]], len(rest) + 1)
    return Applied(under, [*prefix, *messages], len(prefix))
