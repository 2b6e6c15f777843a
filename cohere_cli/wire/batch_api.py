"""HTTP to Cohere's Batch API (issue 19; docs/remote-batch.md): upload a dataset, read
it, create, read, list and cancel batches, and download output parts.

JSON calls go through `ApiClient` (its headers, key rules and retry loop). Two calls
are different: the upload is multipart and streamed from a file, and the create is
sent once, never retried (it is not idempotent: the caller looks for the batch by name
before it sends another). Output parts come from signed URLs with a plain GET: no
Authorization header, streamed to a file.
"""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import IO, Any
from urllib.parse import quote, urlsplit

from cohere_cli.base.errors import Fault, LocalWriteError, NetworkError
from cohere_cli.wire.api_client import (
    CHUNK_SIZE,
    CONNECT_TIMEOUT,
    ApiClient,
    client_headers,
    parse_error_body,
    parse_json_body,
)
from cohere_cli.wire.connection import Connection, is_loopback
from cohere_cli.wire.download import download
from cohere_cli.wire.retry import monthly_limit_spent, retry_wait
from cohere_cli.wire.status import error_for_status, is_retried_status

INPUT_TYPE = "batch-chat-v2-input"
Log = Callable[[str], None]


class MultipartFile:
    """A multipart/form-data body of one file field, read from disk as it is sent
    (a length, so requests sends Content-Length rather than chunks)."""

    def __init__(self, path: str, field: str, filename: str, content_type: str) -> None:
        self.boundary = uuid.uuid4().hex
        self._head = (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
                      f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._path = path
        self.len = len(self._head) + os.path.getsize(path) + len(self._tail)
        self._file: IO[bytes] | None = None
        self._stage = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def read(self, size: int = -1) -> bytes:
        size = CHUNK_SIZE if size is None or size < 0 else size
        if self._stage == 0:
            self._stage = 1
            self._file = open(self._path, "rb")  # noqa: SIM115 (closed at its end)
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
    """The Batch API endpoints of one connection."""

    def __init__(self, connection: Connection, log: Log) -> None:
        self._connection, self._log = connection, log
        self._client = ApiClient(connection, log)
        self._once = ApiClient(replace(connection, retries=0), log)

    def close(self) -> None:
        self._client.close()
        self._once.close()

    def __enter__(self) -> BatchAPI:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def upload(self, path: str, name: str) -> str:
        """POST /v1/datasets: the JSONL file at PATH as a batch input dataset; its id."""
        import requests

        url = f"{self._connection.base_url}/v1/datasets"
        params = {"name": name, "type": INPUT_TYPE}
        headers = {**client_headers(self._connection.client_name),
                   "Authorization": f"Bearer {self._connection.key.reveal()}"}
        host = urlsplit(url).hostname or ""
        proxies: Any = dict.fromkeys(("http", "https", "all")) if is_loopback(host) else None
        for attempt in range(self._connection.retries + 1):
            body = MultipartFile(path, "data", f"{name}.jsonl", "application/jsonl")
            self._log(f"POST {url} ({body.len} bytes)")
            try:
                response = requests.post(
                    url, params=params, data=body,
                    headers={**headers, "Content-Type": body.content_type},
                    timeout=(CONNECT_TIMEOUT, self._connection.timeout),
                    verify=self._connection.ca_bundle or True, proxies=proxies)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt == self._connection.retries:
                    raise NetworkError(f"the upload to {host} failed: {type(exc).__name__}",
                                       fault=Fault.DROPPED) from None
                time.sleep(retry_wait({}, attempt, self._connection.max_wait))
                continue
            self._log(f"HTTP {response.status_code}")
            if response.status_code < 400:
                return _id_of(parse_json_body(response.content), "id", "the upload")
            spent = monthly_limit_spent(response.status_code, response.content)
            if attempt == self._connection.retries or spent or not is_retried_status(
                    response.status_code):
                break
            time.sleep(retry_wait(response.headers, attempt, self._connection.max_wait))
        message, error_id = parse_error_body(response.content, response.reason or "")
        raise error_for_status(response.status_code, message, error_id, monthly_limit=spent)

    def dataset(self, dataset_id: str) -> dict[str, Any]:
        """GET /v1/datasets/{id}: the dataset."""
        value = self._client.get_json(f"/v1/datasets/{quote(dataset_id, safe='')}", {})
        return _object(value, "dataset")

    def output_parts(self, dataset_id: str) -> list[dict[str, Any]]:
        """The parts of the output dataset: each with its signed `url`."""
        return _objects(self.dataset(dataset_id), "dataset_parts")

    def create(self, name: str, dataset_id: str, model: str) -> dict[str, Any]:
        """POST /v2/batches, sent once (never retried): the batch."""
        _, value = self._once.post_json(
            "/v2/batches", {"name": name, "input_dataset_id": dataset_id, "model": model})
        return _object(value, "batch")

    def batch(self, batch_id: str) -> dict[str, Any]:
        """GET /v2/batches/{id}: the batch."""
        return _object(self._client.get_json(f"/v2/batches/{quote(batch_id, safe='')}", {}),
                       "batch")

    def batches(self) -> list[dict[str, Any]]:
        """GET /v2/batches, every page: the account's batches."""
        found: list[dict[str, Any]] = []
        token = ""
        while True:
            value = self._client.get_json("/v2/batches", {"page_token": token} if token else {})
            if not isinstance(value, dict):
                raise NetworkError("the batch list is not a JSON object")
            found += _objects(value, "batches")
            token = value.get("next_page_token") or ""
            if not isinstance(token, str) or not token:
                return found

    def cancel(self, batch_id: str) -> None:
        """POST /v2/batches/{id}:cancel."""
        self._client.post_json(f"/v2/batches/{quote(batch_id, safe='')}:cancel", {})

    def download(self, url: str, path: str) -> int:
        """A signed URL's body into the file PATH, streamed (no Authorization header:
        download.py); its size."""
        try:
            with open(path, "wb") as out:
                return download(url, partial(_write, out, path), self._connection, self._log,
                                what="an output part")
        except OSError as exc:
            raise LocalWriteError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _write(out: IO[bytes], path: str, chunk: bytes) -> None:
    try:
        out.write(chunk)
    except OSError as exc:
        raise LocalWriteError(f"{path}: cannot write: {exc.strerror or exc}") from None


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
