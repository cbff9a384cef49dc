"""HTTP/1.1 keep-alive transport (``http11``): one pooled connection per concurrent request.

Why not ``requests``: it costs import time at every cold start and a session per client; HoneyHive's
SDK builds a new client per call. Here every request reuses an idle connection (TCP_NODELAY on, so a
small POST is one round trip) and waits are bounded per request.

Connections die while a sandbox is frozen: a load balancer closes keep-alive connections idle for
about 60 s. As an invocation starts, :meth:`HttpTransport.reserve` finds that out then rather than at
export, where the caller waits: like urllib3 at checkout, it drops an idle connection the server has
closed (or one idle for longer than :data:`MAX_IDLE_S`, before a load balancer can close it under a
request), and :meth:`HttpTransport.open_reserved`, beside the handler, opens fresh ones, so the export
finds a live connection and pays no TCP or TLS handshake. A TLS session is resumed on each new
connection when the server offers tickets. A connection that still turns out dead at export is
replaced once, transparently.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .._fork import reset_in_child
from ..budget import MIN_USEFUL_S
from .http11 import Answer, Connection, ProtocolError, RemoteDisconnected

if TYPE_CHECKING:
    import ssl


class TransportError(Exception):
    """A request that got no HTTP answer: refused, timed out, reset, or no time left to try."""


#: A reused connection failing with one of these was closed by the server while idle; over TLS,
#: ``ssl.SSLEOFError`` too (a reset between the header and body sends of a request, measured).
_STALE_ERRORS: tuple[type[Exception], ...] = (RemoteDisconnected, ConnectionResetError, BrokenPipeError)
#: A non-blocking read of an open idle connection raises one of these; over TLS, ``ssl.SSLWantReadError`` too.
_NOTHING_TO_READ: tuple[type[Exception], ...] = (BlockingIOError,)
#: An idle connection older than this is closed rather than reused: AWS load balancers close
#: keep-alive connections idle for 60 s by default, and a request must not race that close.
MAX_IDLE_S = 50.0


class _Connection:
    """A pooled connection and when it was last used (``time.monotonic()``)."""

    __slots__ = ("conn", "idle_since")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.idle_since = time.monotonic()

    def usable(self, now: float, nothing_to_read: tuple[type[Exception], ...]) -> bool:
        """Not idle too long, and not closed by the server: a non-blocking read that would block (a TLS
        1.3 connection shows readable for its session tickets, so readability alone proves nothing)."""
        sock = self.conn.sock
        if sock is None or now - self.idle_since > MAX_IDLE_S:
            return False
        try:
            sock.setblocking(False)
            sock.recv(1)  # b"": closed by the server; data: out of step with it, not reusable either
        except nothing_to_read:
            return True  # nothing to read: open
        except OSError:
            return False
        finally:
            with contextlib.suppress(OSError):
                sock.setblocking(True)
        return False


class HttpTransport:
    """Requests to one origin over pooled keep-alive connections. Thread-safe."""

    def __init__(self, base_url: str, max_idle: int = 4) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._base_path = parts.path.rstrip("/")
        self._max_idle = max_idle
        self._ssl_context: ssl.SSLContext | None = None
        self._tls_session: ssl.SSLSession | None = None
        self._stale_errors = _STALE_ERRORS
        self._nothing_to_read = _NOTHING_TO_READ
        if self._https:
            # Loaded only for TLS: importing ssl (OpenSSL's libraries) is 13-23 ms of a cold start here
            # (measured), which a plain-HTTP endpoint, a collector beside the function, never needs.
            import ssl

            self._stale_errors += (ssl.SSLEOFError,)
            self._nothing_to_read += (ssl.SSLWantReadError,)
        self._after_fork()
        reset_in_child(self._after_fork)

    def _after_fork(self) -> None:
        """An empty pool. A fork's child shares its parent's sockets: it forgets them unclosed (closing a
        TLS one would send the parent's peer a close_notify) and opens its own."""
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        #: Notified as each connection :meth:`reserve` asked for opens (or fails): a request that finds no
        #: idle one while some are opening waits for one rather than open one of its own.
        self._opened = threading.Condition(self._lock)
        #: Connections reserved and not yet opened.
        self._opening = 0

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
        """Send one request and read the whole answer, waiting at most ``timeout`` seconds per step."""
        if timeout < MIN_USEFUL_S:
            raise TransportError("no time left in the export budget")
        conn, reused = self._checkout(timeout)
        try:
            response = self._send(conn, method, path, body, headers)
        except self._stale_errors as exc:
            conn.close()
            if not reused:
                raise TransportError(f"{type(exc).__name__}: {exc}") from None
            # The server closed an idle keep-alive connection since it was checked: retry once fresh.
            conn = self._connect(timeout)
            response = self._send_or_raise(conn, method, path, body, headers)
        except (OSError, ProtocolError) as exc:
            conn.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        self._checkin(conn)
        return response

    def reserve(self, needed: int = 1) -> int:
        """Check the idle connections now (a non-blocking read each, microseconds): drop those the server
        closed or that are too old, and return how many to open in their place: at least ``needed``, and
        as many as the last export used (it sends spans and enrichment side by side), less those open or
        opening. Until :meth:`open_reserved` has opened them, a request that finds no idle connection
        waits for one of them rather than open one of its own."""
        now = time.monotonic()
        with self._lock:
            idle = self._idle
            self._idle = [entry for entry in idle if entry.usable(now, self._nothing_to_read)]
            wanted = max(0, max(needed, len(idle)) - len(self._idle) - self._opening)
            self._opening += wanted
        for entry in idle:
            if entry not in self._idle:
                entry.conn.close()
        return wanted

    def open_reserved(self, count: int, timeout: float) -> int:
        """Open the ``count`` connections :meth:`reserve` asked for, ``timeout`` seconds each at most;
        returns how many opened. Meant to run beside the handler; never raises."""
        opened = 0
        try:
            for _ in range(count):
                if timeout < MIN_USEFUL_S:
                    break
                conn = self._connect(timeout)
                opened += 1
                self._checkin(conn, reserved=True)
        except TransportError:
            pass
        finally:
            with self._lock:
                self._opening -= count - opened
                self._opened.notify_all()
        return opened

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for entry in idle:
            entry.conn.close()

    def _send_or_raise(self, conn: Connection, method: str, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        try:
            return self._send(conn, method, path, body, headers)
        except (OSError, ProtocolError) as exc:
            conn.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from None

    def _send(self, conn: Connection, method: str, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        answer = conn.request(method, self._base_path + path, body, headers)
        if answer.will_close:
            conn.close()
        return answer

    def _checkout(self, timeout: float) -> tuple[Connection, bool]:
        with self._lock:
            # A connection being opened beside the handler beats a handshake of this request's own.
            self._opened.wait_for(lambda: self._idle or not self._opening, timeout)
            entry = self._idle.pop() if self._idle else None
        if entry is None:
            return self._connect(timeout), False
        conn = entry.conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn, True

    def _checkin(self, conn: Connection, *, reserved: bool = False) -> None:
        """Pool ``conn`` (one :meth:`reserve` asked for, when ``reserved``), or close it: the pool is full,
        or the server closed it."""
        sock = conn.sock
        session = getattr(sock, "session", None)  # an ssl.SSLSocket's; a plain socket has none
        if session is not None:
            self._tls_session = session  # what the next new connection offers to resume
        with self._lock:
            if reserved:
                self._opening -= 1
            if sock is not None and len(self._idle) < self._max_idle:
                self._idle.append(_Connection(conn))
                self._opened.notify()
                return
            if reserved:
                self._opened.notify_all()  # one fewer opening: a waiter may have none left to wait for
        conn.close()

    def _connect(self, timeout: float) -> Connection:
        context = None
        if self._https:
            if self._ssl_context is None:
                import ssl  # imported in __init__ already: a lookup in sys.modules

                self._ssl_context = ssl.create_default_context()
            context = self._ssl_context
        conn = Connection(self._host, self._port, timeout, context, self._tls_session)
        try:
            conn.connect()
        except (OSError, ValueError) as exc:  # ValueError: a session the context refuses to resume
            conn.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        return conn

    @property
    def idle_count(self) -> int:
        """Idle pooled connections now (for tests and the debug log)."""
        with self._lock:
            return len(self._idle)
