"""One HTTP/1.1 client connection: what the transport needs of ``http.client``, without importing it.

Written by hand for the cold start: ``http.client`` imports the ``email`` package to parse response
headers, about 17 ms of every Lambda cold start on top of ``socket`` and ``ssl`` (measured: medians of 21
fresh Python 3.11 interpreters, 34.1 ms for ``import http.client`` against 17.3 ms for ``import ssl,
socket``), and the transport uses none of it. What it needs is small: a request with a body of known
length, its answer read whole (``Content-Length``, chunked, or to the end of the connection), the
connection kept alive unless the server says otherwise, and a TLS session offered for resumption.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

if TYPE_CHECKING:  # loaded by the transport, and only for an https endpoint
    import ssl

#: Limits on what a server may send, as ``http.client`` has them (a line, the headers of one answer).
MAX_LINE = 65536
MAX_HEADERS = 100


class ProtocolError(Exception):
    """An answer that is not HTTP/1.x, or ends before it should; or a request that cannot be sent as is."""


class RemoteDisconnected(ConnectionResetError):
    """The server closed the connection without answering (a keep-alive connection it had let go)."""


class Answer(NamedTuple):
    status: int
    body: bytes
    #: The server ends the connection after this answer: it cannot carry another request.
    will_close: bool


class Connection:
    """A connection to ``host``, over TLS when given ``context``; opened by :meth:`connect` (or the first
    :meth:`request`). ``timeout`` bounds each wait; ``tls_session`` is offered for resumption."""

    def __init__(
        self,
        host: str,
        port: int | None,
        timeout: float,
        context: ssl.SSLContext | None = None,
        tls_session: ssl.SSLSession | None = None,
    ) -> None:
        default_port = 443 if context is not None else 80
        self.host = host
        self.port = port or default_port
        self.timeout = timeout
        self.context = context
        self.tls_session = tls_session
        self.sock: socket.socket | None = None
        self._reader: BinaryIO | None = None
        self._host_header = host if self.port == default_port else f"{host}:{self.port}"

    def connect(self) -> None:
        # An ASCII name as bytes: getaddrinfo passes a str through the idna codec, whose first use imports
        # encodings.idna and stringprep (3.5-6.5 ms of a cold start here, measured; TLS needs it anyway).
        host: str | bytes = self.host.encode("ascii") if self.host.isascii() else self.host
        sock = socket.create_connection((host, self.port), self.timeout)  # type: ignore[arg-type]  # bytes too
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a small POST is one round trip
            if self.context is not None:
                sock = self.context.wrap_socket(sock, server_hostname=self.host, session=self.tls_session)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._reader = sock.makefile("rb")

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        """Send one request and read its whole answer."""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self._host_header}", f"Content-Length: {len(body)}"]
        for name, value in headers.items():
            if any(character in name + value for character in "\r\n\0") or not name or ":" in name:
                raise ProtocolError(f"the header {name!r} cannot be sent as it is")
            head.append(f"{name}: {value}")
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        return self._answer(method)

    def close(self) -> None:
        reader, self._reader = self._reader, None
        sock, self.sock = self.sock, None
        if reader is not None:
            reader.close()
        if sock is not None:
            sock.close()

    def _answer(self, method: str) -> Answer:
        reader = self._reader
        assert reader is not None
        while True:
            line = reader.readline(MAX_LINE + 1)
            if not line:
                raise RemoteDisconnected("the server closed the connection without an answer")
            version, status = _status_line(line)
            headers = _headers(reader)
            if not 100 <= status < 200:
                break  # an interim answer (100 Continue, 103 Early Hints) is followed by the real one
        close = headers.get("connection", "").lower() == "close" or (
            version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive"
        )
        if method == "HEAD" or status in (204, 304):
            return Answer(status, b"", close)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return Answer(status, _chunked(reader), close)
        length = headers.get("content-length")
        if length is None:
            return Answer(status, reader.read(), True)  # the body runs to the end of the connection
        if not length.isdigit():
            raise ProtocolError(f"Content-Length {length!r} is not a length")
        return Answer(status, _exactly(reader, int(length)), close)


def _status_line(line: bytes) -> tuple[str, int]:
    if len(line) > MAX_LINE:
        raise ProtocolError("the status line is too long")
    parts = line.decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not (parts[1].isdigit() and len(parts[1]) == 3):
        raise ProtocolError(f"not an HTTP/1.x status line: {line[:80]!r}")
    return parts[0], int(parts[1])


def _headers(reader: BinaryIO) -> dict[str, str]:
    """The header fields up to the blank line, names in lower case (a repeated field's values joined)."""
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise ProtocolError("a header line is too long")
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, separator, value = line.decode("latin-1").partition(":")
        if separator:
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    raise ProtocolError(f"more than {MAX_HEADERS} header fields")


def _chunked(reader: BinaryIO) -> bytes:
    body = bytearray()
    while True:
        line = reader.readline(MAX_LINE + 1)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError(f"not a chunk size: {line[:80]!r}") from None
        if size == 0:
            _headers(reader)  # the trailer, up to the blank line
            return bytes(body)
        body += _exactly(reader, size)
        if reader.readline(MAX_LINE + 1) not in (b"\r\n", b"\n"):
            raise ProtocolError("a chunk does not end where its size says")


def _exactly(reader: BinaryIO, size: int) -> bytes:
    data = reader.read(size)
    if len(data) != size:
        raise ProtocolError(f"the answer ended after {len(data)} of {size} bytes")
    return data
