"""The Server-Sent Events decoder against the WHATWG event-stream rules."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from conftest import fuzz_examples
from hypothesis import given
from hypothesis import strategies as st

from cohere_cli.wire.sse import EventStreamDecoder, ServerSentEvent, iter_events

BOM = b"\xef\xbb\xbf"


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    return list(iter_events(chunks))


def feed_in_chunks(raw: bytes, cuts: Sequence[int]) -> list[ServerSentEvent]:
    decoder = EventStreamDecoder()
    events: list[ServerSentEvent] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(raw)]:
        events += decoder.feed(raw[start:cut])
        start = cut
    return events + decoder.close()


# --- the property: chunk boundaries never change the events -------------------------

# Any character UTF-8 can encode but CR/LF, with 2-, 3- and 4-byte ones made likely.
CHARS = st.characters(codec="utf-8", exclude_characters="\r\n") | st.sampled_from(
    ["é", "€", "中", "😀", "𝄞", "\U0010ffff", "\ufeff", "\x00", ":", " "]
)
TEXT = st.text(CHARS, max_size=12)
LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r"])


@dataclass(frozen=True)
class Block:
    """One event as written on the wire, and what the decoder must make of it."""

    name: str
    data: tuple[str, ...]
    event_id: str | None
    retry: str | None
    comments: tuple[str, ...]
    unknown: tuple[str, ...]


BLOCKS = st.builds(
    Block,
    name=TEXT,
    data=st.lists(TEXT, min_size=1, max_size=3).map(tuple),
    event_id=st.none() | TEXT,
    retry=st.none() | st.integers(0, 10**12).map(str) | TEXT,
    comments=st.lists(TEXT, max_size=2).map(tuple),
    unknown=st.lists(TEXT, max_size=1).map(tuple),
)


def field_line(name: str, value: str, tight: bool) -> str:
    if not value and tight:
        return name  # a line without a colon: the whole line is the name
    if tight and not value.startswith(" "):
        return f"{name}:{value}"
    return f"{name}: {value}"


def block_lines(block: Block, tight: bool) -> list[str]:
    lines = [":" + comment for comment in block.comments]
    if block.name:
        lines.append(field_line("event", block.name, tight))
    if block.event_id is not None:
        lines.append(field_line("id", block.event_id, tight))
    lines += [field_line("data", value, tight) for value in block.data]
    if block.retry is not None:
        lines.append(field_line("retry", block.retry, tight))
    lines += [field_line("x-" + name.replace(":", ""), "v", tight) for name in block.unknown]
    return [*lines, ""]


def encode(lines: list[str], ends: list[str]) -> str:
    out: list[str] = []
    previous = ""
    for number, line in enumerate(lines):
        end = ends[number % len(ends)]
        if previous == "\r" and not line and end == "\n":
            end = "\r"  # CR then a lone LF would be one CRLF line end, not two
        out.append(line + end)
        previous = end
    return "".join(out)


def expected_events(blocks: list[Block]) -> list[ServerSentEvent]:
    events: list[ServerSentEvent] = []
    last_id: str | None = None
    retry: int | None = None
    for block in blocks:
        if block.event_id is not None and "\0" not in block.event_id:
            last_id = block.event_id
        if block.retry is not None and block.retry.isascii() and block.retry.isdigit():
            retry = int(block.retry)
        data = "\n".join(block.data)
        events.append(ServerSentEvent(block.name or "message", data, last_id, retry))
    return events


@fuzz_examples(300)
@given(
    blocks=st.lists(BLOCKS, max_size=6),
    ends=st.lists(LINE_ENDS, min_size=1, max_size=5),
    tight=st.booleans(),
    bom=st.booleans(),
    data=st.data(),
)
def test_any_chunking_gives_the_same_events(
    blocks: list[Block], ends: list[str], tight: bool, bom: bool, data: st.DataObject
) -> None:
    lines = [line for block in blocks for line in block_lines(block, tight)]
    raw = (BOM if bom else b"") + encode(lines, ends).encode("utf-8")
    whole = decode(raw)
    assert whole == expected_events(blocks)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=len(raw) + 1))
    assert feed_in_chunks(raw, cuts) == whole


@given(blocks=st.lists(BLOCKS, max_size=3), ends=st.lists(LINE_ENDS, min_size=1, max_size=3))
def test_byte_by_byte_gives_the_same_events(blocks: list[Block], ends: list[str]) -> None:
    lines = [line for block in blocks for line in block_lines(block, False)]
    raw = encode(lines, ends).encode("utf-8")
    assert feed_in_chunks(raw, range(len(raw))) == decode(raw) == expected_events(blocks)


# --- one test per rule ----------------------------------------------------------------


def test_simple_event() -> None:
    assert decode(b"event: ping\ndata: hello\n\n") == [ServerSentEvent("ping", "hello")]


def test_default_event_name_is_message() -> None:
    assert decode(b"data: x\n\n", b"event:\ndata: y\n\n") == [
        ServerSentEvent("message", "x"),
        ServerSentEvent("message", "y"),
    ]


def test_event_name_does_not_carry_over() -> None:
    assert [e.event for e in decode(b"event: a\ndata: 1\n\ndata: 2\n\n")] == ["a", "message"]


def test_line_ends_lf_crlf_cr() -> None:
    raw = b"data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n\n"
    assert [e.data for e in decode(raw)] == ["a", "b", "c", "d"]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    # Were the CR and the LF two line ends, "data: a" would be dispatched at once and
    # the second event would not get "b" as its first data line.
    events = decode(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n")
    assert events == [ServerSentEvent("message", "a\nb")]


def test_cr_then_lf_after_an_empty_chunk() -> None:
    events = decode(b"data: a\r", b"", b"\n", b"\r\n")
    assert events == [ServerSentEvent("message", "a")]


def test_cr_then_a_character_split_across_chunks() -> None:
    # The chunk after the CR holds no whole character yet; the character that follows is
    # not LF, so the next LF is a line end of its own (here: the end of the "€" line).
    euro = "€".encode()
    events = decode(b"data: a\r", euro[:1], euro[1:], b"\n\n")
    assert events == [ServerSentEvent("message", "a")]


def test_lone_cr_ends_a_line_at_once() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(b"data: a\r\r") == [ServerSentEvent("message", "a")]


def test_one_leading_space_is_removed() -> None:
    events = decode(b"data:no space\n\ndata: one\n\ndata:  two\n\n")
    assert [e.data for e in events] == ["no space", "one", " two"]


def test_only_the_first_colon_splits() -> None:
    assert decode(b"data: a: b:c\n\n")[0].data == "a: b:c"


def test_line_without_colon_is_field_with_empty_value() -> None:
    assert decode(b"data\n\n") == [ServerSentEvent("message", "")]
    assert decode(b"data\ndata\n\n") == [ServerSentEvent("message", "\n")]
    assert decode(b"event\ndata: x\n\n") == [ServerSentEvent("message", "x")]


def test_comments_are_ignored() -> None:
    raw = b": keep-alive\n:\ndata: a\n: in the middle\ndata: b\n\n:only a comment\n\n"
    assert decode(raw) == [ServerSentEvent("message", "a\nb")]


def test_data_lines_are_joined_with_lf() -> None:
    assert decode(b"data: one\ndata:\ndata: three\n\n")[0].data == "one\n\nthree"


def test_empty_data_buffer_is_not_dispatched() -> None:
    raw = b"event: nothing\nid: 1\n\n\n\nretry: 5\n\ndata: x\n\n"
    # The event name of the undispatched block does not leak into the next one; the
    # id and the reconnection time do (they belong to the stream).
    assert decode(raw) == [ServerSentEvent("message", "x", "1", 5)]


def test_id_persists_and_can_be_reset() -> None:
    raw = b"id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"
    assert [e.id for e in decode(raw)] == ["7", "7", ""]


def test_id_with_nul_is_ignored() -> None:
    raw = b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"
    assert [e.id for e in decode(raw)] == ["1", "1"]


def test_retry_only_ascii_digits() -> None:
    raw = b"retry: 1500\ndata: a\n\nretry: 12a\ndata: b\n\nretry: \xd9\xa3\ndata: c\n\n"
    raw += b"retry:\ndata: d\n\nretry: -1\ndata: e\n\nretry: 20\ndata: f\n\n"
    assert [e.retry for e in decode(raw)] == [1500, 1500, 1500, 1500, 1500, 20]


def test_no_retry_or_id_by_default() -> None:
    event = decode(b"data: x\n\n")[0]
    assert event.id is None and event.retry is None


def test_unknown_fields_are_ignored() -> None:
    raw = b"foo: bar\nData: no\ndata : no\ndata: yes\n\n"
    assert decode(raw) == [ServerSentEvent("message", "yes")]


def test_leading_bom_is_dropped_once() -> None:
    assert decode(BOM + b"data: x\n\n") == [ServerSentEvent("message", "x")]
    # Split across chunks, too.
    assert decode(BOM[:1], BOM[1:2], BOM[2:] + b"data: x\n\n") == [ServerSentEvent("message", "x")]
    # Only the first: a second BOM starts the field name, which is then unknown.
    assert decode(BOM + BOM + b"data: x\n\n") == []
    assert decode(b"data: " + BOM + b"x\n\n")[0].data == "\ufeffx"


def test_unterminated_final_event_is_discarded() -> None:
    assert decode(b"data: a\n\ndata: b\n") == [ServerSentEvent("message", "a")]
    assert decode(b"data: a\n\ndata: b") == [ServerSentEvent("message", "a")]
    decoder = EventStreamDecoder()
    assert decoder.feed(b"data: b\n") == []
    assert decoder.close() == []


def test_close_resets_for_a_new_stream() -> None:
    decoder = EventStreamDecoder()
    decoder.feed(b"id: 9\ndata: half")
    assert decoder.close() == []
    assert decoder.feed(BOM + b"data: new\n\n") == [ServerSentEvent("message", "new", "9")]


def test_multibyte_character_split_across_chunks() -> None:
    raw = "data: 😀中é\n\n".encode()
    for cut in range(len(raw) + 1):
        assert decode(raw[:cut], raw[cut:]) == [ServerSentEvent("message", "😀中é")]


def test_invalid_utf8_becomes_replacement_characters() -> None:
    # Maximal subparts, as the Encoding Standard says: a truncated 4-byte sequence is one
    # U+FFFD, a surrogate's encoding three, a lone continuation byte one, an overlong two.
    raw = b"data: a\xf0\x9f\x98b\xed\xa0\x80c\x80d\xc0\xafe\xff\n\n"
    assert decode(raw)[0].data == "a\ufffdb\ufffd\ufffd\ufffdc\ufffdd\ufffd\ufffde\ufffd"
    # The same when every byte is its own chunk.
    assert decode(*(raw[i : i + 1] for i in range(len(raw)))) == decode(raw)


def test_truncated_character_at_end_of_stream() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(b"data: ok\n\ndata: \xe2\x82") == [ServerSentEvent("message", "ok")]
    assert decoder.close() == []


def test_events_come_out_as_soon_as_complete() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\ndata: b\n\nda") == [
        ServerSentEvent("message", "a"),
        ServerSentEvent("message", "b"),
    ]
    assert decoder.feed(b"ta: c\n\n") == [ServerSentEvent("message", "c")]


def test_iter_events_is_lazy() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"data: 1\n\n"
        raise AssertionError("read too far")

    assert next(iter_events(chunks())) == ServerSentEvent("message", "1")


def test_long_line_in_tiny_chunks() -> None:
    body = "x" * 100_000
    raw = f"data: {body}\n\n".encode()
    chunks = [raw[i : i + 7] for i in range(0, len(raw), 7)]
    assert decode(*chunks) == [ServerSentEvent("message", body)]
