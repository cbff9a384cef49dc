"""An ASGI app served for real on loopback, for the web-app tests and ``make bench``: uvicorn on a
socket bound before the server starts, so a client never races its start-up."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def served_asgi(app: Any) -> Iterator[int]:
    """Serve ``app`` with uvicorn on 127.0.0.1; yields the port. Stopped on exit."""
    import uvicorn  # a dev dependency: the command line's own users have none

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
