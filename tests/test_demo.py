"""`make demo` runs the main job offline from start to end."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, assert_no_key


def test_the_demo_script_runs_every_step() -> None:
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "cohere-chat").exists():
        pytest.skip(f"cohere-chat is not installed beside {sys.executable} (make test has it)")
    done = subprocess.run(["bash", "scripts/demo.sh", str(bin_dir)], cwd=ROOT,
                          env=dict(os.environ), capture_output=True, timeout=120, check=False)
    assert_no_key(done.stdout, done.stderr)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    for expected in ("echo: ERROR disk /var is full", '{"role":"system","content":"Be terse"}',
                     '"id":"t-2"', "echo: hello", '"temperature":0.2',
                     'stdin:2: unknown role "usr"', "(exit status 3)", "the stub is stopped"):
        assert expected in out + done.stderr.decode()
