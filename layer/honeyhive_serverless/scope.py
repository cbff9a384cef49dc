"""Session scopes: what one invocation (or one ``with_session`` block) owns, and nothing beyond it.

Entering a scope remembers the OpenTelemetry context; leaving it puts that context back, whatever was
attached inside, balanced or not (HoneyHive's SDK never detaches ``create_session``'s baggage, so a
warm Lambda invocation could inherit the previous one's session). Spans and session enrichment
produced inside are held by the scope and sent when it closes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span

from .background import Pending
from .budget import deadline_scope

#: Baggage key of the current session, as HoneyHive's SDK names it (propagates to downstream services).
SESSION_KEY = "session_id"
#: Baggage keys this package sets for itself; they become span attributes under their own names.
AUTO_CREATE_KEY = "honeyhive.session_auto_create"
SESSION_NAME_KEY = "honeyhive.session_name"

_ENRICHMENT_DICT_FIELDS = ("metadata", "outputs", "metrics", "feedback", "config", "user_properties")


@dataclass
class SessionScope:
    """The spans and session enrichment held for one scope until it closes."""

    owner: object
    deadline: float | None = None
    spans: list[ReadableSpan] = field(default_factory=list)
    held_bytes: int = 0
    enrichments: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``POST /session/start`` bodies to send before anything else when the scope is sent.
    session_starts: list[dict[str, Any]] = field(default_factory=list)
    #: Session starts under way beside the handler: (session id, the request's future).
    starts_in_flight: list[tuple[str, Pending[str | None]]] = field(default_factory=list)
    #: Sessions whose start failed: their spans are marked ``honeyhive.session_auto_create``.
    auto_created: set[str] = field(default_factory=set)
    #: Spans started in this scope and not yet ended, for the timeout last gasp.
    open_spans: dict[int, Span] = field(default_factory=dict)
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Where what the scope holds goes when it closes, instead of being sent at once (after_response).
    hand_off: Callable[[SessionScope], None] | None = None
    #: Drain the batch processor's queue when the scope closes (an invocation, in ``batch`` mode).
    drain_queue: bool = False

    def take_spans(self) -> list[ReadableSpan]:
        with self.lock:
            spans, self.spans, self.held_bytes = self.spans, [], 0
        return spans

    def merge_enrichment(self, session_id: str, update: dict[str, Any]) -> None:
        """Fold ``update`` into what this scope will send for ``session_id``: later keys win."""
        with self.lock:
            merge_enrichment(self.enrichments.setdefault(session_id, {}), update)

    def take_enrichments(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            pending, self.enrichments = self.enrichments, {}
        return pending

    def defer_session_start(self, body: dict[str, Any]) -> None:
        with self.lock:
            self.session_starts.append(body)

    def take_session_starts(self) -> list[dict[str, Any]]:
        with self.lock:
            starts, self.session_starts = self.session_starts, []
        return starts

    def session_started(self, session_id: str, request: Pending[str | None]) -> None:
        with self.lock:
            self.starts_in_flight.append((session_id, request))

    def take_starts_in_flight(self) -> list[tuple[str, Pending[str | None]]]:
        with self.lock:
            starts, self.starts_in_flight = self.starts_in_flight, []
        return starts

    def absorb(self, inner: SessionScope) -> None:
        """Take over what a closed inner scope holds, so one invocation still sends one request."""
        held_bytes = inner.held_bytes
        spans = inner.take_spans()
        with self.lock:
            self.spans.extend(spans)
            self.held_bytes += held_bytes
        for start in inner.take_session_starts():
            self.defer_session_start(start)
        for session_id, request in inner.take_starts_in_flight():
            self.session_started(session_id, request)
        for session_id, body in inner.take_enrichments().items():
            self.merge_enrichment(session_id, body)


def merge_enrichment(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if key in _ENRICHMENT_DICT_FIELDS and isinstance(value, dict):
            into.setdefault(key, {}).update(value)
        else:
            into[key] = value


_current: ContextVar[SessionScope | None] = ContextVar("honeyhive_serverless_scope", default=None)


def current_scope() -> SessionScope | None:
    """The innermost open scope in this context (thread or asyncio task), if any."""
    scope = _current.get()
    return scope if scope is not None and not scope.closed else None


@contextmanager
def enter_scope(owner: object, deadline: float | None = None) -> Iterator[SessionScope]:
    """Open a scope; on exit it is closed and the context is exactly what it was on entry."""
    saved_context = otel_context.get_current()
    scope = SessionScope(owner=owner, deadline=deadline)
    outer = _current.get()
    _current.set(scope)
    try:
        with deadline_scope(deadline):
            yield scope
    finally:
        scope.closed = True
        _current.set(outer)
        # attach() rather than detach(token): the block may have attached without detaching.
        otel_context.attach(saved_context)
