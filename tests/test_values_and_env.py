"""Values checked at the option and in the config by the same rules, and typed by the
time a command has them (cli/flags.py), keys that are not one line of ASCII, arguments
that are not UTF-8, a capped stdin, the environment (config location, early Ctrl-C,
closed standard streams) and odd `models` pages (issues 12, 20, 24)."""
from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from conftest import ROOT, TEST_KEY, Served, assert_no_key, invoke, run_process

from cohere_cli.cli.commands.batch import BatchFlags, batch
from cohere_cli.cli.commands.batches import BatchIdFlags, ListFlags, list_command, show_command
from cohere_cli.cli.commands.info import ConfigCommandFlags, ModelsFlags, config_command, models
from cohere_cli.cli.commands.send import SendFlags, send
from cohere_cli.cli.commands.stub import StubFlags, stub
from cohere_cli.cli.flags import parsed
from cohere_cli.settings.config import load_settings


def write_config(home: Path, text: str | bytes) -> Path:
    path = home / ".config" / "cohere-chat" / "config.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(0o600)
    return path


def shell(command: str, env: dict[str, str] | None = None,
          stdin: Any = subprocess.DEVNULL) -> subprocess.CompletedProcess[bytes]:
    """`python -m cohere_cli` started by sh, for redirections such as `>&-`; `$PY` is it."""
    done = subprocess.run(["sh", "-c", command], env={**(env or os.environ),
                          "PY": f"{sys.executable} -m cohere_cli"}, cwd=ROOT, stdin=stdin,
                          capture_output=True, timeout=30, check=False)
    assert_no_key(done.stdout, done.stderr)
    return done


# --- numbers and URLs: exit 2 at the option, by the same rule in the config ---------------

BAD_OPTIONS = [
    ("--timeout", "0"), ("--timeout", "nan"), ("--timeout", "inf"), ("--timeout", "1e999"),
    ("--timeout", "-1"), ("--max-wait", "nan"), ("--max-wait", "-1"), ("--max-wait", "inf"),
    ("--lock-timeout", "-5"), ("--lock-timeout", "nan"), ("--retries", "-1"),
    ("--retries", "1.5"), ("--tool-timeout", "inf"), ("--tool-timeout", "nan"),
    ("--tool-timeout", "1e300"), ("--tool-timeout", "0"),
]


@pytest.mark.parametrize(("option", "value"), BAD_OPTIONS)
def test_a_bad_number_is_refused_at_its_option(option: str, value: str, stub: Any) -> None:
    result = invoke([option, value, "--dry-run", "hi"])
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(f"cohere-chat: error: Invalid value for '{option}': must be")
    assert f"(got '{value}')" in result.stderr
    assert result.stderr.count("\n") == 1
    assert stub.requests == []


def test_the_flag_value_reaches_the_settings_typed() -> None:
    ctx = config_command.make_context("config", ["--timeout", "2.5", "--retries", "0"])
    found = load_settings(parsed(ConfigCommandFlags, ctx.params).settings, os.environ)
    assert (found.timeout, found.retries) == (2.5, 0)
    assert (type(found.timeout), type(found.retries)) == (float, int)
    assert found.sources["timeout"] == "flag --timeout"
    result = invoke(["config", "--timeout", "-1"])
    assert result.exit_code == 2 and "(got '-1')" in result.stderr  # never '-1.0'


TYPED: list[tuple[Any, type[Any], list[str]]] = [
    (send, SendFlags, ["hi"]), (batch, BatchFlags, []), (models, ModelsFlags, []),
    (config_command, ConfigCommandFlags, []), (list_command, ListFlags, []),
    (show_command, BatchIdFlags, ["ID"]), (stub, StubFlags, [])]


@pytest.mark.parametrize(("command", "kind", "args"), TYPED)
def test_each_command_has_its_flags_as_one_dataclass(command: Any, kind: type[Any],
                                                     args: list[str]) -> None:
    """Every value click parses lands in a field of the command's dataclass."""
    ctx = command.make_context(command.name, args)
    assert isinstance(parsed(kind, ctx.params), kind)
    with pytest.raises(TypeError, match="has no field for the flags extra"):
        parsed(kind, {**ctx.params, "extra": 1})
    name = next(iter(ctx.params))
    with pytest.raises(TypeError, match=name):
        parsed(kind, {key: value for key, value in ctx.params.items() if key != name})


def test_the_settings_come_from_the_same_flags_as_the_request() -> None:
    """ConfigFlags is made one way, from the parsed flags: --model is a setting too (it
    was left out of `send`'s settings), and --preset goes to the settings only."""
    ctx = send.make_context("send", ["-m", "mine", "--preset", "p", "--history-turns", "3",
                                     "--max-time", "9", "--log", "runs.jsonl", "hi"])
    flags = parsed(SendFlags, ctx.params)
    assert (flags.request.model, flags.settings.model) == ("mine", "mine")
    assert (flags.request.preset, flags.settings.preset) == (None, "p")
    assert (flags.settings.history_turns, flags.settings.max_time) == (3, 9.0)
    assert (flags.settings.log, flags.prompt) == ("runs.jsonl", ("hi",))
    result = invoke(["--model", "", "--dry-run", "hi"])  # as `config --model ""` shows it
    assert result.exit_code == 2 and 'the request needs a "model"' in result.stderr


def test_the_limits_themselves_are_accepted(stub: Any) -> None:
    result = invoke(["--timeout", "86400", "--max-wait", "0", "--lock-timeout", "0",
                     "--retries", "100", "--tool-timeout", "86400", "--no-stream", "hi"])
    assert (result.exit_code, result.stdout) == (0, "echo: hi\n")


@pytest.mark.parametrize(("line", "fragment"), [
    ("timeout = 0", "timeout must be a number of seconds more than 0 and at most 86400"),
    ("timeout = nan", "timeout must be a number of seconds"),
    ("timeout = 1e999", "timeout must be a number of seconds"),
    ("retries = -1", "retries must be a whole number from 0 to 100"),
    ("base_url = https://:443", "bad base URL 'https://:443' from "),
    ("client_name = a\u2019b", "client_name must be one line of ASCII text"),
])
def test_the_config_is_held_to_the_same_rules(line: str, fragment: str, clean_env: Path,
                                              stub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CO_API_URL")  # it would outrank the config's base_url
    path = write_config(clean_env, f"[default]\n{line}\n")
    result = invoke(["--dry-run", "hi"])
    assert result.exit_code == 2, result.stderr
    assert fragment in result.stderr and str(path) in result.stderr
    assert stub.requests == []


@pytest.mark.parametrize(("url", "fragment"), [
    ("https://host:abc", "must have a port number from 1 to 65535"),
    ("https://host:99999", "must have a port number from 1 to 65535"),
    ("https://host:0", "must have a port number from 1 to 65535"),
    ("https://[::1", "must be a valid URL (invalid IPv6 URL)"),
    ("https://:443", "must name a host"),
    ("https://a host", "must not contain spaces or control characters"),
    ("https://host/?q=1", "must not have a query or a fragment"),
])
def test_a_bad_base_url_is_a_usage_error_wherever_it_comes_from(
    url: str, fragment: str, stub: Any, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = invoke(["--base-url", url, "--dry-run", "hi"])
    assert result.exit_code == 2, result.stderr
    assert f"--base-url': bad base URL {url!r}: it {fragment}" in result.stderr
    monkeypatch.setenv("CO_API_URL", url)
    result = invoke(["--dry-run", "hi"])
    assert result.exit_code == 2, result.stderr
    assert f"bad base URL {url!r} from environment CO_API_URL: it {fragment}" in result.stderr
    monkeypatch.delenv("CO_API_URL")
    path = write_config(clean_env, f"[default]\nbase_url = {url}\n")
    result = invoke(["config"])
    assert result.exit_code == 2, result.stderr
    assert f"from {path} [default]: it {fragment}" in result.stderr
    assert stub.requests == []


@pytest.mark.parametrize("args", [
    ("--port", "70000"), ("--port", "-1"), ("--latency", "inf"), ("--latency", "nan"),
    ("--latency", "20-10"), ("--token-delay", "nan"), ("--token-delay", "-1"),
    ("--retry-after", "nan"), ("--retry-after", "inf"),
])
def test_the_stub_refuses_bad_values_at_start(args: tuple[str, str]) -> None:
    done = run_process(["stub", *args], timeout=15)
    assert done.returncode == 2, done.stderr
    assert done.stdout == b""  # it never started (no URL printed)
    assert f"Invalid value for '{args[0]}'".encode() in done.stderr


# --- the API key: one line of ASCII, or exit 2 naming its source, never showing it ---------

@pytest.mark.parametrize("key", ["SECRETKEY123\nx", "SECRETKEY123\rx", "SECRETKEY123\x1bx",
                                 "SECRETKEY123\u2019x", "SECRETKEY123\u00e9x"])
def test_a_key_that_is_not_one_line_of_ascii_is_a_configuration_error(
    key: str, stub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CO_API_KEY", key)
    result = invoke(["hi"])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("cohere-chat: error: the API key from environment "
                                    "CO_API_KEY contains ")
    assert "SECRETKEY" not in result.stdout + result.stderr
    assert stub.requests == []


def test_a_two_line_key_in_a_real_process_is_never_shown(stub: Any) -> None:
    env = {**os.environ, "CO_API_KEY": "SECRETKEY123\nx"}
    done = run_process(["hi"], env=env)
    assert done.returncode == 2
    assert b"SECRETKEY" not in done.stdout + done.stderr
    assert b"environment CO_API_KEY contains a line break" in done.stderr


def test_a_two_line_key_file_names_the_file(stub: Any, tmp_path: Path, clean_env: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(b"SECRETKEY123\nSECONDLINE\n")
    key_file.chmod(0o600)
    result = invoke(["--api-key-file", str(key_file), "hi"])
    assert result.exit_code == 2, result.stderr
    assert f"the API key from {key_file} (flag --api-key-file) contains a line break" in (
        result.stderr)
    assert "SECRETKEY" not in result.stderr and "SECONDLINE" not in result.stderr
    monkeypatch.delenv("CO_API_KEY")  # it would outrank the config's api_key
    write_config(clean_env, "[default]\napi_key = SECRETKEY123\u2019\n")
    result = invoke(["hi"])
    assert result.exit_code == 2 and "[default] api_key contains a character that is not " \
        "ASCII" in result.stderr
    assert "SECRETKEY" not in result.stderr
    assert stub.requests == []


def test_an_empty_key_in_the_config_is_a_configuration_error(
    stub: Any, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CO_API_KEY")
    path = write_config(clean_env, "[default]\napi_key =\n")
    result = invoke(["hi"])
    assert result.exit_code == 2
    assert f"the API key from {path} [default] api_key is empty" in result.stderr
    assert "api_key = (invalid: it is empty)" in invoke(["config"]).stdout
    assert stub.requests == []


def test_whitespace_around_a_key_file_is_dropped(stub: Any, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(f"  {TEST_KEY} \r\n\n".encode())
    key_file.chmod(0o600)
    result = invoke(["--api-key-file", str(key_file), "--no-stream", "hi"])
    assert (result.exit_code, result.stdout) == (0, "echo: hi\n")
    assert stub.requests[0].headers["Authorization"] == f"Bearer {TEST_KEY}"


# --- arguments that are not UTF-8: exit 3 naming the option, nothing sent ------------------

BAD = os.fsdecode(b"\xff")  # how Python hands such an argument over (surrogateescape)


@pytest.mark.parametrize(("args", "name"), [
    (("-s", BAD, "hi"), "-s/--system"),
    (("hi", f"w{BAD}rd"), "PROMPT"),
    (("--stop", BAD, "hi"), "--stop"),
    (("--param", f"user={BAD}", "hi"), "--param"),
    (("-m", BAD, "hi"), "-m/--model"),
    (("--image", f"https://example.com/{BAD}.png", "hi"), "--image"),
])
def test_an_argument_that_is_not_utf8_is_bad_input(args: tuple[str, ...], name: str,
                                                   stub: Any) -> None:
    result = invoke(list(args))
    assert result.exit_code == 3, result.stderr
    assert result.stderr == f"cohere-chat: error: {name}: not valid UTF-8 (only text can be " \
                            "sent)\n"
    assert stub.requests == []


def test_not_utf8_in_a_real_process_and_in_the_environment(stub: Any) -> None:
    done = run_process(["-s", BAD, "hi"])
    assert (done.returncode, done.stdout) == (3, b"")
    assert done.stderr == b"cohere-chat: error: -s/--system: not valid UTF-8 (only text can " \
                          b"be sent)\n"
    done = run_process(["--dry-run", "hi"], env={**os.environ, "CO_MODEL": BAD})
    assert done.returncode == 3 and b"environment CO_MODEL: not valid UTF-8" in done.stderr
    assert stub.requests == []


def test_a_local_path_may_hold_any_bytes(stub: Any, tmp_path: Path) -> None:
    conversation = tmp_path / f"c{BAD}.jsonl"
    done = run_process(["--no-stream", "-c", str(conversation), "hi"])
    assert (done.returncode, done.stdout) == (0, b"echo: hi\n"), done.stderr
    assert len(conversation.read_bytes().splitlines()) == 2


# --- stdin is capped ------------------------------------------------------------------------

def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # the test stays bounded


def test_an_endless_stdin_ends_with_a_clear_error_not_memory_error(stub: Any) -> None:
    with open("/dev/zero", "rb") as zeros:
        done = subprocess.run([sys.executable, "-m", "cohere_cli"], stdin=zeros, cwd=ROOT,
                              capture_output=True, timeout=60, preexec_fn=_limit_memory,
                              check=False)
    assert done.returncode == 3, done.stderr[-300:]
    assert done.stderr == b"cohere-chat: error: stdin: more than 64 MiB; too big to send\n"
    assert stub.requests == []


# --- the config: its location, a stale key file, a BOM, a relative key file ---------------

def test_a_config_location_that_cannot_be_read_is_skipped_with_a_warning(
    stub: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(a_file))
    result = invoke(["--no-stream", "hi"])
    assert (result.exit_code, result.stdout) == (0, "echo: hi\n"), result.stderr
    expected = f"cohere-chat: warning: cannot read the config file {a_file}/cohere-chat/" \
               "config.ini (Not a directory); going on without one\n"
    assert result.stderr == expected
    assert invoke(["--dry-run", "hi"]).exit_code == 0
    result = invoke(["config"])
    assert result.exit_code == 0
    assert "config.ini (unreadable (Not a directory))" in result.stdout
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # config.ini is a directory
    (tmp_path / "cohere-chat" / "config.ini").mkdir(parents=True)
    result = invoke(["--dry-run", "hi"])
    assert result.exit_code == 0 and "(a folder, not a regular file); going on without one" \
        in result.stderr


def test_an_explicit_config_that_cannot_be_read_stays_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COHERE_CHAT_CONFIG", str(tmp_path))  # a directory
    result = invoke(["--dry-run", "hi"])
    assert result.exit_code == 3
    assert result.stderr == f"cohere-chat: error: {tmp_path}: cannot read config: a " \
                            "folder, not a regular file\n"


def test_a_stale_key_file_stops_only_what_sends(stub: Any, clean_env: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CO_API_KEY")
    missing = clean_env / "gone.key"
    write_config(clean_env, f"[default]\napi_key_file = {missing}\n")
    result = invoke(["--dry-run", "hi"])
    assert (result.exit_code, result.stderr) == (0, "")
    assert orjson.loads(result.stdout)["messages"] == [{"role": "user", "content": "hi"}]
    result = invoke(["config"])
    assert result.exit_code == 0, result.stderr
    assert f"api_key = (unreadable: {missing}: cannot read the key file: No such file or " \
           "directory)  # " in result.stdout
    result = invoke(["hi"])
    assert result.exit_code == 3
    assert result.stderr == f"cohere-chat: error: {missing}: cannot read the key file: No " \
                            "such file or directory\n"
    assert stub.requests == []


def test_a_config_file_may_start_with_a_bom(clean_env: Path) -> None:
    write_config(clean_env, b"\xef\xbb\xbf[default]\nmodel = bom-model\n")
    result = invoke(["config"])
    assert result.exit_code == 0, result.stderr
    assert "model = bom-model  # " in result.stdout


def test_a_relative_key_file_is_found_beside_the_config(
    stub: Any, clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CO_API_KEY")
    path = write_config(clean_env, "[default]\napi_key_file = secrets/key\n")
    (path.parent / "secrets").mkdir()
    (path.parent / "secrets" / "key").write_text(TEST_KEY)
    (path.parent / "secrets" / "key").chmod(0o600)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "secrets").mkdir(parents=True)
    (elsewhere / "secrets" / "key").write_text("the-wrong-key")
    monkeypatch.chdir(elsewhere)
    result = invoke(["--no-stream", "hi"])
    assert (result.exit_code, result.stdout) == (0, "echo: hi\n"), result.stderr
    assert stub.requests[0].headers["Authorization"] == f"Bearer {TEST_KEY}"


# --- early Ctrl-C and closed standard streams -------------------------------------------

def _stdin_held(pid: int, deadline: float) -> None:
    """Wait until the program's first instructions ran: its closed stdin is then held open
    on /dev/null (before that, /proc shows no fd 0, or a file Python is importing)."""
    while time.monotonic() < deadline:
        try:
            if os.readlink(f"/proc/{pid}/fd/0") == os.devnull:
                return
        except OSError:
            pass
        time.sleep(0.0002)
    raise AssertionError("the program never held its closed stdin on /dev/null")


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback port that takes connections and never answers (a request there waits)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.mark.slow  # over a second
def test_ctrl_c_from_the_first_instruction_exits_130_quietly(silent_server: str) -> None:
    env = {**os.environ, "CO_API_URL": silent_server, "CO_API_KEY": TEST_KEY}
    for attempt in range(20):
        process = subprocess.Popen(
            ["sh", "-c", 'exec $PY --timeout 60 --no-stream hi <&-'], cwd=ROOT,
            env={**env, "PY": f"{sys.executable} -m cohere_cli"},
            stdin=subprocess.PIPE,  # not /dev/null: sh closes it, only the program reopens it
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _stdin_held(process.pid, time.monotonic() + 20)
            time.sleep(attempt * 0.004)  # 0 to 76 ms: importing (click, requests, orjson), starting
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=20)
        finally:
            process.kill()
            process.wait()
        assert (process.returncode, out, err) == (130, b"", b""), (attempt, err[-400:])


def test_a_closed_stdout_loses_the_output_loudly(stub: Any) -> None:
    done = shell("exec $PY --dry-run hi >&-")
    assert done.returncode == 10
    assert done.stderr == b"cohere-chat: error: cannot write to stdout: it was closed when " \
                          b"the program started\n"
    done = shell("exec $PY config >&-")
    assert done.returncode == 10 and b"cannot write to stdout" in done.stderr
    done = shell("exec $PY --no-stream hi >&-")
    assert done.returncode == 10 and b"Traceback" not in done.stderr


def test_a_closed_stderr_does_not_spoil_a_good_run(stub: Any) -> None:
    done = shell("exec $PY --no-stream hi 2>&-")
    assert (done.returncode, done.stdout) == (0, b"echo: hi\n")
    done = shell("exec $PY --dry-run -s sys hi 2>&-")
    assert done.returncode == 0 and orjson.loads(done.stdout)["messages"][0]["role"] == "system"
    assert shell("exec $PY config 2>&-").returncode == 0
    done = shell("exec $PY --timeout 0 hi 2>&-")  # an error with nowhere to say it
    assert (done.returncode, done.stdout) == (2, b"")


# --- models: odd pages from a raw server -----------------------------------------------------

class _ModelsHandler(BaseHTTPRequestHandler):
    pages: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        body = orjson.dumps(self.pages[min(self.server.served, len(self.pages) - 1)])  # type: ignore[attr-defined]
        self.server.served += 1  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return None


@pytest.fixture
def models_server(served: Served) -> Callable[..., ThreadingHTTPServer]:

    def make(*pages: dict[str, Any]) -> ThreadingHTTPServer:
        handler = type("Handler", (_ModelsHandler,), {"pages": list(pages)})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.served = 0  # type: ignore[attr-defined]
        return served(server)

    return make


@pytest.mark.parametrize("token", [5, {"a": 1}, ["x"], True])
def test_a_page_token_that_is_not_a_string_is_a_service_error(token: Any,
                                                               models_server: Any) -> None:
    models_server({"models": [{"name": "one"}], "next_page_token": token})
    result = invoke(["models"])
    assert result.exit_code == 7, result.stderr
    assert result.stdout == "one\n"
    assert result.stderr == "cohere-chat: error: the API answered with a models page whose " \
                            "next_page_token is not a string\n"


def test_model_names_stay_one_line_each(models_server: Any) -> None:
    models_server({"models": [{"name": None}, {"name": "a\nb\x1b[2J"}, {"endpoints": []},
                              {"name": "last\u2028x"}], "next_page_token": None})
    result = invoke(["models"])
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == "a\\nb\\x1b[2J\nlast\\u2028x\n"
    assert "None" not in result.stdout
    lines = invoke(["models", "--json"]).stdout.split("\n")[:-1]
    assert [orjson.loads(line).get("name") for line in lines] == [
        None, "a\nb\x1b[2J", None, "last\u2028x"]
