"""Model details (issue 27 items 1 and 8): `GET /v1/models/{model}` served by the stub,
`cohere-chat models MODEL`, and their cache on disk under $XDG_CACHE_HOME/cohere-chat:
keyed by base URL and model, a day, written whole, a bad entry fetched again, and a
cache folder that cannot be used never stopping a run."""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import official
import orjson
import pytest
from conftest import TEST_KEY, Served, invoke

from cohere_cli.base.cache import MAX_AGE, Cache
from cohere_cli.base.errors import ExitCode
from cohere_cli.chat.model_details import KIND, parse_details
from cohere_cli.settings.paths import cache_folder
from cohere_cli.stub.server import StubServer

MODEL = "command-a-plus-05-2026"


def details_requests(server: StubServer) -> list[Any]:
    return [r for r in server.requests if r.path.startswith("/v1/models/")]


def tokenizer_requests(server: StubServer) -> list[Any]:
    return [r for r in server.requests if r.path.startswith("/tokenizers/")]


def entries(home: Path, kind: str) -> list[Path]:
    folder = home / ".cache" / "cohere-chat" / kind
    return sorted(folder.iterdir()) if folder.is_dir() else []


# --- the stub and `models MODEL` -------------------------------------------------------

def test_the_stub_serves_a_models_details_as_the_api_documents_them(stub: StubServer) -> None:
    result = invoke(["models", "--json", MODEL])
    assert result.exit_code == 0, result.stderr
    details = orjson.loads(result.stdout)
    official.validator("GetModelResponse").validate(details)
    assert details["name"] == MODEL and details["context_length"] == 256000
    assert details["tokenizer_url"] == f"{stub.url}/tokenizers/stub-tokenizer.json"
    (request,) = details_requests(stub)
    assert (request.method, request.path) == ("GET", f"/v1/models/{MODEL}")
    assert request.headers["Authorization"] == f"Bearer {TEST_KEY}"


def test_models_model_prints_key_value_lines(stub: StubServer) -> None:
    lines = invoke(["models", MODEL]).stdout.splitlines()
    assert f"name: {MODEL}" in lines and "context_length: 256000" in lines
    assert "endpoints: chat" in lines


def test_the_context_limit_is_the_details_context_length(make_stub: Any) -> None:
    make_stub(context_limit=4096)
    assert orjson.loads(invoke(["models", "--json", MODEL]).stdout)["context_length"] == 4096


def test_an_unknown_model_is_a_404(make_stub: Any, tmp_path: Path) -> None:
    listed = tmp_path / "models.jsonl"
    listed.write_text('"only-this"\n')
    make_stub(models=(({"name": "only-this", "endpoints": ["chat"]}),))
    result = invoke(["models", "nosuch"])
    assert result.exit_code == ExitCode.REJECTED and "HTTP 404" in result.stderr


def test_models_model_caches_what_it_fetched(stub: StubServer, clean_env: Path) -> None:
    invoke(["models", MODEL])
    (entry,) = entries(clean_env, KIND)
    assert entry.stat().st_mode & 0o777 == 0o600
    assert orjson.loads(entry.read_bytes())["key"] == f"{stub.url}\n{MODEL}"


# --- the cache --------------------------------------------------------------------------

def test_the_second_run_asks_the_network_for_nothing(stub: StubServer) -> None:
    first = invoke(["tokens", "hello there"])
    assert first.exit_code == 0, first.stderr
    assert (len(details_requests(stub)), len(tokenizer_requests(stub))) == (1, 1)
    second = invoke(["tokens", "-v", "hello there"])
    assert second.stdout == first.stdout and second.stderr == ""  # -v: no request logged
    assert (len(details_requests(stub)), len(tokenizer_requests(stub))) == (1, 1)


def test_entries_are_keyed_by_base_url_and_model(make_stub: Any) -> None:
    make_stub()
    invoke(["tokens", "hi"])
    other = make_stub()  # another base URL: its own entry
    invoke(["tokens", "hi"])
    invoke(["tokens", "-m", "command-r", "hi"])
    assert [r.path for r in details_requests(other)] == [f"/v1/models/{MODEL}",
                                                         "/v1/models/command-r"]


def test_an_entry_older_than_a_day_is_fetched_again(stub: StubServer, clean_env: Path) -> None:
    invoke(["tokens", "hi"])
    old = time.time() - MAX_AGE - 60
    for entry in entries(clean_env, KIND):
        os.utime(entry, (old, old))
    invoke(["tokens", "hi"])
    assert len(details_requests(stub)) == 2


@pytest.mark.parametrize("garbage", [b"", b"{not json", b'{"key": "another"}', b"[1]",
                                     b'{"key": "KEY", "details": 5}'])
def test_a_corrupt_entry_is_ignored_and_fetched_again(
    stub: StubServer, clean_env: Path, garbage: bytes
) -> None:
    invoke(["tokens", "hi"])
    (entry,) = entries(clean_env, KIND)
    entry.write_bytes(garbage.replace(b"KEY", f"{stub.url}\\n{MODEL}".encode()))
    result = invoke(["tokens", "--json", "hi"])
    assert result.exit_code == 0 and orjson.loads(result.stdout)["exact"] is True
    assert len(details_requests(stub)) == 2
    assert orjson.loads(entry.read_bytes())["details"]["name"] == MODEL  # stored again


def test_a_fifo_or_a_link_at_an_entry_is_a_miss_not_a_hang(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    path = cache.path(KIND, "k")
    assert path is not None
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    assert cache.read(KIND, "k", 100) is None
    path.unlink()
    (tmp_path / "target").write_bytes(b"{}")
    path.symlink_to(tmp_path / "target")
    assert cache.read(KIND, "k", 100) is None


def test_a_write_replaces_the_entry_and_removes_expired_ones(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    assert cache.write(KIND, "old", b"1") is None
    old_path = cache.path(KIND, "old")
    assert old_path is not None
    stale = time.time() - MAX_AGE - 60
    os.utime(old_path, (stale, stale))
    assert cache.write(KIND, "new", b"2") is None
    assert not old_path.exists() and cache.read(KIND, "new", 10) == b"2"
    assert cache.read(KIND, "new", 0) is None  # over the size cap: a miss


def test_the_cache_folder_follows_xdg_cache_home() -> None:
    assert cache_folder({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/x/cohere-chat")
    assert cache_folder({"XDG_CACHE_HOME": "rel", "HOME": "/h"}) == Path("/h/.cache/cohere-chat")
    assert cache_folder({}) is None


@pytest.mark.parametrize("where", ["a file", "unwritable"])
def test_a_cache_folder_that_cannot_be_used_is_one_warning(
    stub: StubServer, tmp_path: Path, where: str
) -> None:
    if where == "a file":
        folder = tmp_path / "cache-file"
        folder.write_text("not a folder")
    else:
        folder = Path("/proc/cohere-chat-test")  # not writable, even by root
    env: dict[str, str | None] = {"XDG_CACHE_HOME": str(folder)}
    for _ in range(2):  # nothing cached: each run fetches again, and says so once
        result = invoke(["tokens", "--json", "hello"], env=env)
        assert result.exit_code == 0
        assert orjson.loads(result.stdout)["exact"] is True
        warnings = [line for line in result.stderr.splitlines() if "warning" in line]
        assert len(warnings) == 1 and "cannot write the cache" in warnings[0], result.stderr
    assert len(details_requests(stub)) == 2


# --- details of the wrong shape ----------------------------------------------------------

class DetailsServer(ThreadingHTTPServer):
    """Answers every GET with one canned JSON body (details of the wrong shape)."""

    daemon_threads = True

    def __init__(self, body: bytes) -> None:
        self.body = body
        super().__init__(("127.0.0.1", 0), DetailsHandler)


class DetailsHandler(BaseHTTPRequestHandler):
    server: DetailsServer

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *_: Any) -> None:
        return None


@pytest.fixture
def details_server(served: Served) -> Callable[[bytes], DetailsServer]:
    return lambda body: served(DetailsServer(body))


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"null", b"<html>not json</html>"])
def test_details_that_are_not_an_object_are_one_warning_and_the_estimate(
    details_server: Any, clean_env: Path, body: bytes
) -> None:
    details_server(body)
    result = invoke(["tokens", "--json", "hello"])
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["exact"] is False
    assert result.stderr.count("\n") == 1 and "estimate" in result.stderr
    assert entries(clean_env, KIND) == []  # not cached


@pytest.mark.parametrize("fields", [
    {"context_length": "big", "tokenizer_url": 5},
    {"context_length": -3, "tokenizer_url": ""},
    {"context_length": 1.5, "tokenizer_url": None},
    {"context_length": True, "tokenizer_url": ["x"]},
    {"context_length": 1e300},
])
def test_fields_of_the_wrong_shape_are_left_out(
    make_stub: Any, fields: dict[str, Any]
) -> None:
    make_stub(models=({"name": "odd", "endpoints": ["chat"], **fields},))
    counted = invoke(["tokens", "--json", "-m", "odd", "hello"])
    assert counted.exit_code == 0, counted.stderr
    assert orjson.loads(counted.stdout)["context_length"] is None
    assert orjson.loads(counted.stdout)["exact"] is ("tokenizer_url" not in fields)
    sent = invoke(["--history-tokens", "auto", "-m", "odd", "hello"])
    assert sent.exit_code == 0 and sent.stdout == "echo: hello\n"
    assert sent.stderr.count("warning") == 1 and "no context length" in sent.stderr


def test_parse_details_keeps_what_is_right() -> None:
    details = parse_details("m", {"context_length": 4096.0, "tokenizer_url": "https://x/t"})
    assert (details.context_length, details.tokenizer_url, details.problems) == (
        4096, "https://x/t", ())


@pytest.mark.slow  # over a second
def test_a_hung_details_request_obeys_max_time(make_stub: Any) -> None:
    make_stub(fail=("hang",))
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(
        invoke(["--history-tokens", "auto", "--max-time", "1", "hi"])), daemon=True)
    thread.start()
    thread.join(120)
    assert done, "a hung details request held the send past --max-time"
    assert done[0].exit_code == ExitCode.UNAVAILABLE and "--max-time" in done[0].stderr
