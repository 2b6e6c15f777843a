"""Exact counts (issue 27 items 3 and 4): the model's tokenizer file from its
`tokenizer_url`, downloaded without the key (https, or http to this machine), size-capped,
cached by URL, within --max-time; `cohere-chat tokens`; and every tokenizer that cannot be
had (a bad URL, a failing or hung server, a huge file, a file that is no tokenizer, no
`tokenizers` installed) is the estimate with one warning, never exit 1, never a hang."""
from __future__ import annotations

import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import ROOT, Served, assert_no_key, invoke
from tokenizers import Tokenizer as HFTokenizer

from cohere_cli.chat.tokenizer import MAX_TOKENIZER_BYTES, Tokenizer, pieces
from cohere_cli.conversation.window import MESSAGE_TOKENS, estimate_tokens
from cohere_cli.stub.models import TOKENIZER_FILE
from cohere_cli.stub.server import StubServer

MODEL = "command-a-plus-05-2026"
HF = HFTokenizer.from_str(TOKENIZER_FILE.read_text())


def exact(*texts: str) -> int:
    """What the stub's tokenizer makes of messages with these texts, by hand."""
    return sum(MESSAGE_TOKENS + len(HF.encode(text, add_special_tokens=False).ids)
               for text in texts)


def counted(args: list[str], **kwargs: Any) -> dict[str, Any]:
    result = invoke(["tokens", "--json", *args], **kwargs)
    assert result.exit_code == 0, result.stderr
    value: dict[str, Any] = orjson.loads(result.stdout)
    return value


# --- `tokens` -----------------------------------------------------------------------------

def test_tokens_counts_with_the_models_own_tokenizer(stub: StubServer) -> None:
    result = invoke(["tokens", "-s", "Be terse", "What is new since yesterday?"])
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout == f"{exact('Be terse', 'What is new since yesterday?')}\n"


def test_no_special_tokens_are_counted(stub: StubServer) -> None:
    with_bos = len(HF.encode("hello").ids)
    assert with_bos == len(HF.encode("hello", add_special_tokens=False).ids) + 1
    assert counted(["hello"])["input_tokens"] == exact("hello")


def test_tokens_json_says_what_was_counted(make_stub: Any) -> None:
    make_stub(context_limit=9000)
    assert counted(["-s", "sys", "hi"]) == {
        "input_tokens": exact("sys", "hi"), "exact": True, "model": MODEL,
        "context_length": 9000, "messages": 2}


def test_tokens_reads_what_send_reads(stub: StubServer, tmp_path: Path,
                                      clean_env: Path) -> None:
    (tmp_path / "system.txt").write_text("From a file")
    (tmp_path / "doc.txt").write_text("The document text")
    (tmp_path / "docs.jsonl").write_text('"another document"\n')
    presets = clean_env / ".config" / "cohere-chat" / "presets"
    presets.mkdir(parents=True)
    (presets / "p.json").write_text('{"messages": [{"role": "user", "content": "shot"},'
                                    ' {"role": "assistant", "content": "ok"}]}')
    found = counted(["--system-file", str(tmp_path / "system.txt"), "--preset", "p",
                     "--document", str(tmp_path / "doc.txt"),
                     "--documents", str(tmp_path / "docs.jsonl"), "question"],
                    stdin="from stdin")
    assert found["messages"] == 4 and found["exact"] is True
    plain = counted(["--system-file", str(tmp_path / "system.txt"), "--preset", "p",
                     "question"], stdin="from stdin")
    assert found["input_tokens"] > plain["input_tokens"]  # the documents count
    assert plain["input_tokens"] == exact("From a file", "shot", "ok",
                                          "from stdin\n\nquestion")


def test_tokens_counts_the_window_of_a_conversation(stub: StubServer, tmp_path: Path) -> None:
    chat = tmp_path / "chat.jsonl"
    turns = []
    for n in range(5):
        turns += [{"role": "user", "content": f"question {n}"},
                  {"role": "assistant", "content": f"answer {n}"}]
    chat.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in turns))
    whole = counted(["-c", str(chat), "new"])
    last = counted(["-c", str(chat), "--history-turns", "1", "new"])
    assert (whole["messages"], last["messages"]) == (11, 3)
    assert last["input_tokens"] == exact("question 4", "answer 4", "new")
    assert chat.read_bytes().count(b"\n") == 10  # nothing saved


def test_tokens_takes_send_s_conversation_option(stub: StubServer, tmp_path: Path) -> None:
    """One -c option for both: a folder is exit 3 (named_files says what it is), as for
    send, not click's exit 2."""
    for command in (["tokens"], ["--dry-run"]):
        result = invoke([*command, "-c", str(tmp_path), "hi"])
        assert result.exit_code == 3, result.stderr
        assert f"{tmp_path}: a folder, not a regular file" in result.stderr


def test_tokens_sends_no_chat_request_and_never_the_key_to_the_tokenizer(
    stub: StubServer
) -> None:
    counted(["hello"])
    assert not [r for r in stub.requests if r.path.startswith("/v2/chat")]
    (download,) = [r for r in stub.requests if r.path.startswith("/tokenizers/")]
    assert "Authorization" not in download.headers  # the stub refuses it with a 400


def test_an_image_counts_as_the_estimate_does(stub: StubServer) -> None:
    url = "https://example.com/cat.png"
    assert counted(["--image", url, "what is it?"])["input_tokens"] == (
        exact("what is it?") + estimate_tokens([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}}]}]) - MESSAGE_TOKENS)


# --- the estimate, with one warning -------------------------------------------------------

def test_without_the_tokenizer_extra_the_estimate(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # as when it is not installed
    result = invoke(["tokens", "hello there"])
    estimate = estimate_tokens([{"role": "user", "content": "hello there"}])
    assert (result.exit_code, result.stdout) == (0, f"{estimate}\n")
    assert result.stderr == ("cohere-chat: the count is an estimate: the tokenizer extra is "
                             "not installed\n")
    assert counted(["hi"])["exact"] is False


def test_details_without_a_tokenizer_url_give_the_estimate(make_stub: Any) -> None:
    make_stub(models=({"name": "bare", "endpoints": ["chat"], "tokenizer_url": None},))
    result = invoke(["tokens", "-m", "bare", "hi"])
    assert result.exit_code == 0
    assert "estimate: the model's details name no tokenizer_url" in result.stderr


class FileServer(ThreadingHTTPServer):
    """A tokenizer host gone wrong: `mode` says how it answers every GET."""

    daemon_threads = True

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", 0), FileHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/tokenizer.json"


class FileHandler(BaseHTTPRequestHandler):
    server: FileServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        mode = self.server.mode
        if mode == "hang":
            self.server.stopping.wait(120)
            return
        if mode == "500":
            self._answer(500, b"oops")
        elif mode == "html":
            self._answer(200, b"<html><body>not a tokenizer</body></html>")
        elif mode == "json":
            self._answer(200, b'{"version": "1.0", "model": 5}')
        elif mode == "huge-length":
            self.send_response(200)
            self.send_header("Content-Length", str(10**10))
            self.end_headers()
        elif mode == "endless":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * 65536
            try:
                while not self.server.stopping.is_set():
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                return

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return None


@pytest.fixture
def file_server(served: Served) -> Iterator[Any]:
    made: list[FileServer] = []

    def make(mode: str) -> FileServer:
        made.append(served(FileServer(mode), point=False))
        return made[-1]

    yield make
    for server in made:  # before served stops them
        server.stopping.set()


def one_warning(result: Any, words: str) -> None:
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["exact"] is False
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cohere-chat: warning: counting tokens "
                                                   "with the estimate"), result.stderr
    assert words in lines[0], lines[0]


@pytest.mark.parametrize(("url", "words"), [
    ("file:///etc/passwd", "refusing to download the tokenizer file from file://"),
    ("ftp://example.com/t.json", "refusing to download"),
    ("http://example.com/t.json", "http to this machine"),  # plain http elsewhere: never
    ("not a url", "refusing to download"),
    ("http://[::1/t.json", "not a valid URL"),
])
def test_a_tokenizer_url_that_is_not_https_is_refused(
    make_stub: Any, url: str, words: str
) -> None:
    make_stub(models=({"name": "m", "endpoints": ["chat"], "tokenizer_url": url},))
    one_warning(invoke(["tokens", "--json", "-m", "m", "hi"]), words)


@pytest.mark.parametrize(("mode", "words"), [
    ("500", "could not be downloaded: HTTP 500"),
    ("html", "is not a tokenizer"),
    ("json", "is not a tokenizer"),
    ("huge-length", "10000000000 bytes: more than"),
])
@pytest.mark.slow  # over a second
def test_a_tokenizer_that_cannot_be_had_is_the_estimate(
    make_stub: Any, file_server: Any, mode: str, words: str, clean_env: Path
) -> None:
    host = file_server(mode)
    make_stub(models=({"name": "m", "endpoints": ["chat"], "tokenizer_url": host.url},))
    one_warning(invoke(["tokens", "--json", "-m", "m", "hi"]), words)
    assert not (clean_env / ".cache" / "cohere-chat" / "tokenizers").exists()  # not cached
    sent = invoke(["--history-tokens", "auto", "-m", "m", "hi"])  # a send goes on
    assert (sent.exit_code, sent.stdout) == (0, "echo: hi\n")


@pytest.mark.slow
def test_an_endless_tokenizer_file_is_cut_at_the_cap(make_stub: Any, file_server: Any) -> None:
    host = file_server("endless")
    make_stub(models=({"name": "m", "endpoints": ["chat"], "tokenizer_url": host.url},))
    one_warning(invoke(["tokens", "--json", "-m", "m", "hi"]),
                f"more than {MAX_TOKENIZER_BYTES} bytes")


@pytest.mark.slow  # over a second
def test_a_hung_tokenizer_download_obeys_max_time(make_stub: Any, file_server: Any) -> None:
    host = file_server("hang")
    make_stub(models=({"name": "m", "endpoints": ["chat"], "tokenizer_url": host.url},))
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(
        invoke(["tokens", "--json", "--max-time", "1", "-m", "m", "hi"])), daemon=True)
    thread.start()
    thread.join(120)
    assert done, "a hung tokenizer download held `tokens` past --max-time"
    one_warning(done[0], "--max-time")


def test_a_cached_tokenizer_file_that_is_corrupt_is_fetched_again(
    stub: StubServer, clean_env: Path
) -> None:
    counted(["hi"])
    (entry,) = (clean_env / ".cache" / "cohere-chat" / "tokenizers").iterdir()
    entry.write_bytes(b"{torn")
    assert counted(["hi"])["exact"] is True
    assert len([r for r in stub.requests if r.path.startswith("/tokenizers/")]) == 2


# --- the pieces of a long text ------------------------------------------------------------

@pytest.mark.slow  # over a second
def test_a_long_text_counts_the_same_in_pieces() -> None:
    words = ["the", "quick", "brown", "fox,", "jumps", "over", "échelle", "日本語", "12345",
             "\n", "  ", "def", "main():", "\t", "{\"a\":", "1}"]
    draw = random.Random(27)
    tokenizer = Tokenizer(HF)
    for _ in range(20):
        text = " ".join(draw.choice(words) for _ in range(draw.randrange(1, 30000)))
        assert tokenizer.count([text]) == [len(HF.encode(text, add_special_tokens=False).ids)]
        assert "".join(pieces(text)) == text


def test_pieces_start_at_a_single_space_between_words() -> None:
    text = "a" * 10 + "  b" * 10 + " c" * 20
    found = pieces(text, size=12)
    assert "".join(found) == text and len(found) > 1
    assert all(piece.startswith(" ") and not piece.startswith("  ") for piece in found[1:])
    assert pieces("x" * 100, size=10) == ["x" * 100]  # no space: one piece


# --- a plain send imports nothing new -------------------------------------------------------

PROBE = """
import sys
from cohere_cli.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="cohere-chat")
except SystemExit as exit:
    print("EXIT", exit.code, "tokenizers" in sys.modules, file=sys.stderr)
"""


@pytest.mark.parametrize(("args", "loaded"), [
    (["hello"], False),
    (["--history-tokens", "auto", "hello"], False),  # it all fits: nothing to count
    (["tokens", "hello"], True),
])
def test_tokenizers_is_imported_only_to_count(
    stub: StubServer, args: list[str], loaded: bool
) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, cwd=ROOT,
                          timeout=60, check=False)
    assert_no_key(done.stdout, done.stderr)
    assert done.stderr.decode().splitlines()[-1] == f"EXIT 0 {loaded}", done.stderr
