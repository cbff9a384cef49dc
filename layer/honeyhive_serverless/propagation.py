"""W3C trace context in and out with OpenTelemetry's propagators: what a caller's carrier continues,
and what a function passes on.

The propagator is the one HoneyHive's SDK uses, W3C Trace Context composed with W3C Baggage, rather
than the global one: an application may set ``OTEL_PROPAGATORS`` to X-Ray alone, and HoneyHive's
callers send W3C. The session travels in baggage under the SDK's keys (``session_id`` first); a
conversation may be named there as OpenTelemetry's conventions name it (``session.id``,
``gen_ai.conversation.id``), which ``sessions`` turns into a session when no session is named.

>>> carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
...            "baggage": "honeyhive_tracer_id=1407,session_id=f9cec314-4d62-476c-94d4-5f5ac76affa4"}
>>> remote = extract(carrier)
>>> remote.session, format(remote.span_context.trace_id, "032x")
('f9cec314-4d62-476c-94d4-5f5ac76affa4', '0af7651916cd43dd8448eb211c80319c')
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, NamedTuple

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanContext

from ._log import quote_prefix
from .carriers import CarrierLookup, usable_values
from .wire import (
    AUTO_CREATE_KEY,
    BAGGAGE,
    CALLER_ONLY_BAGGAGE_KEYS,
    CONVERSATION_BAGGAGE_KEYS,
    SESSION_BAGGAGE_KEYS,
    SESSION_KEY,
    SESSION_NAME_KEY,
    TRACEPARENT,
)

if TYPE_CHECKING:
    from opentelemetry.propagators.textmap import TextMapPropagator


@functools.cache
def propagator() -> TextMapPropagator:
    """W3C Trace Context composed with W3C Baggage, imported on first use: a call that carries no
    context (a direct invocation, a message without attributes) never needs them, and their import is
    1.8-3.0 ms of a cold start (measured, Python 3.11, medians of 7)."""
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


# Where the two propagators log what they drop. Their lines are caught during an extraction and
# folded into this package's one warning per carrier (they would also echo the caller's baggage).
_PROPAGATOR_LOGGERS = ("opentelemetry.baggage.propagation", "opentelemetry.trace.propagation.tracecontext")
#: Baggage this package keeps for itself; it never leaves the process.
_LOCAL_BAGGAGE_KEYS = (AUTO_CREATE_KEY, SESSION_NAME_KEY)
# A caller's baggage this package does not carry on: its own tracer's object id, the session under
# the SDK's other keys (it is set under ``session_id``), and another process's local keys.
_NOT_PASSED_ON = frozenset({*CALLER_ONLY_BAGGAGE_KEYS, *SESSION_BAGGAGE_KEYS, *_LOCAL_BAGGAGE_KEYS})
#: ``(baggage key, conversation key)``: the conversation a caller's baggage names, and under which key.
Conversation = tuple[str, str]


class Remote(NamedTuple):
    """What one carrier continues: the caller's context (span and baggage) and the session it names."""

    context: Context
    #: The caller's span, when the carrier held a valid ``traceparent``.
    span_context: SpanContext | None = None
    #: The session its baggage names, unvalidated; None when it names none.
    session: str | None = None
    problems: tuple[str, ...] = ()
    #: The conversation its baggage names (OpenTelemetry's keys), unvalidated; None when it names none.
    conversation: Conversation | None = None


class Incoming(NamedTuple):
    """What an invocation continues, from the carrier of its event or those of its records."""

    #: The context to run in: the caller's span and baggage. None when there is none, or when a
    #: batch's records came from several callers (then each one is only a link).
    context: Context | None = None
    links: tuple[Link, ...] = ()
    session: str | None = None
    where: str | None = None
    problems: tuple[str, ...] = ()
    conversation: Conversation | None = None


NOTHING_INCOMING = Incoming()


def extract(carrier: Mapping[str, str], context: Context | None = None) -> Remote:
    """The caller's context from a carrier, on top of ``context`` (an empty one by default): the
    caller's span as the current span, the caller's baggage over the context's own.

    Values too long to be genuine, or that are no valid text, are left out unparsed; malformed ones
    are dropped by the propagators. Either way the problem is in ``problems``, for the caller to
    report once.
    """
    kept, problems = usable_values(carrier)
    with _propagator_lines() as dropped:
        # From an empty context, so only what the carrier holds is read as the caller's.
        extracted = propagator().extract(kept, context=Context())
    span_context: SpanContext | None = trace.get_current_span(extracted).get_span_context()
    if span_context is not None and not span_context.is_valid:
        span_context = None
        if TRACEPARENT in kept:
            problems.append(f"traceparent is not W3C Trace Context, value {quote_prefix(kept[TRACEPARENT], 60)}")
    if dropped and BAGGAGE in kept:
        problems.append(f"baggage has {len(dropped)} malformed or excess members (left out)")
    entries = dict(baggage.get_all(extracted))
    session = next((str(entries[key]) for key in SESSION_BAGGAGE_KEYS if entries.get(key)), None)
    conversation = next(((key, str(entries[key])) for key in CONVERSATION_BAGGAGE_KEYS if entries.get(key)), None)
    result = context if context is not None else Context()
    if span_context is not None:
        result = trace.set_span_in_context(trace.NonRecordingSpan(span_context), result)
    for key, value in entries.items():
        if key not in _NOT_PASSED_ON:
            result = baggage.set_baggage(key, value, result)
    if session is not None:  # under the SDK's first key, whichever the caller used
        result = baggage.set_baggage(SESSION_KEY, session, result)
    return Remote(result, span_context, session, tuple(problems), conversation)


def incoming(lookups: Sequence[CarrierLookup], *, batch: bool, base: Context | None = None) -> Incoming:
    """What an invocation continues, on top of ``base``. One event: its carrier's context. A batch:
    each record's span is a link, and when every record carries the same one, it is the context as
    well (with the session and the conversation, each when they agree on one)."""
    found = [(lookup, extract(lookup.carrier, base)) for lookup in lookups if lookup]
    if not found:
        return NOTHING_INCOMING
    problems = tuple(dict.fromkeys(problem for _, remote in found for problem in remote.problems))  # each once
    where = found[0][0].where
    if not batch:
        lookup, remote = found[0]
        return Incoming(remote.context, (), remote.session, lookup.where, problems, remote.conversation)
    spans = [remote.span_context for _, remote in found if remote.span_context is not None]
    links = tuple(Link(span) for span in spans)
    distinct = {(span.trace_id, span.span_id) for span in spans}
    sessions = {remote.session for _, remote in found if remote.session is not None}
    conversations = {remote.conversation for _, remote in found if remote.conversation is not None}
    if len(distinct) == 1 and len(found) == len(lookups):
        remote = found[0][1]
        session = remote.session if len(sessions) == 1 else None
        conversation = remote.conversation if len(conversations) == 1 else None
        return Incoming(remote.context, links, session, where, problems, conversation)
    return Incoming(None, links, None, where, problems)


def inject(
    carrier: MutableMapping[str, str], *, context: Context | None = None, session_id: str | None = None
) -> MutableMapping[str, str]:
    """Write the current (or given) context into ``carrier``: ``traceparent``, ``tracestate`` and
    ``baggage``, whose ``session_id`` is the current session, else ``session_id``."""
    ctx = context if context is not None else otel_context.get_current()
    if session_id and not baggage.get_baggage(SESSION_KEY, ctx):
        ctx = baggage.set_baggage(SESSION_KEY, session_id, ctx)
    for key in _LOCAL_BAGGAGE_KEYS:
        ctx = baggage.remove_baggage(key, ctx)
    propagator().inject(carrier, context=ctx)
    return carrier


def in_process_headers(context: Context) -> tuple[dict[str, str], frozenset[str]]:
    """``context`` as request headers for code in this process that reads a request's context from its
    headers again (a web framework's own telemetry, OpenTelemetry's ASGI middleware), and the names of
    the headers these replace.

    All of its baggage goes, this package's own keys too (the session's state here, which a span started
    from these headers needs as much as any other), in W3C form and in the global propagator's, which
    is what such code reads; the headers of both that ``context`` leaves empty are replaced as well, so
    nothing of the caller's is read beside it.
    """
    from opentelemetry import propagate  # only where an app is served: its import reads OTEL_PROPAGATORS

    carrier: dict[str, str] = {}
    ours = propagator()
    ours.inject(carrier, context=context)
    names = set(ours.fields)
    reader = propagate.get_global_textmap()
    if not names.issuperset(reader.fields):
        reader.inject(carrier, context=context)
        names.update(reader.fields)
    return carrier, frozenset(name.lower() for name in names)


class _CaughtLines(logging.Filter):
    """Holds back the propagators' lines logged on this thread (other threads' pass untouched)."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread:
            return True
        self.lines.append(record.getMessage())
        return False


@contextmanager
def _propagator_lines() -> Iterator[list[str]]:
    caught = _CaughtLines()
    loggers = [logging.getLogger(name) for name in _PROPAGATOR_LOGGERS]
    for logger in loggers:
        logger.addFilter(caught)
    try:
        yield caught.lines
    finally:
        for logger in loggers:
            logger.removeFilter(caught)
