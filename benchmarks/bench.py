"""`make bench`: whole-process measurements, side by side, against a loopback stub.

Run it with a Python that has cohere-chat installed and, for the comparisons, the
official `cohere` SDK (`make bench` builds `.venv-bench` with both). All traffic goes to
127.0.0.1. It prints a Markdown table of the figures, the ratios and the budgets of
spec §12; the README keeps the latest run, with the machine and the date.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import orjson

KEY = "bench-key-not-real"
CLI = [sys.executable, "-m", "cohere_cli"]
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


def run(args: list[str], stdin: bytes | None = None, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, input=stdin, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench: {args[:4]} failed ({done.returncode}): {done.stderr[-300:]!r}")
    return elapsed


def median_time(args: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    run(args, env=env)  # warm the file cache
    return statistics.median(run(args, env=env) for _ in range(runs))


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


def bench_startup(runs: int) -> dict[str, float]:
    return {
        "python -c pass": median_time([sys.executable, "-c", "pass"], runs),
        "python -c 'import click'": median_time([sys.executable, "-c", "import click"], runs),
        "cohere-chat --version": median_time([*CLI, "--version"], runs),
        "cohere-chat --help": median_time([*CLI, "--help"], runs),
    }


def bench_send(runs: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    with stub() as url:
        env = env_for(url)
        figures["cohere-chat --no-stream hi"] = median_time([*CLI, "--no-stream", "hi"], runs, env)
        if has_sdk():
            script = SDK_CALL.format(key=KEY)
            figures["official SDK script"] = median_time([sys.executable, "-c", script, url], runs)
        if shutil.which("curl"):
            body = '{"model":"command-a-plus-05-2026","messages":[{"role":"user","content":"hi"}]}'
            figures["curl"] = median_time(
                ["curl", "-sf", "-H", f"Authorization: Bearer {KEY}", "-H",
                 "Content-Type: application/json", "-d", body, f"{url}/v2/chat"], runs)
    return figures


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


def peak_rss_mib(args: list[str], stdin_path: Path, env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak resident MiB) of one process reading stdin from a file."""
    started = time.perf_counter()
    with stdin_path.open("rb") as source:
        proc = subprocess.Popen(args, stdin=source, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench: {args[:5]} exited {os.waitstatus_to_exitcode(status)}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def write_lines(folder: Path, count: int) -> Path:
    path = folder / f"in-{count}.jsonl"
    with path.open("wb") as out:
        for n in range(count):
            out.write(orjson.dumps(f"prompt number {n}") + b"\n")
    return path


def bench_batch(lines: int, memory_lines: tuple[int, int]) -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder, stub("--latency", "100") as url:
        env = env_for(url)
        source = write_lines(Path(folder), lines)
        seconds, _ = peak_rss_mib([*CLI, "batch", "-j", "16"], source, env)
        figures["batch -j 16 requests/s"] = lines / seconds
        if has_sdk():
            elapsed = run([sys.executable, "-c", SDK_POOL.format(key=KEY), url, str(lines)])
            figures["SDK 16-thread pool requests/s"] = lines / elapsed
    with tempfile.TemporaryDirectory() as folder, stub() as url:
        env = env_for(url)
        for count in memory_lines:
            seconds, peak = peak_rss_mib([*CLI, "batch", "-j", "16", "--unordered"],
                                         write_lines(Path(folder), count), env)
            figures[f"batch {count} lines: peak MiB"] = peak
            figures[f"batch {count} lines: requests/s"] = count / seconds
    return figures


def report(figures: dict[str, float], latencies: list[float]) -> list[str]:
    base = figures["python -c 'import click'"]
    checks = [
        ("--version within 1.5x of `import click`", figures["cohere-chat --version"] / base, 1.5,
         "<="),
        ("--help within 1.5x of `import click`", figures["cohere-chat --help"] / base, 1.5, "<="),
        ("each delta on stdout within 5 ms (max)", max(latencies), 5.0, "<="),
        ("batch -j 16 at 100 ms: share of 160 req/s", figures["batch -j 16 requests/s"] / 160,
         0.9, ">="),
    ]
    if "official SDK script" in figures:
        checks.append(("send vs official SDK: times faster", figures["official SDK script"]
                       / figures["cohere-chat --no-stream hi"], 2.5, ">="))
    peaks = [v for k, v in figures.items() if k.endswith("peak MiB")]
    checks.append(("peak memory, most lines / fewest lines", peaks[-1] / peaks[0], 1.1, "<="))
    lines = ["| budget | measured | goal | met |", "|---|---|---|---|"]
    for name, value, goal, sense in checks:
        met = value <= goal if sense == "<=" else value >= goal
        lines.append(f"| {name} | {value:.2f} | {sense} {goal:g} | {'yes' if met else 'NO'} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per timing (median)")
    parser.add_argument("--batch-lines", type=int, default=800)
    parser.add_argument("--memory-lines", type=int, nargs=2, default=(10_000, 100_000))
    options = parser.parse_args()
    figures = {**bench_startup(options.runs), **bench_send(options.runs)}
    latencies = bench_stream_latency()
    figures.update(bench_batch(options.batch_lines, tuple(options.memory_lines)))
    print(f"cohere-chat benchmarks, {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}")
    print("\n| measurement | value |\n|---|---|")
    for name, value in figures.items():
        unit = "" if ("/s" in name or "MiB" in name) else " ms"
        shown = value * 1000 if unit else value
        print(f"| {name} | {shown:.1f}{unit} |")
    print(f"| stream delta to stdout: median / max | {statistics.median(latencies):.2f} / "
          f"{max(latencies):.2f} ms |")
    print()
    print("\n".join(report(figures, latencies)))


if __name__ == "__main__":
    main()
