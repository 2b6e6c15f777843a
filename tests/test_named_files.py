"""Issue 25, mechanism 2: one way to open a file the user names (base/named_files.py),
and cases 7, 8, 9, 10 and 14.

A FIFO, a folder or a device where a file is expected is refused, exit 3, naming it,
before anything is sent and without waiting on it: the FIFO test puts a FIFO at every
path the program opens, each in a real process (a FIFO blocks an open or a read: were
it waited on, the process would still run at the timeout). A path no file can have
(a NUL byte in the config) is exit 2 naming where it came from, before anything is sent.
"""
from __future__ import annotations

import ast
import os
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import TEST_KEY, chat_bodies, invoke, run_process
from test_remote_batch_e2e import batch_stub, creates, write_input

from cohere_cli.base.errors import InputError
from cohere_cli.base.files import read_file_bytes
from cohere_cli.base.named_files import check_named, open_named

PACKAGE = Path(__file__).resolve().parent.parent / "cohere_cli"
FIFO_TIMEOUT = 60  # seconds: a FIFO waited on would hold the process far past any real run


def config_file(home: Path, text: str | bytes) -> Path:
    path = home / ".config" / "cohere-chat" / "config.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(0o600)
    return path


def presets_dir(home: Path) -> Path:
    return home / ".config" / "cohere-chat" / "presets"


# --- a FIFO at every path the program opens ----------------------------------------------

# name: (arguments, environment, config text, where the FIFO is). {fifo} is its path,
# {lines} a batch input, {out} a batch's -o FILE; the FIFO is at {tmp}/fifo unless the
# case puts it in the presets folder ("preset") or beside {out}, at the name of a file a
# remote batch keeps there (".remote.json": the state file, its index, its upload).
FIFO_CASES: dict[str, tuple[list[str], dict[str, str | None], str | None, str]] = {
    "--system-file": (["--system-file", "{fifo}", "hi"], {}, None, "tmp"),
    "--image": (["--image", "{fifo}", "hi"], {}, None, "tmp"),
    "--document": (["--document", "{fifo}", "hi"], {}, None, "tmp"),
    "--documents": (["--documents", "{fifo}", "hi"], {}, None, "tmp"),
    "--json-schema": (["--json-schema", "{fifo}", "hi"], {}, None, "tmp"),
    "--tools": (["--tools", "{fifo}", "hi"], {}, None, "tmp"),
    "--api-key-file": (["--api-key-file", "{fifo}", "--max-time", "2", "hi"], {}, None, "tmp"),
    "--preset PATH": (["--preset", "{fifo}", "hi"], {}, None, "tmp"),
    "--preset NAME": (["--preset", "slow", "--max-time", "2", "hi"], {}, None, "preset"),
    "-c": (["-c", "{fifo}", "hi"], {}, None, "tmp"),
    "-c --dry-run": (["-c", "{fifo}", "--dry-run", "hi"], {}, None, "tmp"),
    "--log": (["--log", "{fifo}", "hi"], {}, None, "tmp"),
    "--ca-bundle": (["--ca-bundle", "{fifo}", "hi"], {}, None, "tmp"),
    "COHERE_CHAT_CONFIG": (["hi"], {"COHERE_CHAT_CONFIG": "{fifo}"}, None, "tmp"),
    "CO_PRESET": (["hi"], {"CO_PRESET": "{fifo}"}, None, "tmp"),
    "COHERE_CHAT_LOG": (["hi"], {"COHERE_CHAT_LOG": "{fifo}"}, None, "tmp"),
    "REQUESTS_CA_BUNDLE": (["hi"], {"REQUESTS_CA_BUNDLE": "{fifo}"}, None, "tmp"),
    "CURL_CA_BUNDLE": (["hi"], {"CURL_CA_BUNDLE": "{fifo}"}, None, "tmp"),
    "REQUESTS_CA_BUNDLE models": (["models"], {"REQUESTS_CA_BUNDLE": "{fifo}"}, None, "tmp"),
    "REQUESTS_CA_BUNDLE batch": (["batch", "{lines}"], {"REQUESTS_CA_BUNDLE": "{fifo}"}, None,
                                 "tmp"),
    "config api_key_file": (["hi"], {"CO_API_KEY": None},
                            "[default]\napi_key_file = {fifo}\n", "tmp"),
    "config preset": (["hi"], {}, "[default]\npreset = {fifo}\n", "tmp"),
    "config log": (["hi"], {}, "[default]\nlog = {fifo}\n", "tmp"),
    "batch --preset": (["batch", "--preset", "{fifo}", "{lines}"], {}, None, "tmp"),
    "batch --log": (["batch", "--log", "{fifo}", "{lines}"], {}, None, "tmp"),
    "batch --image": (["batch", "--image", "{fifo}", "{lines}"], {}, None, "tmp"),
    "batch INPUT": (["batch", "{fifo}"], {}, None, "tmp"),
    "batch -o": (["batch", "-o", "{fifo}", "{lines}"], {}, None, "tmp"),
    "batch --resume -o": (["batch", "--resume", "-o", "{fifo}", "{lines}"], {}, None, "tmp"),
    "batch --estimate INPUT": (["batch", "--estimate", "{fifo}"], {}, None, "tmp"),
    "batch --remote INPUT": (["batch", "--remote", "-o", "{out}", "{fifo}"], {}, None, "tmp"),
    "batch --remote state": (["batch", "--remote", "-o", "{out}", "{lines}"], {}, None,
                             ".remote.json"),
    "batch --remote index": (["batch", "--remote", "-o", "{out}", "{lines}"], {}, None,
                             ".remote.index.jsonl"),
    "batch --remote upload": (["batch", "--remote", "-o", "{out}", "{lines}"], {}, None,
                              ".remote.upload.jsonl"),
    "models --api-key-file": (["models", "--api-key-file", "{fifo}"], {}, None, "tmp"),
    "stub --replies": (["stub", "--replies", "{fifo}"], {}, None, "tmp"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIFO_CASES))
def test_a_fifo_at_any_path_is_refused_naming_it_never_waited_on(
    name: str, stub: Any, clean_env: Path, tmp_path: Path
) -> None:
    args, env, config, where = FIFO_CASES[name]
    out = tmp_path / "out.jsonl"
    fifo = {"tmp": tmp_path / "fifo", "preset": presets_dir(clean_env) / "slow.json"}.get(
        where, out.with_name(out.name + where))
    fifo.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(fifo)
    lines = tmp_path / "in.jsonl"
    lines.write_bytes(b'"one"\n')

    def fill(text: str) -> str:
        return text.replace("{fifo}", str(fifo)).replace("{lines}", str(lines)).replace(
            "{out}", str(out))

    if config is not None:
        config_file(clean_env, fill(config))
    environ = {**os.environ, **{k: fill(v) for k, v in env.items() if v is not None}}
    environ = {k: v for k, v in environ.items() if env.get(k, "") is not None}
    try:
        done = run_process([fill(arg) for arg in args], env=environ, timeout=FIFO_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: still waiting on the FIFO after {FIFO_TIMEOUT} s")
    assert done.returncode == 3, done.stderr
    assert str(fifo).encode() in done.stderr and b"a FIFO, not a regular file" in done.stderr
    assert stub.requests == []  # refused before anything was sent


@pytest.mark.slow
@pytest.mark.parametrize("name", [".remote.part-0.avro", ".remote.result"])
def test_a_fifo_where_a_remote_batch_writes_its_results_stops_it_and_keeps_its_state(
    name: str, make_stub: Any, tmp_path: Path
) -> None:
    server = batch_stub(make_stub)
    source, out = write_input(tmp_path, 3), tmp_path / "out.jsonl"
    fifo = out.with_name(out.name + name)
    os.mkfifo(fifo)
    args = ["batch", "--remote", "-o", str(out), str(source)]
    try:
        done = run_process(args, timeout=FIFO_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: still waiting on the FIFO after {FIFO_TIMEOUT} s")
    assert done.returncode == 10, done.stderr  # a local write failed: the results wait
    assert str(fifo).encode() in done.stderr and b"a FIFO, not a regular file" in done.stderr
    assert (tmp_path / "out.jsonl.remote.json").exists() and not out.exists()
    fifo.unlink()
    again = run_process(args, timeout=FIFO_TIMEOUT)
    assert again.returncode == 0, again.stderr
    assert len(out.read_bytes().splitlines()) == 3 and creates(server) == 1  # billed once


@pytest.mark.slow
def test_presets_lists_a_fifo_as_a_bad_preset_without_waiting(clean_env: Path) -> None:
    folder = presets_dir(clean_env)
    folder.mkdir(parents=True)
    os.mkfifo(folder / "slow.json")
    (folder / "fine.json").write_bytes(orjson.dumps({"messages": [
        {"role": "system", "content": "Be terse"}]}))
    done = run_process(["presets"], timeout=FIFO_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == [
        "fine  Be terse",
        f"slow  (bad preset: preset slow ({folder}/slow.json): a FIFO, not a regular file)"]


@pytest.mark.slow
def test_a_fifo_at_the_usual_config_place_is_skipped_with_a_warning(
    stub: Any, clean_env: Path
) -> None:
    path = clean_env / ".config" / "cohere-chat" / "config.ini"
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    done = run_process(["--no-stream", "hi"], timeout=FIFO_TIMEOUT)
    assert (done.returncode, done.stdout) == (0, b"echo: hi\n"), done.stderr
    assert f"cannot read the config file {path} (a FIFO, not a regular file)".encode() \
        in done.stderr


# --- every open of a named file goes through named_files ---------------------------------

# The modules that open files by other means, and why. A new `open` elsewhere fails here:
# it must go through base/named_files.py (or be added here with its reason).
OTHER_OPENS = {
    "base/named_files.py": "the one way",
    "base/atomic_write.py": "its own new temporary file (O_EXCL) and the folder to fsync",
    "conversation/file.py": "FILE.lock (O_NOFOLLOW, checked regular) and its own temporary",
    "base/cache.py": "its own cache entries (O_NOFOLLOW, checked regular, never blocking)",
}
OPENERS = {"open", "read_bytes", "read_text", "write_bytes", "write_text"}


def _opens(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute) else "")
        first = ast.unparse(node.args[0]) if node.args else ""
        if name in OPENERS and first != "os.devnull":
            found.append(f"{ast.unparse(node)[:60]} (line {node.lineno})")
    return found


def test_no_module_opens_a_file_but_through_named_files() -> None:
    stray = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = str(path.relative_to(PACKAGE))
        if name.startswith("stub/") or name in OTHER_OPENS:
            continue
        opens = _opens(ast.parse(path.read_text(encoding="utf-8")))
        if opens:
            stray[name] = opens
    assert stray == {}


# --- the function itself -----------------------------------------------------------------

def test_open_named_takes_regular_files_and_the_null_device(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"text")
    fd = open_named(path)
    try:
        assert os.get_blocking(fd)  # O_NONBLOCK cleared again
    finally:
        os.close(fd)
    assert read_file_bytes(path) == b"text"
    assert read_file_bytes(os.devnull) == b""  # the null device: an empty file


@pytest.mark.parametrize("what", ["folder", "zero", "socket", "tty"])
def test_open_named_refuses_what_is_not_a_regular_file(what: str, tmp_path: Path) -> None:
    path = {"folder": tmp_path, "zero": Path("/dev/zero"), "tty": Path("/dev/tty"),
            "socket": tmp_path / "s"}[what]
    if what == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    if not path.exists():
        pytest.skip(f"{path} does not exist here")
    kind = {"folder": "a folder", "socket": "a socket"}.get(what, "a character device")
    with pytest.raises(InputError, match=f"^named: {kind}, not a regular file$"):
        os.close(open_named(path, "named"))
    with pytest.raises(InputError, match=f"{kind}, not a regular file"):
        read_file_bytes(path, source="named")


def test_an_output_may_be_a_device_but_a_file_to_replace_may_not_be_null(
    tmp_path: Path
) -> None:
    os.close(open_named("/dev/zero", devices=True))  # an output: any character device
    assert check_named(tmp_path / "none") is None
    assert check_named(tmp_path, folders=True) is not None  # --ca-bundle: a folder of certs
    with pytest.raises(InputError, match="a character device, not a regular file"):
        check_named(os.devnull, null=False)
    with pytest.raises(InputError, match="not a usable path"):
        check_named("a\0b", "named")
    with pytest.raises(InputError, match="not a usable path"):
        open_named("a\0b", "named")


def test_a_write_open_of_a_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="a folder, not a regular file"):
        open_named(tmp_path, flags=os.O_WRONLY | os.O_APPEND | os.O_CREAT, devices=True)


# --- paths from the config: NUL bytes, `~user`, the config's own folder -------------------

@pytest.mark.parametrize("key", ["log", "preset", "api_key_file"])
def test_a_nul_byte_in_a_config_path_is_exit_2_naming_it_before_sending(
    key: str, stub: Any, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CO_API_KEY")  # so that api_key_file is the key's place
    path = config_file(clean_env, f"[default]\n{key} = x\0a.json\n".encode())
    result = invoke(["--no-stream", "hi"])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"cohere-chat: error: {key} is not a usable path (it "
                                    "holds a NUL byte)")
    assert f"from {path} [default]" in result.stderr
    assert stub.requests == []


def test_a_tilde_user_that_does_not_exist_is_exit_2(
    stub: Any, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CO_API_KEY")
    config_file(clean_env, "[default]\napi_key_file = ~no-such-user-here/key\n")
    result = invoke(["--no-stream", "hi"])
    assert result.exit_code == 2 and "api_key_file cannot be expanded" in result.stderr
    assert stub.requests == []


def test_a_relative_preset_path_in_the_config_is_beside_the_config(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_file(clean_env, "[default]\npreset = mine/p.json\n")
    (config.parent / "mine").mkdir()
    (config.parent / "mine" / "p.json").write_bytes(b'{"seed": 5}')
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "p.json").write_bytes(b'{"seed": 6}')  # not this one
    monkeypatch.chdir(tmp_path)
    result = invoke(["--dry-run", "hi"])
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["seed"] == 5
    assert invoke(["--preset", "mine/p.json", "--dry-run", "hi"]).stdout.startswith(
        '{"seed":6')  # from a flag: as given, from here


def test_the_run_log_that_is_a_folder_is_exit_3_before_sending(
    stub: Any, tmp_path: Path
) -> None:
    result = invoke(["--log", str(tmp_path), "hi"])
    assert result.exit_code == 3
    assert f"run log {tmp_path} (flag --log): a folder, not a regular file" in result.stderr
    assert stub.requests == []
    assert invoke(["--log", os.devnull, "--no-stream", "hi"]).exit_code == 0


def test_the_null_device_is_an_empty_config(stub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHERE_CHAT_CONFIG", os.devnull)
    result = invoke(["--no-stream", "hi"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "echo: hi\n", "")


# --- case 7: --save-preset reads no stdin ------------------------------------------------

@pytest.mark.parametrize("flag", ["--document", "--image"])
def test_save_preset_with_stdin_media_is_a_usage_error(flag: str, clean_env: Path) -> None:
    result = invoke(["--save-preset", "p", flag, "-", "-t", "0.5"], stdin=b"data")
    assert result.exit_code == 2
    assert "--save-preset reads no stdin" in result.stderr
    assert not (presets_dir(clean_env) / "p.json").exists()


# --- case 8: `presets` lists the folder's entries; a NAME is always the folder's ---------

def test_a_name_is_always_the_folders_entry(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = presets_dir(clean_env)
    folder.mkdir(parents=True)
    (folder / "x.json.json").write_bytes(b'{"seed": 1, "messages": [{"role": "system", '
                                         b'"content": "from the folder"}]}')
    (tmp_path / "x.json").write_bytes(b'{"seed": 2}')  # the current folder's: not it
    monkeypatch.chdir(tmp_path)
    assert invoke(["presets"]).stdout == "x.json  from the folder\n"
    result = invoke(["--preset", "x.json", "--dry-run", "hi"])
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["seed"] == 1
    assert orjson.loads(invoke(["--preset", "./x.json", "--dry-run", "hi"]).stdout)[
        "seed"] == 2  # with a `/`: a path


def test_a_missing_name_that_is_a_file_here_hints_at_the_path(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine.json").write_bytes(b"{}")
    monkeypatch.chdir(tmp_path)
    result = invoke(["--preset", "mine.json", "hi"])
    assert result.exit_code == 3 and "no such preset" in result.stderr
    assert "give ./mine.json" in result.stderr


# --- case 9: --save-preset --force through a link updates its target ---------------------

def test_save_preset_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_bytes(b'{"seed": 1}\n')
    target.chmod(0o644)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    result = invoke(["--save-preset", str(link), "--force", "-t", "0.5"])
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert orjson.loads(target.read_bytes()) == {"temperature": 0.5}
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_save_preset_refuses_a_loop_of_links(tmp_path: Path) -> None:
    (tmp_path / "a.json").symlink_to(tmp_path / "b.json")
    (tmp_path / "b.json").symlink_to(tmp_path / "a.json")
    result = invoke(["--save-preset", str(tmp_path / "a.json"), "--force", "-t", "0.5"])
    assert result.exit_code == 3 and "a loop of symbolic links" in result.stderr


# --- case 10: `config` shows a preset that cannot be used as one line --------------------

@pytest.mark.parametrize("content", [None, b"{", b'{"stream": true}'])
def test_config_shows_an_unusable_preset_as_a_line(
    content: bytes | None, clean_env: Path
) -> None:
    folder = presets_dir(clean_env)
    folder.mkdir(parents=True)
    if content is not None:
        (folder / "p.json").write_bytes(content)
    result = invoke(["config", "--preset", "p"])
    assert result.exit_code == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("preset = ")]
    assert line.startswith(f"preset = (cannot be used: preset p ({folder}/p.json)")
    assert line.endswith(")  # flag --preset")
    assert "model = command-a-plus-05-2026  # built-in default" in result.stdout


def test_config_shows_a_bad_preset_path_from_the_config_as_a_line(clean_env: Path) -> None:
    config_file(clean_env, b"[default]\npreset = x\0a.json\n")
    result = invoke(["config"])
    assert result.exit_code == 0, result.stderr
    assert "preset = (cannot be used: preset is not a usable path" in result.stdout


# --- case 14: -c FILE --dry-run checks FILE as a send does; -c DIR is exit 3 ------------

def test_dry_run_checks_the_conversation_as_a_send_does(stub: Any, tmp_path: Path) -> None:
    result = invoke(["-c", str(tmp_path / "no" / "such" / "c.jsonl"), "--dry-run", "hi"])
    assert result.exit_code == 3 and "its folder does not exist" in result.stderr
    for args in (["--dry-run"], []):
        result = invoke(["-c", str(tmp_path), *args, "hi"])
        assert result.exit_code == 3, result.stderr
        assert f"{tmp_path}: a folder, not a regular file" in result.stderr
    assert stub.requests == []
    ok = invoke(["-c", str(tmp_path / "new.jsonl"), "--dry-run", "hi"])
    assert ok.exit_code == 0 and not (tmp_path / "new.jsonl").exists()
    assert chat_bodies(stub) == [] and TEST_KEY not in ok.stdout
