"""A new user's first contact (issue 18): the man page installs with the package where
`man` finds it, the README's crontab line works under cron's bare environment, and make
keeps to its own virtualenvs. The whole README front, from a fresh clone, is
`make first-contact` (scripts/first-contact.sh; two installs, too slow for here)."""
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

README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_block(mark: str) -> str:
    match = re.search(rf"<!-- {mark} -->\s*```sh\n(.*?)```", README, re.S)
    assert match, f"no {mark} block in the README"
    return match.group(1)


@pytest.mark.slow
def test_pip_install_puts_the_man_page_where_man_finds_it(tmp_path: Path) -> None:
    """`pip install .` into a fresh virtualenv (its own pip builds the package as a user's
    would, without the dependencies, which this test does not need): the man page lands in
    <venv>/share/man/man1, and man finds it from the venv's bin on PATH, MANPATH unset."""
    venv = tmp_path / "venv"  # its own pip: pip run from elsewhere would uninstall that copy
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--quiet",
                           "--no-deps", str(ROOT)], capture_output=True, timeout=300, check=False)
    if done.returncode != 0 and b"No matching distribution found for setuptools" in done.stderr:
        pytest.skip("pip cannot get setuptools to build the package (no package index)")
    assert done.returncode == 0, done.stderr.decode()
    page = venv / "share" / "man" / "man1" / "cohere-chat.1"
    assert page.read_bytes() == (ROOT / "man" / "cohere-chat.1").read_bytes()
    if shutil.which("man") is None:
        pytest.skip("man is not installed: the page is in place, man itself is not tried")
    env = {key: value for key, value in os.environ.items() if key != "MANPATH"}
    env.update(PATH=f"{venv / 'bin'}:/usr/bin:/bin", MANPAGER="cat", MANWIDTH="80")
    found = subprocess.run(["man", "-w", "cohere-chat"], env=env, capture_output=True,
                           timeout=60, check=False)
    assert found.stdout.decode().strip() == str(page), found.stderr
    shown = subprocess.run(["man", "cohere-chat"], env=env, capture_output=True, timeout=60,
                           check=False)
    assert shown.returncode == 0 and b"Cohere's Chat API" in shown.stdout


@pytest.mark.slow
def test_the_crontab_line_works_under_crons_environment(stub: Any, tmp_path: Path) -> None:
    """The README's crontab line, run as cron runs it: /bin/sh, HOME, a bare PATH, no
    CO_API_KEY, no LANG. Only the input log and the stub's URL are this test's."""
    line = readme_block("crontab").strip()
    fields = line.split(None, 5)
    assert all(re.fullmatch(r"[\d*/,-]+", field) for field in fields[:5]), line
    command = fields[5]
    for needed in ("$HOME/", "--api-key-file", "--max-time", "--history-turns", "2>>"):
        assert needed in command, needed
    assert command.startswith("$HOME/.venvs/cohere-chat/bin/cohere-chat ")
    assert "%" not in command  # cron would cut the line there
    home = tmp_path / "home"
    (home / ".venvs" / "cohere-chat" / "bin").mkdir(parents=True)
    (home / ".venvs" / "cohere-chat" / "bin" / "cohere-chat").symlink_to(
        Path(sys.executable).parent / "cohere-chat")
    (home / ".config" / "cohere-chat").mkdir(parents=True)
    (home / ".config" / "cohere-chat" / "key").write_text(TEST_KEY + "\n")
    (home / ".config" / "cohere-chat" / "key").chmod(0o600)  # as the README says
    (home / "app.log").write_text("ERROR disk /var is full\n")
    cron_env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh",
                "LOGNAME": "me", "CO_API_URL": os.environ["CO_API_URL"]}
    for _night in range(2):
        done = subprocess.run(["/bin/sh", "-c", command.replace("/var/log/app.log",
                                                                "$HOME/app.log")],
                              env=cron_env, capture_output=True, timeout=120, check=False)
        assert done.returncode == 0 and done.stdout == done.stderr == b""
    assert (home / "ops.txt").read_text().count("echo: ") == 2
    assert (home / "ops.err").read_text() == ""
    roles = re.findall(r'"role":"(\w+)"', (home / "ops.jsonl").read_text())
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert_no_key((home / "ops.txt").read_bytes(), (home / "ops.jsonl").read_bytes())


def make_dry_run(*targets: str) -> str:
    """What make would run for TARGETS in a fresh clone (every file taken as changed)."""
    done = subprocess.run(["make", "-n", "-B", *targets], cwd=ROOT, capture_output=True,
                          timeout=60, check=True)
    return done.stdout.decode()


def test_make_keeps_to_its_own_virtualenvs() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for target in ("test", "lint", "fuzz", "demo", "clean"):
        commands = make_dry_run(target)
        assert not re.search(r"(?<![\w-])\.venv(?![\w*-])", commands), (target, commands)
    assert "-m venv .venv-dev" in make_dry_run("test")
    assert "rm -rf .venv-dev .venv-demo .venv-bench " in make_dry_run("clean")


def test_make_demo_installs_the_package_alone_and_the_readme_says_what_next() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    installs = [line for line in make_dry_run("demo").splitlines() if "pip install" in line]
    assert installs and all("[test]" not in line and "-e " not in line for line in installs)
    assert all(".venv-demo/bin/python -m pip install" in line for line in installs)
    offline = readme_block("first-contact")
    assert offline.startswith(". .venv-demo/bin/activate")
    assert "CO_API_URL=" in offline and "cohere-chat stub" in offline
    assert "make demo" in readme_block("quick-start") and "make test" in README
