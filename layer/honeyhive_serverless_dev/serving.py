"""What the dev receiver, the Lambda emulator and the fake providers share: a serving thread that stops
the moment it is told, the shutting of the connections it accepted, the reading of a chunked request
body, an HTTP server that binds without a DNS lookup, and a fake provider's serving and recording.

Not ``serve_forever()``: it polls for shutdown every 0.5 s. Here a wake-up socket makes ``stop()`` (and
the receiver's "refuse" fault) immediate.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from types import TracebackType
from typing import Any, Generic, TypeVar

RecordT = TypeVar("RecordT")
ProviderT = TypeVar("ProviderT", bound="FakeProvider[Any]")


class AcceptThread:
    """Accepts and dispatches ``server``'s connections on a daemon thread, from ``start()`` to ``stop()``.

    One instance serves once; to serve again (the receiver listens again after a "refuse" fault), make
    another. The listening socket is made non-blocking, so that a client that gives up between the
    select and the accept cannot block the loop.
    """

    def __init__(self, server: socketserver.TCPServer, name: str) -> None:
        self._server = server
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> AcceptThread:
        """Start serving; returns self."""
        self._server.socket.setblocking(False)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and return once the thread has; connections already accepted carry on."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._thread.join()
        self._wake_r.close()
        self._wake_w.close()

    def _run(self) -> None:
        server = self._server
        with selectors.DefaultSelector() as selector:
            selector.register(server.socket, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        request, client_address = server.get_request()
                    except OSError:  # the client gave up before we accepted, or the socket closed
                        continue
                    try:
                        server.process_request(request, client_address)
                    except Exception:
                        server.shutdown_request(request)


def shut_down(connections: Iterable[socket.socket]) -> None:
    """Shut each connection both ways; its handler thread then sees EOF (or a failed write) and exits.

    The plain socket's ``shutdown`` even for a TLS socket: ``SSLSocket.shutdown`` also drops the TLS
    state, which belongs to the handler thread that may be reading it right now.
    """
    for connection in connections:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(connection, socket.SHUT_RDWR)


class ChunkedBodyError(ValueError):
    """A chunked request body that cannot be read; ``status`` is the HTTP answer it deserves."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def read_chunked(rfile: BufferedIOBase, max_bytes: int) -> bytes:
    """A ``Transfer-Encoding: chunked`` body, read to its last chunk (trailers skipped)."""
    parts: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(1024)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ChunkedBodyError(400, "bad chunk size") from None
        if size == 0:
            # Skip trailers (a streamed Lambda response's error, say) up to the blank line ending the message.
            while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        total += size
        if total > max_bytes:
            raise ChunkedBodyError(413, "body too large")
        chunk = rfile.read(size)
        if len(chunk) != size:
            raise ChunkedBodyError(400, "connection closed inside a chunk")
        parts.append(chunk)
        rfile.readline(1024)  # the CRLF after the chunk's data


class QuickBindHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server whose bind skips ``HTTPServer.server_bind``'s host name lookup
    (``socket.getfqdn()``, a DNS query that can take seconds)."""

    daemon_threads = True

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class FakeProviderServer(QuickBindHTTPServer):
    """The HTTP server of a fake provider: its handlers reach the provider as ``self.server.provider``."""

    def __init__(self, provider: FakeProvider[Any], handler: type[BaseHTTPRequestHandler]) -> None:
        self.provider = provider
        super().__init__(("127.0.0.1", 0), handler)


class FakeProvider(Generic[RecordT]):
    """A provider's stand-in on an ephemeral port of 127.0.0.1 (the tests', the bench's and the demo's):
    serves from ``start()`` (or ``with``) to ``stop()`` with ``handler``; ``requests`` holds what each
    request's handler recorded."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self.requests: list[RecordT] = []
        self._lock = threading.Lock()
        self._server = FakeProviderServer(self, handler)
        self._name = name
        self._accept: AcceptThread | None = None

    def start(self: ProviderT) -> ProviderT:
        self._accept = AcceptThread(self._server, f"{self._name}-accept").start()
        return self

    def stop(self) -> None:
        if self._accept is not None:
            self._accept.stop()
            self._accept = None
        self._server.server_close()

    def __enter__(self: ProviderT) -> ProviderT:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def record(self, request: RecordT) -> None:
        with self._lock:
            self.requests.append(request)
