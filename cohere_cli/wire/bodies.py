"""Reading the body of an answer the one HTTP path got (api_client.py): whole, as a
stream, or into a file; each read within the Deadline, every secret hidden (redact.py)
before a byte leaves here, a transport fault said in words."""
from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import suppress
from typing import TYPE_CHECKING

from cohere_cli.base.errors import IncompleteReplyError, NetworkError
from cohere_cli.wire.connection import Connection
from cohere_cli.wire.deadline import NO_DEADLINE, Deadline
from cohere_cli.wire.redact import Redactor
from cohere_cli.wire.transport import causes, incomplete_read, socket_of, transport_errors

if TYPE_CHECKING:
    import requests

CHUNK_SIZE = 65536


class BodyReader:
    """Reads bodies for one connection (its read timeout, in words) and hides secrets."""

    def __init__(self, connection: Connection, redactor: Redactor) -> None:
        self._connection = connection
        self._hide = redactor

    def read(
        self, response: requests.Response, deadline: Deadline = NO_DEADLINE,
        during: str = "the reply was still arriving", limit: int | None = None,
    ) -> bytes:
        """A whole body (at most `limit` bytes of it), every secret hidden; a transport
        fault while reading it is a NetworkError, in words."""
        try:
            pieces: Iterator[bytes] = response.iter_content(CHUNK_SIZE)
            if deadline.left() is not None:
                pieces = self._within(deadline, response, pieces, during)
            if limit is None:
                return self._hide.hide(b"".join(pieces))
            kept = bytearray()
            for piece in pieces:
                kept += piece
                if len(kept) >= limit:
                    break
            return self._hide.hide(bytes(kept[:limit]))
        except transport_errors() as exc:
            if deadline.passed():
                raise deadline.error(during) from None
            cut = incomplete_read(exc)
            if cut is not None:
                got, total = cut
                raise NetworkError(f"the connection was cut after {got} of {total} bytes "
                                   "of the reply") from None
            raise NetworkError(f"the reply was cut short ({self._why(exc)})") from None
        finally:
            response.close()

    def chunks(
        self, response: requests.Response, deadline: Deadline
    ) -> Generator[bytes, None, None]:
        """Each piece of a streamed body as soon as it arrives, every secret hidden (the
        end of a piece that could begin one waits for the next). Close the generator to
        stop reading (the connection is then closed, not waited on); a transport fault
        is an IncompleteReplyError that says what happened."""
        raw = response.raw
        during = "the reply was still streaming: it is incomplete"
        try:
            if raw.chunked and raw.supports_chunked_reads():
                pieces: Iterator[bytes] = raw.read_chunked(decode_content=True)
            else:
                pieces = iter(lambda: raw.read1(CHUNK_SIZE), b"")
            yield from self._hide.hide_stream(self._within(deadline, response, pieces, during))
        except transport_errors() as exc:
            if deadline.passed():
                raise deadline.error(during) from None
            raise IncompleteReplyError(
                f"the stream stopped before the reply was complete ({self._why(exc)})"
            ) from None
        finally:
            response.close()

    def save(self, response: requests.Response, write: Callable[[bytes], object],
             deadline: Deadline, limit: int | None = None) -> int:
        """A body handed to WRITE as it arrives, every secret hidden with the body's
        length kept (a file read back, such as Avro, stays readable); its size. A body
        that announces more than LIMIT bytes is refused before it is read."""
        during, size = "the download was still arriving", 0
        announced = response.headers.get("Content-Length", "")
        if limit is not None and announced.isdigit() and int(announced) > limit:
            response.close()
            raise NetworkError(f"the body is {announced} bytes: more than {limit}")
        try:
            pieces = self._within(deadline, response, response.iter_content(CHUNK_SIZE), during)
            for piece in self._hide.hide_stream(pieces, keep_length=True):
                write(piece)
                size += len(piece)
        except transport_errors() as exc:
            if deadline.passed():
                raise deadline.error(during) from None
            raise NetworkError(f"the download was cut short ({self._why(exc)})") from None
        finally:
            response.close()
        return size

    def _within(
        self, deadline: Deadline, response: requests.Response, pieces: Iterator[bytes],
        during: str,
    ) -> Iterator[bytes]:
        """`pieces` of a body, each read waiting at most the time left (the socket's
        timeout is lowered before each read); past the limit, TimeLimitError."""
        sock = socket_of(response)
        while True:
            deadline.check(during)
            if sock is not None and deadline.left() is not None:
                with suppress(OSError):
                    sock.settimeout(deadline.cap(self._connection.timeout))
            piece = next(pieces, None)
            if piece is None:
                return
            yield piece

    def _why(self, exc: BaseException) -> str:
        """Why a body stopped arriving, in words."""
        found = causes(exc)
        if any(isinstance(cause, TimeoutError) for cause in found):
            return (f"nothing more arrived within {self._connection.timeout_name} "
                    f"{self._connection.timeout:g}s")
        if any(isinstance(cause, ConnectionResetError) for cause in found):
            return "the connection was reset"
        return "the connection closed"
