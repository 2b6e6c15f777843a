"""The parts of the program and the rules between them, checked by path.

Each folder of the package is a part: `base/` (exit codes, typed errors, value rules, file
reads, the hidden key), `wire/` (HTTP, SSE), `settings/` (config, presets), `chat/` (one
request and its reply), `conversation/` (the file, its window, fitting), `batch/` and
`batch/remote/`, the click face `cli/`, and `stub/`, a second program. Each rule reads
every module's imports with `ast` (absolute and relative, at the top or in a function),
so a stray import fails here, not in review.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cohere_cli"

# part -> the parts (or single modules) it may import; its own part is always allowed
ALLOWED: dict[str, set[str]] = {
    "root": set(),
    "base": {"root"},
    "wire": {"root", "base"},
    "settings": {"root", "base", "wire", "cohere_cli.chat.rules", "cohere_cli.chat.usage"},
    "conversation": {"root", "base", "cohere_cli.chat.messages"},
    "chat": {"root", "base", "wire", "settings", "conversation"},
    "batch": {"root", "base", "wire", "settings", "chat", "conversation"},
    "batch.remote": {"root", "base", "wire", "settings", "chat", "conversation", "batch"},
    "cli": {"root", "base", "wire", "settings", "chat", "conversation", "batch", "batch.remote",
            "stub"},
    "stub": {"root", "base", "cohere_cli.chat.rules", "cohere_cli.conversation.window",
             "cohere_cli.batch.remote.schema"},
    "entry": {"root", "base", "cli"},
}
# modules the rules above would allow, that must still never be imported from a part
NEVER: dict[str, set[str]] = {
    "conversation": {"cohere_cli.chat.send"},
    "cli": {"cohere_cli.stub"},  # but for the stub command itself (below)
}
STUB_STARTERS = {"cohere_cli.cli.commands.stub", "cohere_cli.cli.commands.stub_options"}


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


NAMES = {name for name, _ in modules()}


def _absolute(name: str, path: Path, node: ast.ImportFrom) -> str:
    """The module an ImportFrom names, relative imports resolved against `name`."""
    if not node.level:
        return node.module or ""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(name: str, path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(name, path, node)
            named = {f"{module}.{alias.name}" for alias in node.names}
            found.update(named)
            if not named & NAMES:  # `from package import module` imports the module only
                found.add(module)
    return found


def part(name: str) -> str:
    pieces = name.split(".")
    if name == "cohere_cli.__main__":
        return "entry"
    if len(pieces) < 3 and name not in {f"cohere_cli.{p}" for p in ALLOWED}:
        return "root"
    if pieces[1] == "batch" and len(pieces) > 2 and pieces[2] == "remote":
        return "batch.remote"
    return pieces[1]


def known(found: set[str]) -> set[str]:
    """Only the names that are modules of the package (not `from X import function`)."""
    return {name for name in found if name in NAMES}


ALL = list(modules())


def test_every_module_is_in_a_part_and_few_at_the_root() -> None:
    at_root = {name for name in NAMES if part(name) == "root"}
    assert len(at_root) <= 4, sorted(at_root)
    assert {part(name) for name in NAMES} <= set(ALLOWED)


def _allows(importer: str, module: str) -> bool:
    mine, theirs = part(importer), part(module)
    if any(module == n or module.startswith(n + ".") for n in NEVER.get(mine, ())):
        return importer in STUB_STARTERS and theirs == "stub"
    allowed = ALLOWED[mine] | {mine}
    return theirs in allowed or module in allowed


@pytest.mark.parametrize(("name", "path"), ALL, ids=[name for name, _ in ALL])
def test_each_part_imports_only_what_its_rules_allow(name: str, path: Path) -> None:
    wrong = {m for m in known(imports(name, path)) if not _allows(name, m)}
    assert not wrong, f"{name} ({part(name)}) imports {sorted(wrong)}"


def test_the_rules_catch_a_stray_import(tmp_path: Path) -> None:
    stray = tmp_path / "window.py"
    stray.write_text("from ..chat import send\nfrom cohere_cli.batch import run\n")
    found = known(imports("cohere_cli.conversation.window", stray))
    assert found == {"cohere_cli.chat.send", "cohere_cli.batch.run"}
    assert not any(_allows("cohere_cli.conversation.window", m) for m in found)
    assert not _allows("cohere_cli.chat.send", "cohere_cli.batch.run")
    assert not _allows("cohere_cli.wire.sse", "cohere_cli.chat.response")


@pytest.mark.parametrize(("name", "path"), ALL, ids=[name for name, _ in ALL])
def test_click_is_imported_only_by_the_face(name: str, path: Path) -> None:
    if part(name) != "cli":
        assert not {m for m in imports(name, path) if m.split(".")[0] == "click"}, name


def test_the_stub_is_imported_only_by_the_command_that_starts_it() -> None:
    importers = {name for name, path in ALL if part(name) != "stub"
                 and any(part(m) == "stub" for m in known(imports(name, path)))}
    assert importers == STUB_STARTERS


@pytest.mark.slow
def test_requests_is_imported_only_by_the_wire() -> None:
    importers = {name for name, path in ALL
                 if any(m.split(".")[0] in ("requests", "urllib3") for m in imports(name, path))}
    assert importers and {part(name) for name in importers} == {"wire"}


def writes_to_a_standard_stream(tree: ast.AST) -> list[str]:
    """The calls in `tree` that print: print, click.echo, sys.std*.write and os.write to
    the descriptors 1 and 2."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else ast.unparse(func)
        if called in ("print", "click.echo", "click.secho", "sys.stdout.write",
                      "sys.stderr.write", "sys.stdout.buffer.write", "sys.stderr.buffer.write"):
            found.append(called)
        elif called == "os.write" and node.args and ast.unparse(node.args[0]) in (
                "1", "2", "sys.stdout.fileno()", "sys.stderr.fileno()"):
            found.append(ast.unparse(node))
    return found


def test_the_print_check_sees_every_way_to_print() -> None:
    code = ("print(1)\nclick.echo(2)\nsys.stderr.write('x')\nos.write(2, b'x')\n"
            "os.write(fd, b'x')\nsys.stdout.buffer.write(b'')\n")
    assert len(writes_to_a_standard_stream(ast.parse(code))) == 5


@pytest.mark.parametrize(("name", "path"), ALL, ids=[name for name, _ in ALL])
def test_the_core_never_prints(name: str, path: Path) -> None:
    if part(name) in ("cli", "stub", "entry"):
        return
    found = writes_to_a_standard_stream(ast.parse(path.read_text(encoding="utf-8")))
    assert not found, f"{name} writes to a standard stream ({found}): only the face does"


FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def flag_names(tree: ast.AST) -> list[str]:
    """The flags (`--timeout`) that the strings of `tree` name, docstrings left out (f-string
    pieces included): what a message would show."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    return [flag for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings for flag in FLAG.findall(node.value)]


def test_the_flag_check_sees_a_flag_in_any_string() -> None:
    code = ('"""--help is fine here."""\nx = f"sent nothing ({t}s, --timeout)"\n'
            'y = "raise --retries/--max-wait"\nz = "a -- b, x--y, and 3--4"\n')
    assert sorted(flag_names(ast.parse(code))) == ["--max-wait", "--retries", "--timeout"]


@pytest.mark.parametrize(("name", "path"), ALL, ids=[name for name, _ in ALL])
def test_base_and_wire_name_no_flag(name: str, path: Path) -> None:
    """The base and the wire say what happened; the face says which flag to change
    (cli/hints.py), and names settings in messages as it tells the wire to
    (settings/names.py)."""
    if part(name) in ("base", "wire"):
        found = flag_names(ast.parse(path.read_text(encoding="utf-8")))
        assert not found, f"{name} names {found}: only the face names flags"


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle a depth-first walk of `graph` (module -> the modules it imports) meets."""
    found: list[list[str]] = []
    state: dict[str, bool] = {}  # True: on the current path; False: done
    path: list[str] = []

    def walk(name: str) -> None:
        state[name] = True
        path.append(name)
        for other in sorted(graph.get(name, ())):
            if state.get(other):
                found.append([*path[path.index(other):], other])
            elif other not in state:
                walk(other)
        path.pop()
        state[name] = False

    for name in sorted(graph):
        if name not in state:
            walk(name)
    return found


def test_the_cycle_check_finds_a_cycle() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "c", "a"]]
    assert import_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_module_imports_itself_round_a_cycle() -> None:
    """Imports under TYPE_CHECKING and in functions count: a cycle is one part in two
    places (the stub's RecordedRequest has its own module for that)."""
    graph = {name: known(imports(name, path)) - {name} for name, path in ALL}
    assert import_cycles(graph) == []
