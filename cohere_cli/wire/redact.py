"""Hiding the secrets a client sends (the API key, ...) in every byte a server returns.

A server may echo what it was sent: `401 {"message": "invalid api token: Bearer KEY"}`, a
200 whose `id` is the key, a stream that carries it. `Redactor` replaces each secret,
wherever it appears whole in a body, with MASK: as sent, or JSON-escaped in any way
(`\\u0063o-...`, `\\/`), so that the text parsed from the body does not hold it either.
A stream is hidden as it goes (`hide_stream`): a secret split across two chunks is still
found, because a chunk's end that could be the start of one is held back until the next
chunk shows whether it is. A body that must keep its length (an Avro file read back)
has each secret replaced by as many `*` instead (`keep_length`).

A secret shorter than SHORTEST characters is not hidden: masking it would mask ordinary
text (a Cohere key is 40 characters).
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator

MASK = "[hidden]"
SHORTEST = 8
_ESCAPED = {"/": (b"\\/",), '"': (b'\\"',), "\\": (b"\\\\",), "\b": (b"\\b",),
            "\f": (b"\\f",), "\n": (b"\\n",), "\r": (b"\\r",), "\t": (b"\\t",)}


def _unicode_escapes(char: str) -> list[bytes]:
    """`\\uXXXX` for a character of the Basic Multilingual Plane, in every case of its
    hex digits (JSON allows either)."""
    if ord(char) > 0xFFFF:
        return []
    digits = f"{ord(char):04x}"
    cases = [sorted({digit, digit.upper()}) for digit in digits]
    return [b"\\u" + "".join(combination).encode() for combination in itertools.product(*cases)]


def _forms(char: str) -> list[bytes]:
    """Every way a character of a secret may appear in a body: as itself (UTF-8) or
    escaped as JSON allows."""
    return [char.encode(), *_ESCAPED.get(char, ()), *_unicode_escapes(char)]


def _pattern_of(char: str) -> bytes:
    """A regular expression of the forms of a character (the hex digits of its `\\uXXXX`
    in either case)."""
    plain = [re.escape(form) for form in (char.encode(), *_ESCAPED.get(char, ()))]
    if ord(char) <= 0xFFFF:
        digits = f"{ord(char):04x}"
        plain.append(b"\\\\u" + "".join(f"[{digit}{digit.upper()}]" if digit.isalpha()
                                         else digit for digit in digits).encode())
    return b"(?:" + b"|".join(plain) + b")"


def _one_of(found: set[bytes]) -> bytes:
    """A regular expression of one of the bytes FOUND (none: one that never matches)."""
    return b"[" + b"".join(re.escape(byte) for byte in sorted(found)) + b"]" if found \
        else b"(?!)"


class Redactor:
    """Hides `secrets` (the strings a client sends that no one else may see) in bytes."""

    def __init__(self, secrets: Iterable[str]) -> None:
        chosen = sorted({secret for secret in secrets if len(secret) >= SHORTEST},
                        key=len, reverse=True)
        self._secrets = [[_forms(char) for char in secret] for secret in chosen]
        pattern = b"|".join(b"".join(map(_pattern_of, secret)) for secret in chosen)
        self._pattern = re.compile(pattern) if pattern else None
        self._plain = [secret.encode() for secret in chosen]  # each as sent
        starts = {form[:1] for secret in self._secrets for form in secret[0]}
        self._start = re.compile(_one_of(starts))  # where a secret may begin
        self._used = bytes(sorted({byte for secret in self._secrets for forms in secret
                                   for form in forms for byte in form}))
        self._longest = max((sum(max(map(len, forms)) for forms in secret)
                             for secret in self._secrets), default=0)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def hide(self, data: bytes, keep_length: bool = False) -> bytes:
        """DATA with every secret hidden."""
        if self._pattern is None or (b"\\" not in data  # no escape: only a plain one
                                     and not any(plain in data for plain in self._plain)):
            return data
        if keep_length:
            return self._pattern.sub(lambda found: b"*" * len(found.group()), data)
        return self._pattern.sub(MASK.encode(), data)

    def hide_text(self, text: str) -> str:
        """TEXT (a reason phrase, an exception's words) with every secret hidden."""
        if self._pattern is None:
            return text
        return self.hide(text.encode("utf-8", "surrogatepass")).decode(
            "utf-8", "surrogatepass")

    def hide_stream(self, chunks: Iterable[bytes], keep_length: bool = False
                    ) -> Iterator[bytes]:
        """Each chunk with every secret hidden, even one split across chunks: the end
        of a chunk that could begin a secret waits for the next chunk."""
        if self._pattern is None:
            yield from chunks
            return
        held = b""
        for chunk in chunks:
            data = self.hide(held + chunk, keep_length)
            cut = self._cut(data)
            held = data[cut:]
            if cut:
                yield data[:cut]
        if held:
            yield held  # the end of the body: no secret can follow

    def _cut(self, data: bytes) -> int:
        """Where the end of DATA that could begin a secret starts (len(DATA): none)."""
        window = max(0, len(data) - self._longest + 1)
        begin = window + len(data[window:].rstrip(self._used))  # no secret spans a byte
        for found in self._start.finditer(data, begin):  # that is in none of its forms
            if self._begins(data[found.start():]):
                return found.start()
        return len(data)

    def _begins(self, tail: bytes) -> bool:
        """Whether TAIL is the beginning, and not the whole, of a secret in some form."""
        for secret in self._secrets:
            at = 0
            for forms in secret:
                if at == len(tail):
                    return True
                rest = tail[at:]
                form = next((form for form in forms if rest.startswith(form)), None)
                if form is None:
                    if any(form.startswith(rest) for form in forms):
                        return True
                    break
                at += len(form)
        return False
