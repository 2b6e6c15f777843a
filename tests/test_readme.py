"""Every README snippet marked `<!-- runnable -->` runs as written against the stub.

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


def runnable_snippets() -> list[str]:
    return BLOCK.findall((ROOT / "README.md").read_text())


def test_the_readme_marks_runnable_snippets() -> None:
    assert len(runnable_snippets()) >= 8


@pytest.mark.parametrize("snippet", runnable_snippets(),
                         ids=lambda s: s.strip().splitlines()[0][:50])
def test_snippet_runs(snippet: str, stub: Any, tmp_path: Path) -> None:
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
