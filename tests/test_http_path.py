"""The one HTTP path (issue 25, mechanism 1; wire/api_client.py): every request the
program makes -- the chat, its stream, the model list, each Batch API call, the output
parts' signed URLs -- hides the key in all a server returns, keeps within --max-time,
and no listing follows page tokens forever. Each test goes through every kind of request
(echoing.KINDS), against the stub behind a proxy that turns its answers against the
client (tests/echoing.py)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import TEST_KEY, invoke, invoke_briefly, start_stub
from echoing import KINDS, EchoProxy

from cohere_cli.stub.batch_settings import BatchStubSettings
from cohere_cli.stub.server import StubServer

MASK = "[hidden]"
BOUND = 120.0  # seconds a run may take before the test calls it a hang (never a timing)


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = start_stub(batch=BatchStubSettings(time=0.05, validation_time=0.01,
                                                faults=frozenset()))
    yield server
    server.stop()


@contextmanager
def proxy(upstream: StubServer, monkeypatch: pytest.MonkeyPatch,
          **how: Any) -> Iterator[EchoProxy]:
    """The proxy in front of UPSTREAM, and the environment pointing at it."""
    with EchoProxy(upstream.url, **how) as server:
        monkeypatch.setenv("CO_API_URL", server.url)
        monkeypatch.setenv("CO_API_KEY", TEST_KEY)
        yield server


def files_with_the_key(folder: Path) -> list[str]:
    return [str(path) for path in folder.rglob("*")
            if path.is_file() and TEST_KEY.encode() in path.read_bytes()]


def remote(tmp_path: Path, *flags: str, output: str = "out.jsonl") -> list[str]:
    source = tmp_path / "in.jsonl"
    if not source.exists():
        source.write_bytes(b'"a"\n"b"\n')
    return ["batch", "--remote", *flags, "-o", str(tmp_path / output), str(source)]


# A command that reaches each kind of request (the earlier requests of a remote batch
# pass through), and its exit status when that request is refused with a 401.
REACHES = {
    "chat": (lambda tmp: ["--no-stream", "--log", str(tmp / "runs.jsonl"), "hi"], 4),
    "stream": (lambda tmp: ["--stream", "--log", str(tmp / "runs.jsonl"), "hi"], 4),
    "models": (lambda tmp: ["models"], 4),
    "upload": (lambda tmp: remote(tmp, "--log", str(tmp / "runs.jsonl")), 4),
    "dataset": (lambda tmp: remote(tmp, "--log", str(tmp / "runs.jsonl")), 4),
    "create": (lambda tmp: remote(tmp, "--log", str(tmp / "runs.jsonl")), 4),
    "batch": (lambda tmp: remote(tmp, "--log", str(tmp / "runs.jsonl")), 4),
    "part": (lambda tmp: remote(tmp, "--log", str(tmp / "runs.jsonl")), 7),
    "list": (lambda tmp: ["batches", "list"], 4),
    "show": (lambda tmp: ["batches", "show", "b-1"], 4),
    "cancel": (lambda tmp: ["batches", "cancel", "b-1"], 4),
}
KIND_OF = {"show": "batch"}  # `batches show` is a GET of the batch, as the poll is


def test_every_kind_of_request_is_reached() -> None:
    assert {KIND_OF.get(name, name) for name in REACHES} == set(KINDS)


@pytest.mark.slow  # over a second
def test_a_server_that_echoes_the_key_everywhere_never_gets_it_shown(
        stub: StubServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each answer carries the key: the chat's id and text (a stream's cut across two
    reads), a model's name, each Batch API object, the text in the output part. It
    shows nowhere: stdout, stderr (with -v), the run log, -o, -c, --json, -F json/events."""
    log, conversation = str(tmp_path / "runs.jsonl"), str(tmp_path / "c.jsonl")
    runs = [["--no-stream", "--log", log, "-c", conversation, "hi"], ["--json", "hi"],
            ["-F", "json", "--log", log, "hi"], ["--stream", "-v", "--log", log, "hi"],
            ["-F", "events", "hi"], ["models", "-v"], ["models", "--json"],
            remote(tmp_path, "-v", "--log", log), ["batches", "list"],
            ["batches", "list", "--json"]]
    with proxy(stub, monkeypatch) as server:
        shown = []
        for args in runs:
            result = invoke(args)
            assert result.exit_code == 0, (args, result.stderr)
            shown.append(result.stdout)
    running = start_stub(batch=BatchStubSettings(time=3600))  # a batch to show and cancel
    try:
        with proxy(running, monkeypatch) as later:
            batch_id = invoke(remote(tmp_path, "--detach", output="later.jsonl")).stdout.strip()
            shown.append(invoke(["batches", "show", batch_id]).stdout)
            assert invoke(["batches", "cancel", batch_id]).exit_code == 0
    finally:
        running.stop()
    assert server.echoed | later.echoed == set(KINDS)
    assert all(MASK in out for out in shown if out), shown
    assert MASK in Path(log).read_text()  # the reply's id, as the server sent it
    results = [orjson.loads(line) for line in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    assert [line["text"] for line in results] == [f"echo: {p} " + "*" * len(TEST_KEY)
                                                 for p in "ab"]  # the part keeps its length
    assert files_with_the_key(tmp_path) == []


@pytest.mark.parametrize("html", [False, True], ids=["json", "html"])
@pytest.mark.parametrize("name", list(REACHES))
def test_a_refusal_that_quotes_the_key_never_shows_it(
        stub: StubServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str,
        html: bool) -> None:
    """`401 {"message": "invalid api token: Bearer KEY", "id": KEY}`, or an HTML page
    with the key in its reason phrase too, at each kind of request: the error line says
    what the server said, the key hidden, on stderr and in the run log."""
    command, status = REACHES[name]
    with proxy(stub, monkeypatch, mode="refuse", at=KIND_OF.get(name, name), html=html) as server:
        result = invoke(command(tmp_path))
    assert server.echoed == {KIND_OF.get(name, name)}
    assert result.exit_code == status, result.stderr
    assert f"Bearer {MASK}" in result.stderr
    assert files_with_the_key(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["hang", "stall"])
@pytest.mark.parametrize("name", list(REACHES))
def test_max_time_ends_a_hung_request_of_every_kind(
        stub: StubServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str,
        mode: str) -> None:
    """A server that never answers (or stops halfway through its answer) at each kind of
    request, with the default --timeout (300 s) and retries: --max-time 1 ends the run,
    exit 7, one line naming --max-time."""
    command, _ = REACHES[name]
    with proxy(stub, monkeypatch, mode=mode, at=KIND_OF.get(name, name)) as server:
        result = invoke_briefly([*command(tmp_path), "--max-time", "1"], BOUND)
        assert server.held.is_set()
    assert result.exit_code == 7, result.stderr
    assert "stopped after --max-time 1s" in result.stderr


@pytest.mark.parametrize("name", ["models", "list", "create"])
def test_a_repeated_page_token_stops_the_listing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> None:
    """The model list, `batches list`, and a remote batch's look for its batch by name
    after a create that failed: a server that gives the same next_page_token again is
    exit 7, not a loop."""
    stub = start_stub(batch=BatchStubSettings(time=0.05, validation_time=0.01,
                                              faults=frozenset({"create-502"})))
    command = {"models": ["models"], "list": ["batches", "list"],
               "create": remote(tmp_path, "--retries", "0", "--max-wait", "0")}[name]
    try:
        with proxy(stub, monkeypatch, mode="repeat",
                   at="models" if name == "models" else "list"):
            result = invoke_briefly(command, BOUND)
    finally:
        stub.stop()
    assert result.exit_code == 7, result.stderr
    what = "models" if name == "models" else "batches"
    assert result.stderr.startswith(
        f"cohere-chat: error: the API sent the same {what} page token twice; stopping")
