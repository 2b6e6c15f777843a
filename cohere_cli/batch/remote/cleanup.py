"""No prompts left on the account (issue 28): the datasets a remote batch leaves behind
(its uploaded input, the output the service wrote) are deleted once every result line
is written (`delete_datasets`, unless --keep-datasets), and `batches cleanup` finds
those an earlier run left (`leftovers`): the datasets of cohere-chat's batches that have
ended, and those named cohere-chat-… that belong to no batch (a run stopped between the
upload and the create).

Nothing younger than `min_age` is touched: a dataset without a batch yet may be a
running upload's, and an ended batch's output may not be collected yet. A delete that
fails is a warning, never a failed run: the results are written by then.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cohere_cli.base.errors import CohereChatError, RejectedError
from cohere_cli.wire.batch_api import BatchAPI

OURS = "cohere-chat-"  # the name of every dataset and batch this program makes
ENDED = ("BATCH_STATUS_COMPLETED", "BATCH_STATUS_FAILED", "BATCH_STATUS_CANCELED")
MIN_AGE = 3600.0  # seconds: `batches cleanup --min-age`
Warn = Callable[[str], None]


@dataclass(frozen=True)
class Leftover:
    """A dataset to delete, and why."""

    id: str
    name: str
    why: str


def delete_datasets(api: BatchAPI, ids: Iterable[str], warn: Warn) -> list[str]:
    """Delete each dataset (one already gone is no matter); the ids deleted. A failure
    is one warning each, naming the dataset and the error."""
    deleted = []
    for dataset_id in dict.fromkeys(ids):  # each once, in order
        try:
            api.delete_dataset(dataset_id)
        except RejectedError as error:
            if error.status != 404:
                warn(_not_deleted(dataset_id, error))
            continue
        except CohereChatError as error:
            warn(_not_deleted(dataset_id, error))
            continue
        deleted.append(dataset_id)
    return deleted


def _not_deleted(dataset_id: str, error: CohereChatError) -> str:
    return (f"could not delete dataset {dataset_id} ({error.message}); it stays on the "
            "account: `cohere-chat batches cleanup` deletes it later")


def batch_datasets(batch: dict[str, Any], uploaded: str | None) -> list[str]:
    """The datasets of a finished run of ours: the one it UPLOADED (or, for a batch it
    attached to, the batch's input), and the batch's output; none of another's batch."""
    name = batch.get("name")
    if batch and not (isinstance(name, str) and name.startswith(OURS)):
        return []
    found = [uploaded, batch.get("input_dataset_id"), batch.get("output_dataset_id")]
    return [item for item in found if isinstance(item, str) and item]


def _age(text: object, now: datetime) -> float | None:
    """Seconds since an ISO 8601 time (`created_at`, `updated_at`); None: not one."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (now - moment).total_seconds()


def leftovers(api: BatchAPI, min_age: float = MIN_AGE) -> list[Leftover]:
    """The account's datasets that cohere-chat left: those of its ended batches, and
    those named cohere-chat-… of no batch; each at least MIN_AGE seconds past its
    batch's end (or, without a batch, its creation). An age that cannot be told is too
    young."""
    owner: dict[str, dict[str, Any]] = {}
    for listed in api.batches():
        for key in ("input_dataset_id", "output_dataset_id"):
            if isinstance(listed.get(key), str) and listed[key]:
                owner[listed[key]] = listed
    now = datetime.now(timezone.utc)
    found = []
    for dataset in api.datasets():
        dataset_id, name = dataset.get("id"), dataset.get("name")
        if not isinstance(dataset_id, str) or not dataset_id:
            continue
        name = name if isinstance(name, str) else ""
        batch = owner.get(dataset_id)
        if batch is None:
            why = "it belongs to no batch"
            ours, age = name.startswith(OURS), _age(dataset.get("created_at"), now)
        else:
            status = str(batch.get("status", ""))
            why = f"its batch {batch.get('id')} ended {status.removeprefix('BATCH_STATUS_')}"
            ours = status in ENDED and str(batch.get("name", "")).startswith(OURS)
            age = _age(batch.get("updated_at"), now)
        if ours and age is not None and age >= min_age:
            found.append(Leftover(dataset_id, name, why))
    return found
