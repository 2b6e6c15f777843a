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
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from cohere_cli.base.atomic_write import replace_whole
from cohere_cli.base.errors import InputError, LocalWriteError

VERSION = 1


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
        """The saved state; None when there is none."""
        try:
            data = orjson.loads(self.state.read_bytes())
            if data.get("version") != VERSION:
                raise InputError(str(self.state), "written by another version; delete it")
            return RemoteState(**data)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InputError(str(self.state), f"cannot read: {exc.strerror}") from None
        except (orjson.JSONDecodeError, TypeError, AttributeError):
            raise InputError(str(self.state), "not a remote batch state file") from None

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


def write_atomically(path: Path, data: bytes) -> None:
    """PATH replaced by DATA whole, or left as it was (a crash leaves no half file)."""
    try:
        replace_whole(path, data)
    except OSError as exc:
        raise LocalWriteError(f"{path}: cannot write: {exc.strerror or exc}") from None
