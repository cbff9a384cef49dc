"""HTTP/1.1 keep-alive transport over ``http.client``: one pooled connection per concurrent request.

Why not ``requests``: it costs import time at every cold start and a session per client; HoneyHive's
SDK builds a new client per call. Here every request reuses an idle connection (TCP_NODELAY on, so a
small POST is one round trip), waits are bounded per request, and a connection that broke while the
sandbox was frozen is replaced once, transparently.
"""

from __future__ import annotations

import http.client
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..budget import MIN_USEFUL_S


class TransportError(Exception):
    """A request that got no HTTP answer: refused, timed out, reset, or no time left to try."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


_STALE_ERRORS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class HttpTransport:
    """Requests to one origin over pooled keep-alive connections. Thread-safe."""

    def __init__(self, base_url: str, max_idle: int = 4) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._base_path = parts.path.rstrip("/")
        self._max_idle = max_idle
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._ssl_context: Any = None

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str], timeout: float) -> Response:
        """Send one request and read the whole answer, waiting at most ``timeout`` seconds per step."""
        if timeout < MIN_USEFUL_S:
            raise TransportError("no time left in the export budget")
        conn, reused = self._checkout(timeout)
        try:
            response = self._send(conn, method, path, body, headers)
        except _STALE_ERRORS as exc:
            conn.close()
            if not reused:
                raise TransportError(f"{type(exc).__name__}: {exc}") from None
            # The server closed an idle keep-alive connection (typical after a freeze): retry once fresh.
            conn = self._connect(timeout)
            response = self._send_or_raise(conn, method, path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        self._checkin(conn)
        return response

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _send_or_raise(
        self, conn: http.client.HTTPConnection, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> Response:
        try:
            return self._send(conn, method, path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from None

    def _send(
        self, conn: http.client.HTTPConnection, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> Response:
        conn.request(method, self._base_path + path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        if answer.will_close:
            conn.close()
        return Response(answer.status, data)

    def _checkout(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            return self._connect(timeout), False
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn, True

    def _checkin(self, conn: http.client.HTTPConnection) -> None:
        if conn.sock is None:
            return
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self._https:
            if self._ssl_context is None:
                import ssl  # only paid when the server is https

                self._ssl_context = ssl.create_default_context()
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=self._ssl_context)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        try:
            conn.connect()
        except OSError as exc:
            conn.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn
