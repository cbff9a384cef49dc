"""What the dev receiver and the Lambda emulator share: an accept loop that stops the moment it is told.

Not ``serve_forever()``: it polls for shutdown every 0.5 s; a wake-up socket makes ``stop()`` (and the
receiver's "refuse" fault) immediate.
"""

from __future__ import annotations

import selectors
import socket
import socketserver


def accept_loop(server: socketserver.BaseServer, wake: socket.socket) -> None:
    """Accept and dispatch connections to ``server`` until ``wake`` becomes readable."""
    with selectors.DefaultSelector() as selector:
        selector.register(server.socket, selectors.EVENT_READ)  # type: ignore[attr-defined]
        selector.register(wake, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is wake:
                    return
                try:
                    request, client_address = server.get_request()
                except OSError:  # the client gave up before we accepted, or the socket closed
                    continue
                try:
                    server.process_request(request, client_address)
                except Exception:
                    server.shutdown_request(request)
