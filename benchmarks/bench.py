"""`make bench`: whole-process measurements, side by side, against a loopback stub.

Run it with a Python that has cohere-chat installed (with its `remote` extra) and, for
the comparisons with the official SDK, `cohere` (`make bench` builds `.venv-bench`; the
SDK is optional: without it those rows are left out). All traffic goes to 127.0.0.1.
It prints Markdown tables of the figures, then each budget (issue 26 and
docs/performance.md) with what was measured, and names the budgets that fall short; it
exits 0 either way. docs/performance.md keeps the latest run, with the machine and date.

The floors are scripts beside this one: `floor_send.py` (one non-streamed send with
click + requests + orjson) and `floor_pool.py` (a bare requests thread pool doing the
work of `batch -j 16`).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import orjson

KEY = "bench-key-not-real"
# the installed `cohere-chat` script, as a user runs it (`python -m` adds runpy's imports)
SCRIPT = Path(sys.executable).parent / "cohere-chat"
CLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "cohere_cli"]
HERE = Path(__file__).resolve().parent
FLOOR_SEND = [sys.executable, str(HERE / "floor_send.py")]
FLOOR_POOL = [sys.executable, str(HERE / "floor_pool.py")]
SDK_CALL = """
import sys, cohere
client = cohere.ClientV2(api_key="{key}", base_url=sys.argv[1])
reply = client.chat(model="command-a-plus-05-2026", messages=[{{"role": "user", "content": "hi"}}])
print(reply.message.content[0].text)
"""
SDK_POOL = """
import sys, cohere
from concurrent.futures import ThreadPoolExecutor
client = cohere.ClientV2(api_key="{key}", base_url=sys.argv[1])
def one(n):
    return client.chat(model="command-a-plus-05-2026",
                       messages=[{{"role": "user", "content": f"p{{n}}"}}]).message.content[0].text
with ThreadPoolExecutor(16) as pool:
    print(sum(1 for _ in pool.map(one, range(int(sys.argv[2])))))
"""


Timing = list[float]  # seconds of each run
CPU_TIMES: dict[str, Timing] = {}  # the CPU seconds (user + system) of each timed run


def run(args: list[str], stdin: bytes | None = None, env: dict[str, str] | None = None) -> float:
    return run_cpu(args, stdin, env)[0]


def run_cpu(args: list[str], stdin: bytes | None = None,
            env: dict[str, str] | None = None) -> tuple[float, float]:
    """The run's wall seconds and its CPU seconds (user + system, its children's too)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, input=stdin, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"bench: {args[:4]} failed ({done.returncode}): {done.stderr[-300:]!r}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def timings(commands: dict[str, list[str]], runs: int,
            env: dict[str, str] | None = None) -> dict[str, Timing]:
    """Each command `runs` times, interleaved (a, b, c, a, b, c, ...) so that a slow
    moment of the machine hits them all alike; one warm-up run each first. The CPU
    seconds of each run go to CPU_TIMES."""
    for args in commands.values():
        run(args, env=env)
    found: dict[str, Timing] = {name: [] for name in commands}
    for _ in range(runs):
        for name, args in commands.items():
            wall, cpu = run_cpu(args, env=env)
            found[name].append(wall)
            CPU_TIMES.setdefault(name, []).append(cpu)
    return found


def spread(values: Timing) -> str:
    """median (p10-p90) in ms."""
    ordered = sorted(values)
    low = ordered[len(ordered) // 10]
    high = ordered[-1 - len(ordered) // 10]
    return (f"{statistics.median(ordered) * 1000:.1f} ms "
            f"({low * 1000:.1f}-{high * 1000:.1f})")


@contextmanager
def stub(*flags: str) -> Iterator[str]:
    """`cohere-chat stub` in its own process; yields its base URL."""
    proc = subprocess.Popen([*CLI, "stub", *flags], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    url = proc.stdout.readline().decode().strip()
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def env_for(url: str) -> dict[str, str]:
    return {**os.environ, "CO_API_URL": url, "CO_API_KEY": KEY}


def has_sdk() -> bool:
    return subprocess.run([sys.executable, "-c", "import cohere"], capture_output=True,
                          check=False).returncode == 0


def bench_calls(runs: int) -> dict[str, Timing]:
    """Start-up and one non-streamed send, all in one interleaved run against one stub:
    each command beside its floor (`import click`; the click + requests + orjson script)."""
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import click'": [sys.executable, "-c", "import click"],
        "cohere-chat --version": [*CLI, "--version"],
        "cohere-chat --help": [*CLI, "--help"],
        "cohere-chat --no-stream hi": [*CLI, "--no-stream", "hi"],
        "floor script (click + requests + orjson)": [*FLOOR_SEND, "hi"],
    }
    with stub() as url:
        if has_sdk():
            commands["official SDK script"] = [sys.executable, "-c", SDK_CALL.format(key=KEY),
                                               url]
        if shutil.which("curl"):
            body = '{"model":"command-a-plus-05-2026","messages":[{"role":"user","content":"hi"}]}'
            commands["curl"] = ["curl", "-sf", "-H", f"Authorization: Bearer {KEY}", "-H",
                                "Content-Type: application/json", "-d", body, f"{url}/v2/chat"]
        return timings(commands, runs, env_for(url))


class TimedStream(BaseHTTPRequestHandler):
    """SSE with `count` deltas, `gap` seconds apart; records when each one left."""

    protocol_version = "HTTP/1.1"
    sent: ClassVar[dict[str, float]] = {}
    count = 40
    gap = 0.02

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self._event({"type": "message-start", "id": "b",
                     "delta": {"message": {"role": "assistant"}}})
        self._event({"type": "content-start", "index": 0,
                     "delta": {"message": {"content": {"type": "text", "text": ""}}}})
        for n in range(self.count):
            time.sleep(self.gap)
            token = f"<{n:03d}>"
            self.sent[token] = time.monotonic()
            self._event({"type": "content-delta", "index": 0,
                         "delta": {"message": {"content": {"text": token}}}})
        self._event({"type": "content-end", "index": 0})
        self._event({"type": "message-end", "delta": {"finish_reason": "COMPLETE"}})
        self.wfile.write(b"data: [DONE]\n\n")

    def _event(self, data: dict[str, Any]) -> None:
        self.wfile.write(b"event: %s\ndata: %s\n\n" % (data["type"].encode(), orjson.dumps(data)))
        self.wfile.flush()

    def log_message(self, *_: Any) -> None:
        return None


def bench_stream_latency() -> list[float]:
    """Milliseconds from each delta leaving the server to its reaching a piped stdout."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), TimedStream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    proc = subprocess.Popen([*CLI, "hi"], env=env_for(url), stdout=subprocess.PIPE)
    assert proc.stdout is not None
    seen, buffer = {}, b""
    while chunk := os.read(proc.stdout.fileno(), 4096):
        now = time.monotonic()
        buffer += chunk
        while (start := buffer.find(b"<")) >= 0 and (end := buffer.find(b">", start)) > 0:
            seen[buffer[start:end + 1].decode()] = now
            buffer = buffer[end + 1:]
    proc.wait()
    server.shutdown()
    return [(seen[token] - sent) * 1000 for token, sent in TimedStream.sent.items()]


@dataclass(frozen=True)
class Measured:
    """One whole process: wall seconds, peak resident MiB, CPU seconds (user + system)."""

    seconds: float
    peak_mib: float
    cpu: float


def measure(args: list[str], stdin_path: Path, env: dict[str, str]) -> Measured:
    """One process reading stdin from a file, its output thrown away. Its peak counts
    this process's size at the fork: this one stays small (inputs are written in pieces)."""
    started = time.perf_counter()
    with stdin_path.open("rb") as source:
        proc = subprocess.Popen(args, stdin=source, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench: {args[:5]} exited {os.waitstatus_to_exitcode(status)}: "
                         f"{err[-300:]!r}")
    return Measured(time.perf_counter() - started, usage.ru_maxrss / 1024,
                    usage.ru_utime + usage.ru_stime)


def peak_rss_mib(args: list[str], stdin_path: Path, env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak resident MiB) of one process reading stdin from a file."""
    found = measure(args, stdin_path, env)
    return found.seconds, found.peak_mib


def write_lines(folder: Path, count: int, ids: bool = False) -> Path:
    path = folder / f"in-{count}{'-ids' if ids else ''}.jsonl"
    with path.open("wb") as out:
        for n in range(count):
            line: Any = {"id": f"ticket-{n:08d}", "prompt": f"p{n}"} if ids else f"prompt {n}"
            out.write(orjson.dumps(line) + b"\n")
    return path


def write_finished(folder: Path, count: int) -> Path:
    """A results file in which every id of `write_lines(..., ids=True)` succeeded."""
    path = folder / f"out-{count}.jsonl"
    with path.open("wb") as out:
        for n in range(count):
            out.write(orjson.dumps({"id": f"ticket-{n:08d}", "line": n + 1, "text": "x",
                                    "finish_reason": "COMPLETE", "usage": {}}) + b"\n")
    return path


def bench_batch(lines: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder, stub("--latency", "100") as url:
        env = env_for(url)
        source = write_lines(Path(folder), lines)
        seconds, _ = peak_rss_mib([*CLI, "batch", "-j", "16"], source, env)
        figures["batch -j 16 requests/s"] = lines / seconds
        if has_sdk():
            elapsed = run([sys.executable, "-c", SDK_POOL.format(key=KEY), url, str(lines)])
            figures["SDK 16-thread pool requests/s"] = lines / elapsed
    return figures


def bench_memory(memory_lines: tuple[int, int]) -> dict[str, float]:
    """Peak resident memory of the big cases: long batches (with and without ids), a
    --resume over many finished ids, and a big stdin."""
    figures: dict[str, float] = {}
    unordered = [*CLI, "batch", "-j", "16", "--unordered"]
    with tempfile.TemporaryDirectory() as name, stub() as url:
        folder, env = Path(name), env_for(url)
        for count in memory_lines:
            seconds, peak = peak_rss_mib(unordered, write_lines(folder, count), env)
            figures[f"batch {count} lines: peak MiB"] = peak
            figures[f"batch {count} lines: requests/s"] = count / seconds
        most = memory_lines[-1]
        source = write_lines(folder, most, ids=True)
        figures[f"batch {most} lines with ids: peak MiB"] = peak_rss_mib(
            unordered, source, env)[1]
        finished = write_finished(folder, most)
        figures[f"batch --resume over {most} finished ids: peak MiB"] = peak_rss_mib(
            [*unordered, "--resume", "-o", str(finished)], source, env)[1]
        big = folder / "stdin-60mib.txt"
        with big.open("wb") as out:  # in pieces: this process's own size counts for its
            for _ in range(1200):  # children's peak (a fork starts with the parent's pages)
                out.write(b"log line of some length, repeated to fill sixty MiB\n" * 1000)
        figures["send --dry-run, 60 MiB stdin: peak MiB"] = peak_rss_mib(
            [*CLI, "--dry-run", "summarise"], big, env)[1]
    return figures


def bench_batch_cpu(lines: int, runs: int) -> dict[str, float]:
    """CPU seconds (user + system, median of RUNS interleaved) of `batch -j 16` and of a
    bare requests thread pool doing the same work, LINES requests against the stub."""
    with tempfile.TemporaryDirectory() as name, stub() as url:
        env = env_for(url)
        source = write_lines(Path(name), lines)
        commands = {"batch -j 16": [*CLI, "batch", "-j", "16", str(source)],
                    "bare requests pool": [*FLOOR_POOL, str(source)]}
        found: dict[str, list[float]] = {label: [] for label in commands}
        for number in range(runs + 1):  # the first round warms the caches, uncounted
            for label, args in commands.items():
                cpu = measure(args, Path(os.devnull), env).cpu
                if number:
                    found[label].append(cpu)
    return {f"{label}, {lines} requests: CPU seconds": statistics.median(values)
            for label, values in found.items()}


def bench_remote_memory(counts: tuple[int, ...]) -> dict[str, float]:
    """Peak resident memory and seconds of `batch --remote` at each line count, against
    the stub's Batch API (the records spill to disk: memory must not grow)."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as name, stub("--batch-time", "0.5",
                                                     "--batch-validation-time", "0.1") as url:
        folder, env = Path(name), env_for(url)
        for count in counts:
            source = write_lines(folder, count)
            found = measure([*CLI, "batch", "--remote", "-o", str(folder / f"out-{count}"),
                             str(source)], Path(os.devnull), env)
            figures[f"batch --remote {count} lines: peak MiB"] = found.peak_mib
            figures[f"batch --remote {count} lines: seconds"] = found.seconds
    return figures


def write_conversation(folder: Path, megabytes: int) -> Path:
    """A conversation file of about `megabytes` MB: turns of a 1 KB prompt and reply."""
    text = "lorem ipsum dolor sit amet " * 38
    turn = (orjson.dumps({"role": "user", "content": text}) + b"\n"
            + orjson.dumps({"role": "assistant", "content": [{"type": "text", "text": text}]})
            + b"\n")
    count = max(1, megabytes * 1_000_000 // len(turn))
    path = folder / f"conversation-{megabytes}mb.jsonl"
    with path.open("wb") as out:
        for start in range(0, count, 1000):
            out.write(turn * min(1000, count - start))
    return path


def bench_history(sizes: tuple[int, ...]) -> dict[str, float]:
    """One `-c` turn with --history-turns 20 on conversation files of each size: its
    seconds and peak resident memory (the request stays small; the file is read and
    rewritten whole)."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as name, stub() as url:
        folder, env = Path(name), env_for(url)
        for megabytes in sizes:
            path = write_conversation(folder, megabytes)
            args = [*CLI, "--no-stream", "-c", str(path), "--history-turns", "20", "next"]
            peak_rss_mib(args, Path(os.devnull), env)  # warm the page cache
            seconds, peak = peak_rss_mib(args, Path(os.devnull), env)
            figures[f"-c turn, {megabytes} MB file, --history-turns 20: seconds"] = seconds
            figures[f"-c turn, {megabytes} MB file, --history-turns 20: peak MiB"] = peak
    return figures


def one_megabyte_of_text() -> str:
    """About 1 MB of varied text: sentences of words drawn from a fixed list."""
    import random

    words = ("the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "incident",
             "disk", "backup", "error", "summary", "yesterday", "on-call", "billing", "42",
             "2026", "échelle", "naïve", "déjà-vu", '{"role":', '"user"}', "main()", "->")
    draw = random.Random(27)
    parts: list[str] = []
    size = 0
    while size < 1_000_000:
        sentence = " ".join(draw.choice(words) for _ in range(draw.randrange(5, 25))) + ".\n"
        parts.append(sentence)
        size += len(sentence.encode())
    return "".join(parts)


def bench_token_count(runs: int = 5) -> dict[str, float]:
    """Counting 1 MB of text with a tokenizer (issue 27): the stub's byte-level BPE, whose
    small vocabulary makes more tokens a byte than a model's; in-process, median of
    `runs` after one to warm up, and the whole `cohere-chat tokens` process on it."""
    try:
        from cohere_cli.chat.tokenizer import parse_tokenizer
        from cohere_cli.stub.models import TOKENIZER_FILE
        tokenizer = parse_tokenizer(TOKENIZER_FILE.read_bytes())
    except ImportError:
        print("bench: tokenizers is not installed: the token count is left out")
        return {}
    assert tokenizer is not None
    text = one_megabyte_of_text()
    tokenizer.count([text])
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        tokenizer.count([text])
        seconds.append(time.perf_counter() - started)
    figures = {"count 1 MB of text with the tokenizer: seconds": statistics.median(seconds)}
    with tempfile.TemporaryDirectory() as name, stub() as url:
        path = Path(name) / "text.txt"
        path.write_text(text, encoding="utf-8")
        env = {**env_for(url), "XDG_CACHE_HOME": name}
        run([*CLI, "tokens"], path.read_bytes(), env)  # the details and tokenizer cached
        figures["cohere-chat tokens < 1 MB (cached): seconds"] = statistics.median(
            run([*CLI, "tokens"], path.read_bytes(), env) for _ in range(3))
    return figures


Check = tuple[str, float, float, str]  # what, measured, goal, "<=" or ">="


def median_ratio(times: dict[str, Timing], name: str, floor: str) -> float:
    return statistics.median(times[name]) / statistics.median(times[floor])


def budgets(times: dict[str, Timing], figures: dict[str, float]) -> list[Check]:
    """Issue 26's budgets: each command beside its floor, and batch --remote's memory."""
    click_floor = "python -c 'import click'"
    send_floor = "floor script (click + requests + orjson)"
    checks = [
        ("--version / `import click` (wall, median)",
         median_ratio(times, "cohere-chat --version", click_floor), 1.10, "<="),
        ("--version / `import click` (CPU, median)",
         median_ratio(CPU_TIMES, "cohere-chat --version", click_floor), 1.10, "<="),
        ("non-streamed send / floor script (wall, median)",
         median_ratio(times, "cohere-chat --no-stream hi", send_floor), 1.15, "<="),
        ("non-streamed send / floor script (CPU, median)",
         median_ratio(CPU_TIMES, "cohere-chat --no-stream hi", send_floor), 1.15, "<="),
    ]
    cpu = {k.split(",")[0]: v for k, v in figures.items() if k.endswith("CPU seconds")}
    if cpu:
        checks.append(("batch -j 16 CPU / bare requests pool CPU",
                       cpu["batch -j 16"] / cpu["bare requests pool"], 1.15, "<="))
    remote = [(int(k.split()[2]), v) for k, v in figures.items()
              if k.startswith("batch --remote") and k.endswith("peak MiB")]
    for count, peak in remote:
        checks.append((f"batch --remote {count:,} lines: peak MiB", peak, 100.0, "<"))
    if len(remote) >= 2:
        checks.append((f"batch --remote peak, {remote[-1][0]:,} / {remote[0][0]:,} lines",
                       remote[-1][1] / remote[0][1], 1.1, "<="))
    return checks


def earlier_checks(times: dict[str, Timing], figures: dict[str, float],
                   latencies: list[float]) -> list[Check]:
    """The budgets of the earlier issues."""
    checks = [
        ("--help / `import click` (wall, median)",
         median_ratio(times, "cohere-chat --help", "python -c 'import click'"), 1.5, "<="),
        ("each delta on stdout within 5 ms (max)", max(latencies), 5.0, "<="),
        ("batch -j 16 at 100 ms: share of 160 req/s", figures["batch -j 16 requests/s"] / 160,
         0.9, ">="),
    ]
    if "official SDK script" in times:
        checks.append(("send vs official SDK: times faster", median_ratio(
            times, "official SDK script", "cohere-chat --no-stream hi"), 2.5, ">="))
    peaks = [v for k, v in figures.items()
             if k.startswith("batch ") and k.endswith("lines: peak MiB")
             and not k.startswith("batch --remote")]
    checks.append(("local batch peak memory, most lines / fewest lines", peaks[-1] / peaks[0],
                   1.1, "<="))
    turns = [(float(k.split(", ")[1].split()[0]), v) for k, v in figures.items()
             if k.startswith("-c turn, ") and k.endswith(": seconds")]
    counted = figures.get("count 1 MB of text with the tokenizer: seconds")
    if counted is not None:
        checks.append(("count 1 MB of text with the tokenizer: seconds", counted, 0.5, "<="))
    if len(turns) >= 2:  # linear in the file: the cost per MB does not grow with the file
        (small, small_s), (big, big_s) = turns[-2], turns[-1]
        checks.append((f"-c turn cost per MB, {big:g} MB / {small:g} MB file",
                       (big_s / big) / (small_s / small), 1.2, "<="))
    return checks


def met(value: float, goal: float, sense: str) -> bool:
    return {"<=": value <= goal, "<": value < goal, ">=": value >= goal}[sense]


def report(checks: list[Check]) -> list[str]:
    """The budget table, then which budgets fall short (the run itself never fails)."""
    lines = ["| budget | measured | goal | met |", "|---|---|---|---|"]
    short = []
    for name, value, goal, sense in checks:
        ok = met(value, goal, sense)
        lines.append(f"| {name} | {value:.2f} | {sense} {goal:g} | {'yes' if ok else 'NO'} |")
        if not ok:
            short.append(f"{name} ({value:.2f}, goal {sense} {goal:g})")
    lines.append("")
    lines.append("Short of budget: " + "; ".join(short) if short else "Every budget is met.")
    return lines


def machine() -> str:
    """The CPU model, cores, memory, system and Python of this machine."""
    model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        model = next((line.split(":", 1)[1].strip() for line in info
                      if line.startswith("model name")), model)
    memory = ""
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo",
                                                        encoding="utf-8") as info:
        memory = f", {int(info.readline().split()[1]) / 2**20:.0f} GiB"
    return (f"{model}, {platform.machine()}, {os.cpu_count()} cores{memory}, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per timing")
    parser.add_argument("--batch-lines", type=int, default=800)
    parser.add_argument("--cpu-lines", type=int, default=3000,
                        help="requests of the batch -j 16 CPU comparison")
    parser.add_argument("--cpu-runs", type=int, default=5)
    parser.add_argument("--memory-lines", type=int, nargs=2, default=(10_000, 100_000))
    parser.add_argument("--remote-lines", type=int, nargs="+",
                        default=(10_000, 60_000, 100_000))
    parser.add_argument("--history-mb", type=int, nargs="+", default=(1, 10, 100),
                        help="conversation file sizes for the -c turn cost")
    options = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    times = bench_calls(options.runs)
    latencies = bench_stream_latency()
    figures = {**bench_batch_cpu(options.cpu_lines, options.cpu_runs),
               **bench_remote_memory(tuple(options.remote_lines)),
               **bench_batch(options.batch_lines),
               **bench_memory(tuple(options.memory_lines)),
               **bench_history(tuple(options.history_mb)),
               **bench_token_count()}
    print(f"cohere-chat benchmarks, {started}, {machine()}")
    print(f"\n| measurement ({options.runs} runs, interleaved) | wall: median (p10-p90) "
          "| CPU: median |\n|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {spread(values)} | "
              f"{statistics.median(CPU_TIMES[name]) * 1000:.1f} ms |")
    print(f"| stream delta to stdout: median / max | {statistics.median(latencies):.2f} / "
          f"{max(latencies):.2f} ms |")
    print("\n| measurement | value |\n|---|---|")
    for name, value in figures.items():
        print(f"| {name} | {value:.2f} |")
    print()
    print("\n".join(report(budgets(times, figures)
                            + earlier_checks(times, figures, latencies))))


if __name__ == "__main__":
    main()
