"""The program's entry point: `python -m cohere_cli` and the `cohere-chat` script.

Its first instructions, before click or any command is imported: Ctrl-C exits 130
quietly (no traceback, however early it comes), and a standard stream the program was
started without (`<&-`, `>&-`, `2>&-`) is held open on /dev/null, so that no file opened
later takes its number (`sys.stdout` stays None: output is reported lost, exit 10).

The cycle collector runs every GC_THRESHOLD new objects instead of Python's 700: start-up
(click, requests and this package) makes some 40,000 objects that live as long as the
run, and at 700 the collector runs about 60 times during a send's start-up, scanning
them again and again (about 5 ms of a send: docs/performance.md). It still runs, but
that many objects late can be much memory (each could hold a request's body), so the
commands that run long (`batch`, `stub`) go back to Python's pace when they start
(`cohere_cli.collect_as_python_does`). When the run
is over (its output written, its files closed by the code that opened them), every
object is frozen (`gc.freeze`), so that Python's last collection at exit does not scan
them all only to free memory the system takes back anyway (7% of a send's instructions).
"""
import _signal  # type: ignore[import-not-found]  # C module: `signal` imports enum, slowly
import os

_signal.signal(_signal.SIGINT, lambda _signum, _frame: os._exit(130))  # until main()

import gc  # noqa: E402

from cohere_cli import PYTHON_GC_THRESHOLDS  # noqa: E402

GC_THRESHOLD = 100_000
gc.set_threshold(GC_THRESHOLD, *PYTHON_GC_THRESHOLDS[1:])

import sys  # noqa: E402
from types import FrameType  # noqa: E402

INTERRUPTED = 130  # errors.ExitCode.INTERRUPTED, not imported yet on purpose


def _importing(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _on_ctrl_c(_signum: int, frame: FrameType | None) -> None:
    """Ctrl-C. While a module is being imported (most of start-up), exit 130 at once: an
    exception there would print a traceback, or leave an extension module half made (one
    crashes). Otherwise KeyboardInterrupt, so that a command can stop cleanly (release a
    lock, stop a tool, write what a batch finished) and exit 130 (cli/exit_status.py)."""
    if _importing(frame):
        os._exit(INTERRUPTED)
    raise KeyboardInterrupt


def _exit_at_once(_signum: int, _frame: FrameType | None) -> None:
    os._exit(INTERRUPTED)


def _hold_closed_streams() -> None:
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            held = os.open(os.devnull, os.O_RDWR)  # the lowest free number: fd itself
            if held != fd:
                os.dup2(held, fd)
                os.close(held)


def main() -> None:
    _signal.signal(_signal.SIGINT, _on_ctrl_c)
    try:
        _hold_closed_streams()
        from cohere_cli.cli import cli
        from cohere_cli.cli.main import run

        status = run(cli)
    except KeyboardInterrupt:  # between imports, or while an error was being reported
        status = INTERRUPTED
    _signal.signal(_signal.SIGINT, _exit_at_once)  # the run is over: nothing to clean up
    gc.freeze()  # nor for the collector: see the module's help
    sys.exit(status)


if __name__ == "__main__":
    main()
