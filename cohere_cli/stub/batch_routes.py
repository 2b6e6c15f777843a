"""The Batch API endpoints the stub serves (`/v1/datasets`, `/v2/batches`): issue 19;
listing and deleting datasets: issue 28.

Every endpoint wants a Bearer token, as `/v2/chat` does (unless `stub --no-auth`), except
the output parts' signed URLs (`/signed/...?sig=...`), which, like cloud storage's,
refuse one."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from cohere_cli.stub.answers import credentials
from cohere_cli.stub.batch_input import RecordProblem, multipart_field, read_records
from cohere_cli.stub.batch_lifecycle import INPUT_TYPE, Batch, Dataset, dataset_id, new_batch
from cohere_cli.stub.batch_settings import BatchStubSettings
from cohere_cli.stub.recorded_request import RecordedRequest

PAGE_SIZE = 50  # the API's default (page_size 0 or absent)
AVRO = "application/octet-stream"
_BATCH = re.compile(r"/v2/batches/([^/:]+)(:cancel)?")
_DATASET = re.compile(r"/v1/datasets/([^/]+)")
_SIGNED = re.compile(r"/signed/([^/]+)/(\d+)")


@dataclass(frozen=True)
class BatchAnswer:
    """One answer of a batch endpoint."""

    status: int
    body: bytes
    content_type: str = "application/json"


def _json(status: int, payload: Any) -> BatchAnswer:
    return BatchAnswer(status, orjson.dumps(payload))


def _message(status: int, text: str) -> BatchAnswer:
    return _json(status, {"message": text})


class BatchService:
    """The datasets and batches of one stub server (shared by its handler threads)."""

    def __init__(self, settings: BatchStubSettings, echo_key: bool = False) -> None:
        self.settings = settings
        self.echo_key = echo_key  # a batch's replies echo its create's key (--echo-key)
        self._lock = threading.Lock()
        self._datasets: dict[str, Dataset] = {}
        self._batches: dict[str, Batch] = {}
        self._key = secrets.token_bytes(16)
        self._creates = 0
        self._deleted: set[str] = set()

    def answer(self, request: RecordedRequest, authorized: bool) -> BatchAnswer | None:
        """The answer to `request` if it is for a batch endpoint, else None; AUTHORIZED:
        whether it may use them (a Bearer token, or `stub --no-auth`)."""
        url = urlsplit(request.path)
        path, query = url.path, parse_qs(url.query)
        if match := _SIGNED.fullmatch(path):
            return self._part(request, match[1], int(match[2]), query) \
                if request.method == "GET" else None
        if not (path in ("/v1/datasets", "/v2/batches") or _BATCH.fullmatch(path)
                or _DATASET.fullmatch(path)):
            return None
        if not authorized:
            return _message(401, "invalid api token")
        with self._lock:
            return self._route(request, path, query)

    def _route(self, request: RecordedRequest, path: str,
               query: dict[str, list[str]]) -> BatchAnswer | None:
        method = request.method
        if (method, path) == ("POST", "/v1/datasets"):
            return self._upload(request, query)
        if (method, path) == ("POST", "/v2/batches"):
            echoed = credentials(request.headers) if self.echo_key else ()
            return self._create(request.json, echoed)
        if (method, path) == ("GET", "/v2/batches"):
            return self._list(query)
        if (method, path) == ("GET", "/v1/datasets"):
            return self._list_datasets(request, query)
        if method == "DELETE" and (match := _DATASET.fullmatch(path)):
            return self._delete(match[1])
        now = time.monotonic()
        if method == "GET" and (match := _DATASET.fullmatch(path)):
            if (dataset := self._dataset(match[1])) is None:
                return _message(404, f"dataset {match[1]} not found")
            return _json(200, {"dataset": dataset.view(now, self._part_url(request))})
        match = _BATCH.fullmatch(path)
        if match is None or method != ("POST" if match[2] else "GET"):
            return None
        if (batch := self._batches.get(match[1])) is None:
            return _message(404, f"batch {match[1]} not found")
        return self._cancel(batch, now) if match[2] else _json(200, {"batch": batch.view(now)})

    def _upload(self, request: RecordedRequest, query: dict[str, list[str]]) -> BatchAnswer:
        kind = (query.get("type") or [""])[0]
        name = (query.get("name") or [""])[0]
        if kind != INPUT_TYPE:
            return _message(400, f"type must be {INPUT_TYPE} (got {kind!r})")
        if not name:
            return _message(400, "name is required")
        data = multipart_field(request.headers.get("Content-Type") or "", request.body, "data")
        if data is None:
            return _message(400, "the dataset file goes in the multipart field 'data'")
        dataset = Dataset(dataset_id(name), name, INPUT_TYPE,
                          time.monotonic() + self.settings.validation_time)
        try:
            dataset.records = read_records(data)
        except RecordProblem as problem:
            dataset.error = f"invalid dataset: {problem}"
        if "validation" in self.settings.faults and not dataset.error:
            dataset.error = "invalid dataset: stub: injected validation failure"
        self._datasets[dataset.id] = dataset
        return _json(200, {"id": dataset.id})

    def _create(self, body: Any, echoed: tuple[str, ...]) -> BatchAnswer:
        fields = ("name", "input_dataset_id", "model")
        if not isinstance(body, dict) or not all(
                isinstance(body.get(name), str) and body[name] for name in fields):
            return _message(400, "name, input_dataset_id and model are required strings")
        self._creates += 1
        first = self._creates == 1
        if first and "create-502" in self.settings.faults:
            return BatchAnswer(502, b"")
        source = self._datasets.get(body["input_dataset_id"])
        if source is None or source.kind != INPUT_TYPE:
            return _message(404, f"dataset {body['input_dataset_id']} not found")
        if source.status(time.monotonic()) != "validated":
            return _message(400, f"dataset {source.id} is not validated")
        batch = new_batch(body["name"], body["model"], source, self.settings, echoed)
        self._batches[batch.id] = batch
        if first and "create-502-after" in self.settings.faults:
            return BatchAnswer(502, b"")  # created all the same: the nasty case
        return _json(200, {"batch": batch.view(batch.created)})

    def _list(self, query: dict[str, list[str]]) -> BatchAnswer:
        try:
            size = int((query.get("page_size") or ["0"])[0]) or PAGE_SIZE
            start = int((query.get("page_token") or ["0"])[0] or 0)
        except ValueError:
            return _message(400, "page_size and page_token must be numbers")
        if size < 0 or start < 0:
            return _message(400, "page_size and page_token must not be negative")
        batches = list(self._batches.values())  # in created_at order, ascending
        now = time.monotonic()
        page: dict[str, Any] = {"batches": [b.view(now) for b in batches[start:start + size]]}
        if start + size < len(batches):
            page["next_page_token"] = str(start + size)
        return _json(200, page)

    def _list_datasets(self, request: RecordedRequest,
                       query: dict[str, list[str]]) -> BatchAnswer:
        """GET /v1/datasets: `limit` (default 10) from `offset`, oldest first."""
        try:
            limit = int((query.get("limit") or ["10"])[0])
            offset = int((query.get("offset") or ["0"])[0])
        except ValueError:
            return _message(400, "limit and offset must be numbers")
        if limit < 1 or offset < 0:
            return _message(400, "limit must be at least 1, offset not negative")
        for batch in list(self._batches.values()):
            self._dataset(batch.output_id)  # a completed batch's output is listed too
        now, url = time.monotonic(), self._part_url(request)
        shown = [dataset.view(now, url) for dataset in self._datasets.values()]
        return _json(200, {"datasets": shown[offset:offset + limit]})

    def _delete(self, name: str) -> BatchAnswer:
        """DELETE /v1/datasets/{id}: gone for good (a batch's output too)."""
        if "delete-500" in self.settings.faults:
            return _message(500, "stub: injected delete failure")
        if self._dataset(name) is None:
            return _message(404, f"dataset {name} not found")
        del self._datasets[name]
        self._deleted.add(name)
        return _json(200, {})

    def _cancel(self, batch: Batch, now: float) -> BatchAnswer:
        if batch.status(now) not in ("QUEUED", "IN_PROGRESS"):
            return _message(400, f"batch {batch.id} is {batch.status(now)}: it cannot be "
                            "canceled")
        batch.canceled = now
        return _json(200, {})

    def _dataset(self, name: str) -> Dataset | None:
        """A dataset by id: a batch's output once the batch has COMPLETED."""
        if (dataset := self._datasets.get(name)) is not None or name in self._deleted:
            return dataset
        now = time.monotonic()
        for batch in self._batches.values():
            if batch.output_id == name and batch.status(now) == "COMPLETED":
                self._datasets[name] = batch.finished_output()
                return self._datasets[name]
        return None

    def _signature(self, name: str, index: int) -> str:
        return hmac.new(self._key, f"{name}/{index}".encode(), hashlib.sha256).hexdigest()[:32]

    def _part_url(self, request: RecordedRequest) -> Any:
        host = request.headers.get("Host") or "127.0.0.1"

        def url(name: str, index: int) -> str:
            return f"http://{host}/signed/{name}/{index}?sig={self._signature(name, index)}"
        return url

    def _part(self, request: RecordedRequest, name: str, index: int,
              query: dict[str, list[str]]) -> BatchAnswer:
        if "Authorization" in request.headers:
            return _message(400, "signed URL: only one auth mechanism allowed; do not send "
                            "an Authorization header")
        if not hmac.compare_digest((query.get("sig") or [""])[0], self._signature(name, index)):
            return _message(403, "signed URL: bad signature")
        with self._lock:
            dataset = self._datasets.get(name)
        if dataset is None or index >= len(dataset.parts):
            return _message(404, "signed URL: no such object")
        return BatchAnswer(200, dataset.parts[index], AVRO)
