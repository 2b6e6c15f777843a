"""A loopback HTTP server that misbehaves on purpose, and the replies it is given.

`ChaosServer` answers each request with the next scripted `Reply` (the last one repeats):
a status, headers and body bytes, framed one of `FRAMINGS` ways -- Content-Length, chunked
with or without its terminator, a body shorter than announced, a close instead of a
length, the connection held open after the body, headers and then silence, raw garbage
instead of HTTP, or no answer at all. It never waits longer than `MAX_HOLD` seconds on
anything and always closes the connection in the end, so it cannot make a test hang.

The strategies at the end draw those replies: chat responses in the official shape with
wrong types put anywhere, their event streams reordered, cut or oddly encoded, error
answers with odd retry headers, model-list pages, and garbage. Some of them echo the key,
as a server that quotes what it was sent would: ECHO in a reply's bytes (its body, a
header) is replaced by the token of the request's `Authorization` header as it is
answered, wherever the chunks of the answer then cut it.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import socket
import socketserver
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import strategies as st

MAX_HOLD = 1.0  # the longest the server waits on anything, in seconds
ECHO = "<<the key this request sent>>"  # in a reply: replaced by that key as it is sent
FRAMINGS = ("length", "chunked", "unterminated", "short", "close", "hold", "stall",
            "garbage", "drop")


@dataclass(frozen=True)
class Reply:
    """One scripted answer. `body` is the raw reply for `garbage` framing."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    framing: str = "length"
    delay: float = 0.0  # before the answer, capped at MAX_HOLD
    pieces: int = 1  # the body goes out in this many writes (chunks when chunked)


@dataclass(frozen=True)
class Seen:
    """A request as received (the Authorization header is never kept)."""

    method: str
    path: str
    body: bytes


def _read_request(sock: socket.socket) -> tuple[Seen, bytes] | None:
    """The next request on `sock` and the token of its Authorization header (b"" when it
    has none; kept only to echo it), None when the client sent no whole head."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk or len(data) > 1 << 20:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, _, rest = lines[0].partition(" ")
    length, token = 0, b""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            length = int(value.strip())
        if name.strip().lower() == "authorization":
            token = value.strip().partition(" ")[2].encode("latin-1")
    while len(body) < min(length, 256 << 20):
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        body += chunk
    return Seen(method, rest.partition(" ")[0], body), token


def _pieces(body: bytes, count: int) -> list[bytes]:
    size = max(1, -(-len(body) // max(1, count)))
    return [body[i:i + size] for i in range(0, len(body), size)] or [b""]


def _head(reply: Reply, framing_headers: list[str]) -> bytes:
    lines = [f"HTTP/1.1 {reply.status} Chaos", f"Content-Type: {reply.content_type}",
             *framing_headers, *(f"{name}: {value}" for name, value in reply.headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def _framing_headers(reply: Reply) -> list[str]:
    if reply.framing in ("chunked", "unterminated", "hold"):
        return ["Transfer-Encoding: chunked"] + (["Connection: close"]
                                                 if reply.framing == "chunked" else [])
    if reply.framing == "short":
        return [f"Content-Length: {len(reply.body) + 17}", "Connection: close"]
    if reply.framing == "stall":
        return [f"Content-Length: {len(reply.body) + 1}"]
    if reply.framing == "close":
        return ["Connection: close"]
    return [f"Content-Length: {len(reply.body)}", "Connection: close"]


def echoed(reply: Reply, token: bytes) -> Reply:
    """`reply` with ECHO replaced by the key the request sent (TOKEN)."""
    text = token.decode("latin-1")
    return replace(reply, body=reply.body.replace(ECHO.encode(), token), headers=tuple(
        (name, value.replace(ECHO, text)) for name, value in reply.headers))


def write_reply(sock: socket.socket, reply: Reply) -> None:
    """Send `reply` as its framing says; the caller closes the connection afterwards."""
    if reply.framing == "drop":
        return
    if reply.framing == "garbage":
        sock.sendall(reply.body)
        return
    chunked = reply.framing in ("chunked", "unterminated", "hold")
    sock.sendall(_head(reply, _framing_headers(reply)))
    for piece in _pieces(reply.body, reply.pieces):
        if piece:
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if reply.pieces > 1:
            time.sleep(0.01)
    if reply.framing == "chunked":
        sock.sendall(b"0\r\n\r\n")
    if reply.framing in ("hold", "stall"):
        time.sleep(MAX_HOLD)


class _Handler(socketserver.BaseRequestHandler):
    server: ChaosServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(2 * MAX_HOLD)
        with contextlib.suppress(OSError):
            request = _read_request(sock)
            if request is None:
                return
            seen, token = request
            reply = self.server.answer(seen)
            time.sleep(min(max(reply.delay, 0.0), MAX_HOLD))
            write_reply(sock, echoed(reply, token))


class ChaosServer(socketserver.ThreadingTCPServer):
    """Plays `replies` in order, one a request, the last one again and again."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, replies: Sequence[Reply]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies = tuple(replies) or (Reply(),)
        self.seen: list[Seen] = []
        self.answered: list[Reply] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, seen: Seen) -> Reply:
        with self._lock:
            reply = self.replies[min(len(self.seen), len(self.replies) - 1)]
            self.seen.append(seen)
            self.answered.append(reply)
        return reply

    def __enter__(self) -> ChaosServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.shutdown()
        self.server_close()


# What the server says, drawn by hypothesis.

_JSON_LEAVES = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
JSON_VALUES = st.recursive(
    _JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=6,
)
WRONG = st.sampled_from([None, 0, -1, 7.5, True, "", "x", [], {}, [1], {"a": 1}, 2**64,
                         1e308, "a\u2028b", "\x1b[2J\n"]) | JSON_VALUES
ODD_TEXT = st.text(max_size=24) | st.sampled_from(
    ["a\u2028b", "line\nsecond", "\x1b[2Jclear", "\r", "\u2019", "\u0085", "", " ", "\ufeffbom"])
ECHOED = st.sampled_from([f"you sent Bearer {ECHO}", ECHO, f"{ECHO}{ECHO}"])
REPLY_TEXT = ODD_TEXT | ECHOED  # text a reply shows: its content, a citation, a warning
FINISH = st.sampled_from(["COMPLETE", "COMPLETE", "MAX_TOKENS", "STOP_SEQUENCE", "TOOL_CALL",
                          "ERROR", "TIMEOUT", "SOMETHING_NEW"])
RETRY_HEADERS = st.sampled_from([
    (), (), (("Retry-After", "0"),), (("Retry-After", "1"),), (("Retry-After", "-5"),),
    (("Retry-After", "abc"),), (("Retry-After", "nan"),), (("Retry-After", "1e999"),),
    (("Retry-After", "99999999999999999999"),), (("Retry-After", "0.5"),),
    (("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"),), (("Retry-After", "Wed, 21 Oct 2015"),),
    (("retry-after-ms", "100"),), (("retry-after-ms", "-1"),), (("retry-after-ms", "1e400"),),
    (("retry-after-ms", "nan"),), (("x-ratelimit-reset", "99999999999"),),
    (("x-ratelimit-reset", "-1"),), (("x-ratelimit-reset", "x"),),
    (("Content-Encoding", "gzip"),), (("Content-Encoding", "br, zstd"),),
])
CHAT_STATUSES = st.sampled_from([400, 401, 403, 404, 408, 409, 413, 422, 429, 429, 498, 499,
                                 500, 502, 503, 504, 599, 100, 204, 302, 304, 999])


def dumps(value: Any) -> bytes:
    """JSON bytes; integers past 64 bits too (orjson refuses them, a server may not)."""
    return json.dumps(value, ensure_ascii=False).encode()


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


@st.composite
def mutated(draw: st.DrawFn, value: Any, most: int = 2) -> Any:
    """`value` with up to `most` of its parts (the whole included) given a wrong value."""
    for _ in range(draw(st.integers(0, most))):
        path = draw(st.sampled_from(_paths(value)))
        value = _replace(value, path, draw(WRONG))
    return value


SOURCES = st.sampled_from([
    {"type": "document", "id": "d1", "document": {"id": "d1", "snippet": "s", "title": "t"}},
    {"type": "tool", "id": "t1", "tool_output": {"x": 1}},
    {"type": "document", "id": "d2", "document": "a string"}, "a string", ["a", "list"], {},
])


@st.composite
def citation(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(st.integers(0, 5))
    return {"start": start, "end": start + draw(st.integers(0, 5)), "text": draw(REPLY_TEXT),
            "type": "TEXT_CONTENT", "sources": draw(st.lists(SOURCES, max_size=3))}


TOOL_ARGUMENTS = st.sampled_from(['{"city": "Oslo"}', "{}", "not json", "", "null", "[1]",
                                  '{"x": "' + "y" * 5000 + '"}'])


@st.composite
def tool_call(draw: st.DrawFn, names: st.SearchStrategy[str]) -> dict[str, Any]:
    function = {"name": draw(names), "arguments": draw(TOOL_ARGUMENTS)}
    return {"id": f"call_{draw(st.integers(0, 3))}", "type": "function", "function": function}


@st.composite
def chat_response(draw: st.DrawFn, tool_names: st.SearchStrategy[str] | None = None,
                  finish: st.SearchStrategy[str] = FINISH) -> dict[str, Any]:
    """A ChatResponseV2 in the official shape (tool calls for `tool_names`, when given)."""
    content = [{"type": "text", "text": draw(REPLY_TEXT)}]
    if draw(st.booleans()):
        content.insert(0, {"type": "thinking", "thinking": draw(REPLY_TEXT)})
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_names is not None:
        message["tool_plan"] = draw(REPLY_TEXT)
        message["tool_calls"] = draw(st.lists(tool_call(tool_names), min_size=1, max_size=2))
    if draw(st.booleans()):
        message["citations"] = draw(st.lists(citation(), max_size=2))
    counts = {"input_tokens": draw(st.integers(0, 9)), "output_tokens": 3}
    usage = draw(st.sampled_from(["usage", "meta", "none"]))
    response = {"id": draw(st.sampled_from(["r-1", "r-1", ECHO])),
                "finish_reason": draw(finish), "message": message}
    if usage == "usage":
        response["usage"] = {"billed_units": counts, "tokens": counts}
    elif usage == "meta":
        response["meta"] = {"billed_units": counts, "warnings": [draw(REPLY_TEXT)]}
    return response


def _split(text: str) -> list[str]:
    """TEXT in about three pieces, as deltas; an ECHO stays whole in one (a server that
    echoes the key sends it in one event)."""
    third = max(1, len(text) // 3)
    cuts = set(range(third, len(text), third))
    for start in range(len(text)):
        if text.startswith(ECHO, start):
            cuts -= set(range(start + 1, start + len(ECHO)))
    ends = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(ends) if b > a] or [""]


def _event(kind: str, index: int | None, message: dict[str, Any] | None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind}
    if index is not None:
        event["index"] = index
    if message is not None:
        event["delta"] = {"message": message}
    return event


def _block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = str(block.get("type"))
    events = [_event("content-start", index, {"content": {"type": kind, kind: ""}})]
    events += [_event("content-delta", index, {"content": {kind: piece}})
               for piece in _split(str(block.get(kind, "")))]
    return [*events, _event("content-end", index, None)]


def _call_events(index: int, call: dict[str, Any]) -> list[dict[str, Any]]:
    function = call["function"]
    start = {"id": call["id"], "type": "function",
             "function": {"name": function["name"], "arguments": ""}}
    events = [_event("tool-call-start", index, {"tool_calls": start})]
    events += [_event("tool-call-delta", index, {"tool_calls": {"function": {"arguments": p}}})
               for p in _split(function["arguments"])]
    return [*events, _event("tool-call-end", index, None)]


def events_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The official event sequence that streams `response`."""
    message = response["message"]
    events = [{"type": "message-start", "id": response["id"],
               "delta": {"message": {"role": "assistant"}}}]
    if message.get("tool_plan"):
        events.append(_event("tool-plan-delta", None, {"tool_plan": message["tool_plan"]}))
    for index, block in enumerate(message["content"]):
        events += _block_events(index, block)
    for index, item in enumerate(message.get("citations", [])):
        events += [_event("citation-start", index, {"citations": item}),
                   _event("citation-end", index, None)]
    for index, call in enumerate(message.get("tool_calls", [])):
        events += _call_events(index, call)
    end: dict[str, Any] = {"type": "message-end",
                           "delta": {"finish_reason": response["finish_reason"]}}
    if "usage" in response:
        end["delta"]["usage"] = response["usage"]
    return [*events, end]


EXTRA_EVENTS = st.sampled_from([
    {"type": "debug", "prompt": "p"}, {"type": "something-new", "x": 1}, {"type": 5}, {},
    {"no": "type"}, [], "a string", {"type": "message-end"},
    {"type": "content-delta", "index": 9, "delta": {"message": {"content": {"text": "x"}}}},
    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": ECHO}}}},
    {"type": "message-end", "delta": {"error": f"invalid api token: Bearer {ECHO}"}},
])


@st.composite
def reordered(draw: st.DrawFn, events: list[Any]) -> list[Any]:
    """`events` as they are, or shuffled, thinned, doubled, or with odd events put in."""
    how = draw(st.sampled_from(["keep", "keep", "keep", "shuffle", "drop", "double", "extra"]))
    if how == "shuffle":
        return list(draw(st.permutations(events)))
    if how == "drop" and events:
        del events[draw(st.integers(0, len(events) - 1))]
    elif how == "double" and events:
        at = draw(st.integers(0, len(events) - 1))
        events.insert(at, events[at])
    elif how == "extra":
        events.insert(draw(st.integers(0, len(events))), draw(EXTRA_EVENTS))
    wrong = draw(st.booleans())
    if events and wrong:
        at = draw(st.integers(0, len(events) - 1))
        events[at] = draw(mutated(events[at], most=1))
    return events


ENCODINGS = ("named", "named", "data", "crlf", "cr", "comments", "split", "done", "bom")


def encode_events(events: list[Any], style: str) -> bytes:
    """The events as an SSE body, in one of `ENCODINGS`."""
    out = []
    for event in events:
        data = dumps(event).decode()
        kind = event.get("type") if isinstance(event, dict) else None
        name = f"event: {kind}\n" if isinstance(kind, str) and style != "data" else ""
        if style == "split":
            data = data.replace(",", ",\ndata: ", 1)
        out.append(f"{': ping' + chr(10) if style == 'comments' else ''}{name}data: {data}\n\n")
    text = "".join(out) + ("data: [DONE]\n\n" if style == "done" else "")
    if style == "crlf":
        text = text.replace("\n", "\r\n")
    elif style == "cr":
        text = text.replace("\n", "\r")
    return ("\ufeff" if style == "bom" else "").encode() + text.encode("utf-8", "surrogatepass")


CHAOS_FRAMINGS = ("length", "length", "chunked", "close", "unterminated", "hold", "short",
                  "stall")


@st.composite
def framed(draw: st.DrawFn, status: int, body: bytes, content_type: str,
           chaos: bool = True) -> Reply:
    """`body` under `status`, with a drawn framing, delay, write pattern and headers:
    any of them odd with `chaos`, else plain HTTP."""
    framings = CHAOS_FRAMINGS if chaos else ("length", "chunked", "close")
    return Reply(
        status=status, body=body, content_type=content_type,
        headers=draw(RETRY_HEADERS) if chaos else (),
        framing=draw(st.sampled_from(framings)),
        delay=draw(st.sampled_from([0.0, 0.0, 0.05, 0.3] if chaos else [0.0, 0.05])),
        pieces=draw(st.sampled_from([1, 1, 3, 7])),
    )


JSON_TYPES = st.sampled_from(["application/json", "application/json", "application/json;"
                              " charset=utf-8", "text/html", "text/event-stream", ""])
SSE_TYPES = st.sampled_from(["text/event-stream", "text/event-stream",
                             "text/event-stream; charset=utf-8", "application/json"])


@st.composite
def json_reply(draw: st.DrawFn, response: dict[str, Any], chaos: bool = True) -> Reply:
    """`response` as a JSON body; with `chaos`, wrong values in it and odd framing."""
    body = dumps(draw(mutated(response)) if chaos else response)
    kind = draw(JSON_TYPES) if chaos else "application/json"
    return draw(framed(200, body, kind, chaos))


@st.composite
def sse_reply(draw: st.DrawFn, response: dict[str, Any], chaos: bool = True) -> Reply:
    """`response` as an event stream in a drawn (valid) encoding; with `chaos`, the
    events reordered or wrong, the stream perhaps cut, and odd framing."""
    events = events_of(response)
    if chaos:
        events = draw(reordered(events))
    body = encode_events(events, draw(st.sampled_from(ENCODINGS)))
    if chaos and draw(st.integers(0, 4)) == 0:
        body = body[: draw(st.integers(0, len(body)))]
    kind = draw(SSE_TYPES) if chaos else "text/event-stream"
    return draw(framed(200, body, kind, chaos))


@st.composite
def error_reply(draw: st.DrawFn) -> Reply:
    """An error status with a JSON message (odd text, wrong types), HTML, or nothing."""
    message = {"message": draw(ODD_TEXT | ECHOED.map("invalid api token: {}".format)),
               "id": draw(st.sampled_from(["e-1", ECHO]))}
    body = draw(st.sampled_from(["json", "json", "mutated", "html", "empty", "binary"]))
    data = {"json": dumps(message), "empty": b"",
            "html": b"<html><h1>Bad Gateway</h1><p>Bearer " + ECHO.encode() + b"</p></html>",
            "mutated": dumps(draw(mutated(message))),
            "binary": draw(st.binary(max_size=40))}[body]
    return draw(framed(draw(CHAT_STATUSES), data, draw(JSON_TYPES)))


GARBAGE = st.sampled_from([
    b"", b"HTTP/1.1 200\r\n", b"\x00\xff" * 10, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{",
    b"HTTP/1.1 999 X\r\n\r\n", b"SSH-2.0-OpenSSH_9.0\r\n", b"HTTP/1.1 200 OK\r\n\r\n{}",
    b"Bearer " + ECHO.encode() + b"\r\n\r\n",  # a status line that quotes the key
    b"HTTP/1.1 401 Bearer " + ECHO.encode() + b"\r\nContent-Length: 0\r\n\r\n",
]) | st.binary(max_size=64)


@st.composite
def garbage_reply(draw: st.DrawFn) -> Reply:
    kind = draw(st.sampled_from(["garbage", "drop"]))
    return Reply(body=draw(GARBAGE) if kind == "garbage" else b"", framing=kind)


@st.composite
def chat_reply(draw: st.DrawFn, tool_names: st.SearchStrategy[str] | None = None,
               chaos: bool = True, stream: bool | None = None) -> Reply:
    """An answer to a chat request: JSON or a stream (of a response with tool calls for
    `tool_names`, when given) -- the kind the request asked for, when `stream` says so and
    without `chaos`; with `chaos`, any kind, an error or garbage, and odd in parts."""
    kinds = {None: ["json", "sse"], True: ["sse"], False: ["json"]}[None if chaos else stream]
    kind = draw(st.sampled_from(kinds + (["error", "garbage"] if chaos else [])))
    if kind == "error":
        return draw(error_reply())
    if kind == "garbage":
        return draw(garbage_reply())
    response = draw(chat_response(tool_names))
    return draw(json_reply(response, chaos) if kind == "json" else sse_reply(response, chaos))


@st.composite
def chat_script(draw: st.DrawFn, level: int, most: int = 3,
                stream: bool | None = None) -> tuple[Reply, ...]:
    """1 to `most` replies, each chaotic with a chance of `level` in 4."""
    count = draw(st.integers(1, most))
    return tuple(draw(chat_reply(None, draw(st.integers(0, 3)) < level, stream))
                 for _ in range(count))


MODEL_ENTRIES = st.fixed_dictionaries(
    {"name": ODD_TEXT | ECHOED | st.none() | st.just(5), "endpoints": st.just(["chat"])},
    optional={"context_length": st.integers(0, 10**6), "is_deprecated": st.booleans()},
)
PAGE_TOKENS: st.SearchStrategy[Any] = st.sampled_from(["p2", "", 5, None, [], "x" * 1000, {"a": 1}])


@st.composite
def models_reply(draw: st.DrawFn, last: bool) -> Reply:
    """A page of `GET /v1/models` (the last page has no next_page_token)."""
    if draw(st.integers(0, 5)) == 0:
        return draw(error_reply() | garbage_reply())
    page: Any = {"models": draw(st.lists(MODEL_ENTRIES, max_size=3))}
    if not last:
        page["next_page_token"] = draw(PAGE_TOKENS)
    page = draw(mutated(page, most=1))
    if last and isinstance(page, dict):
        page.pop("next_page_token", None)
    return draw(framed(200, dumps(page), draw(JSON_TYPES)))
