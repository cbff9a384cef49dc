"""HoneyHive's contract applied to a receiver's traffic: what breaks it, and which sessions HoneyHive would have.

The receiver hands every request that reached a HoneyHive route to a :class:`Contract`, which judges it
by the published specs (``contract_spec``) and by HoneyHive's session rules, and keeps what it finds:

- a REST body that breaks its dataplane schema (``POST /session/start``, ``PUT /events``);
- a span whose ``honeyhive.*`` protocol attributes or SDK event attributes have the wrong type (say
  ``honeyhive.session_auto_create`` as the string ``"true"``), or that names no session at all;
- sessions: one exists from an accepted session start, or from a span that asks for it
  (``honeyhive.session_auto_create`` true; in one OTLP request, one span asking is enough for every span
  of that session in it). A span of any other session is accepted (HoneyHive answers 200) but orphaned:
  it appears in no session;
- a session's times must cover its children's: a start without ``start_time`` is dated by HoneyHive at
  its arrival, so a session starting after its earliest span starts is flagged, and, once its end is
  known (``end_time``, or ``duration`` from its start), one ending before its last span ends;
- ``PUT /events`` for an event that is no known session: refused (404) by a strict receiver, flagged by
  a lenient one.

Findings are judged when the request that makes them true arrives, and are never withdrawn: HoneyHive
showed the session that way from then on. A Contract is not thread-safe; the receiver calls it under
its own lock.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from honeyhive_serverless.wire import AUTO_CREATE_KEY

from . import contract_spec
from .otlp import ReceivedSpan

REQUEST_SCHEMA = "request-schema"
SPAN_ATTRIBUTE = "span-attribute"
SPAN_WITHOUT_SESSION = "span-without-session"
SESSION_STARTS_AFTER_CHILD = "session-starts-after-child"
SESSION_ENDS_BEFORE_CHILD = "session-ends-before-child"
UPDATE_OF_UNKNOWN_EVENT = "update-of-unknown-event"
ORPHANED_SPAN = "orphaned-span"
REFUSED_UPDATE = "refused-update"
#: Findings that break the contract outright (orphaned spans and refused updates are HoneyHive's answer
#: to traffic that does: the first are accepted and lost, the second refused).
VIOLATION_KINDS = frozenset(
    {
        REQUEST_SCHEMA,
        SPAN_ATTRIBUTE,
        SPAN_WITHOUT_SESSION,
        SESSION_STARTS_AFTER_CHILD,
        SESSION_ENDS_BEFORE_CHILD,
        UPDATE_OF_UNKNOWN_EVENT,
    }
)
FINDING_KINDS = VIOLATION_KINDS | {ORPHANED_SPAN, REFUSED_UPDATE}

STARTED = "started"
AUTO_CREATED = "auto-created"
#: HoneyHive keeps times in milliseconds and a span's are nanoseconds: a session may seem to start or
#: end this much off its children by rounding alone.
ROUNDING_MS = 1.0


@dataclass(frozen=True)
class RequestRef:
    """Which request a finding comes from: the receiver numbers every request it records from 1."""

    number: int
    method: str
    path: str

    def __str__(self) -> str:
        return f"request #{self.number} {self.method} {self.path}"


@dataclass(frozen=True)
class Finding:
    """One thing the contract found: its ``kind`` (one of ``FINDING_KINDS``), what is wrong
    (``message``), where (``where``: a body's field, a span, a session), and the request that brought it.
    ``session_id`` and ``span_id`` tie it to a session and a span when it concerns one."""

    kind: str
    message: str
    where: str
    request: RequestRef
    session_id: str | None = None
    span_id: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.where}: {self.message} ({self.request})"


@dataclass(frozen=True)
class ContractReport:
    """What a receiver's contract found so far, in arrival order, and the sessions HoneyHive would have
    (``sessions``: id -> ``"started"`` or ``"auto-created"``)."""

    findings: tuple[Finding, ...] = ()
    sessions: dict[str, str] = field(default_factory=dict)

    @property
    def violations(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind in VIOLATION_KINDS)

    @property
    def orphaned_spans(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind == ORPHANED_SPAN)

    @property
    def refused_updates(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind == REFUSED_UPDATE)

    @property
    def clean(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        """``{"violations": n, "orphaned_spans": n, "refused_updates": n}``."""
        return {
            "violations": len(self.violations),
            "orphaned_spans": len(self.orphaned_spans),
            "refused_updates": len(self.refused_updates),
        }

    def counts_by_kind(self) -> Counter[str]:
        return Counter(f.kind for f in self.findings)

    def after(self, earlier: ContractReport) -> ContractReport:
        """The findings since ``earlier`` (a report of the same receiver): findings are only appended."""
        return ContractReport(self.findings[len(earlier.findings) :], self.sessions)

    def describe(self, limit: int = 20) -> str:
        """The findings, one per line (at most ``limit``, then how many more)."""
        lines = [str(finding) for finding in self.findings[:limit]]
        if len(self.findings) > limit:
            lines.append(f"... and {len(self.findings) - limit} more")
        return "\n".join(lines)


@dataclass
class _Child:
    """A span of a session, as far as its times go."""

    ms: float
    name: str
    span_id: str


@dataclass
class _Session:
    origin: str
    #: When HoneyHive dates the session's start: its ``start_time``, or its start's arrival (None for one
    #: a span auto-created: dated by its spans).
    start_ms: float | None
    dated_at_arrival: bool = False
    #: The last end the session was given: ("end_time", ms) or ("duration", ms).
    end: tuple[str, float] | None = None
    first_child: _Child | None = None
    last_child: _Child | None = None
    flagged: set[str] = field(default_factory=set)

    def end_ms(self) -> float | None:
        if self.end is None:
            return None
        source, value = self.end
        if source == "end_time":
            return value
        start = self.start_ms if self.start_ms is not None else self.first_child.ms if self.first_child else None
        return None if start is None else start + value

    def take_end(self, fields: dict[str, Any]) -> None:
        for source in ("end_time", "duration"):
            if contract_spec.is_number(fields.get(source)):
                self.end = (source, float(fields[source]))
                return


class Contract:
    """HoneyHive's contract and session rules over one receiver's traffic (see the module's docstring)."""

    def __init__(self) -> None:
        self._findings: list[Finding] = []
        self._sessions: dict[str, _Session] = {}

    def knows(self, event_id: str) -> bool:
        """Whether ``event_id`` is a session HoneyHive has: started, or auto-created by a span received."""
        return event_id in self._sessions

    def report(self) -> ContractReport:
        return ContractReport(tuple(self._findings), {sid: s.origin for sid, s in self._sessions.items()})

    # ---- REST

    def session_start(self, ref: RequestRef, body: bytes, session_id: str | None, arrival_ms: float) -> list[Finding]:
        """A ``POST /session/start``; ``session_id`` is the session it started (None: it was refused)."""
        mark = len(self._findings)
        document = self._body(ref, body, contract_spec.START_SESSION, session_id)
        if session_id is not None and session_id not in self._sessions:  # a second start only merges
            fields = document.get("session") if isinstance(document, dict) else None
            fields = fields if isinstance(fields, dict) else {}
            given = fields.get("start_time")
            if contract_spec.is_number(given):
                session = _Session(STARTED, float(given))
            else:  # absent, or not a number: HoneyHive falls back to the time the start arrived
                session = _Session(STARTED, arrival_ms, dated_at_arrival=True)
            session.take_end(fields)
            self._sessions[session_id] = session
            self._judge_times(ref, session_id)
        return self._findings[mark:]

    def event_update(self, ref: RequestRef, body: bytes, status: int) -> list[Finding]:
        """A ``PUT /events`` and the status it was answered with (404: refused as an unknown event)."""
        mark = len(self._findings)
        document = self._body(ref, body, contract_spec.UPDATE_EVENT)
        event_id = document.get("event_id") if isinstance(document, dict) else None
        if isinstance(event_id, str) and isinstance(document, dict):
            where = f"event {event_id}"
            if status == 404:
                message = "no session was started or auto-created with that id; refused with 404"
                self._add(REFUSED_UPDATE, message, where, ref, event_id)
            elif status == 200 and event_id not in self._sessions:
                message = "no session was started or auto-created with that id; HoneyHive refuses it"
                self._add(UPDATE_OF_UNKNOWN_EVENT, message, where, ref, event_id)
            elif status == 200:
                self._sessions[event_id].take_end(document)
                self._judge_times(ref, event_id)
        return self._findings[mark:]

    def _body(self, ref: RequestRef, body: bytes, operation: str, session_id: str | None = None) -> Any:
        """The JSON body, after recording how it breaks ``operation``'s schema (None if it is no JSON).
        ``session_id``: the session it concerns, when the caller knows better than the body."""
        where = f"{operation} body"
        try:
            document = json.loads(body)
        except ValueError as exc:
            self._add(REQUEST_SCHEMA, f"not JSON: {exc}", where, ref, session_id)
            return None
        session_id = session_id or _session_of(document)
        for problem in contract_spec.problems(operation, document):
            self._add(REQUEST_SCHEMA, problem, where, ref, session_id)
        return document

    # ---- OTLP

    def spans(self, ref: RequestRef, spans: list[ReceivedSpan]) -> list[Finding]:
        """The spans of one accepted OTLP request."""
        mark = len(self._findings)
        by_session: dict[str, list[ReceivedSpan]] = {}
        for span in spans:
            where = _span_where(span)
            for problem in contract_spec.span_problems(span.attributes):
                self._add(SPAN_ATTRIBUTE, problem, where, ref, span.session_id, span.span_id)
            if span.session_id is None:
                message = "no session id (honeyhive.session_id): HoneyHive cannot place it in a session"
                self._add(SPAN_WITHOUT_SESSION, message, where, ref, None, span.span_id)
            else:
                by_session.setdefault(span.session_id, []).append(span)
        for session_id, members in by_session.items():
            if session_id not in self._sessions:
                if any(span.attributes.get(AUTO_CREATE_KEY) is True for span in members):
                    self._sessions[session_id] = _Session(AUTO_CREATED, None)
                else:
                    for span in members:
                        message = (
                            f"session {session_id} was never started and no span asked to create it "
                            f"({AUTO_CREATE_KEY}): accepted, but in no session"
                        )
                        self._add(ORPHANED_SPAN, message, _span_where(span), ref, session_id, span.span_id)
                    continue
            session = self._sessions[session_id]
            for span in members:
                start, end = span.start_ns / 1e6, span.end_ns / 1e6
                if session.first_child is None or start < session.first_child.ms:
                    session.first_child = _Child(start, span.name, span.span_id)
                if session.last_child is None or end > session.last_child.ms:
                    session.last_child = _Child(end, span.name, span.span_id)
            self._judge_times(ref, session_id)
        return self._findings[mark:]

    # ---- times

    def _judge_times(self, ref: RequestRef, session_id: str) -> None:
        session = self._sessions[session_id]
        where = f"session {session_id}"
        first, last = session.first_child, session.last_child
        if (
            first is not None
            and session.start_ms is not None
            and session.start_ms > first.ms + ROUNDING_MS
            and SESSION_STARTS_AFTER_CHILD not in session.flagged
        ):
            session.flagged.add(SESSION_STARTS_AFTER_CHILD)
            dated = "its arrival: it has no start_time" if session.dated_at_arrival else "its start_time"
            message = (
                f"starts {session.start_ms - first.ms:.1f} ms after its span '{first.name}' ({first.span_id}) "
                f"starts (dated by {dated})"
            )
            self._add(SESSION_STARTS_AFTER_CHILD, message, where, ref, session_id, first.span_id)
        end = session.end_ms()
        if (
            last is not None
            and end is not None
            and end < last.ms - ROUNDING_MS
            and SESSION_ENDS_BEFORE_CHILD not in session.flagged
        ):
            session.flagged.add(SESSION_ENDS_BEFORE_CHILD)
            assert session.end is not None
            message = (
                f"ends {last.ms - end:.1f} ms before its span '{last.name}' ({last.span_id}) ends "
                f"(by its {session.end[0]})"
            )
            self._add(SESSION_ENDS_BEFORE_CHILD, message, where, ref, session_id, last.span_id)

    def _add(
        self,
        kind: str,
        message: str,
        where: str,
        ref: RequestRef,
        session_id: str | None = None,
        span_id: str | None = None,
    ) -> None:
        self._findings.append(Finding(kind, message, where, ref, session_id, span_id))


def _session_of(document: Any) -> str | None:
    """The session a REST body names, if any: a start's ``session.session_id``, an update's ``event_id``."""
    if not isinstance(document, dict):
        return None
    session = document.get("session")
    candidate = session.get("session_id") if isinstance(session, dict) else document.get("event_id")
    return candidate if isinstance(candidate, str) else None


def _span_where(span: ReceivedSpan) -> str:
    return f"span '{span.name}' ({span.span_id})"
