"""The floor of one non-streamed send (issue 26): the same call as `cohere-chat --no-stream
PROMPT`, made by the fewest lines of the card's own libraries (click, requests, orjson).

`make bench` times `cohere-chat --no-stream hi` against this script; the key and the base
URL come from CO_API_KEY and CO_API_URL, as the program's do.
"""
from __future__ import annotations

import os

import click
import orjson
import requests

MODEL = "command-a-plus-05-2026"


@click.command()
@click.argument("prompt")
def main(prompt: str) -> None:
    base = os.environ.get("CO_API_URL", "https://api.cohere.com").rstrip("/")
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": False}
    response = requests.post(f"{base}/v2/chat", data=orjson.dumps(body), timeout=(10, 300),
                             headers={"Authorization": f"Bearer {os.environ['CO_API_KEY']}",
                                      "Content-Type": "application/json",
                                      "Accept": "application/json"})
    response.raise_for_status()
    reply = orjson.loads(response.content)
    click.echo("".join(block.get("text", "") for block in reply["message"]["content"]
                       if block.get("type") == "text"))


if __name__ == "__main__":
    main()
