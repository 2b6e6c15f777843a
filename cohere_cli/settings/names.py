"""What the user calls a setting: its flag. The wire names no flag itself; its messages
name a setting as they are told (`Connection.timeout_name`, `Deadline.name`), and these
are told here, so that "sent nothing for 5s (--timeout)" names what to change."""
from __future__ import annotations

from cohere_cli.wire.deadline import Deadline


def flag_name(key: str) -> str:
    """The flag of a setting: `max_time` is --max-time."""
    return f"--{key.replace('_', '-')}"


def time_limit(seconds: float | None) -> Deadline:
    """The deadline of --max-time (None: no limit), not started yet."""
    return Deadline(seconds, flag_name("max_time"))
