"""Every snippet marked `<!-- runnable -->` in the README and in docs/*.md runs as written
against the stub; the README stays one screen to start, under 15 KB, and its links lead
somewhere.

Each marked ```sh block runs in bash (with `set -e -o pipefail`) in an empty folder that
holds a few sample files, with `cohere-chat` on PATH and CO_API_URL pointing at a stub.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, TEST_KEY, assert_no_key

MARKER = "<!-- runnable -->"
BLOCK = re.compile(re.escape(MARKER) + r"\s*```(?:sh|bash)\n(.*?)```", re.DOTALL)
SAMPLES = {
    "app.log": "ERROR disk /var is full\nINFO backup done\n",
    "prompt.txt": "Why is the sky blue?\n",
    "tickets.jsonl": '{"id": "T-1", "prompt": "printer on fire"}\n"refund please"\n',
}


DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)")


def runnable_snippets(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


SNIPPETS = [(path.relative_to(ROOT).as_posix(), snippet)
            for path in DOCUMENTS for snippet in runnable_snippets(path)]


def test_the_readme_and_the_guide_mark_runnable_snippets() -> None:
    assert len(runnable_snippets(ROOT / "README.md")) >= 5
    assert len(runnable_snippets(ROOT / "docs" / "guide.md")) >= 8


def test_the_readme_is_short_and_starts_with_a_table_of_contents() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) < 15_000
    front, _, rest = readme.partition("\n## Contents\n")
    assert rest, "no table of contents"
    assert len(front.splitlines()) < 70, "the front is more than a screen or so"
    for needed in ("make test", "pipx install .", "CO_API_KEY", "--api-key-file",
                   "cohere-chat stub", "CO_API_URL", "make demo", "crontab"):
        assert needed in front, needed
    headings = re.findall(r"^## (.*)$", rest, re.M)[1:]
    toc = rest.split("\n## ", 1)[0]
    for heading in headings:
        assert f"(#{slug(heading)})" in toc, heading


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, spaces to dashes, punctuation dropped."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_link_leads_to_a_file_and_a_heading(document: Path) -> None:
    for target, anchor in LINK.findall(document.read_text(encoding="utf-8")):
        if target.startswith(("http:", "https:")):
            continue
        path = (document.parent / target).resolve() if target else document
        assert path.exists(), f"{document.name}: {target}"
        if anchor and path.suffix == ".md":
            headings = re.findall(r"^#+ (.*)$", path.read_text(encoding="utf-8"), re.M)
            assert anchor in {slug(h) for h in headings}, f"{document.name}: {target}#{anchor}"


def test_the_moved_material_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in ("docs/guide.md", "docs/reliability.md", "docs/performance.md",
                   "CONTRIBUTING.md", "man/cohere-chat.1"):
        assert f"]({target})" in readme, target
    assert "man cohere-chat" in readme


@pytest.mark.slow
@pytest.mark.parametrize(("document", "snippet"), SNIPPETS,
                         ids=lambda s: s if s.endswith(".md") else s.strip().splitlines()[0][:50])
def test_snippet_runs(document: str, snippet: str, stub: Any, tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "cohere-chat").exists():
        pytest.skip(f"cohere-chat is not installed beside {sys.executable} (make test has it)")
    if re.search(r"\bjq\b", snippet) and shutil.which("jq") is None:
        pytest.skip("jq is not installed")
    for name, text in SAMPLES.items():
        (tmp_path / name).write_text(text)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CO_API_KEY": TEST_KEY}
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", snippet], cwd=tmp_path,
                          env=env, capture_output=True, timeout=120, check=False)
    assert_no_key(done.stdout, done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr).decode()
