"""`make demo` runs the main job offline from start to end, and ends with what to type next."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, assert_no_key

pytestmark = pytest.mark.slow  # the demo script: six pipelines against a stub

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[bytes]:
    if not (BIN / "cohere-chat").exists():
        pytest.skip(f"cohere-chat is not installed beside {sys.executable} (make test has it)")
    return subprocess.run(["bash", "scripts/demo.sh", str(BIN)], cwd=ROOT,
                          env=dict(os.environ), capture_output=True, timeout=120, check=False)


def test_the_demo_script_runs_every_step(demo: subprocess.CompletedProcess[bytes]) -> None:
    assert_no_key(demo.stdout, demo.stderr)
    assert demo.returncode == 0, demo.stderr
    out = demo.stdout.decode()
    for expected in ("echo: ERROR disk /var is full", '{"role":"system","content":"Be terse"}',
                     '"id":"t-2"', "echo: hello", '"temperature":0.2',
                     'stdin:2: unknown role "usr"', "(exit status 3)", "the stub is stopped"):
        assert expected in out + demo.stderr.decode()


def test_the_demo_ends_with_the_three_lines_to_type_next(
    demo: subprocess.CompletedProcess[bytes],
) -> None:
    activate, stub, key = [line.split("  #")[0].strip()
                           for line in demo.stdout.decode().splitlines()[-3:]]
    assert activate == f". {BIN}/activate"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    offline = readme.split("<!-- first-contact -->", 1)[1].split("```sh\n", 1)[1]
    assert stub == offline.splitlines()[1].strip()  # the README's own line
    assert key.startswith("export CO_API_KEY=")
