"""The general guarantee of issues 12 and 20, checked on random cases against the real CLI.

Each example runs `python -m cohere_cli` as a process (real file descriptors, signals and
environment) with random flag values, environment variables, config files and stdin
bytes, against `chaos.ChaosServer` on loopback whose replies are drawn too; others drive
the tool loop with tools that misbehave, and the `stub` program with random replies,
faults and idle clients. For every example: the process ends within a bound, its exit
code is a documented one (never 1), stderr has no traceback and no "internal error", and
the key shows in no output, no file the run wrote and no request body.

`make test` runs a few examples, always the same ones (derandomized, no database, no
shrinking: a failure shows the case as drawn); `make fuzz` (COHERE_CHAT_FUZZ=long) runs
many more, random each time, and shrinks what fails to a minimal case. Each kind of
failure raises its own exception class, so hypothesis reports each kind separately.
"""
from __future__ import annotations

import contextlib
import os
import re
import resource
import select
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import urlsplit

import pytest
from chaos import (
    ECHO,
    ENCODINGS,
    ChaosServer,
    Reply,
    chat_reply,
    chat_response,
    chat_script,
    dumps,
    encode_events,
    events_of,
    json_reply,
    models_reply,
    mutated,
    sse_reply,
)
from conftest import FUZZ, ROOT, TEST_KEY
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow  # every case runs the CLI (or the stub) as a process

DOCUMENTED_EXITS = frozenset({0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 130, 141})
BOUND = 20.0  # seconds a run may take; every scenario is built to need far less
MEMORY_CAP = 3 << 30  # address space of the CLI (and of the tools it starts)
DEAD_PROXY = "http://127.0.0.1:9"  # anything not loopback would go here, and fail
UNSET = "\0unset"  # as a variable's value in a case: the variable is not set at all


def fuzz(examples: int) -> settings:
    """`examples` in `make test` (the same ones each run); 25 times as many, random and
    shrunk, under COHERE_CHAT_FUZZ=long."""
    checks = list(HealthCheck)
    if FUZZ:
        return settings(max_examples=examples * 25, deadline=None, suppress_health_check=checks)
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    phases=(Phase.explicit, Phase.generate), suppress_health_check=checks)


@dataclass(frozen=True)
class FileSpec:
    """A file made in the example's folder before the run ({tmp} is that folder)."""

    name: str
    content: bytes | None = None  # None: a directory (or, with `link`, a hard link)
    mode: int = 0o644
    link: str | None = None  # a hard link to this file in the folder
    fifo: bool = False  # a FIFO (named pipe) where a file is expected


@dataclass(frozen=True)
class Case:
    """One run: arguments, environment, files, stdin and the server's replies. {tmp},
    {url} and {port} in them stand for the folder, the server's URL and its port."""

    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    files: tuple[FileSpec, ...] = ()
    stdin: bytes | str | None = None  # a str: the path of a file to read stdin from
    replies: tuple[Reply, ...] = ()
    interrupt: float | None = None  # Ctrl-C (SIGINT to the process group) after this long
    limit: str = ""  # "full": stdout is /dev/full; "fsize": files stop growing at 4 KiB


@dataclass
class Run:
    exit_code: int | None  # None: still running at the bound (then killed)
    stdout: bytes
    stderr: bytes
    seconds: float
    found: list[str] = field(default_factory=list)


def _fill(text: str, folder: Path, url: str) -> str:
    port = url.rsplit(":", 1)[-1]
    return text.replace("{tmp}", str(folder)).replace("{url}", url).replace("{port}", port)


def make_files(files: Sequence[FileSpec], folder: Path, url: str) -> dict[Path, bytes]:
    """Make `files`; return what each was made with (to tell inputs from outputs)."""
    made = {}
    for spec in files:
        path = folder / spec.name
        path.parent.mkdir(parents=True, exist_ok=True)
        if spec.link is not None:
            os.link(folder / spec.link, path)
            continue
        if spec.fifo:
            os.mkfifo(path)
            continue
        if spec.content is None:
            path.mkdir(exist_ok=True)
            continue
        content = _fill(spec.content.decode("utf-8", "surrogateescape"), folder, url).encode(
            "utf-8", "surrogateescape")
        path.write_bytes(content)
        path.chmod(spec.mode)
        made[path] = content
    return made


def _limits(fsize: bool) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
        if fsize:
            resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    return limit


def environment(pairs: Sequence[tuple[str, str]], folder: Path, url: str) -> dict[str, str]:
    """A minimal environment (as under cron), a proxy that catches any request that is not
    for loopback, and the case's variables (UNSET removes one)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
           "HOME": str(folder / "home"), "HTTPS_PROXY": DEAD_PROXY, "HTTP_PROXY": DEAD_PROXY,
           "ALL_PROXY": DEAD_PROXY, "NO_PROXY": "127.0.0.1,localhost,::1"}
    for name, value in pairs:
        env[name] = _fill(value, folder, url)
    return {name: value for name, value in env.items() if value != UNSET}


def run_cli(args: Sequence[str], env: dict[str, str], stdin: bytes | Path | None,
            cwd: Path, bound: float = BOUND, case: Case | None = None) -> Run:
    """Run the CLI in its own session, its streams in files (a daemon a tool leaves
    behind holds no pipe of ours), with the case's Ctrl-C and limits; past `bound`, kill
    the session: a hang. Death by a signal counts as 128 + its number, as in a shell."""
    interrupt, limit = (case.interrupt, case.limit) if case else (None, "")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            _stdin(stdin) as inp, open(os.devnull if limit != "full" else "/dev/full",
                                      "wb") as full:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "cohere_cli", *args], stdin=inp,
            stdout=full if limit == "full" else out, stderr=err, env=env, cwd=cwd,
            start_new_session=True, preexec_fn=_limits(limit == "fsize"))
        code = _wait(proc, bound, interrupt)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Run(code, out.read(), err.read(), seconds)


def _wait(proc: subprocess.Popen[bytes], bound: float, interrupt: float | None) -> int | None:
    """The exit status (None: killed at `bound`), after SIGINT at `interrupt` seconds."""
    try:
        if interrupt is not None:
            try:
                proc.wait(timeout=interrupt)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=bound)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None
    return 128 - code if code < 0 else code


@contextlib.contextmanager
def _stdin(source: bytes | Path | None) -> Iterator[int]:
    if source is None:
        yield subprocess.DEVNULL
    elif isinstance(source, Path):
        with open(source, "rb") as handle:
            yield handle.fileno()
    else:
        with tempfile.TemporaryFile() as handle:
            handle.write(source)
            handle.seek(0)
            yield handle.fileno()


def key_places(run: Run, folder: Path, inputs: dict[Path, bytes]) -> list[str]:
    """Where the key shows: stdout, stderr, or a file under `folder` the run wrote (an
    input still byte for byte as it was made does not count)."""
    needle = TEST_KEY.encode()
    places = [name for name, data in (("stdout", run.stdout), ("stderr", run.stderr))
              if needle in data]
    for path in sorted(folder.rglob("*")):
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                if needle in data and inputs.get(path) != data:
                    places.append(f"file {path.relative_to(folder)}")
    return places


def problems(run: Run, args: Sequence[str], folder: Path, inputs: dict[Path, bytes],
             ) -> list[str]:
    """Every way `run` breaks the general guarantee (empty: it kept it)."""
    found = []
    if run.exit_code is None:
        found.append(f"Hang: still running after {run.seconds:.1f}s")
    elif run.exit_code not in DOCUMENTED_EXITS:
        found.append(f"Exit{run.exit_code}: exit code {run.exit_code} is not documented")
    if b"Traceback" in run.stderr:
        found.append("Traceback: a traceback on stderr")
    if b"internal error" in run.stderr:
        found.append('Internal: "internal error" on stderr')
    if b"\x1b" in run.stderr and "--show-thinking" not in args:
        found.append("RawEscape: an escape character reaches stderr unescaped")
    return found + [f"KeyLeak: the key shows in {where}"
                    for where in key_places(run, folder, inputs)]


def server_problems(server: ChaosServer, once: bool) -> list[str]:
    """The key in a request body; with `once`, a request sent again after a 200."""
    found = [f"KeyLeak: the key was sent in the body of request {number}"
             for number, seen in enumerate(server.seen, 1) if TEST_KEY.encode() in seen.body]
    answers = [reply.status == 200 and reply.framing not in ("garbage", "drop")
               for reply in server.answered]
    if once and True in answers and len(server.seen) > answers.index(True) + 1:
        found.append(f"Resent: {len(server.seen)} requests, though request "
                     f"{answers.index(True) + 1} got a 200")
    return found


_KINDS: dict[str, type[AssertionError]] = {}


def failure(found: list[str], stderr: bytes) -> type[AssertionError]:
    """One exception class per symptom and error name, so hypothesis tells them apart."""
    symptom = found[0].split(":", 1)[0]
    names = re.findall(rb"(?:internal error: |^)(\w+(?:Error|Exception|Expired)):",
                       stderr, re.MULTILINE)
    name = f"{symptom}_{names[-1].decode()}" if names and symptom != "KeyLeak" else symptom
    return _KINDS.setdefault(name, type(name, (AssertionError,), {}))


Oracle = Callable[[Run, Path, ChaosServer], list[str]]


def play(case: Case, once: bool = False, oracle: Oracle | None = None,
         bound: float = BOUND) -> Run:
    """Run `case` against a chaos server; raise if the guarantee is broken (or, with
    `oracle`, if it names a problem with the run, its folder or what the server saw)."""
    with tempfile.TemporaryDirectory(prefix="cc-property-") as name, \
            ChaosServer(case.replies) as server:
        folder = Path(name)
        run = run_case(case, folder, server.url, bound)
        run.found += server_problems(server, once)
        run.found += oracle(run, folder, server) if oracle and not run.found else []
    event(f"requests {min(len(server.seen), 3)}")
    if run.found:
        raise failure(run.found, run.stderr)(describe(run))
    return run


def run_case(case: Case, folder: Path, url: str, bound: float = BOUND) -> Run:
    """Make the case's files in `folder`, run it against `url`, and check the run."""
    (folder / "home").mkdir()
    inputs = make_files(case.files, folder, url)
    args = [_fill(arg, folder, url) for arg in case.args]
    stdin = Path(_fill(case.stdin, folder, url)) if isinstance(case.stdin, str) else case.stdin
    run = run_cli(args, environment(case.env, folder, url), stdin, folder, bound, case)
    run.found = problems(run, args, folder, inputs) + left_running(folder / "pids")
    if case.interrupt is not None and before_the_program(run.stderr):
        run.found = [item for item in run.found if not item.startswith(("Exit1", "Traceback"))]
    kill_recorded(folder / "pids", folder / "daemons")
    event(f"exit {run.exit_code}")
    return run


def before_the_program(stderr: bytes) -> bool:
    """Whether a Ctrl-C traceback is Python's own start-up (site, runpy), before the
    program's first instruction: no line of it is in cohere_cli."""
    return stderr.rstrip().endswith(b"KeyboardInterrupt") and b"cohere_cli" not in stderr


def describe(run: Run) -> str:
    return (f"{'; '.join(run.found)}\nexit {run.exit_code} after {run.seconds:.1f}s\n"
            f"stdout: {run.stdout[:600]!r}\nstderr: {run.stderr[-1500:]!r}")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _recorded(pid_file: Path) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(word) for word in pid_file.read_text().split() if word.isdigit()]
    return []


def left_running(pid_file: Path) -> list[str]:
    """Tool processes (the tool and what it left in its own group, recorded in
    `pid_file`) still running 10 s after cohere-chat ended (killed, they end at once;
    the time is for a loaded machine to run their exit)."""
    pids = _recorded(pid_file)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [f"ToolLeft: tool process {pid} (or its group) still runs after cohere-chat ended"
            for pid in pids if _alive(pid)][:1]


def kill_recorded(*pid_files: Path) -> None:
    """Kill the processes (and their groups) whose ids tools wrote into `pid_files`."""
    for pid in (pid for pid_file in pid_files for pid in _recorded(pid_file)):
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(OSError):
                kill(pid, signal.SIGKILL)


# Cases the long run found (on the code before the hardening fixes), pinned as explicit
# examples so that `make test` runs them every time.

def plain(*args: str, key: str = TEST_KEY, replies: Sequence[Reply] = (),
          files: tuple[FileSpec, ...] = (), stdin: str | None = None,
          interrupt: float | None = None, limit: str = "") -> Case:
    """A case with the key and the server's URL in the environment, and short waits."""
    env = (("CO_API_KEY", key), ("CO_API_URL", "{url}"))
    head = args[:1] if args[:1] in (("batch",), ("models",)) else ()  # the subcommand
    return Case((*head, "--max-wait", "0", *args[len(head):]), env, files, stdin,
                tuple(replies), interrupt, limit)


def answer(text: str = "ok", stream: bool = False, framing: str = "length",
           **message: object) -> Reply:
    """A well-formed reply with `text` (and more `message` fields), JSON or streamed."""
    response = {"id": "r-1", "finish_reason": "COMPLETE",
                "message": {"role": "assistant", "content": [{"type": "text", "text": text}],
                            **message}}
    if stream:
        return Reply(body=encode_events(events_of(response), "named"),
                     content_type="text/event-stream", framing=framing)
    return Reply(body=dumps(response), framing=framing)


WARNED = Reply(body=dumps({"id": "r", "finish_reason": "COMPLETE", "meta": {"warnings": [
    "bad\nsecond line\x1b[2J"]}, "message": {"role": "assistant", "content": []}}))
STRING_SOURCE = [{"start": 0, "end": 2, "text": "ok", "type": "TEXT_CONTENT",
                  "sources": [{"type": "document", "id": "d", "document": "a string"}]}]


# What the user gives: flag values, environment, config files, stdin. Each is a pair of
# strategies, (valid, odd). A case draws which few of its dimensions (DIMENSIONS) are odd;
# in those, each value is odd half the time, and everything else is valid, so that most
# cases reach the server and each failure has one cause.

Choice = tuple[st.SearchStrategy[str], st.SearchStrategy[str]]
WORDS = st.text(st.characters(categories=("L", "N", "Zs")), min_size=1, max_size=10)
NAMES = st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=10)
ARG_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\0"),
                   max_size=12) | st.sampled_from(
    ["\udcff", "a\u2028b", "\x1b[2J", "\u2019", "-", "--", "", "two\nlines", "\x7f"])


def choice(valid: Sequence[str] | st.SearchStrategy[str],
           odd: Sequence[str] | st.SearchStrategy[str]) -> Choice:
    def strategy(values: Sequence[str] | st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return values if isinstance(values, st.SearchStrategy) else st.sampled_from(values)
    return strategy(valid), strategy(odd)


@st.composite
def pick(draw: st.DrawFn, values: Choice, odd: bool) -> str:
    return draw(values[1] if odd and draw(st.booleans()) else values[0])


Odd = frozenset[str]
SETUP_DIMENSIONS = ("key", "url", "config", "env", "connection")


def oddness(*dimensions: str) -> st.SearchStrategy[Odd]:
    """Which of `dimensions` a case makes odd: none, one, or two."""
    return st.frozensets(st.sampled_from(dimensions), max_size=2)


TIMEOUT = choice(["0.5", "2", "300"], ["0", "-1", "-0", "nan", "inf", "-inf", "1e999", "1e300",
                                      "1e9", "abc", "", "0.001"])
WAIT = choice(["0", "0.1", "1"], ["nan", "-1", "inf", "1e999", "x", ""])
RETRY = choice(["0", "1", "2"], ["3", "-1", "x", "2.5", "nan", "", "1e3"])
KEY = choice([TEST_KEY], [
    TEST_KEY + "\nx", "\x01" + TEST_KEY, TEST_KEY + "\u2019", f" {TEST_KEY} ",
    TEST_KEY + "\udcff", TEST_KEY + "\x7f", TEST_KEY + "\u2028", "Bearer " + TEST_KEY,
    TEST_KEY + " two words", TEST_KEY + "\r", TEST_KEY + "\t"])
URL = choice(["{url}"], [
    "http://127.0.0.1:99999", "http://127.0.0.1:abc", "http://[::1", "https://:443",
    "http://127.0.0.1:0", "http://127.0.0.1:1", "https://127.0.0.1:{port}",
    "http://localhost:{port}", "{url}/", "{url}/v2", "{url}?x=1", "{url}#f",
    "http://u:p@127.0.0.1:{port}", "", " {url} ", "http://[::1]:{port}", "127.0.0.1:{port}",
    "{url}\n", "https://[::1", "https://127.0.0.1:-1", "http://127.0.0.1:{port}/\udcff"])
KEY_FILE = choice([TEST_KEY, TEST_KEY + "\n"], [
    TEST_KEY + "\nsecond line", "\ufeff" + TEST_KEY, "", "   \n", TEST_KEY + "\r\n",
    "\udcff" + TEST_KEY])
KEY_PLACE = choice(["CO_API_KEY", "CO_API_KEY", "COHERE_API_KEY", "config", "flag"], ["none"])
URL_PLACE = choice(["CO_API_URL", "CO_API_URL", "config", "flag"], ["config"])
CONFIG_PLACE = choice(["xdg", "explicit", "home", "none"], [
    "xdg-file", "xdg-missing", "explicit-missing", "explicit-dir", "no-home", "home-file"])
CONFIG_VALUES = {
    "api_key": KEY, "api_key_file": choice(["{tmp}/key.txt"], [
        "key.txt", "{tmp}/missing", "~/key.txt", "{tmp}", "/dev/null"]),
    "base_url": URL, "model": choice(WORDS, ARG_TEXT), "timeout": TIMEOUT, "retries": RETRY,
    "client_name": choice(NAMES, ARG_TEXT), "junk": choice(WORDS, ARG_TEXT),
}
CONFIG_JUNK = st.sampled_from(["[profile p]", "[profile]", "api_key = x", "timeout = 0", "[",
                               "=", "x", "a = %(b)s", "  continued", "; comment", "key: colon",
                               "[default]\n[default]", "base_url"])
ENVIRONMENT = {"CO_MODEL": choice(WORDS, ARG_TEXT), "CO_PROFILE": choice([UNSET], ["p", "x", ""]),
               "LANG": choice(["C", "C.UTF-8"], ["en_US.ISO-8859-1"]),
               "PYTHONIOENCODING": choice(["utf-8"], ["latin-1", "ascii"])}


@st.composite
def config_file(draw: st.DrawFn, odd: Odd, key: str | None, url: str | None) -> bytes:
    """INI text: the key and URL when given, other known keys, a profile `p`; odd values,
    junk lines and a BOM or bad byte when "config" is odd."""
    lines = ["[default]"]
    if key is not None:
        lines.append(draw(st.sampled_from([f"api_key = {key}", "api_key_file = {tmp}/key.txt"])))
    if url is not None:
        lines.append(f"base_url = {url}")
    others = sorted(set(CONFIG_VALUES) - {"api_key", "api_key_file", "base_url"})
    for name in draw(st.lists(st.sampled_from(others), max_size=3, unique=True)):
        value = draw(pick(CONFIG_VALUES[name], "config" in odd))
        lines.append(f"{name} = {value}")
    lines += ["[profile p]", "model = from-profile"]
    for _ in range(draw(st.integers(0, 3)) if "config" in odd else 0):
        lines.insert(draw(st.integers(1, len(lines))), draw(CONFIG_JUNK))
    prefix = draw(pick(choice([""], ["\ufeff", "\udcff"]), "config" in odd))
    return (prefix + "\n".join(lines) + "\n").encode("utf-8", "surrogateescape")


@dataclass
class Setup:
    """Where the key, URL and config come from, as environment, files and flags."""

    env: list[tuple[str, str]] = field(default_factory=list)
    files: list[FileSpec] = field(default_factory=list)
    args: list[str] = field(default_factory=list)


def _place_config(setup: Setup, place: str, text: bytes) -> None:
    where = {"xdg": "xdg/cohere-chat/config.ini", "explicit": "cfg.ini",
             "home": "home/.config/cohere-chat/config.ini"}
    if place in where:
        setup.files.append(FileSpec(where[place], text))
    setup.files.append(FileSpec("afile", b"not a folder"))
    variables = {
        "xdg": ("XDG_CONFIG_HOME", "{tmp}/xdg"), "explicit": ("COHERE_CHAT_CONFIG",
                                                               "{tmp}/cfg.ini"),
        "xdg-file": ("XDG_CONFIG_HOME", "{tmp}/afile"),
        "xdg-missing": ("XDG_CONFIG_HOME", "{tmp}/missing"),
        "explicit-missing": ("COHERE_CHAT_CONFIG", "{tmp}/missing.ini"),
        "explicit-dir": ("COHERE_CHAT_CONFIG", "{tmp}"),
        "no-home": ("HOME", UNSET), "home-file": ("HOME", "{tmp}/afile"),
    }
    if place in variables:
        setup.env.append(variables[place])


@st.composite
def setup(draw: st.DrawFn, odd: Odd, connection: bool = True) -> Setup:
    """Key, URL and config from their places; with `connection`, the timeout, retry and
    wait flags (the wait always given: short when valid, as a server may ask for hours)."""
    result = Setup()
    key, url = draw(pick(KEY, "key" in odd)), draw(pick(URL, "url" in odd))
    key_from, url_from = draw(pick(KEY_PLACE, "key" in odd)), draw(pick(URL_PLACE, "url" in odd))
    if key_from in ("CO_API_KEY", "COHERE_API_KEY"):
        result.env.append((key_from, key))
    if key_from == "flag":
        result.args += ["--api-key-file", "{tmp}/key.txt"]
    key_text = draw(pick(KEY_FILE, "key" in odd)).encode("utf-8", "surrogateescape")
    result.files.append(FileSpec("key.txt", key_text, draw(st.sampled_from([0o600, 0o644]))))
    if url_from == "CO_API_URL":
        result.env.append(("CO_API_URL", url))
    if url_from == "flag":
        result.args += ["--base-url", url]
    text = draw(config_file(odd, key if key_from == "config" else None,
                            url if url_from == "config" else None))
    _place_config(result, draw(pick(CONFIG_PLACE, "config" in odd)), text)
    for name, values in ENVIRONMENT.items():
        if draw(st.integers(0, 3)) == 0:
            result.env.append((name, draw(pick(values, "env" in odd))))
    if connection:
        result.args += ["--max-wait", draw(pick(WAIT, "connection" in odd))]
        for flag, values in (("--timeout", TIMEOUT), ("--retries", RETRY)):
            if draw(st.booleans()):
                result.args += [flag, draw(pick(values, "connection" in odd))]
    return result


MESSAGES = st.sampled_from([
    {"role": "user", "content": "hi"}, {"role": "system", "content": "s"},
    {"role": "user", "content": "a\u2028b\u0085c"},
    {"role": "user", "content": [{"type": "text", "text": "x"}]},
    {"role": "assistant", "content": "a", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "t", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "c", "content": "r"}, {"role": "user", "content": "z"},
])


@st.composite
def jsonl(draw: st.DrawFn, odd: bool) -> bytes:
    """Message lines (raw U+2028 in one); with `odd`, a part of one given a wrong value."""
    lines = draw(st.lists(MESSAGES, min_size=1, max_size=4))
    if odd:
        lines = draw(mutated(lines, most=1))
    return b"\n".join(dumps(line) for line in lines) if isinstance(lines, list) else dumps(lines)


@st.composite
def json_document(draw: st.DrawFn, odd: bool) -> bytes:
    """An array of messages or a request object with them (a wrong value with `odd`)."""
    messages = draw(st.lists(MESSAGES, min_size=1, max_size=3))
    document: object = draw(st.sampled_from([messages, {"messages": messages}]))
    return dumps(draw(mutated(document, most=1)) if odd else document)


ODD_STDIN = st.one_of(
    st.binary(max_size=120), st.sampled_from([b"\xff\xfe", b"", b"\n\n", b"\xef\xbb\xbfhi",
                                              b"\x00", b"a\xe2\x80\xa8b"]),
    st.integers(1, 3_000_000).map(lambda n: b"a" * n),
)


@st.composite
def stdin_for(draw: st.DrawFn, form: str, odd: bool) -> bytes | None:
    """What stdin holds for input format `form`: fitting data, none, or odd bytes."""
    if odd and draw(st.booleans()):
        return draw(ODD_STDIN)
    if draw(st.integers(0, 3)) == 0:
        return None
    if form == "jsonl":
        return draw(jsonl(odd))
    if form == "json":
        return draw(json_document(odd))
    return draw(st.text(max_size=40)).encode()


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")
FILE_FLAGS = {  # flag: (valid contents, odd contents)
    "--system-file": ([b"Be terse.\n"], [b"\xff", b""]),
    "--tools": ([b'[{"type": "function", "function": {"name": "t", "parameters": {}}}]'],
                [b"[", b"[]", b'[{"type": "function"}]', b"null"]),
    "--documents": ([b'"a doc"\n{"id": "d", "data": {"snippet": "s"}}\n'],
                    [b'{"id": 0, "data": {}}', b'{"id": false}', b'{"id": "d", "data": 5}']),
    "--json-schema": ([b'{"type": "object"}'], [b"[", b"5"]),
    "--image": ([PNG], [b"not an image", b""]), "--document": ([b"text\n"], [b"\xff\xfe"]),
}
VALUE_FLAGS = {
    "-m": choice(WORDS, ARG_TEXT), "-s": choice(WORDS, ARG_TEXT),
    "--stop": choice(WORDS, ARG_TEXT),
    "-t": choice(["0", "0.5", "1"], ["1.5", "-0.1", "nan", "inf", "x"]),
    "--max-tokens": choice(["1", "3", "100"], ["0", "-1", "1" + "0" * 20, "x", "1.5"]),
    "--seed": choice(["0", "7"], ["-1", str(2**64), "x"]),
    "--frequency-penalty": choice(["0", "0.5"], ["2", "nan"]),
    "--presence-penalty": choice(["0", "0.5"], ["-1", "inf"]),
    "-k": choice(["0", "500"], ["501", "-1"]), "-p": choice(["0.5"], ["1", "0"]),
    "--safety-mode": choice(["contextual", "off"], ["STRICT", "x"]),
    "--thinking-budget": choice(["100"], ["0", "-1", "x"]),
    "--citations": choice(["enabled", "off", "accurate"], ["x"]),
    "--priority": choice(["0", "999"], ["1000", "-1"]),
    "--tool-choice": choice(["required", "none"], ["x"]),
    "--response-format": choice(["text", "json"], ["xml"]),
    "--image-detail": choice(["auto", "high"], ["x"]),
    "--param": choice(["seed=1", "temperature=0.5", 'stop_sequences=["x"]'], [
        "stream=true", "messages=[]", "model=5", "tools=null", "x=1", "=1", "max_tokens=1e999",
        "response_format=xml", 'documents=[{"id": 0}]', "temperature=nan", "noequals"]),
}
SWITCHES = ("--usage", "--show-citations", "--show-thinking", "-v", "--stream", "--no-stream",
            "--thinking", "--no-thinking", "--logprobs", "--strict-tools")
RARE_SWITCHES = ("--dry-run", "--no-stdin")


@st.composite
def request_flags(draw: st.DrawFn, odd: Odd, switches: Sequence[str] = SWITCHES,
                  rare: Sequence[str] = RARE_SWITCHES) -> tuple[list[str], list[FileSpec]]:
    """Request flags with values ("flags" odd: odd values), and the files some of them
    name ("files" odd: missing, a folder, /dev/zero, a FIFO, odd contents)."""
    args: list[str] = []
    files: list[FileSpec] = []
    for flag in draw(st.lists(st.sampled_from(sorted(VALUE_FLAGS)), max_size=3)):
        args += [flag, draw(pick(VALUE_FLAGS[flag], "flags" in odd))]
    for number, flag in enumerate(draw(st.lists(st.sampled_from(sorted(FILE_FLAGS)),
                                                max_size=2 if "files" in odd else 1))):
        where = draw(pick(choice(["file"], ["missing", "dir", "zero", "odd", "fifo"]),
                          "files" in odd))
        path = {"missing": "{tmp}/missing", "dir": "{tmp}", "zero": "/dev/zero"}.get(
            where, f"{{tmp}}/input{number}.png")
        good, bad = FILE_FLAGS[flag]
        if where == "fifo":
            files.append(FileSpec(f"input{number}.png", fifo=True))
        if where in ("file", "odd"):
            files.append(FileSpec(f"input{number}.png", draw(st.sampled_from(
                bad if where == "odd" else good))))
        args += [flag, path]
    args += draw(st.lists(st.sampled_from(switches), max_size=4, unique=True))
    if rare and draw(st.integers(0, 9)) == 0:
        args.append(draw(st.sampled_from(rare)))
    return args, files


CONVERSATION = choice(st.sampled_from([
    b'{"role":"user","content":"hi"}\n{"role":"assistant","content":"yo"}\n', b"",
    b'{"role":"system","content":"s"}\n']).map(bytes.decode), st.sampled_from([
    b"junk\n", '{"role":"user","content":"a\u2028b"}\n'.encode(), b"\xff\n", b"\n\n",
    b'{"role":"user","content":"torn']).map(lambda b: b.decode("utf-8", "surrogateescape")))


@st.composite
def conversation(draw: st.DrawFn, odd: Odd) -> tuple[list[str], list[FileSpec]]:
    """`-c FILE`: none, a new file, an existing one; odd: a bad path or bad content."""
    bad = "conversation" in odd
    how = draw(pick(choice(["none", "none", "new", "existing"], ["nodir", "isdir", "fifo"]), bad))
    if how == "none":
        return [], []
    path = {"nodir": "{tmp}/no/such/dir/c.jsonl", "isdir": "{tmp}/home"}.get(how,
                                                                           "{tmp}/c.jsonl")
    args = ["-c", path]
    if draw(st.integers(0, 3)) == 0:
        args += ["--lock-timeout", draw(pick(choice(["1", "0"], ["-5", "nan", "inf"]), bad))]
    if how == "fifo":
        return args, [FileSpec("c.jsonl", fifo=True)]
    if how == "existing":
        text = draw(pick(CONVERSATION, bad))
        return args, [FileSpec("c.jsonl", text.encode("utf-8", "surrogateescape"))]
    return args, []


LEVELS = st.sampled_from([0, 0, 1, 2])
INTERRUPTS = st.sampled_from([None] * 20 + [0.0, 0.02, 0.1, 0.3, 1.0])
LIMITS = choice([""], ["full", "fsize"])


@st.composite
def send_case(draw: st.DrawFn) -> Case:
    """`send`, everything drawn: setup, flags, conversation, stdin, prompt, and replies."""
    odd = draw(oddness(*SETUP_DIMENSIONS, "flags", "files", "stdin", "conversation", "prompt",
                       "limits"))
    where = draw(setup(odd))
    flags, files = draw(request_flags(odd))
    form = draw(st.sampled_from(["text", "text", "jsonl", "json"]))
    output = draw(st.sampled_from([[], [], ["-F", "json"], ["-F", "message"], ["--json"],
                                   ["-F", "events"]]))
    chat, chat_files = draw(conversation(odd))
    prompt = draw(st.lists(pick(choice(WORDS, ARG_TEXT), "prompt" in odd),
                           min_size="prompt" not in odd, max_size=3))
    head = draw(st.sampled_from([[], [], ["send"]]))
    args = [*head, *where.args, *flags, "-i", form, *output, *chat, "--", *prompt]
    replies = draw(chat_script(draw(LEVELS), stream=streams(args)))
    return Case(tuple(args), tuple(where.env), (*where.files, *files, *chat_files),
                draw(stdin_for(form, "stdin" in odd)), replies, draw(INTERRUPTS),
                draw(pick(LIMITS, "limits" in odd)))


def streams(args: Sequence[str]) -> bool:
    """Whether `send` with `args` asks for a stream (text and events stream by default)."""
    if "--stream" in args or "--no-stream" in args:
        return "--stream" in args
    return not {"json", "--json", "message"} & set(args)


# A server that echoes the key (issue 25): in a 401's message (with the run log), as the
# reply's id (--json), in a stream cut into pieces, in a status line.
ECHOING_401 = Reply(401, dumps({"message": f"invalid api token: Bearer {ECHO}", "id": ECHO}))
ECHOING_ID = Reply(body=dumps({"id": ECHO, "finish_reason": "COMPLETE", "message": {
    "role": "assistant", "content": [{"type": "text", "text": "ok"}]}}))


@fuzz(16)
@example(plain("--log", "{tmp}/runs.jsonl", "--", "hi", replies=[ECHOING_401]))
@example(plain("--json", "--log", "{tmp}/runs.jsonl", "--", "hi", replies=[ECHOING_ID]))
@example(plain("--stream", "--", "hi", replies=[
    replace(answer(f"you sent {ECHO}", True, "chunked"), pieces=7)]))
@example(plain("--retries", "0", "--", "hi", replies=[
    Reply(body=b"Bearer " + ECHO.encode() + b"\r\n\r\n", framing="garbage")]))
@example(plain("--show-citations", "--", "hi",
               replies=[answer(stream=True, citations=STRING_SOURCE)]))
@example(plain("--retries", "0", "--", "hi",
               replies=[Reply(400, b'{"message": "no"}', framing="unterminated")]))
@example(plain("--no-stream", "--", "hi", replies=[WARNED]))
@example(plain("--", "hi", key=TEST_KEY + "\nx"))
@example(plain("--no-stream", "--", "hi", replies=[answer()], limit="full"))
@example(plain("--timeout", "inf", "--", "hi"))
@example(plain("--image", "{tmp}/in.png", "--", "hi", files=(FileSpec("in.png", fifo=True),)))
@example(plain("-c", "{tmp}/c.jsonl", "--dry-run", "--", "hi",
               files=(FileSpec("c.jsonl", fifo=True),)))
@given(send_case())
def test_send_keeps_the_guarantee(case: Case) -> None:
    play(case, once=True, oracle=fifo_refused(case))


def fifo_refused(case: Case) -> Oracle | None:
    """With a FIFO among the files (every file a case names is read before sending):
    nothing sent, and a usage or input error (issue 25: refused, never waited on)."""
    if not any(spec.fifo for spec in case.files) or case.interrupt is not None:
        return None

    def check(run: Run, _folder: Path, server: ChaosServer) -> list[str]:
        if server.seen or run.exit_code not in (2, 3):
            return [f"Oracle: a FIFO among the files, yet exit {run.exit_code} after "
                    f"{len(server.seen)} request(s); it is refused (2 or 3) before sending"]
        return []
    return check


# Issue 12, items 4 and 6: a complete reply is the reply, however the connection ends.

@st.composite
def complete_reply_case(draw: st.DrawFn) -> tuple[Case, bytes]:
    """A whole, valid reply (a stream with its message-end, or a JSON body, even to a
    streamed request), then a connection that is held open, closed without the chunked
    terminator, or ended normally; with or without -c. Returns the case and its text."""
    text = draw(st.text(st.characters(codec="utf-8"), min_size=1, max_size=30))
    response = {"id": "r-1", "finish_reason": "COMPLETE", "message": {
        "role": "assistant", "content": [{"type": "text", "text": text}]}}
    if draw(st.booleans()):
        body = encode_events(events_of(response), draw(st.sampled_from(ENCODINGS)))
        kind, stream = "text/event-stream", draw(st.sampled_from(["--stream", "-F", "--json"]))
        framing = draw(st.sampled_from(["length", "chunked", "close", "hold", "unterminated"]))
    else:
        body, kind, stream = dumps(response), "application/json", draw(st.sampled_from(
            ["--stream", "--no-stream", "--json"]))
        framing = draw(st.sampled_from(["length", "chunked", "close"]))
    reply = Reply(body=body, content_type=kind, framing=framing,
                  pieces=draw(st.sampled_from([1, 3])))
    flags = {"-F": ["-F", "events"], "--json": ["--json", "--stream"]}.get(stream, [stream])
    chat = draw(st.sampled_from([[], ["-c", "{tmp}/c.jsonl"]]))
    args = (*flags, *chat, "--timeout", "5", "--retries", "2", "--max-wait", "0.1", "--", "hi")
    env = (("CO_API_KEY", TEST_KEY), ("CO_API_URL", "{url}"))
    return Case(args, env, replies=(reply,)), text.encode()


def whole_reply(text: bytes, args: Sequence[str]) -> Oracle:
    def check(run: Run, folder: Path, server: ChaosServer) -> list[str]:
        found = []
        if run.exit_code != 0 or len(server.seen) != 1:
            found.append(f"Oracle: exit {run.exit_code} after {len(server.seen)} request(s);"
                         " a complete reply is exit 0 after one")
        elif "-F" not in args and "--json" not in args and run.stdout != text + b"\n":
            found.append("Oracle: stdout is not the reply's text and one newline")
        conversation = folder / "c.jsonl"
        saved = conversation.read_bytes().splitlines() if conversation.exists() else []
        if "-c" in args and len(saved) != 2:
            found.append("Oracle: the conversation file does not hold the turn")
        return found
    return check


@fuzz(8)
@example((plain("--stream", "--", "hi", replies=[answer("0", True, "hold")]), b"0"))
@example((plain("--stream", "--", "hi", replies=[answer("0")]), b"0"))
@given(complete_reply_case())
def test_a_complete_reply_is_the_reply_whatever_the_connection_does(
        case_and_text: tuple[Case, bytes]) -> None:
    case, text = case_and_text
    play(case, once=True, oracle=whole_reply(text, case.args))


# batch: random lines, jobs, outputs (existing, torn, the input itself, a hard link to it).

BATCH_LINE = choice([
    '"a prompt"', '{"id": "a", "prompt": "hi"}', '{"prompt": "x", "temperature": 0.5}',
    '{"messages": [{"role": "user", "content": "m"}]}', '{"id": 7, "prompt": "n"}', ""], [
    '{"id": [1], "prompt": "x"}', '{"id": 1.5, "prompt": "x"}', '{"prompt": 5}', "junk",
    '{"prompt": "x", "images": ["tiny.png"]}', '{"prompt": "a\u2028b"}', "\udcff", "[]",
    '{"prompt": "x", "documents": [{"id": "d", "snippet": "s"}]}', '{"id": "a", "prompt": "b"}',
    '{"prompt": "x", "temperature": 5}', '{"prompt": "x", "unknown": 1}', "null",
    '{"id": null, "prompt": "x"}', '{"id": false, "prompt": "x"}', '{"id": "' + "x" * 5000 + '"}'])
OLD_RESULTS = choice(['{"id": "a", "line": 1, "text": "x"}\n', ""], [
    '{"id": "a", "line": 1, "text": "x"}\n{"id": 2, "li', "junk\n", "\udcff\n",
    '{"id": 7, "line": 2, "error": {"status": 500, "message": "m"}}\n'])
OUTPUTS = choice(["stdout", "new", "existing"], ["input", "hardlink", "nodir"])
INPUTS = st.sampled_from(["stdin", "file", "dash", "stdin-file"])


def _batch_output(where: str, old: bytes) -> tuple[list[str], list[FileSpec]]:
    if where == "stdout":
        return [], []
    path = {"input": "in.jsonl", "hardlink": "link.jsonl", "nodir": "no/dir/out.jsonl"}.get(
        where, "out.jsonl")
    files = {"existing": [FileSpec("out.jsonl", old)],
             "hardlink": [FileSpec("link.jsonl", link="in.jsonl")]}.get(where, [])
    return ["-o", "{tmp}/" + path], files


@st.composite
def batch_case(draw: st.DrawFn) -> Case:
    """`batch` with random lines, input place, jobs, output and flags."""
    odd = draw(oddness(*SETUP_DIMENSIONS, "flags", "files", "lines", "output", "jobs",
                       "limits"))
    where = draw(setup(odd))
    lines = draw(st.lists(pick(BATCH_LINE, "lines" in odd), min_size=1, max_size=4))
    data = "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n"
    old = draw(pick(OLD_RESULTS, "output" in odd)).encode("utf-8", "surrogateescape")
    output, files = _batch_output(draw(pick(OUTPUTS, "output" in odd)), old)
    source = draw(INPUTS)
    stdins: dict[str, bytes | str] = {"stdin": data, "dash": data, "stdin-file": "{tmp}/in.jsonl"}
    flags, flag_files = draw(request_flags(odd, ("--unordered", "--raw", "-v"), rare=()))
    resume = draw(st.booleans())
    flags += ["--resume"] if output and resume else []
    jobs = ["-j", draw(pick(choice(["1", "2", "4"], ["0", "-1", "x", "300"]), "jobs" in odd))]
    rpm = ["--rpm", draw(pick(choice(["6000"], ["0", "-1", "nan", "inf", "x"]), "jobs" in odd))]
    args = ["batch", *where.args, *flags, *jobs, *draw(st.sampled_from([[], rpm])), *output,
            *{"file": ["{tmp}/in.jsonl"], "dash": ["-"]}.get(source, [])]
    files = [FileSpec("in.jsonl", data), *files, *where.files, *flag_files]
    return Case(tuple(args), tuple(where.env), tuple(files), stdins.get(source),
                draw(chat_script(draw(LEVELS), most=4, stream=False)), draw(INTERRUPTS),
                draw(pick(LIMITS, "limits" in odd)))


def input_kept(data: bytes) -> Oracle:
    def check(run: Run, folder: Path, server: ChaosServer) -> list[str]:
        if (folder / "in.jsonl").read_bytes() != data:
            return ["InputLost: batch changed its input file (the one it read the lines from)"]
        return []
    return check


@fuzz(8)
@example(plain("batch", "--retries", "0", "{tmp}/in.jsonl", key=TEST_KEY + "\u2019",
               files=(FileSpec("in.jsonl", b'"a"\n"b"\n'),), replies=[answer()]))
@example(plain("batch", "-o", "{tmp}/in.jsonl", stdin="{tmp}/in.jsonl", replies=[answer()],
               files=(FileSpec("in.jsonl", b'"a"\n"b"\n'),)))
@given(batch_case())
def test_batch_keeps_the_guarantee(case: Case) -> None:
    data = next(spec.content for spec in case.files if spec.name == "in.jsonl")
    play(case, oracle=input_kept(data or b""), bound=2 * BOUND)


# The tool loop (issue 20): tools that fail, print megabytes, leave daemons, kill themselves,
# read their parent's environment, or outlast --tool-timeout.

TOOLS_FILE = (b'[{"type": "function", "function": {"name": "t", "description": "d", "parameters":'
              b' {"type": "object", "properties": {"city": {"type": "string"}}}}}]')
TOOL_OUTPUT = choice(["printf '{\"ok\": 1}\\n'", ":", "head -c 100000 /dev/zero | tr '\\0' a"], [
    "head -c 3000000 /dev/zero | tr '\\0' a", "printf '\\377\\376\\000x'", "echo oops >&2",
    "tr '\\0' '\\n' < /proc/$PPID/environ"])
TOOL_DAEMON = choice(["", "sleep 30 & echo $! >> {tmp}/pids"], [  # pids: the tool's group
    "setsid sleep 30 & echo $! >> {tmp}/daemons",
    "setsid sleep 30 >/dev/null 2>&1 </dev/null & echo $! >> {tmp}/daemons"])
TOOL_END = choice(["exit 0"], ["exit 1", "exit 255", "kill -KILL $$", "kill -TERM $$",
                               "kill -SEGV $$", "kill -PIPE $$", "exec sleep 30"])
TOOL_EXEC = choice(["t={tmp}/tool.sh", "t=sh {tmp}/tool.sh"], [
    "t=/nonexistent", "t=", "t='unclosed", "t={tmp}/afile", "u={tmp}/tool.sh"])
TOOL_NAMES = choice(["t"], ["u", "", "T"])


TOOL_CALL = Reply(body=dumps({"id": "r", "finish_reason": "TOOL_CALL", "message": {
    "role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {
        "name": "t", "arguments": "{}"}}]}}))
LEAVES_A_CHILD = b"#!/bin/sh\necho $$ >> {tmp}/pids\nsleep 30 & echo $! >> {tmp}/pids\necho x\n"
READS_THE_KEY = b"#!/bin/sh\necho $$ >> {tmp}/pids\ntr '\\0' '\\n' < /proc/$PPID/environ\n"


@st.composite
def tool_script(draw: st.DrawFn, odd: Odd) -> bytes:
    """A shell tool that records its process ids: in `pids` those of its own process
    group (cohere-chat must end them), in `daemons` those that left it with setsid."""
    lines = ["#!/bin/sh", "echo $$ >> {tmp}/pids", draw(st.sampled_from(["cat >/dev/null", ""])),
             draw(pick(choice(["", "sleep 0.2"], ["sleep 3"]), "tool" in odd)),
             draw(pick(TOOL_DAEMON, "tool" in odd)), draw(pick(TOOL_OUTPUT, "tool" in odd)),
             draw(pick(TOOL_END, "tool" in odd))]
    return "\n".join(lines).encode() + b"\n"


@st.composite
def tool_round(draw: st.DrawFn, odd: Odd, stream: bool) -> Reply:
    """A reply that calls tools (named `t` unless "calls" is odd), as JSON or a stream."""
    response = draw(chat_response(pick(TOOL_NAMES, "calls" in odd), st.just("TOOL_CALL")))
    chaos = "calls" in odd and draw(st.booleans())
    if chaos:
        return draw(draw(st.sampled_from([json_reply, sse_reply]))(response, chaos))
    return draw(sse_reply(response, chaos) if stream else json_reply(response, chaos))


@st.composite
def tool_case(draw: st.DrawFn) -> Case:
    """`send --tool-exec` against replies that call the tool 1-3 times, then answer."""
    odd = draw(oddness(*SETUP_DIMENSIONS, "conversation", "tool", "calls", "tool-flags"))
    where = draw(setup(odd))
    chat, chat_files = draw(conversation(odd))
    bad = "tool-flags" in odd
    args = [*where.args, "--tools", "{tmp}/tools.json",
            "--tool-exec", draw(pick(TOOL_EXEC, bad)),
            "--tool-timeout", draw(pick(choice(["0.5", "1", "2"], [
                "0", "-1", "nan", "inf", "1e300", "x"]), bad)),
            "--max-tool-rounds", draw(pick(choice(["1", "2", "3"], ["0", "101", "x"]), bad)),
            *draw(st.sampled_from([[], ["--stream"], ["--no-stream"], ["-F", "message"],
                                   ["--json"], ["-F", "events"]])), *chat, "--", "weather?"]
    stream = streams(args)
    rounds = [draw(tool_round(odd, stream)) for _ in range(draw(st.integers(1, 3)))]
    final = draw(chat_reply(chaos="calls" in odd and draw(st.booleans()), stream=stream))
    tools_text = draw(pick(choice([TOOLS_FILE.decode()], ["[", "[]"]), bad)).encode()
    files = (FileSpec("tool.sh", draw(tool_script(odd)), 0o755),
             FileSpec("tools.json", tools_text), *where.files, *chat_files)
    interrupt = draw(st.sampled_from([None, None, None, 0.3, 0.8, 1.5]))
    return Case(tuple(args), tuple(where.env), files, None, (*rounds, final), interrupt)


Test = TypeVar("Test", bound=Callable[..., None])


def not_as_root(case: Case) -> Callable[[Test], Test]:
    """Pin `case` unless running as root: root (CAP_SYS_PTRACE) reads a non-dumpable
    parent's /proc/PID/environ, the limit README and man page state."""
    if os.geteuid() == 0:
        return lambda test: test
    return example(case).__call__


def one_tool_call(script: bytes, interrupt: float | None = None) -> Case:
    """A reply that calls the tool `t` (run as `script`), then the answer."""
    return plain("--no-stream", "--tools", "{tmp}/tools.json", "--tool-exec", "t={tmp}/tool.sh",
                 "go", replies=[TOOL_CALL, answer()], interrupt=interrupt, files=(
                     FileSpec("tools.json", TOOLS_FILE), FileSpec("tool.sh", script, 0o755)))


@fuzz(8)
@example(one_tool_call(LEAVES_A_CHILD, interrupt=0.3))
@not_as_root(one_tool_call(READS_THE_KEY))
@given(tool_case())
def test_the_tool_loop_keeps_the_guarantee(case: Case) -> None:
    play(case, bound=1.5 * BOUND)


# The stub as a program (issue 20): random --replies, --fail rules and settings, idle
# clients holding connections, and the CLI run against it.

STUB_REPLY = choice(['"canned text"', '{"message": {"content": "hi"}}', (
    '{"message": {"tool_calls": [{"id": "c", "type": "function", "function": {"name": "t",'
    ' "arguments": "{}"}}]}}'), ""], [
    '{"message": {"tool_calls": [{"function": "a string"}]}}', "5", "junk", "\udcff",
    '{"message": {"citations": [{"start": 0, "end": "5", "text": "x", "sources": []}]}}',
    '{"message": {"citations": [{"start": 0, "end": 1, "content_index": [0]}]}}',
    '{"message": {"content": 5}}', '{"message": {"content": [{"type": "text", "text": 7}]}}',
    '{"finish_reason": 5, "message": {}}', '{"message": {"content": [{"type": "image"}]}}',
    '{"message": {"tool_calls": [{"function": {"name": 5, "arguments": []}}]}}'])
STUB_FLAGS = {
    "--fail": choice(["429", "500", "503", "drop", "cut=2", "garbage", "500x2", "hang"], [
        "600", "x", "500x0", "cut=-1", "429x1000000", "hangx2", "", "cut=0"]),
    "--latency": choice(["0", "20", "5-50"], ["inf", "nan", "-1", "x", "50-10", "1e999"]),
    "--token-delay": choice(["0", "2"], ["x", "-1", "inf", "nan"]),
    "--port": choice(["0"], ["70000", "-1", "x", "65536"]),
    "--retry-after": choice(["0", "0.1"], ["nan", "-1", "inf", "1e999"]),
    "--host": choice(["127.0.0.1"], ["::1", "localhost", "256.0.0.1", ""]),
}
IDLE_CLIENT = st.sampled_from([b"P", b"POST /v2/chat HTTP/1.1\r\nContent-Length: 100\r\n\r\n{",
                               b"GET /v1/models HTTP/1.1\r\n"])


@dataclass(frozen=True)
class StubCase:
    stub_args: tuple[str, ...]
    replies: bytes  # the --replies file, when the arguments name it
    idle: tuple[bytes, ...]  # what each idle client sends before it waits
    cli: Case  # run against the stub ({url} is the stub's)


@st.composite
def stub_case(draw: st.DrawFn) -> StubCase:
    odd = draw(oddness("stub-replies", "stub-flags"))
    lines = draw(st.lists(pick(STUB_REPLY, "stub-replies" in odd), min_size=1, max_size=4))
    args = ["stub", *draw(st.sampled_from([[], ["--replies", "{tmp}/replies.jsonl"]]))]
    for flag in draw(st.lists(st.sampled_from(sorted(STUB_FLAGS)), max_size=3)):
        args += [flag, draw(pick(STUB_FLAGS[flag], "stub-flags" in odd))]
    idle = tuple(draw(st.lists(IDLE_CLIENT, max_size=draw(st.sampled_from([0, 5, 40])))))
    command = draw(st.sampled_from([["--", "hi"], ["--stream", "--", "hi"], ["--json", "hi"],
                                    ["batch", "-j", "3"], ["models"]]))
    connection = ["--timeout", "2", "--retries", draw(st.sampled_from(["0", "1", "2"])),
                  "--max-wait", "0.2"]
    args_cli = [command[0], *connection, *command[1:]] if command[0] in ("batch", "models") \
        else [*connection, *command]
    cli = Case(tuple(args_cli), (("CO_API_KEY", TEST_KEY), ("CO_API_URL", "{url}")),
               stdin=b'"one"\n{"id": "x", "prompt": "two"}\n"three"\n')
    text = "\n".join(lines).encode("utf-8", "surrogateescape")
    return StubCase(tuple(args), text, idle, cli)


def first_line(proc: subprocess.Popen[bytes], timeout: float) -> str | None:
    """The URL the stub prints first, None if it prints none within `timeout`."""
    assert proc.stdout is not None
    deadline, data = time.monotonic() + timeout, b""
    while b"\n" not in data and time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.1)[0]:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            data += chunk
    line = data.partition(b"\n")[0].decode("utf-8", "replace").strip()
    return line if line.startswith("http") else None


@contextlib.contextmanager
def idle_clients(url: str, openings: Sequence[bytes]) -> Iterator[None]:
    """Connections that send a little and then wait, held while the CLI runs."""
    parts = urlsplit(url)
    sockets = []
    try:
        for opening in openings:
            with contextlib.suppress(OSError):
                sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=2)
                sockets.append(sock)
                sock.sendall(opening)
        yield
    finally:
        for sock in sockets:
            sock.close()


def stop(proc: subprocess.Popen[bytes]) -> list[str]:
    """SIGTERM the stub; what is wrong with how it ends (it must end within 30 s)."""
    if proc.poll() is not None:
        return [f"StubDied: the stub ended with {proc.returncode} while serving"]
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return ["Hang: the stub did not end within 30s of SIGTERM"]
    return [] if code in DOCUMENTED_EXITS else [f"Exit{code}: the stub ended with {code}"]


def serve_and_run(case: StubCase, folder: Path, err: BinaryIO) -> tuple[list[str], Run | None]:
    """Start the stub, run the CLI against it while idle clients wait, stop the stub."""
    args = [_fill(arg, folder, "") for arg in case.stub_args]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cohere_cli", *args], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=err, env=environment((), folder, ""), cwd=folder,
        start_new_session=True)
    with proc:
        url = first_line(proc, 30)
        if url is None:
            return not_started(proc), None
        with idle_clients(url, case.idle):
            (folder / "cli").mkdir()
            run = run_case(case.cli, folder / "cli", url, bound=1.5 * BOUND)
        found = run.found + stop(proc)
        if proc.stdout and TEST_KEY.encode() in proc.stdout.read():
            found.append("KeyLeak: the key shows in the stub's output")
    return found, run


def not_started(proc: subprocess.Popen[bytes]) -> list[str]:
    """A stub that printed no URL must end soon, with a documented code other than 0."""
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return ["Hang: the stub printed no URL and did not end"]
    if code in DOCUMENTED_EXITS and code != 0:
        return []
    return [f"Exit{code}: the stub did not start, and ended with {code}"]


def play_stub(case: StubCase) -> None:
    with tempfile.TemporaryDirectory(prefix="cc-property-") as name, \
            tempfile.TemporaryFile() as err:
        folder = Path(name)
        (folder / "replies.jsonl").write_bytes(case.replies)
        found, run = serve_and_run(case, folder, err)
        err.seek(0)
        stub_err = err.read()
    if b"Traceback" in stub_err:
        found.append("StubTraceback: a traceback on the stub's stderr")
    if TEST_KEY.encode() in stub_err:
        found.append("KeyLeak: the key shows in the stub's stderr")
    if found:
        where = describe(run) if run else ""
        raise failure(found, (run.stderr if run else b"") + stub_err)(
            f"{'; '.join(found)}\nstub stderr: {stub_err[-1500:]!r}\n{where}")


@fuzz(5)
@example(StubCase(("stub", "--port", "70000"), b"", (), plain("--", "hi")))
@example(StubCase(("stub", "--replies", "{tmp}/replies.jsonl"),
                  b'{"message": {"tool_calls": [{"function": "a string"}]}}', (),
                  plain("--timeout", "2", "--retries", "0", "--", "hi")))
@given(stub_case())
def test_the_stub_keeps_the_guarantee(case: StubCase) -> None:
    play_stub(case)


# config and models: the key never shows; model pages of any shape.

@st.composite
def listing_case(draw: st.DrawFn) -> Case:
    odd = draw(oddness(*SETUP_DIMENSIONS, "flags"))
    command = draw(st.sampled_from([["config"], ["models"], ["models", "--json"]]))
    where = draw(setup(odd, connection=command != ["config"]))
    if command == ["config"]:
        for flag, values in (("--timeout", TIMEOUT), ("--retries", RETRY),
                             ("--client-name", choice(NAMES, ARG_TEXT)),
                             ("-m", choice(WORDS, ARG_TEXT))):
            if draw(st.booleans()):
                where.args += [flag, draw(pick(values, "flags" in odd))]
    pages = draw(st.integers(1, 3))
    replies = tuple(draw(models_reply(last=number == pages)) for number in range(1, pages + 1))
    return Case((*command, *where.args), tuple(where.env), tuple(where.files), None, replies)


@fuzz(6)
@example(plain("models", "--timeout", "inf"))
@example(plain("models", replies=[Reply(body=dumps({"models": [
    {"name": f"echo {ECHO}", "endpoints": ["chat"]}]}))]))
@example(plain("models", "--timeout", "0"))
@example(plain("models", replies=[Reply(400, b'{"message": "no"}', framing="unterminated")]))
@example(plain("models", replies=[Reply(body=b'{"models": [], "next_page_token": 5}'),
                                  Reply(body=b'{"models": [{"name": null}]}')]))
@given(listing_case())
def test_config_and_models_keep_the_guarantee(case: Case) -> None:
    play(case)
