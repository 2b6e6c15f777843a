"""The Batch API endpoints the stub serves (`/v1/datasets`, `/v2/batches`): issue 19."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cohere_cli.stub.batch_settings import BatchStubSettings

if TYPE_CHECKING:
    from cohere_cli.stub.handler import RecordedRequest


@dataclass(frozen=True)
class BatchAnswer:
    """One answer of a batch endpoint."""

    status: int
    body: bytes
    content_type: str = "application/json"


class BatchService:
    """The datasets and batches of one stub server (shared by its handler threads)."""

    def __init__(self, settings: BatchStubSettings) -> None:
        self.settings = settings

    def answer(self, request: RecordedRequest) -> BatchAnswer | None:
        """The answer to `request` if it is for a batch endpoint, else None."""
        return None
