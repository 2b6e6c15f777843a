"""What the stub's Batch API endpoints are told to do (issue 19)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchStubSettings:
    """How the stub runs remote batches."""
