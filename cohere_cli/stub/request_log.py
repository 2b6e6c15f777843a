"""`stub -v`: one line on stderr for each request the stub answers (or fails on purpose):
its method, path, status, model and tokens (input/output), as

    cohere-chat stub: POST /v2/chat 200 model=command-a-plus-05-2026 tokens=3/5

`-` where there is none (no reply: `drop`, `hang`), and ` injected=RULE` after a `--fail`
fault. Never a header: the bearer token is masked (`***`) even where a client put it in the
path or the model. What the client sent is escaped (a space, a backslash, anything
unprintable as \\xNN, \\uNNNN), so a line stays one line and sends the terminal nothing.
"""
from __future__ import annotations

import sys
import threading
from typing import Any

import orjson

from cohere_cli import PROGRAM

_LOCK = threading.Lock()  # one request's line is written whole


def escaped(text: str) -> str:
    """`text` with spaces, backslashes and every unprintable character escaped."""
    return "".join(c if c.isprintable() and c not in " \\" else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _masked(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _model(body: Any) -> str | None:
    if not isinstance(body, dict) or "model" not in body:
        return None
    model = body["model"]
    return model if isinstance(model, str) else orjson.dumps(model).decode()


def _count(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "?"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _tokens(response: dict[str, Any] | None) -> str:
    """`IN/OUT` from the response's usage (its tokens, else its billed units), or `-`."""
    usage = response.get("usage") if response else None
    if not isinstance(usage, dict):
        return "-"
    counts = usage.get("tokens") or usage.get("billed_units")
    if not isinstance(counts, dict):
        return "-"
    return f"{_count(counts.get('input_tokens'))}/{_count(counts.get('output_tokens'))}"


def _secrets(authorization: str | None) -> tuple[str, ...]:
    """The Authorization header's value and its token: what a line must never show."""
    value = (authorization or "").strip()
    return value, value.partition(" ")[2].strip()


def log_request(method: str, path: str, body: Any, authorization: str | None,
                status: int | None, response: dict[str, Any] | None = None,
                injected: str | None = None) -> None:
    """Write the line of one request on stderr."""
    secrets = _secrets(authorization)
    model = _model(body)
    parts = [
        f"{PROGRAM} stub:", escaped(_masked(method, secrets)), escaped(_masked(path, secrets)),
        "-" if status is None else str(status),
        "model=" + ("-" if model is None else escaped(_masked(model, secrets))),
        "tokens=" + _tokens(response),
    ]
    if injected is not None:
        parts.append(f"injected={injected}")
    with _LOCK:
        sys.stderr.write(" ".join(parts) + "\n")
        sys.stderr.flush()
