"""Images and documents from files: content blocks and `documents` entries (README
"Images", "Documents and citations").

An image path becomes a base64 data URI whose MIME type comes from the file's own first
bytes (PNG, JPEG, WEBP, GIF), not from its name. Cohere's documented limits are checked
before anything is sent: at most 20 images in a request, at most 20 MB of image data.
"""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from cohere_cli.base.errors import InputError, UsageError
from cohere_cli.base.files import decode_utf8, iter_jsonl, read_file_bytes

MAX_IMAGES = 20
MAX_IMAGE_BYTES = 20 * 1024 * 1024
DETAILS = ("auto", "low", "high")
TOO_BIG = f"the images come to more than {MAX_IMAGE_BYTES >> 20} MB"
URL_PREFIXES = ("https://", "http://", "data:image/")


def image_type(data: bytes) -> str | None:
    """The MIME type that the file's first bytes announce, if it is one we send."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_blocks(
    refs: tuple[str, ...], detail: str | None = None, stdin: bytes | None = None
) -> list[dict[str, Any]]:
    """An `image_url` content block for each path or URL, checked against the limits;
    `-` is stdin's bytes (`stdin`)."""
    if len(refs) > MAX_IMAGES:
        raise UsageError(f"at most {MAX_IMAGES} images in a request (got {len(refs)})")
    if detail is not None and detail not in DETAILS:
        raise UsageError(f"--image-detail must be one of {', '.join(DETAILS)}")
    blocks, total = [], 0
    for ref in refs:
        if ref.startswith(URL_PREFIXES):
            url = ref
        else:
            data = _image_bytes(ref, MAX_IMAGE_BYTES - total, stdin)
            mime = image_type(data)
            if mime is None:
                raise InputError("stdin" if ref == "-" else ref,
                                 "not a PNG, JPEG, WEBP or GIF image")
            total += len(data)
            url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        image: dict[str, Any] = {"url": url}
        if detail is not None:
            image["detail"] = detail
        blocks.append({"type": "image_url", "image_url": image})
    return blocks


def _image_bytes(ref: str, limit: int, stdin: bytes | None) -> bytes:
    """An image file's bytes, or stdin's for `-`; at most `limit` of them."""
    if ref == "-":
        if len(stdin or b"") > limit:
            raise InputError("stdin", TOO_BIG)
        return stdin or b""
    # counted while read: a pipe or a device is held to the limit as a file is
    return read_file_bytes(ref, limit, TOO_BIG)


def attach_images(messages: list[dict[str, Any]], blocks: list[dict[str, Any]]) -> None:
    """Add the image blocks to the last user message (its text becomes a text block)."""
    if not blocks:
        return
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message["content"]
            if isinstance(content, str):
                content = [{"type": "text", "text": content}] if content else []
            message["content"] = [*content, *blocks]
            return
    raise UsageError("--image needs a user message to attach the images to")


def document_from_file(path: str, stdin: bytes | None = None) -> dict[str, Any]:
    """A text file as a document: its path is the id, its name the title. `-` is
    stdin's bytes (`stdin`), with the id and title "stdin"."""
    if path == "-":
        return {"id": "stdin", "data": {"title": "stdin",
                                        "snippet": decode_utf8(stdin or b"", "stdin")}}
    text = decode_utf8(read_file_bytes(path), path)
    return {"id": path, "data": {"title": Path(path).name, "snippet": text}}


class DocumentError(ValueError):
    """Why a value cannot be a document."""


def as_document(value: Any) -> Any:
    """One document in the form the API takes: a string, or `{"id"?, "data": {...}}`.

    An object without `data` is the data itself (its `id`, if any, kept apart); an `id`
    must be a string wherever it is (0, false or null are refused, not dropped)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise DocumentError("a document must be a string or an object")
    if "data" in value:
        if not isinstance(value["data"], dict):
            raise DocumentError('a document\'s "data" must be an object')
        document = value
    else:
        fields = dict(value)
        document = {"id": fields.pop("id"), "data": fields} if "id" in fields else {
            "data": fields}
    if "id" in document and not isinstance(document["id"], str):
        raise DocumentError('a document "id" must be a string')
    return document


def documents_from_jsonl(path: str) -> list[Any]:
    """Each line a document: a string, or an object (see `as_document`)."""
    text = decode_utf8(read_file_bytes(path), path)
    documents: list[Any] = []
    for number, value in iter_jsonl(text, path):
        try:
            documents.append(as_document(value))
        except DocumentError as exc:
            raise InputError(path, str(exc), number) from None
    return documents
