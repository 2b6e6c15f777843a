"""A Server-Sent Events decoder that follows the WHATWG event-stream parsing rules.

https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

Bytes are decoded as UTF-8 incrementally (a chunk may end inside a character; invalid
bytes become U+FFFD; one leading BOM is dropped). Lines end in LF, CRLF or CR, and a CR
at the end of one chunk followed by LF at the start of the next is one line end. A blank
line dispatches the pending event, unless its data buffer is empty. At the end of the
stream an event that no blank line ended is discarded, as the standard says.

The decoder works a chunk at a time with `str.replace`/`str.split`, never a Python loop
over characters, because it sits on the path of every streamed token.
"""
from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event.

    `id` is the stream's last event ID when the event was dispatched (it carries over
    from earlier events, as in the standard; None until an `id` field sets it), and
    `retry` the reconnection time in milliseconds set by the last valid `retry` field
    so far (None until one arrives).
    """

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


class EventStreamDecoder:
    """Feed it bytes as they arrive; it returns the events each chunk completes."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._partial: list[str] = []  # pieces of the line not yet ended
        self._after_cr = False  # the last text seen ended in CR: skip a leading LF
        self._event_type = ""
        self._data: list[str] = []
        self._last_id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode one chunk; return the events whose blank line it completed."""
        return self._feed_text(self._decoder.decode(chunk))

    def close(self) -> list[ServerSentEvent]:
        """End of stream: flush the decoder and discard any unfinished event.

        Always returns an empty list (the standard discards an event that no blank line
        ended); the decoder is then ready for a new stream, keeping the last event ID
        and reconnection time.
        """
        events = self._feed_text(self._decoder.decode(b"", True))
        self._decoder.reset()
        self._partial.clear()
        self._after_cr = False
        self._event_type = ""
        self._data.clear()
        return events

    def _feed_text(self, text: str) -> list[ServerSentEvent]:
        if not text:
            return []
        if self._after_cr:
            self._after_cr = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        if "\n" not in text and "\r" not in text:
            self._partial.append(text)
            return []
        self._after_cr = text[-1] == "\r"
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if self._partial:
            self._partial.append(lines[0])
            lines[0] = "".join(self._partial)
            self._partial.clear()
        tail = lines.pop()
        if tail:
            self._partial.append(tail)
        return self._process(lines)

    def _process(self, lines: list[str]) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(self._dispatch())
                else:
                    self._event_type = ""
                continue
            colon = line.find(":")
            if colon == 0:
                continue  # a comment
            if colon < 0:
                self._field(line, "")
                continue
            value = line[colon + 1 :]
            if value[:1] == " ":
                value = value[1:]
            self._field(line[:colon], value)
        return events

    def _field(self, name: str, value: str) -> None:
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)

    def _dispatch(self) -> ServerSentEvent:
        event = ServerSentEvent(
            self._event_type or "message", "\n".join(self._data), self._last_id, self._retry
        )
        self._event_type = ""
        self._data.clear()
        return event


def iter_events(chunks: Iterable[bytes]) -> Iterator[ServerSentEvent]:
    """The events of a whole stream of byte chunks, yielded as soon as each is complete."""
    decoder = EventStreamDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.close()
