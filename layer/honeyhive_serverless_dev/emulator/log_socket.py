"""Where Managed Instances' runtime workers write: a Unix socket, read into the emulator's output.

Under ``AWS_LAMBDA_MAX_CONCURRENCY``, awslambdaric 4.x forks its workers, and each connects to the
socket named by ``_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET`` once for stdout and once for stderr, then
``dup2``'s the connection onto that descriptor: no handshake, no framing, the bytes as written (the
parent process keeps the pipe it was started with). Each connection is read to its end on a thread
of its own, a line at a time: several workers write at once, and Lambda's log egress is per line too.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from pathlib import Path
from typing import Any

from ..serving import AcceptThread
from .sandbox import Output

#: The variable awslambdaric 4.x reads the socket's path from.
SOCKET_VARIABLE = "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET"
# After the workers are killed their connections end at once; a reader still going past this is left.
READER_JOIN_S = 1.0


class LogSocket(socketserver.UnixStreamServer):
    """A listening Unix socket at ``path`` whose connections are read into ``output``."""

    def __init__(self, path: Path, output: Output) -> None:
        self.path = path
        self.output = output
        self._readers: list[threading.Thread] = []
        super().__init__(str(path), socketserver.BaseRequestHandler)
        self._accept = AcceptThread(self, "lambda-log-socket")

    def start(self) -> LogSocket:
        self._accept.start()
        return self

    def process_request(self, request: Any, client_address: Any) -> None:
        connection: socket.socket = request
        # The file keeps the connection open past the socket object's close; ``read_from`` closes it.
        stream = connection.makefile("rb")
        connection.close()
        reader = threading.Thread(
            target=self.output.read_lines_from, args=(stream,), name="sandbox-log-socket", daemon=True
        )
        self._readers.append(reader)
        reader.start()

    def close(self) -> None:
        """Stop accepting, and wait (bounded) for the connections to end: call once the workers are gone,
        so that the output holds all they wrote."""
        self._accept.stop()
        self.server_close()
        for reader in self._readers:
            reader.join(timeout=READER_JOIN_S)
