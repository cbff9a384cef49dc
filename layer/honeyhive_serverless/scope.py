"""Session scopes: what one invocation (or one ``with_session`` block) owns, and nothing beyond it.

Entering a scope remembers the OpenTelemetry context; leaving it puts that context back, whatever was
attached inside, balanced or not (HoneyHive's SDK never detaches ``create_session``'s baggage, so a
warm Lambda invocation could inherit the previous one's session). Spans and session enrichment
produced inside are held by the scope and sent when it closes.

A scope's state changes only through its methods, each under the scope's lock: the caps on what it
holds, its deadline and where it goes when it closes are kept here, not by its callers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span
from opentelemetry.trace import Status

from .background import Pending
from .budget import deadline_scope
from .wire import SESSION_KEY

#: Marks a span left open when its scope's work returned (a stream returned unread, say), ended then.
OPEN_AT_RETURN = "honeyhive.open_at_return"
_ENRICHMENT_DICT_FIELDS = ("metadata", "outputs", "metrics", "feedback", "config", "user_properties")


class ScopeLimits(NamedTuple):
    """How much a scope holds before its spans must leave early, so a long invocation stays bounded."""

    max_spans: int
    max_bytes: int


#: Where a closing scope goes instead of being sent at once (the after-response extension, or a Managed
#: Instances worker's export thread).
HandOff = Callable[["SessionScope"], None]
#: Sends what a scope holds (the tracer's ``flush_scope``): what a hand-off's receiver calls back up.
FlushScope = Callable[["SessionScope"], object]


class SessionScope:
    """The spans and session enrichment held for one scope until it closes. Thread-safe."""

    def __init__(
        self,
        owner: object,
        deadline: float | None,
        *,
        limits: ScopeLimits,
        hand_off: HandOff | None = None,
        drain_queue: bool = False,
    ) -> None:
        #: The tracer whose spans this scope holds; another tracer's spans pass it by.
        self.owner = owner
        #: Where what the scope holds goes when it closes, instead of being sent at once.
        self.hand_off = hand_off
        #: Drain the batch processor's queue when the scope closes (an invocation, in ``batch`` mode).
        self.drain_queue = drain_queue
        #: The context the scope's work runs in (its span, its session's baggage), set by whoever opens
        #: the scope, for work a framework moves out of it (FastAPI's telemetry puts the request
        #: headers' context in its place).
        self.work_context: otel_context.Context | None = None
        self._deadline = deadline
        self._limits = limits
        self._lock = threading.Lock()
        self._closed = False
        self._spans: list[ReadableSpan] = []
        self._held_bytes = 0
        self._enrichments: dict[str, dict[str, Any]] = {}
        #: ``POST /session/start`` bodies to send before anything else when the scope is sent.
        self._session_starts: list[dict[str, Any]] = []
        #: Session starts under way beside the handler: (the start's body, the request's future).
        self._starts_in_flight: list[tuple[dict[str, Any], Pending[str | None]]] = []
        #: Sessions whose start failed, by name: their spans are marked ``honeyhive.session_auto_create``.
        self._auto_created: dict[str, str] = {}
        #: Sessions that may exist at HoneyHive only through their spans (linked, or their start failed).
        self._unconfirmed: set[str] = set()
        #: Sessions begun in this scope: their ``start_time`` (Unix ms), for their duration at its end.
        self._begun: dict[str, int] = {}
        #: Sessions whose context went into a carrier in this scope (or one it absorbed): given no duration.
        self._handed_on: set[str] = set()
        #: Spans started in this scope and not yet ended, for the timeout last gasp.
        self._open_spans: dict[int, Span] = {}
        #: The sessions made current in this scope, in order (a web app's own follow the request's).
        self._sessions: list[str] = []

    # -- lifecycle ----------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def deadline(self) -> float | None:
        """Every request sent for this scope is done by then (``time.monotonic()``), if set."""
        return self._deadline

    def export_by(self, deadline: float) -> None:
        """Move the deadline for sending what the scope holds (see ``budget.flush_deadline``)."""
        with self._lock:
            self._deadline = deadline

    # -- spans --------------------------------------------------------------------------------------

    def hold(self, span: ReadableSpan, size: int) -> bool:
        """Keep an ended span until the scope is sent; True when the scope is now at its caps."""
        with self._lock:
            self._spans.append(span)
            self._held_bytes += size
            limits = self._limits
            return limits is not None and (len(self._spans) >= limits.max_spans or self._held_bytes >= limits.max_bytes)

    def take_spans(self) -> list[ReadableSpan]:
        with self._lock:
            spans, self._spans, self._held_bytes = self._spans, [], 0
        return spans

    def track_open(self, span: Span) -> None:
        with self._lock:
            self._open_spans[_key(span)] = span

    def forget_open(self, span: ReadableSpan) -> None:
        # Keyed by span id: what a processor's on_end gets is a ReadableSpan copy, not the Span started.
        with self._lock:
            self._open_spans.pop(_key(span), None)

    def end_open_spans(self, attributes: dict[str, Any], status: Status | None = None, keep: object = None) -> None:
        """End the spans still open (but ``keep``), innermost (latest started) first, each given
        ``attributes`` and ``status`` as it ends."""
        with self._lock:
            spans = list(self._open_spans.values())
        for span in sorted(spans, key=lambda span: span.start_time or 0, reverse=True):
            if span is not keep and span.is_recording():
                if status is not None:
                    span.set_status(status)
                span.set_attributes(attributes)
                span.end()

    # -- sessions -----------------------------------------------------------------------------------

    def merge_enrichment(self, session_id: str, update: dict[str, Any]) -> None:
        """Fold ``update`` into what this scope will send for ``session_id``: later keys win."""
        with self._lock:
            merge_enrichment(self._enrichments.setdefault(session_id, {}), update)

    def take_enrichments(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            pending, self._enrichments = self._enrichments, {}
        return pending

    def note_session(self, session_id: str, *, confirmed: bool = True) -> None:
        """``session_id`` was made current in this scope; unless ``confirmed`` (its start was sent here),
        it may exist at HoneyHive only through its spans."""
        with self._lock:
            self._sessions.append(session_id)
            if not confirmed:
                self._unconfirmed.add(session_id)

    def unconfirmed(self) -> frozenset[str]:
        """Sessions that may exist only through their spans: enriched only after those are in."""
        with self._lock:
            return frozenset(self._unconfirmed)

    def session_began(self, session_id: str, start_ms: int) -> None:
        """``session_id`` began in this scope at ``start_ms`` (its ``start_time``)."""
        with self._lock:
            self._begun.setdefault(session_id, start_ms)

    def session_handed_on(self, session_id: str) -> None:
        """``session_id`` went into a carrier: others may join it after this scope, so it is given no
        duration here (one measured to this scope's end would end it before their spans)."""
        with self._lock:
            self._handed_on.add(session_id)

    def end_sessions_begun(self, end_ms: float) -> None:
        """The scope's work is done: each session begun in it lasted until ``end_ms``, unless it was
        given a duration."""
        with self._lock:
            begun, self._begun = self._begun, {}
            for session_id, start_ms in begun.items():
                if session_id in self._handed_on:
                    continue
                enrichment = self._enrichments.setdefault(session_id, {})
                enrichment.setdefault("duration", end_ms - start_ms)

    def latest_session(self) -> str | None:
        """The session made current in this scope last, if any."""
        with self._lock:
            return self._sessions[-1] if self._sessions else None

    def defer_session_start(self, body: dict[str, Any]) -> None:
        with self._lock:
            self._session_starts.append(body)

    def take_session_starts(self) -> list[dict[str, Any]]:
        with self._lock:
            starts, self._session_starts = self._session_starts, []
        return starts

    def session_started(self, body: dict[str, Any], request: Pending[str | None]) -> None:
        with self._lock:
            self._starts_in_flight.append((body, request))

    def take_starts_in_flight(self) -> list[tuple[dict[str, Any], Pending[str | None]]]:
        with self._lock:
            starts, self._starts_in_flight = self._starts_in_flight, []
        return starts

    def mark_auto_created(self, session_id: str, session_name: str) -> None:
        """The start of ``session_id`` failed: its spans must ask HoneyHive to create it, so named."""
        with self._lock:
            self._auto_created[session_id] = session_name
            self._unconfirmed.add(session_id)

    def auto_created(self) -> dict[str, str]:
        """The sessions whose spans must ask for their creation, and the name to ask with."""
        with self._lock:
            return dict(self._auto_created)

    def room_for(self, other: SessionScope) -> bool:
        """Whether what ``other`` holds fits beside what this scope holds, within one scope's limits."""
        with other._lock:
            spans, held_bytes = len(other._spans), other._held_bytes
        with self._lock:
            limits = self._limits
            return len(self._spans) + spans <= limits.max_spans and self._held_bytes + held_bytes <= limits.max_bytes

    def absorb(self, inner: SessionScope) -> None:
        """Take over what a closed inner scope holds, so one invocation still sends one request."""
        with inner._lock:
            spans, held_bytes = inner._spans, inner._held_bytes
            inner._spans, inner._held_bytes = [], 0
        with self._lock:
            self._spans.extend(spans)
            self._held_bytes += held_bytes
        for start in inner.take_session_starts():
            self.defer_session_start(start)
        for body, request in inner.take_starts_in_flight():
            self.session_started(body, request)
        for session_id, update in inner.take_enrichments().items():
            self.merge_enrichment(session_id, update)
        # Its own sessions' durations were set as it closed; what it handed on may be one begun out here.
        with inner._lock:
            auto_created, unconfirmed, handed_on = dict(inner._auto_created), set(inner._unconfirmed), inner._handed_on
        with self._lock:
            self._auto_created.update(auto_created)
            self._unconfirmed |= unconfirmed
            self._handed_on |= handed_on

    def _close(self) -> None:
        with self._lock:
            self._closed = True


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


def note_handed_on() -> None:
    """A carrier was just filled from the current context: the current session is handed on."""
    scope = current_scope()
    if scope is not None:
        session_id = baggage.get_baggage(SESSION_KEY)
        if session_id:
            scope.session_handed_on(str(session_id))


@contextmanager
def enter_scope(scope: SessionScope) -> Iterator[SessionScope]:
    """Make ``scope`` current; on exit it is closed and the context is exactly what it was on entry."""
    saved_context = otel_context.get_current()
    outer = _current.get()
    _current.set(scope)
    try:
        with deadline_scope(scope.deadline):
            yield scope
    finally:
        scope._close()
        _current.set(outer)
        # attach() rather than detach(token): the block may have attached without detaching.
        otel_context.attach(saved_context)


def _key(span: ReadableSpan) -> int:
    context = span.context
    return context.span_id if context is not None else id(span)
