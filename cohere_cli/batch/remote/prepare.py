"""`batch --remote`, before anything is sent: each input line made into a request body
as local `batch` makes it (same ids, same defaults from the flags), then into a Batch
API record. A line the service cannot carry stops the run here, naming the line and the
field; a line local `batch` would fail is not sent and fails the same way.

Written beside `-o FILE` (remote_state.StateFiles): the index (one line per input line)
and the records to upload. The input's digest lets a rerun check it is the same input.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from cohere_cli.base.errors import InputError, LocalWriteError
from cohere_cli.base.named_files import WRITE_NEW, open_named
from cohere_cli.batch.input import iter_lines
from cohere_cli.batch.jobs import JobMaker
from cohere_cli.batch.remote.records import Uncarried, custom_id, input_record
from cohere_cli.batch.remote.spill import Spill
from cohere_cli.batch.remote.state import StateFiles
from cohere_cli.chat.request import RequestOptions


@dataclass(frozen=True)
class LineSource:
    """The lines and the flags every line starts from (as `batch.BatchJob` has them)."""

    input_path: str
    options: RequestOptions
    fallback_model: str
    system: str | None = None
    system_file: str | None = None
    images: tuple[str, ...] = ()
    image_detail: str | None = None


@dataclass
class Prepared:
    """What the conversion found: the input's digest, the batch's model, the records."""

    input_sha256: str
    model: str
    records: int = 0


def _hashed(lines: Iterable[tuple[int, bytes]], digest: Any) -> Iterator[tuple[int, bytes]]:
    for number, data in lines:
        digest.update(b"%d:" % number + data.rstrip(b"\r\n") + b"\n")
        yield number, data


def input_digest(stream: IO[bytes], source: str) -> str:
    """The digest `prepare` gives the same input: for a rerun to check it."""
    digest = hashlib.sha256()
    for _ in _hashed(iter_lines(stream, source), digest):
        pass
    return digest.hexdigest()


def _maker(lines: LineSource) -> tuple[JobMaker, str]:
    maker = JobMaker.from_flags(lines.options, lines.fallback_model, lines.system,
                                lines.system_file, lines.images, lines.image_detail)
    return maker, str(maker.template["model"])


def prepare(lines: LineSource, stream: IO[bytes], files: StateFiles,
            write_upload: bool = True) -> Prepared:
    """Convert every line: the index and (with `write_upload`) the records, on disk."""
    maker, model = _maker(lines)
    source = "stdin" if lines.input_path == "-" else lines.input_path
    digest = hashlib.sha256()
    found = Prepared("", model)
    try:
        with os.fdopen(open_named(files.index, flags=WRITE_NEW), "wb") as index, \
                os.fdopen(open_named(files.upload, flags=WRITE_NEW), "wb") as upload, \
                Spill(files.spill) as seen:
            for seq, (number, data) in enumerate(_hashed(iter_lines(stream, source), digest)):
                entry = _convert(maker, found, seen, (seq, number, data), source)
                record = entry.pop("record", None)
                index.write(orjson.dumps(entry) + b"\n")
                if record is not None and write_upload:
                    upload.write(orjson.dumps(record) + b"\n")
    except OSError as exc:
        raise InputError(str(files.index.parent), f"cannot write: {exc.strerror}") from None
    except LocalWriteError as exc:  # the spill's: nothing was sent yet
        raise InputError(str(files.spill), str(exc).split(": ", 1)[-1]) from None
    found.input_sha256 = digest.hexdigest()
    return found


def _convert(maker: JobMaker, found: Prepared, seen: Spill, line: tuple[int, int, bytes],
             source: str) -> dict[str, Any]:
    """One line's index entry, with the record to upload (`record`) when it is sent."""
    seq, number, data = line
    job = maker.make(seq, number, data)
    if job.body is None:
        return {"line": number, "id": job.id, "error": job.error or "bad line"}
    if job.body.get("model") != found.model:
        raise InputError(source, f'"model": a remote batch has one model ({found.model}, '
                         "from --model or the settings); this line names another", number)
    try:
        record = input_record(job.id, job.body)
    except Uncarried as exc:
        raise InputError(source, f"cannot go to the Batch API: {exc} (run this line with "
                         "local batch, without --remote)", number) from None
    key = custom_id(job.id)
    if not seen.claim(key, seq):
        return {"line": number, "id": job.id,
                "error": "its id is, as a batch custom_id, the same as an earlier line's"}
    found.records += 1
    return {"line": number, "id": job.id, "custom_id": key, "record": record}
