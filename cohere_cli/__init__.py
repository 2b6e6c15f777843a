"""cohere-chat: a Unix-style command-line client for Cohere's Chat API (v2)."""
import gc

__version__ = "0.1.0"
PROGRAM = "cohere-chat"
PYTHON_GC_THRESHOLDS = gc.get_threshold()  # Python's own, before __main__ raises them


def collect_as_python_does() -> None:
    """The cycle collector back at Python's own pace, for a command whose work runs long
    (a batch, the stub): __main__ raised its threshold for start-up, which over a long
    run would hold much memory late (a request that fails on the network leaves its body
    in the cyclic garbage of urllib3's exception, a batch line's documents and all)."""
    gc.set_threshold(*PYTHON_GC_THRESHOLDS)
