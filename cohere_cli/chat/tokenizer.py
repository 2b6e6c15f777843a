"""A model's own tokenizer: the file at its `tokenizer_url`, downloaded without the key
(wire/download.py), at most MAX_TOKENIZER_BYTES, cached on disk for a day by its URL
(base/cache.py), and loaded with Hugging Face's `tokenizers` (the `tokenizer` extra:
`pip install 'cohere-chat[tokenizer]'`), imported here only, and only to count.

Text is encoded without special tokens. A long text is encoded in pieces (in parallel),
each cut before a single space between two words: where the tokenizer's own
pre-tokenizer (byte-level BPE, as Cohere's) splits, so the count is the same as the
whole text's.
"""
from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from cohere_cli.base.cache import Cache
from cohere_cli.base.errors import CohereChatError
from cohere_cli.wire.connection import Connection
from cohere_cli.wire.deadline import Deadline
from cohere_cli.wire.download import download

KIND = "tokenizers"
MAX_TOKENIZER_BYTES = 64 << 20  # Cohere's are a few MiB; more is not a tokenizer file
DOWNLOAD_SECONDS = 120.0  # the longest a download may take, --max-time or not
PIECE = 16384  # characters a piece of a long text holds, about
_CUT = re.compile(r"(?<=\S) (?=\S)")
WHAT = "the tokenizer file"
NOT_INSTALLED = "the tokenizer extra is not installed"
NOT_CACHED = "not cached (--dry-run fetches nothing)"


def shown_url(url: str) -> str:
    """A URL without its query (a signed URL's signature) or user part, for a message."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"


def tokenizers_installed() -> bool:
    """Whether the `tokenizer` extra is installed (without importing it)."""
    return importlib.util.find_spec("tokenizers") is not None


def pieces(text: str, size: int = PIECE) -> list[str]:
    """TEXT in pieces of about SIZE characters, each after the first starting at a single
    space between two words; one piece when there is no such space."""
    found: list[str] = []
    start = 0
    while len(text) - start > size:
        cut = _CUT.search(text, start + size)
        if cut is None:
            break
        found.append(text[start:cut.start()])
        start = cut.start()
    found.append(text[start:])
    return found


class Tokenizer:
    """A loaded tokenizer that counts the tokens of texts."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer

    def count(self, texts: Sequence[str]) -> list[int]:
        """The tokens of each text, encoded without special tokens."""
        split = [pieces(text) for text in texts]
        flat = [piece for parts in split for piece in parts]
        if not flat:
            return [0] * len(texts)
        sizes = iter([len(encoding.ids) for encoding in self._encode(flat)])
        return [sum(next(sizes) for _ in parts) for parts in split]

    def _encode(self, texts: list[str]) -> list[Any]:
        encode = getattr(self._tokenizer, "encode_batch_fast", None)
        if encode is None:  # tokenizers before 0.21
            encode = self._tokenizer.encode_batch
        return list(encode(texts, add_special_tokens=False))


def parse_tokenizer(data: bytes) -> Tokenizer | None:
    """The tokenizer in a tokenizer file's bytes; None when they are not one."""
    from tokenizers import Tokenizer as HFTokenizer

    try:
        return Tokenizer(HFTokenizer.from_str(data.decode("utf-8")))
    except Exception:  # not UTF-8, not JSON, not a tokenizer: the library says no more
        return None


def _download_deadline(deadline: Deadline) -> Deadline:
    """The run's deadline, or DOWNLOAD_SECONDS when that comes first."""
    left = deadline.left()
    if left is not None and left <= DOWNLOAD_SECONDS:
        return Deadline(left, deadline.name).start()
    return Deadline(DOWNLOAD_SECONDS, "the tokenizer download's limit").start()


def load_tokenizer(
    url: str, connection: Connection, cache: Cache, deadline: Deadline,
    log: Callable[[str], None], warn: Callable[[str], None], offline: bool = False,
) -> tuple[Tokenizer | None, str | None]:
    """The tokenizer at URL (cached, else downloaded unless `offline`, then cached), or
    None and why not. `warn` gets a cache that cannot be written."""
    if not tokenizers_installed():
        return None, NOT_INSTALLED
    data = cache.read(KIND, url, MAX_TOKENIZER_BYTES)
    found = parse_tokenizer(data) if data is not None else None
    if found is not None or offline:
        return found, None if found is not None else NOT_CACHED
    body = bytearray()
    try:
        download(url, body.extend, connection, log, what=WHAT, limit=MAX_TOKENIZER_BYTES,
                 deadline=_download_deadline(deadline))
    except CohereChatError as exc:
        return None, exc.message
    found = parse_tokenizer(bytes(body))
    if found is None:
        return None, f"{WHAT} at {shown_url(url)} is not a tokenizer"
    problem = cache.write(KIND, url, bytes(body))
    if problem:
        warn(problem)
    return found, None
