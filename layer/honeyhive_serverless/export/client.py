"""HoneyHive's HTTP API as the SDK speaks it: session start, event update, OTLP span export.

Adds to the transport what every call shares: the SDK's headers, the API key (re-fetched once on
401/403), the redaction of every JSON body (``config.redaction``: what a user enriched a session with
as much as what the wrapper captured), the time budget, and a breaker so a backend that is down costs
one bounded wait every ``cooldown_s`` rather than the whole export budget on every invocation.
"""

from __future__ import annotations

import enum
import json
import threading
import time
from typing import Any

from .. import budget
from .._log import logger
from ..attributes import json_safe
from ..config import Config
from ..version import __version__
from ..wire import EVENTS_PATH, OTLP_PATH, SESSION_START_PATH
from .credentials import ApiKeyProvider
from .http11 import Answer
from .transport import HttpTransport, TransportError


def json_body(fields: dict[str, Any], wrap_in: str | None = None) -> bytes:
    """JSON of ``fields`` (as ``{wrap_in: fields}`` when given); a field JSON cannot encode (too deep,
    say) becomes its safe text instead of failing the request."""
    try:
        return json.dumps({wrap_in: fields} if wrap_in else fields, default=str).encode()
    except Exception:  # a value too deep, circular, or whose __str__ raises: that field alone degrades
        safe = {key: json_safe(value) for key, value in fields.items()}
        return json.dumps({wrap_in: safe} if wrap_in else safe, default=str).encode()


class EventUpdate(enum.Enum):
    """How a ``PUT /events`` ended."""

    SENT = "sent"
    #: HoneyHive answered 404: no such event (yet: a session made by its spans may lag their acceptance).
    UNKNOWN_EVENT = "unknown event"
    FAILED = "failed"


class Breaker:
    """Opens after ``threshold`` consecutive failures; after ``cooldown_s`` one request may try again."""

    def __init__(self, threshold: int = 3, cooldown_s: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._failures = 0
        self._open_until = 0.0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._failures >= self.threshold and time.monotonic() < self._open_until

    def allow(self) -> bool:
        with self._lock:
            if self._failures < self.threshold:
                return True
            now = time.monotonic()
            if now < self._open_until:
                return False
            # Half-open: let this one through, and keep the others out for another cooldown meanwhile.
            self._open_until = now + self.cooldown_s
            return True

    def record(self, ok: bool, reason: str, *, warned: bool = False) -> None:
        """Count a request's outcome; ``warned``: the caller has said why it failed, in its own line."""
        with self._lock:
            if ok:
                if self._failures >= self.threshold:
                    logger.info("honeyhive: HoneyHive reachable again; exporting resumes")
                self._failures = 0
                return
            self._failures += 1
            opened = self._failures == self.threshold
            if opened:
                self._open_until = time.monotonic() + self.cooldown_s
            if warned:
                return
            if self._failures == 1:
                logger.warning("honeyhive: request to HoneyHive failed (%s)", reason)
            elif opened:
                logger.warning(
                    "honeyhive: %d requests in a row failed (%s); not exporting for %.0f s",
                    self._failures,
                    reason,
                    self.cooldown_s,
                )


class HoneyHiveClient:
    """The three HoneyHive calls this package makes. Never raises; failures return None/False."""

    def __init__(self, config: Config, keys: ApiKeyProvider, transport: HttpTransport | None = None) -> None:
        self._config = config
        self._keys = keys
        self.transport = transport or HttpTransport(config.server_url)
        # One breaker per endpoint: a failing session API must not stop span export, and vice versa.
        self.breakers = {path: Breaker() for path in (OTLP_PATH, SESSION_START_PATH, EVENTS_PATH)}
        self._warned_no_key = False
        #: HoneyHive refused the key: said once, in one line, and what fails from it says nothing more.
        self.key_refused = False
        self._warned_status: set[int] = set()

    def post_spans(self, body: bytes, deadline: float | None = None) -> bool:
        response = self._call("POST", OTLP_PATH, body, "application/x-protobuf", deadline)
        return response is not None

    def start_session(self, session: dict[str, Any], deadline: float | None = None) -> str | None:
        """POST /session/start; the new session's id, or None when HoneyHive gave none."""
        body = json_body(self._config.redaction.value(session), wrap_in="session")
        response = self._call("POST", SESSION_START_PATH, body, "application/json", deadline)
        if response is None:
            return None
        try:
            session_id = json.loads(response.body).get("session_id")
        except (ValueError, AttributeError):
            session_id = None
        if not isinstance(session_id, str) or not session_id:
            logger.warning("honeyhive: session start answered without a session_id")
            return None
        return session_id

    def update_event(self, body: dict[str, Any], deadline: float | None = None) -> EventUpdate:
        """PUT /events: enrich a session (``event_id`` is the session id) or an event."""
        data = json_body(self._config.redaction.value(body))
        response = self._call("PUT", EVENTS_PATH, data, "application/json", deadline, answered=(404,))
        if response is None:
            return EventUpdate.FAILED
        return EventUpdate.UNKNOWN_EVENT if response.status == 404 else EventUpdate.SENT

    def reserve_connections(self, needed: int = 1) -> int:
        """How many connections to open beside the handler for this invocation's export, at least
        ``needed`` in all (see ``HttpTransport.reserve``); none when nothing would be sent or the span
        endpoint's breaker is open (a backend that is down costs no connection attempts here)."""
        if self._config.offline or self._config.export_disabled or not self._config.otlp_enabled:
            return 0
        if self.breakers[OTLP_PATH].is_open or not self._config.has_key_source:
            return 0
        return self.transport.reserve(needed)

    def open_connections(self, count: int, deadline: float | None = None) -> int:
        """Open what :meth:`reserve_connections` reserved, within the request timeout and ``deadline``."""
        return self.transport.open_reserved(count, budget.timeout_s(self._config.export_timeout_ms, deadline))

    def close(self) -> None:
        self.transport.close()

    def _headers(self, key: str, content_type: str) -> dict[str, str]:
        return {
            "Content-Type": content_type,
            "Authorization": f"Bearer {key}",
            "X-Source": self._config.source,
            "hh-client-language": "python",
            "hh-client-package": "honeyhive-serverless",
            "hh-client-version": __version__,
        }

    def _call(
        self,
        method: str,
        path: str,
        body: bytes,
        content_type: str,
        deadline: float | None,
        answered: tuple[int, ...] = (),
    ) -> Answer | None:
        """The response to a request, if it succeeded or its status is one of ``answered`` (the caller
        acts on those); None otherwise, the failure counted and warned of once per status."""
        if self._config.offline or self._config.export_disabled:
            return None
        key = self._keys.get()
        if key is None:
            if not self._warned_no_key:
                self._warned_no_key = True
                logger.warning(
                    "honeyhive: no API key (set HH_INGESTION_API_KEY, HH_API_KEY, HH_API_KEY_SECRET_ARN or "
                    "HH_API_KEY_SSM_PARAMETER); nothing will be sent to HoneyHive"
                )
            return None
        breaker = self.breakers[path]
        if not breaker.allow():
            return None
        try:
            response = self._send(method, path, body, key, content_type, deadline)
            if response.status in (401, 403) and self._keys.refresh(rejected=key):
                response = self._send(method, path, body, self._keys.get() or "", content_type, deadline)
        except TransportError as exc:
            breaker.record(False, f"{method} {path}: {exc}")
            return None
        if 200 <= response.status < 300 or response.status in answered:
            breaker.record(True, "")
            return response
        if response.status in (401, 403):
            self._warn_refused(response.status, method, path)
            breaker.record(False, f"{method} {path}: HTTP {response.status}", warned=True)
        elif response.status == 429 or response.status >= 500:
            breaker.record(False, f"{method} {path}: HTTP {response.status}")
        elif response.status not in self._warned_status:
            self._warned_status.add(response.status)
            logger.warning("honeyhive: HoneyHive rejected %s %s with HTTP %d", method, path, response.status)
        return None

    def _warn_refused(self, status: int, method: str, path: str) -> None:
        """A refused key, said once in one line with where the key came from (never the key)."""
        if self.key_refused:
            return
        self.key_refused = True
        logger.warning(
            "honeyhive: HoneyHive refused the API key (HTTP %d to %s %s); it came from %s: check that it is a "
            "valid key for %s",
            status,
            method,
            path,
            self._config.key_origin,
            self._config.server_url,
        )

    def _send(self, method: str, path: str, body: bytes, key: str, content_type: str, deadline: float | None) -> Answer:
        timeout = budget.timeout_s(self._config.export_timeout_ms, deadline)
        return self.transport.request(method, path, body, self._headers(key, content_type), timeout)
