"""--resume reads the earlier output without writing it; cutting a torn last line is a
step of its own, which the run takes before it appends (issue 24)."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cohere_cli.base.errors import InputError
from cohere_cli.batch.resume import cut_torn_line, read_finished

WHOLE = (orjson.dumps({"id": "a", "line": 1, "text": "ok", "usage": {}}) + b"\n"
         + orjson.dumps({"id": "b", "line": 2, "error": {"status": 400, "message": "no"}})
         + b"\n")


def test_reading_an_output_with_a_torn_line_leaves_it_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(WHOLE + b'{"id": "c", "li')
    finished = read_finished(path)
    assert path.read_bytes() == WHOLE + b'{"id": "c", "li'  # a read never writes
    assert (finished.torn, finished.whole) == (True, len(WHOLE))
    assert "a" in finished.ids and "b" not in finished.ids and "c" not in finished.ids
    cut_torn_line(path, finished)
    assert path.read_bytes() == WHOLE


def test_a_whole_output_is_not_cut(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(WHOLE)
    finished = read_finished(path)
    assert not finished.torn and len(finished.ids) == 1
    cut_torn_line(path, finished)
    assert path.read_bytes() == WHOLE


def test_no_output_yet_finished_nothing(tmp_path: Path) -> None:
    finished = read_finished(tmp_path / "none.jsonl")
    assert len(finished.ids) == 0 and not finished.torn


def test_damage_before_the_last_line_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"not json\n" + WHOLE + b'{"torn')
    with pytest.raises(InputError, match="not a result line"):
        read_finished(path)
    assert path.read_bytes() == b"not json\n" + WHOLE + b'{"torn'
