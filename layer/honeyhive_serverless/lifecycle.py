"""A HoneyHive session from its start to its last enrichment, by HoneyHive's published contract.

The rules, each from the contract (``honeyhive-spec/`` in the repository's reference, cited in the
README's "Right by HoneyHive's contract"):

- **Started or asked for.** A session exists at HoneyHive once ``POST /session/start`` accepted it, or
  once a span naming it asks for it (``honeyhive.session_auto_create``, with ``honeyhive.session_name``).
  A span of an unknown session without that request is accepted but orphaned. So every session joined
  without a start here (an event's, a header's, a caller's baggage, ``link()``, ``skip_api_call``) asks
  for creation on each of its spans: duplicates are no-ops. Only a session whose start this tracer sent
  says it does not (baggage ``honeyhive.session_auto_create=false``); if that start fails, its spans are
  marked at export instead, with its name.
- **Dated by its beginning.** Every start carries ``start_time`` (Unix ms, floored, so no child starts
  before it), wherever and whenever it is sent: the server dates a start without one at its arrival,
  which in ``after_response`` mode is after the session's children. A session the wrapper or a
  middleware begins for its invocation or request gets its ``duration`` when that scope's work is
  done, after its spans ended, unless it was given one.
- **Nothing of a refused start is lost.** Its spans ask for the session under its name, and its
  inputs (in ``metadata.inputs``, as the SDK folds them), metadata and user properties follow as an
  enrichment.
- **An enrichment reaches an event that exists.** Nothing in the contract says an update of an event
  not yet created survives, so an enrichment of a session that may exist only through auto-creation
  (:meth:`SessionScope.unconfirmed`) is sent after the spans that create it were accepted, and tried
  again while HoneyHive answers 404. One round trip more, on that path only; a session started here
  is enriched beside its spans, as before.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import Any, Protocol

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context

from . import budget
from ._log import logger
from .background import Background, wait_all
from .config import Config
from .export.client import EventUpdate, HoneyHiveClient
from .ids import new_session_id
from .scope import SessionScope, current_scope, merge_enrichment
from .wire import AUTO_CREATE_KEY, SESSION_KEY, SESSION_NAME_KEY

#: Pauses before each further try of an enrichment HoneyHive answered 404 (its session not created yet:
#: ingestion of the spans that create it may lag their acceptance), each bounded by the deadline.
UNKNOWN_EVENT_RETRY_S = (0.05, 0.25, 1.0)


def now_ms() -> int:
    """Unix time in whole milliseconds, floored: a start dated so is never after what follows it."""
    return time.time_ns() // 1_000_000


def beginning_ms() -> int:
    """When a session made now begins: now, or when the current span began if one is recording (a web
    request's span, say, which moves into the session its app makes for the request)."""
    span = trace.get_current_span()
    started = getattr(span, "start_time", None)
    now = now_ms()
    return min(now, started // 1_000_000) if isinstance(started, int) and span.is_recording() else now


class StartupSession:
    """The tracer's own session, which spans outside any other join. (A plain class: as a dataclass it
    cost 0.5 ms at import, measured.)"""

    __slots__ = ("auto_create", "inputs", "name", "session_id")

    def __init__(self, session_id: str | None, name: str) -> None:
        self.session_id = session_id
        self.name = name
        self.inputs: dict[str, Any] | None = None
        #: Its spans ask HoneyHive to create it: it was linked, made locally, or its start failed.
        self.auto_create = True


class SessionLifecycle:
    """Starts, links and enriches the sessions of one tracer, and sends a scope's sessions with its spans.

    ``flush_spans`` sends a scope's spans (True when they were accepted).
    """

    def __init__(
        self,
        owner: object,
        config: Config,
        client: HoneyHiveClient,
        beside: Background,
        default_name: str,
        flush_spans: Callable[[SessionScope], bool],
    ) -> None:
        #: The tracer whose scopes these are.
        self.owner = owner
        self.config = config
        self.client = client
        self._beside = beside
        self._flush_spans = flush_spans
        self.startup = StartupSession(config.session_id, config.session_name or default_name)
        self._warned_local_session = False
        self._warned_unknown_event = False
        #: Enrichments made outside any scope of sessions that may not exist yet, until the next flush.
        self._held: dict[str, dict[str, Any]] = {}
        self._held_lock = threading.Lock()

    @property
    def default_name(self) -> str:
        return self.startup.name

    # -- starting and joining -----------------------------------------------------------------------

    def start_startup_session(self, session_id: str | None) -> str:
        """Start the tracer's own session (``POST /session/start``) and make it the one outside any other."""
        fields = {"session_name": self.startup.name, "session_id": session_id, "inputs": self.startup.inputs}
        started, auto_create = self._start(fields, None)
        self.startup.session_id, self.startup.auto_create = started, auto_create
        return started

    def link_startup_session(self, session_id: str | None) -> None:
        """The tracer's own session without a start (``skip_backend_session_creation``, a start-up link):
        the given id, else one made here; its spans ask HoneyHive to create it."""
        self.startup.session_id, self.startup.auto_create = session_id or new_session_id(), True

    def obtain(self, fields: dict[str, Any], skip_api_call: bool) -> str:
        """Start the session ``fields`` describe, or with ``skip_api_call`` link it, and make it current."""
        return self.activate(*self.prepare(fields, skip_api_call, self.own_scope()))

    def prepare(self, fields: dict[str, Any], skip_api_call: bool, scope: SessionScope | None) -> tuple[str, str, bool]:
        """What :meth:`activate` needs of the session ``fields`` describe: its id, its name, and whether
        its start was sent here (the request, unless ``skip_api_call``, is made now, on this thread)."""
        name = str(fields.get("session_name") or self.default_name)
        if skip_api_call:
            return fields.get("session_id") or new_session_id(), name, False
        session_id, auto_create = self._start(fields, scope)
        return session_id, name, not auto_create

    def start_in_scope(self, scope: SessionScope, fields: dict[str, Any]) -> str:
        """Make a new session current now without waiting for HoneyHive: the id is made here (HoneyHive
        takes a caller's id) and the start runs beside the handler's own work, or, when the scope is
        handed off, leaves with the rest of it after the response. A scope's held spans leave after its
        starts; where spans leave as they end or on the batch processor's thread (``immediate`` and
        ``batch`` modes) they may overtake the start, so they also ask HoneyHive to create the session."""
        session_id = new_session_id()
        body = self._start_body({**fields, "session_id": session_id})
        scope.session_began(session_id, body["start_time"])
        if scope.hand_off is not None:
            scope.defer_session_start(body)
        else:
            scope.session_started(body, self._beside.submit(self.client.start_session, body, scope.deadline))
            # The start takes the connection prepared for the invocation, and its export sends the spans
            # and the session's enrichment side by side: a first invocation (no pool yet) opens the second
            # now too, rather than at export, where the caller would wait for its handshakes.
            self.prepare_connections(scope, 2)
        spans_held = self.config.export_mode in ("invocation", "after_response")
        return self.activate(session_id, body["session_name"], True, spans_ask=not spans_held)

    def prepare_connections(self, scope: SessionScope, needed: int) -> None:
        """Beside the handler: replace the pooled connections a freeze (or a load balancer's idle timeout)
        killed, up to ``needed`` in all, so that the requests of ``scope`` find them open."""
        wanted = self.client.reserve_connections(needed)  # now: a quick handler's export then waits for them
        if wanted:
            self._beside.submit(self.client.open_connections, wanted, scope.deadline)

    def activate(
        self, session_id: str, session_name: str | None, started: bool, *, spans_ask: bool | None = None
    ) -> str:
        """Make ``session_id`` current in this context. Unless its start was sent here (``started``), its
        spans ask HoneyHive to create it, under ``session_name``; ``spans_ask`` makes them ask all the same
        (a start under way that they may overtake)."""
        asks = not started if spans_ask is None else spans_ask
        ctx = baggage.set_baggage(SESSION_KEY, session_id)
        ctx = baggage.set_baggage(AUTO_CREATE_KEY, "true" if asks else "false", ctx)
        ctx = baggage.set_baggage(SESSION_NAME_KEY, session_name or self.default_name, ctx)
        otel_context.attach(ctx)
        if not started:
            logger.debug("honeyhive: session %s linked; its spans ask HoneyHive to create it", session_id)
        scope = self.own_scope()
        if scope is not None:
            scope.note_session(session_id, confirmed=started)
        return session_id

    def _start(self, fields: dict[str, Any], scope: SessionScope | None) -> tuple[str, bool]:
        """POST /session/start now; (the session id, whether its spans must ask for its creation)."""
        body = self._start_body(fields)
        started = None if self.config.offline else self.client.start_session(body)
        session_id = started or body.get("session_id") or new_session_id()
        if started or self.config.offline:
            self._warned_local_session = False
            logger.debug("honeyhive: session %s started", session_id)
            return session_id, False
        self._keep_refused(session_id, body, scope)
        return session_id, True

    def _start_body(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The ``session`` object of ``POST /session/start``, None values left out (as the SDK does),
        dated by its beginning: now."""
        body = {"project": self.config.project, "source": self.config.source, **fields}
        body = {key: value for key, value in body.items() if value is not None}
        body.setdefault("session_name", self.default_name)
        body.setdefault("start_time", now_ms())
        return body

    def _note_start(self, body: dict[str, Any], started: str | None, scope: SessionScope) -> None:
        """After a start that ran beside the handler (or after the response): if it failed, its spans
        ask for the session and the rest of the start follows them."""
        session_id = body["session_id"]
        if started:
            logger.debug("honeyhive: session %s started", session_id)
        if started or self.config.offline:
            self._warned_local_session = False
            return
        self._keep_refused(session_id, body, scope)

    def _keep_refused(self, session_id: str, body: dict[str, Any], scope: SessionScope | None) -> None:
        """A refused start: its spans ask for the session under its name (marked at export, in a scope),
        and the rest of the start follows them as an enrichment (held until a flush, outside one)."""
        self._warn_local_session()
        if scope is not None:
            scope.mark_auto_created(session_id, str(body["session_name"]))
        kept = _refused_start_enrichment(body)
        if kept and scope is not None:
            scope.merge_enrichment(session_id, kept)
        elif kept:
            self._hold(session_id, kept)

    def _warn_local_session(self) -> None:
        # A refused key has been said already, with its hint: this would be a second line of the same.
        if self.client.key_refused:
            return
        if not self._warned_local_session and self.config.has_key_source and not self.config.export_disabled:
            self._warned_local_session = True
            logger.warning(
                "honeyhive: could not start a session at HoneyHive; its spans ask HoneyHive to create it instead"
            )

    # -- enrichment ---------------------------------------------------------------------------------

    def enrich(self, session_id: str, body: dict[str, Any]) -> None:
        """Add ``body`` to the session: inside a scope of this tracer, merged and sent when it closes.
        Outside one, now; or, when the session may exist only through its spans (judged from the
        context), held and sent after them by the next :meth:`flush_held`."""
        scope = self.own_scope()
        if scope is not None:
            scope.merge_enrichment(session_id, body)
            return
        if self._may_be_unconfirmed(session_id):
            self._hold(session_id, body)
        else:
            self.client.update_event({"event_id": session_id, **body})

    def _hold(self, session_id: str, body: dict[str, Any]) -> None:
        with self._held_lock:
            merge_enrichment(self._held.setdefault(session_id, {}), body)

    def enrich_outcome(self, session_id: str, outcome: dict[str, Any], *, linked: bool) -> None:
        """An invocation's (or a web request's) outcome (``outputs``, an error's ``metadata``) onto its
        session. A linked session spans many of them: it gets this one's error and nothing else (outputs
        stay on the span), which also spares a request."""
        if linked:
            if "metadata" not in outcome:
                return
            outcome = {"metadata": outcome["metadata"]}
        if outcome:
            self.enrich(session_id, session_update(**outcome))

    def flush_held(self, deadline: float | None = None) -> bool:
        """Send the enrichments held outside any scope; the spans ended so far must have been flushed."""
        with self._held_lock:
            held, self._held = self._held, {}
        return all([self._send_after_spans(sid, body, deadline) for sid, body in held.items()])

    def _may_be_unconfirmed(self, session_id: str) -> bool:
        if session_id == baggage.get_baggage(SESSION_KEY):
            return baggage.get_baggage(AUTO_CREATE_KEY) != "false"
        if session_id == self.startup.session_id:
            return self.startup.auto_create
        return True  # a session named by id alone: nothing here says it exists

    def _send_after_spans(self, session_id: str, body: dict[str, Any], deadline: float | None) -> bool:
        """PUT /events once the session's spans are in; again, after a pause, while HoneyHive answers
        404, within ``deadline``."""
        update = {"event_id": session_id, **body}
        outcome = self.client.update_event(update, deadline)
        for pause in UNKNOWN_EVENT_RETRY_S:
            if outcome is not EventUpdate.UNKNOWN_EVENT:
                break
            if deadline is not None and time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)  # a pause for HoneyHive's ingestion, not a synchronisation of ours
            outcome = self.client.update_event(update, deadline)
        if outcome is EventUpdate.UNKNOWN_EVENT and not self._warned_unknown_event:
            self._warned_unknown_event = True
            logger.warning("honeyhive: HoneyHive does not know session %s; its enrichment was not applied", session_id)
        return outcome is EventUpdate.SENT

    # -- sending a scope ----------------------------------------------------------------------------

    def end_sessions_begun(self, scope: SessionScope) -> None:
        """The scope's work is done and its spans ended: each session begun in it lasted until now,
        unless it was given a duration."""
        scope.end_sessions_begun(time.time_ns() / 1_000_000)  # not floored: the end covers the last child

    def flush_scope(self, scope: SessionScope) -> bool:
        """Send what ``scope`` holds: session starts first (the events name those sessions), then the
        spans with the enrichment of sessions known to exist beside them, then the enrichment of those
        that may exist only through the spans just sent."""
        with budget.deadline_scope(scope.deadline):
            for body in scope.take_session_starts():
                self._note_start(body, self.client.start_session(body, scope.deadline), scope)
            for body, request in scope.take_starts_in_flight():
                started = request.result(budget.timeout_s(self.config.flush_timeout_ms, scope.deadline))
                self._note_start(body, started, scope)
            enrichments = scope.take_enrichments()
            unconfirmed = scope.unconfirmed()
            confirmed = {sid: body for sid, body in enrichments.items() if sid not in unconfirmed}
            sent = [
                self._beside.submit(self.client.update_event, {"event_id": sid, **body}, scope.deadline)
                for sid, body in confirmed.items()
            ]
            ok = self._flush_spans(scope)
            for sid, body in enrichments.items():
                if sid in unconfirmed:
                    self._send_after_spans(sid, body, scope.deadline)
            # Each request is bounded by the deadline already; this wait only keeps the order of events.
            wait_all(sent, scope.deadline)
            return ok

    def own_scope(self) -> SessionScope | None:
        scope = current_scope()
        return scope if scope is not None and scope.owner is self.owner else None


class SessionOpener(Protocol):
    """What a :class:`SessionBlock` needs of its tracer."""

    def session_scope(self, deadline: float | None = None) -> AbstractContextManager[SessionScope]: ...

    @property
    def create_session(self) -> Callable[..., str | None]: ...

    @property
    def acreate_session(self) -> Callable[..., Awaitable[str | None]]: ...


class SessionBlock(AbstractContextManager[str | None], AbstractAsyncContextManager[str | None]):
    """What ``with_session`` returns: a scope plus a session, usable with ``with`` and ``async with``."""

    def __init__(self, tracer: SessionOpener, session_args: dict[str, Any]) -> None:
        self._tracer = tracer
        self._session_args = session_args
        self._scope: AbstractContextManager[SessionScope] | None = None

    def __enter__(self) -> str | None:
        self._scope = self._tracer.session_scope()
        self._scope.__enter__()
        return self._tracer.create_session(**self._session_args)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._scope is not None:
            self._scope.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> str | None:
        self._scope = self._tracer.session_scope()
        self._scope.__enter__()
        return await self._tracer.acreate_session(**self._session_args)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def session_fields(
    session_name: str | None,
    inputs: dict[str, Any] | None,
    session_id: str | None,
    metadata: dict[str, Any] | None,
    user_properties: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "session_name": session_name,
        "inputs": inputs,
        "session_id": session_id,
        "metadata": metadata,
        "user_properties": user_properties,
    }


def session_update(
    outputs: Any = None,
    metadata: dict[str, Any] | None = None,
    inputs: Any = None,
    **fields: Any,
) -> dict[str, Any]:
    """A ``PUT /events`` body (less its ``event_id``) from ``enrich_session``'s arguments, as the SDK
    makes it: outputs that are no object go under ``result``, inputs are folded into metadata, and None
    values are left out."""
    body: dict[str, Any] = {
        "outputs": outputs if isinstance(outputs, dict) or outputs is None else {"result": outputs},
        "metadata": {**metadata, "inputs": inputs} if metadata and inputs is not None else metadata,
        **fields,
    }
    if inputs is not None and not metadata:
        body["metadata"] = {"inputs": inputs}
    return {key: value for key, value in body.items() if value is not None}


def script_name() -> str:
    """The running script's name: the start-up session's, unless ``HH_SESSION_NAME`` names it."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return os.path.splitext(name)[0] or "session"


def _refused_start_enrichment(body: dict[str, Any]) -> dict[str, Any]:
    """What a start carried beyond its name, id and times, as a ``PUT /events`` body: its metadata with
    its inputs folded in (as the SDK folds them), its user properties and config."""
    metadata = dict(body.get("metadata") or {})
    if body.get("inputs") is not None:
        metadata["inputs"] = body["inputs"]
    kept = {"metadata": metadata, "user_properties": body.get("user_properties"), "config": body.get("config")}
    return {key: value for key, value in kept.items() if value}
