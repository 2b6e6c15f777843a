"""Hiding the secrets a client sends (the API key, ...) in every byte a server returns.

A server may echo what it was sent: `401 {"message": "invalid api token: Bearer KEY"}`, a
200 whose `id` is the key, a stream that carries it. `Redactor` replaces each secret,
wherever it appears whole in a body, with MASK: as sent, or JSON-escaped in any way
(`\\u0063o-...`, `\\/`), so that the text parsed from the body does not hold it either.
A stream is hidden as it goes (`hide_stream`): a secret split across two chunks is still
found, because a chunk's end that could be the start of one is held back until the next
chunk shows whether it is. A body that must keep its length (an Avro file read back)
has each secret replaced by as many `*` instead (`keep_length`).

Text can come in pieces too: the deltas of a streamed reply, the content blocks of one,
each event or block a JSON string of its own, hidden whole above, but shown joined. A
`TextStream` hides them as the stream of bytes is: the end of a piece that could begin a
secret waits for the next piece (`feed`), or the end of the text (`end`); text that
cannot begin one is given at once. `hide_pieces` does it for pieces all at hand.

A secret shorter than SHORTEST characters is not hidden: masking it would mask ordinary
text, and the very JSON of an answer (a key `x` in `"text"`). No real key is that short
(a Cohere key has 40 characters): one is refused before it is sent to another machine
(connection.check_connection); to this machine it is a placeholder (`CO_API_KEY=test`
for the stub).
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence

from cohere_cli.base.values import SHORTEST_SECRET

MASK = "[hidden]"
SHORTEST = SHORTEST_SECRET  # characters: a secret any shorter is not hidden
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
    in either case). An escape may start with a run of backslashes: JSON in a JSON string
    (a tool call's arguments in a body) escapes its escapes (`\\\\u0063`), and the whole run
    goes with the secret, or the mask would leave a lone backslash that breaks the JSON."""
    forms = [re.escape(char.encode())]
    forms += [b"\\\\+" + re.escape(form[1:]) for form in _ESCAPED.get(char, ())]
    if ord(char) <= 0xFFFF:
        digits = f"{ord(char):04x}"
        forms.append(b"\\\\+u" + "".join(f"[{digit}{digit.upper()}]" if digit.isalpha()
                                          else digit for digit in digits).encode())
    return b"(?:" + b"|".join(forms) + b")"


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
        self._longest = max((sum(max(map(len, forms)) + 1 for forms in secret)  # +1: `\\\\u`
                             for secret in self._secrets), default=0)
        self._texts = chosen  # as text, for the pieces of a text (TextStream)
        self._firsts = frozenset(secret[0] for secret in chosen)

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
                start = found.start()  # and the backslashes before an escape: `\\\\u0063`
                return start - (len(data[:start]) - len(data[:start].rstrip(b"\\"))
                                if data[start:start + 1] == b"\\" else 0)
        return len(data)

    def _begins(self, tail: bytes) -> bool:
        """Whether TAIL is the beginning, and not the whole, of a secret in some form."""
        for secret in self._secrets:
            at = 0
            for forms in secret:
                if at == len(tail):
                    return True
                rest = tail[at:]
                run = len(rest) - len(rest.lstrip(b"\\"))  # an escape's escaped backslash
                if run > 1:
                    at, rest = at + run - 1, rest[run - 1:]
                form = next((form for form in forms if rest.startswith(form)), None)
                if form is None:
                    if any(form.startswith(rest) for form in forms):
                        return True
                    break
                at += len(form)
        return False

    def text_cut(self, text: str) -> int:
        """Where the end of TEXT that could begin a secret (as sent) starts; len(TEXT):
        none does."""
        longest = len(self._texts[0]) if self._texts else 0  # longest first
        for start in range(max(0, len(text) - longest + 1), len(text)):
            if text[start] in self._firsts and any(
                    secret.startswith(text[start:]) for secret in self._texts):
                return start
        return len(text)

    def json_cut(self, text: str) -> int:
        """Where the end of TEXT, a JSON text (a tool call's arguments), that could begin a
        secret in any of its forms (`\\u0063...` cut after `\\u00`) starts; len(TEXT): none does."""
        data = text.encode("utf-8", "surrogatepass")
        return len(data[:self._cut(data)].decode("utf-8", "surrogatepass"))

    def hide_pieces(self, pieces: Sequence[str]) -> list[str]:
        """PIECES of one text (shown joined), each with every secret hidden, even one cut
        across them: a piece's end that could begin a secret moves to the next piece."""
        stream = TextStream(self)
        shown = [stream.feed(piece) for piece in pieces]
        if shown:
            shown[-1] += stream.end()
        return shown


class TextStream:
    """The pieces of one text as they come (a streamed reply's deltas), each with every
    secret hidden, even one cut across pieces: the end that could begin a secret is held
    back until the next piece shows whether it does, or until `end`."""

    def __init__(self, redactor: Redactor, json: bool = False) -> None:
        self._redactor = redactor
        self._cut = redactor.json_cut if json else redactor.text_cut  # JSON: every form
        self.held = ""  # the end that could begin a secret: not shown yet
        self.masked = False  # whether a secret was hidden in it

    def feed(self, piece: str) -> str:
        """What may be shown now of what was held back and PIECE."""
        if not self._redactor:
            return piece
        text = self._redactor.hide_text(self.held + piece)
        self.masked = self.masked or text != self.held + piece
        cut = self._cut(text)
        self.held = text[cut:]
        return text[:cut]

    def end(self) -> str:
        """The end of the text: what was held back (it begins no secret that follows)."""
        held, self.held = self.held, ""
        return held
