"""What the documents said that was not so (issue 25's docs list), each checked by running
what they describe: the text now says what the program does."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from conftest import ROOT, invoke, run_process
from test_layers import STUB_STARTERS

from cohere_cli.cli import cli
from cohere_cli.stub.server import StubServer

GUIDE = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")
MAN = (ROOT / "man" / "cohere-chat.1").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONTRIBUTING = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")


def plain(man: str) -> str:
    """The man page's words without its font requests and escapes."""
    text = re.sub(r"^\.(B|I|BR|RB|BI|IB|IR|RI)\s+", "", man, flags=re.M)
    return " ".join(text.replace('"', "").replace("\\-", "-").split())


def test_a_response_format_never_goes_with_tools_or_documents(tmp_path: Path) -> None:
    tools = tmp_path / "tools.jsonl"
    tools.write_text('{"type": "function", "function": {"name": "w", "parameters": '
                     '{"type": "object"}}}\n')
    document = tmp_path / "notes.txt"
    document.write_text("notes\n")
    for given in (["--tools", str(tools)], ["--document", str(document)]):
        for kind in ("json", "text"):
            result = invoke(["--dry-run", "--response-format", kind, *given, "hi"])
            assert result.exit_code == 2, (given, kind)
            assert "cannot go with tools or documents" in result.stderr
    for text in (GUIDE, plain(MAN)):
        assert "alone may go with" not in text and "without a schema may go" not in text
    assert "`--response-format` or\n`--json-schema` with `--tools`" in GUIDE


def test_batches_list_says_its_columns_in_the_order_it_prints_them(
    stub: StubServer, tmp_path: Path
) -> None:
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"id": "a", "prompt": "hi"}\n')
    submitted = invoke(["batch", "--remote", "--detach", "-o", str(tmp_path / "out.jsonl"),
                        str(lines)])
    assert submitted.exit_code == 0, submitted.stderr
    listed = invoke(["batches", "list"])
    batch_id = submitted.stdout.strip()
    assert re.fullmatch(rf"{batch_id}\t0/1 failed=0 [A-Z_]+\tcohere-chat-\S+\n", listed.stdout)
    columns = "id, done/total, failed, status, name"
    assert columns in invoke(["batches", "list", "--help"]).stdout
    assert f"prints one batch a line: {columns}" in plain(MAN)


def test_help_ends_with_the_main_environment_variables() -> None:
    shown = re.findall(r"^  (CO\w+|COHERE\w+) ", invoke(["--help"]).stdout.split(
        "\nEnvironment:\n", 1)[1], re.M)
    documented = set(re.findall(r"^\.B (CO_\w+|COHERE_CHAT_\w+)$",
                                MAN.split("\n.SH ENVIRONMENT\n", 1)[1].split("\n.SH ")[0],
                                re.M))
    assert set(shown) < documented  # some, not all
    assert "`cohere-chat --help` ends with the main environment variables" in README
    assert "The list ends with the main environment variables" in MAN


def test_debug_gives_a_traceback_with_any_error_and_help_says_so(tmp_path: Path) -> None:
    done = run_process(["--dry-run", "hi"], env={"COHERE_CHAT_DEBUG": "1", "PATH": "/usr/bin",
                                                 "CO_API_URL": "ftp://host", "HOME": str(tmp_path)})
    assert done.returncode == 2  # a usage error, not an internal one
    assert b"Traceback (most recent call last)" in done.stderr
    assert "1: a traceback with any error but a refused flag" in invoke(["--help"]).stdout


def test_the_guide_lists_every_command_and_attach(stub: Any) -> None:
    usage = GUIDE.split("## Usage\n", 1)[1].split("```\n", 2)[1]
    for name in cli.commands:
        assert f"cohere-chat {name}" in usage or name == "send", name
    assert "--attach ID" in GUIDE
    assert "a mistyped command as the first\nargument is refused" in GUIDE


def test_contributing_names_the_face_modules_that_import_the_stub() -> None:
    for module in STUB_STARTERS:
        path = module.removeprefix("cohere_cli.").replace(".", "/") + ".py"
        assert f"`{path}`" in CONTRIBUTING.split("## Code map", 1)[0], path
    assert "two face modules of the `stub` command" in CONTRIBUTING
