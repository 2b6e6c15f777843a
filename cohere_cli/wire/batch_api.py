"""Cohere's Batch API (issue 19; docs/remote-batch.md): upload a dataset, read,
list and delete datasets, create, read, list and cancel batches, and download output
parts.

Every call goes through the one HTTP path (`ApiClient`: its headers, key rules, retry
loop, secrets hidden) within the run's Deadline (--max-time), given once to `BatchAPI`.
The upload is multipart, streamed from the file afresh on each attempt; the create is
sent once, never retried (it is not idempotent: the caller looks for the batch by name
before it sends another); listings follow their pages (paginate.py); output parts come
from signed URLs, sent without the key.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import IO, Any
from urllib.parse import quote, urlsplit

from cohere_cli.base.errors import InputError, LocalWriteError, NetworkError, UsageError
from cohere_cli.base.named_files import WRITE_NEW, open_named
from cohere_cli.wire.api_client import ApiClient, parse_json_body
from cohere_cli.wire.bodies import CHUNK_SIZE
from cohere_cli.wire.connection import Connection, is_loopback
from cohere_cli.wire.deadline import NO_DEADLINE, Deadline
from cohere_cli.wire.paginate import pages
from cohere_cli.wire.redact import Redactor

INPUT_TYPE = "batch-chat-v2-input"
DATASET_PAGE = 100  # datasets asked for a page (GET /v1/datasets `limit`)
MAX_DATASET_PAGES = 1000
Log = Callable[[str], None]


class MultipartFile:
    """A multipart/form-data body of one file field, read from disk as it is sent
    (a length, so requests sends Content-Length rather than chunks); past the deadline,
    the next read raises TimeLimitError."""

    def __init__(self, path: str, field: str, filename: str, content_type: str,
                 boundary: str, deadline: Deadline = NO_DEADLINE) -> None:
        self._head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
                      f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").encode()
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._path = path
        self._deadline = deadline
        self.len = len(self._head) + os.path.getsize(path) + len(self._tail)
        self._file: IO[bytes] | None = None
        self._stage = 0

    def read(self, size: int = -1) -> bytes:
        self._deadline.check("the upload was still being sent")
        size = CHUNK_SIZE if size is None or size < 0 else size
        if self._stage == 0:
            self._stage = 1
            self._file = os.fdopen(open_named(self._path), "rb")  # closed at its end
            return self._head
        if self._stage == 1 and self._file is not None:
            data = self._file.read(size)
            if data:
                return data
            self._file.close()
            self._stage = 2
            return self._tail
        return b""


class BatchAPI:
    """The Batch API endpoints of one connection, each call within `deadline`."""

    def __init__(self, connection: Connection, log: Log,
                 deadline: Deadline = NO_DEADLINE) -> None:
        self._client = ApiClient(connection, log)
        self._deadline = deadline

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> BatchAPI:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def redactor(self) -> Redactor:
        """What hides the secrets the client sends (wire/redact.py)."""
        return self._client.redactor

    def hidden(self, data: bytes) -> bytes:
        """DATA read out of what the API sent (a record of an output part), every secret
        the client sends hidden."""
        return self._client.redactor.hide(data)

    def _json(self, method: str, path: str, payload: Any = None, **how: Any) -> Any:
        return self._client.call_json(method, path, payload, deadline=self._deadline,
                                      **how)[1]

    def upload(self, path: str, name: str) -> str:
        """POST /v1/datasets: the JSONL file at PATH as a batch input dataset; its id."""
        boundary = uuid.uuid4().hex
        response = self._client.request(
            "POST", "/v1/datasets",
            lambda: MultipartFile(path, "data", f"{name}.jsonl", "application/jsonl",
                                  boundary, self._deadline),
            params={"name": name, "type": INPUT_TYPE}, deadline=self._deadline,
            content_type=f"multipart/form-data; boundary={boundary}")
        return _id_of(parse_json_body(self._client.read(response, self._deadline)), "id",
                      "the upload")

    def dataset(self, dataset_id: str) -> dict[str, Any]:
        """GET /v1/datasets/{id}: the dataset."""
        return _object(self._json("GET", f"/v1/datasets/{quote(dataset_id, safe='')}"),
                       "dataset")

    def output_parts(self, dataset_id: str) -> list[dict[str, Any]]:
        """The parts of the output dataset: each with its signed `url`."""
        return _objects(self.dataset(dataset_id), "dataset_parts")

    def datasets(self) -> list[dict[str, Any]]:
        """GET /v1/datasets, every page (`limit` and `offset`): the account's datasets."""
        found: list[dict[str, Any]] = []
        seen: set[object] = set()
        for page in range(MAX_DATASET_PAGES):
            value = self._json("GET", "/v1/datasets", params={
                "limit": str(DATASET_PAGE), "offset": str(page * DATASET_PAGE)})
            if not isinstance(value, dict):
                raise NetworkError("the dataset list is not a JSON object")
            listed = _objects(value, "datasets")
            new = [item for item in listed if item.get("id") not in seen]
            if listed and not new:
                raise NetworkError("the API sent the same page of datasets twice; stopping")
            seen.update(item.get("id") for item in new)
            found += new
            if len(listed) < DATASET_PAGE:
                return found
        raise NetworkError(f"more than {MAX_DATASET_PAGES} pages of datasets; stopping")

    def delete_dataset(self, dataset_id: str) -> None:
        """DELETE /v1/datasets/{id}."""
        self._client.request("DELETE", f"/v1/datasets/{quote(dataset_id, safe='')}",
                             deadline=self._deadline).close()

    def create(self, name: str, dataset_id: str, model: str) -> dict[str, Any]:
        """POST /v2/batches, sent once (never retried): the batch."""
        value = self._json("POST", "/v2/batches", {"name": name, "input_dataset_id": dataset_id,
                                                   "model": model}, retries=0)
        return _object(value, "batch")

    def batch(self, batch_id: str) -> dict[str, Any]:
        """GET /v2/batches/{id}: the batch."""
        return _object(self._json("GET", f"/v2/batches/{quote(batch_id, safe='')}"), "batch")

    def batches(self) -> Iterator[dict[str, Any]]:
        """GET /v2/batches, every page (paginate.py): the account's batches."""
        def fetch(token: Any) -> Any:
            return self._json("GET", "/v2/batches", params=token)

        for page in pages(fetch, "batches"):
            yield from _objects(page, "batches")

    def cancel(self, batch_id: str) -> None:
        """POST /v2/batches/{id}:cancel."""
        self._json("POST", f"/v2/batches/{quote(batch_id, safe='')}:cancel", {})

    def download(self, url: str, path: str) -> int:
        """A signed URL's body into the file PATH, streamed (no key sent); its size."""
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http"
                                            and is_loopback(parts.hostname or "")):
            raise UsageError(f"refusing to download an output part from {parts.scheme}://"
                             f"{parts.hostname} (https only, or http to this machine)")
        try:
            with os.fdopen(_part_file(path), "wb") as out:
                return self._client.download(url, _writer(out, path), self._deadline)
        except NetworkError as exc:
            raise NetworkError(f"an output part could not be downloaded: {exc.message}",
                               "run the command again") from None
        except OSError as exc:
            raise LocalWriteError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _part_file(path: str) -> int:
    """PATH made anew through named_files; a FIFO or a folder in its place is a
    LocalWriteError, as a failed write is."""
    try:
        return open_named(path, f"{path}: cannot write", WRITE_NEW)
    except InputError as exc:
        raise LocalWriteError(exc.message) from None


def _writer(out: IO[bytes], path: str) -> Callable[[bytes], object]:
    """OUT.write, its failure a LocalWriteError (not a failure of the download)."""
    def write(data: bytes) -> None:
        try:
            out.write(data)
        except OSError as exc:
            raise LocalWriteError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return write


def _object(value: Any, key: str) -> dict[str, Any]:
    inner = value.get(key) if isinstance(value, dict) else None
    if not isinstance(inner, dict):
        raise NetworkError(f"the API's answer has no {key!r} object")
    return inner


def _objects(value: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The objects in the list `value[key]` (none when it is absent or null)."""
    inner = value.get(key) or []
    if not isinstance(inner, list):
        raise NetworkError(f"the API's answer has a {key!r} that is not a list")
    return [item for item in inner if isinstance(item, dict)]


def _id_of(value: Any, key: str, what: str) -> str:
    found = value.get(key) if isinstance(value, dict) else None
    if not isinstance(found, str) or not found:
        raise NetworkError(f"the answer to {what} has no {key!r}")
    return found
