"""`--show-citations`: each cited span on stderr, with where it is and its sources.

A citation's `start`-`end` count characters in one content block of the message (its
`content_index`), and its `type` says which part of the answer it is for: the reply
(`TEXT_CONTENT`), the thinking (`THINKING_CONTENT`) or the tool plan (`PLAN`). A span in
the reply is shown as it falls in the printed reply (the text blocks joined); any other
is labelled with its place, so that it is not read as pointing into the reply. Whatever
shape the server gives a citation's fields, they are shown, never fatal.
"""
from __future__ import annotations

from typing import Any

import orjson

from cohere_cli.chat.response import citations

# A citation's type -> the content blocks it counts in (None: the tool plan) and its label.
_PLACES: dict[str, tuple[str | None, str]] = {
    "TEXT_CONTENT": ("text", ""),
    "THINKING_CONTENT": ("thinking", "in the thinking, "),
    "PLAN": (None, "in the tool plan, "),
}


def citation_lines(response: dict[str, Any]) -> list[str]:
    """The lines --show-citations prints: each citation numbered, then its sources once."""
    lines = []
    sources: dict[str, str] = {}
    for number, citation in enumerate(citations(response), 1):
        names = []
        for source in _listed(citation.get("sources")):
            name, title = _source_name(source)
            sources.setdefault(name, title)
            names.append(name)
        quoted = _shown(citation.get("text"), "")
        lines.append(f"[{number}] \"{quoted}\" ({_place(citation, response)}): "
                     f"{', '.join(names) or '?'}")
    if sources:
        lines.append("sources:")
        lines.extend(f"  {name}  {title}".rstrip() for name, title in sources.items())
    return lines


def _blocks(response: dict[str, Any]) -> list[Any]:
    message = response.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content if isinstance(content, list) else []


def _place(citation: dict[str, Any], response: dict[str, Any]) -> str:
    """Where the span is: "4-7" in the printed reply, "in the thinking, 0-9", ..."""
    blocks = _blocks(response)
    given = citation.get("content_index")
    index = given if isinstance(given, int) and not isinstance(given, bool) else -1
    block = blocks[index] if 0 <= index < len(blocks) else None
    block_type = block.get("type") if isinstance(block, dict) else None
    kind = citation.get("type")
    if kind is None:  # no type: the block it is in says which part it is for
        kind = "THINKING_CONTENT" if block_type == "thinking" else "TEXT_CONTENT"
    if isinstance(kind, str) and kind in _PLACES:
        counted, label = _PLACES[kind]
    else:  # a type this client does not know: named, never taken for the reply
        counted, label = None, f"in {_shown(kind, '?')}, "
    shift = 0
    if counted is not None and block_type == counted:  # the same kind's blocks before it
        shift = sum(len(b[counted]) for b in blocks[:index] if isinstance(b, dict)
                    and b.get("type") == counted and isinstance(b.get(counted), str))
    return f"{label}{_offset(citation.get('start'), shift)}-{_offset(citation.get('end'), shift)}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _offset(value: Any, shift: int) -> str:
    if _is_int(value):
        return str(value + shift)
    return _shown(value, "?")


def _listed(value: Any) -> list[Any]:
    """A list's items; a single other value as one item; nothing for null or absent."""
    if value is None:
        return []
    return [item for item in value if item is not None] if isinstance(value, list) else [value]


def _shown(value: Any, absent: str) -> str:
    """A value as text: a string as it is, null as `absent`, anything else as JSON."""
    if value is None:
        return absent
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:100]


def _source_name(source: Any) -> tuple[str, str]:
    """A source's id and a one-line title (a document's title, or a tool's output).
    A source that is not an object (a string, a list) is shown as its id."""
    if not isinstance(source, dict):
        return _one_line(_shown(source, "?")) or "?", ""
    inner = source.get("document") or source.get("tool_output") or {}
    if not isinstance(inner, dict):  # a document given as its text
        inner = {"text": inner}
    name = _shown(source.get("id") or inner.get("id"), "?")
    title = inner.get("title") or inner.get("snippet") or inner.get("text")
    return name, _one_line(_shown(title, ""))
