"""The floor of `cohere-chat batch -j 16` (issue 26): a bare requests thread pool doing the
same work. Each line of the JSONL file (a prompt string) becomes the same `/v2/chat`
request, 16 at a time, one session a thread; each reply becomes a result line on stdout,
in input order, with the text, finish reason and usage.

`make bench` compares the CPU time of `batch -j 16` with this script's on the same lines.
Usage: floor_pool.py LINES.jsonl (CO_API_KEY and CO_API_URL from the environment).
"""
from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import requests

MODEL = "command-a-plus-05-2026"
URL = os.environ.get("CO_API_URL", "https://api.cohere.com").rstrip("/") + "/v2/chat"
HEADERS = {"Authorization": f"Bearer {os.environ['CO_API_KEY']}",
           "Content-Type": "application/json", "Accept": "application/json"}
local = threading.local()


def session() -> requests.Session:
    if not hasattr(local, "session"):
        local.session = requests.Session()
        local.session.headers.update(HEADERS)
    found: requests.Session = local.session
    return found


def one(item: tuple[int, bytes]) -> bytes:
    number, data = item
    body = {"model": MODEL, "messages": [{"role": "user", "content": orjson.loads(data)}],
            "stream": False}
    response = session().post(URL, data=orjson.dumps(body), timeout=(10, 300))
    response.raise_for_status()
    reply: dict[str, Any] = orjson.loads(response.content)
    text = "".join(block.get("text", "") for block in reply["message"]["content"]
                   if block.get("type") == "text")
    return orjson.dumps({"id": number, "line": number, "text": text,
                         "finish_reason": reply.get("finish_reason"),
                         "usage": reply.get("usage")}) + b"\n"


def main() -> None:
    with open(sys.argv[1], "rb") as source, ThreadPoolExecutor(16) as pool:
        for line in pool.map(one, enumerate(source, 1)):
            sys.stdout.buffer.write(line)


if __name__ == "__main__":
    main()
