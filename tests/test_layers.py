"""The layers, checked by path: the click face (cli/) over the core over the wire (wire/)
over the base, and the stub (stub/) as a program of its own. Each rule reads the imports
of every module with `ast`, so a stray import fails here, not in review."""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cohere_cli"
BASE = {"cohere_cli", "cohere_cli.base.errors", "cohere_cli.base.values", "cohere_cli.base.files",
        "cohere_cli.base.secret"}


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def layer(name: str) -> str:
    for prefix in ("cohere_cli.cli", "cohere_cli.wire", "cohere_cli.stub"):
        if name == prefix or name.startswith(prefix + "."):
            return prefix.rsplit(".", 1)[1]
    if name in BASE:
        return "base"
    if name == "cohere_cli.__main__":
        return "entry"
    return "core"


def ours(found: set[str]) -> set[str]:
    return {name for name in found if name == "cohere_cli" or name.startswith("cohere_cli.")}


def known(found: set[str]) -> set[str]:
    """Only the names that are modules of the package (not `from X import function`)."""
    names = {name for name, _ in modules()}
    return {name for name in ours(found) if name in names}


ALL = list(modules())


@pytest.mark.parametrize(("name", "path"), ALL, ids=[name for name, _ in ALL])
def test_click_is_imported_only_by_the_face(name: str, path: Path) -> None:
    if layer(name) != "cli":
        assert not {m for m in imports(path) if m.split(".")[0] == "click"}, name


@pytest.mark.parametrize(("name", "path"), ALL, ids=[name for name, _ in ALL])
def test_each_layer_imports_only_what_is_below_it(name: str, path: Path) -> None:
    allowed = {
        "base": {"base"},
        "wire": {"base", "wire"},
        "core": {"base", "wire", "core"},
        "cli": {"base", "wire", "core", "cli", "stub"},
        "stub": {"base", "stub", "core"},  # the stub checks requests by the client's rules
        "entry": {"base", "cli"},
    }[layer(name)]
    wrong = {m for m in known(imports(path)) if layer(m) not in allowed}
    assert not wrong, f"{name} ({layer(name)}) imports {sorted(wrong)}"


def test_the_stub_is_imported_only_by_the_command_that_starts_it() -> None:
    importers = {name for name, path in ALL if layer(name) != "stub"
                 and any(layer(m) == "stub" for m in known(imports(path)))}
    assert importers == {"cohere_cli.cli.commands.stub", "cohere_cli.cli.commands.stub_options"}


def test_requests_is_imported_only_by_the_wire() -> None:
    importers = {name for name, path in ALL
                 if any(m.split(".")[0] in ("requests", "urllib3") for m in imports(path))}
    assert importers and {layer(name) for name in importers} == {"wire"}


@pytest.mark.parametrize(("name", "path"), ALL, ids=[name for name, _ in ALL])
def test_the_core_never_prints(name: str, path: Path) -> None:
    if layer(name) not in ("core", "wire", "base"):
        return
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else ast.unparse(func)
            assert called not in ("print", "sys.stdout.write", "sys.stderr.write"), (
                f"{name} writes to a standard stream: only the face does")
