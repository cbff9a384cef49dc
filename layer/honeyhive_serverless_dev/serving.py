"""What the dev receiver and the Lambda emulator share: a serving thread that stops the moment it is
told, and the shutting of the connections it accepted.

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
