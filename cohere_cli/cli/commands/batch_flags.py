"""What `batch` is given on its command line, as one frozen value: `batch` builds it
and the remote path (batches.py) takes it, so neither imports the other for it."""
from __future__ import annotations

from dataclasses import dataclass, field

from cohere_cli.chat.request import NOT_FLAGS, RequestOptions
from cohere_cli.cli.flags import part
from cohere_cli.cli.options import ConnectionFlags, MessageFlags
from cohere_cli.settings.config import ConfigFlags


@dataclass(frozen=True)
class BatchFlags:
    """Everything `batch` is given on its command line."""

    input_path: str
    jobs: int
    rpm: float | None
    output: str | None
    unordered: bool
    raw: bool
    resume: bool
    overwrite: bool
    lock_timeout: float
    remote: bool
    detach: bool
    attach: str | None
    keep_datasets: bool
    estimate: bool
    messages: MessageFlags = field(metadata=part(MessageFlags))
    request: RequestOptions = field(metadata=part(RequestOptions, leave=NOT_FLAGS))
    settings: ConfigFlags = field(metadata=part(ConfigFlags))
    connection: ConnectionFlags = field(metadata=part(ConnectionFlags))
