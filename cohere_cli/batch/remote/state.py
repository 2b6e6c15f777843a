"""The state file of a `batch --remote` run (`FILE.remote.json` beside `-o FILE`): what
exists on the service (the dataset, the batch) the moment it exists, written atomically
and synced, so a run killed at any point is continued, never sent twice.

Beside it, while the run lasts: `FILE.remote.index.jsonl` (each input line: its number,
id, and custom_id or why it was not sent), `FILE.remote.upload.jsonl` (the records
uploaded), the downloaded output parts and the spill (spill.py: the custom_ids and
output records by input position). All are removed once FILE is written.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import orjson

from cohere_cli.base.atomic_write import replace_whole
from cohere_cli.base.errors import InputError, LocalWriteError
from cohere_cli.base.files import read_stream
from cohere_cli.base.named_files import open_named

VERSION = 1
MAX_STATE_BYTES = 1 << 20  # a state file is a few hundred bytes; more is not one


@dataclass(frozen=True)
class RemoteState:
    """What one remote batch run knows; None: not yet there."""

    name: str  # the batch's name: how a create answered 502 is found again in the list
    input_sha256: str
    model: str
    records: int  # the records uploaded
    dataset_id: str | None = None
    creating: bool = False  # a create was sent: list the batches before sending another
    batch_id: str | None = None
    version: int = VERSION

    def but(self, **changes: Any) -> RemoteState:
        return replace(self, **changes)


def new_name(input_sha256: str) -> str:
    """cohere-chat-<12 hex of the input>-<8 hex at random>: ours, and this run's alone."""
    return f"cohere-chat-{input_sha256[:12]}-{secrets.token_hex(4)}"


class StateFiles:
    """The state file and its companions beside `-o FILE`."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.state = output.with_name(output.name + ".remote.json")
        self.index = output.with_name(output.name + ".remote.index.jsonl")
        self.upload = output.with_name(output.name + ".remote.upload.jsonl")
        self.spill = output.with_name(output.name + ".remote.spill.sqlite")

    def part(self, number: int) -> Path:
        return self.output.with_name(f"{self.output.name}.remote.part-{number}.avro")

    def read(self) -> RemoteState | None:
        """The saved state, every field checked (a wrong one is an InputError naming it,
        the file kept: it may hold the id of a batch that is paid for); None when there
        is none."""
        try:  # through named_files: a FIFO or a folder is refused, never waited on
            with os.fdopen(open_named(self.state), "rb") as handle:
                data = orjson.loads(read_stream(handle, str(self.state), MAX_STATE_BYTES,
                                                  TOO_BIG))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InputError(str(self.state), f"cannot read: {exc.strerror}") from None
        except orjson.JSONDecodeError:
            raise InputError(str(self.state), "not a remote batch state file (not JSON); "
                             + KEEP_HINT) from None
        return checked_state(data, str(self.state))

    def write(self, state: RemoteState) -> RemoteState:
        """Replace the state file atomically (a temporary file synced, then renamed, then
        its directory synced); the state written."""
        write_atomically(self.state, orjson.dumps(asdict(state), option=orjson.OPT_INDENT_2))
        return state

    def remove(self) -> None:
        """The run is over: the state file and every companion go."""
        folder = self.output.parent
        prefix = self.output.name + ".remote."
        for path in folder.iterdir() if folder.is_dir() else []:
            if path.name.startswith(prefix):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


KEEP_HINT = ("fix it, or delete it to start anew (a new batch is billed again; "
             "cohere-chat batches list shows the account's batches)")
TOO_BIG = f"not a remote batch state file (over 1 MiB); {KEEP_HINT}"
SHA256 = re.compile(r"[0-9a-f]{64}")
ID_TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,512}")  # an id the service gave, on one line


def _field_problem(name: str, value: Any) -> str | None:
    """Why VALUE cannot be the state's field NAME; None when it can."""
    if name == "version":
        return None if value == VERSION and type(value) is int else (
            f"must be {VERSION} (written by another version?)")
    if name == "creating":
        return None if isinstance(value, bool) else "must be true or false"
    if name == "records":
        return None if type(value) is int and value >= 0 else "must be a whole number"
    if name == "input_sha256":
        return None if isinstance(value, str) and SHA256.fullmatch(value) else (
            "must be 64 hexadecimal digits")
    if name in ("dataset_id", "batch_id"):
        return None if value is None or (isinstance(value, str) and ID_TEXT.fullmatch(
            value)) else "must be an id (a string on one line) or null"
    if name == "model":
        return None if isinstance(value, str) and value else "must be a model's name"
    return None if isinstance(value, str) else "must be a string"  # name


def checked_state(data: Any, source: str) -> RemoteState:
    """The state a state file's JSON holds: each field of the type it must have, and
    no record count that cannot be (none uploaded, yet a dataset or a batch)."""
    def wrong(problem: str) -> InputError:
        return InputError(source, f"{problem}; {KEEP_HINT}")

    if not isinstance(data, dict):
        raise wrong("not a remote batch state file (not a JSON object)")
    known = sorted((item.name for item in fields(RemoteState)), key=lambda n: n != "version")
    for name in data:
        if name not in known:
            raise wrong(f"unknown field {_shown(name)}")
    for name in known:  # every one: the file is always written whole
        if name not in data:
            raise wrong(f"the field {name!r} is missing")
        if problem := _field_problem(name, data[name]):
            raise wrong(f"the field {name!r} {problem} (it is {_shown(data[name])})")
    state = RemoteState(**data)
    if state.records == 0 and (state.dataset_id or state.batch_id or state.creating):
        raise wrong("the field 'records' is 0, yet records were uploaded")
    return state


def _shown(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 40 else text[:37] + "..."


def write_atomically(path: Path, data: bytes) -> None:
    """PATH replaced by DATA whole, or left as it was (a crash leaves no half file)."""
    try:
        replace_whole(path, data)
    except OSError as exc:
        raise LocalWriteError(f"{path}: cannot write: {exc.strerror or exc}") from None
