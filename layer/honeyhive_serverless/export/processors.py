"""Span processors: one stamps HoneyHive's session attributes on start, one decides when spans leave.

They compose on the tracer provider like any OpenTelemetry processors: the attribute processor runs
first, then exactly one export processor chosen by the export mode (see ``pipeline``). Both are called
synchronously on the thread that starts or ends the span, so neither blocks but to export.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from opentelemetry import baggage
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExportResult

from ..config import Config
from ..scope import SessionScope, current_scope
from ..wire import (
    AUTO_CREATE_KEY,
    EXPERIMENT_BAGGAGE_KEYS,
    SDK_SESSION_NAME_KEY,
    SESSION_ID_ATTRIBUTE,
    SESSION_KEY,
    SESSION_NAME_KEY,
)
from .span_copies import with_attributes
from .span_exporter import HoneyHiveSpanExporter, capped, estimated_size


class SessionDefaults(Protocol):
    """What the attribute processor reads of its tracer (the tracer is one of these)."""

    @property
    def config(self) -> Config: ...

    @property
    def startup_session_id(self) -> str | None: ...

    @property
    def startup_session_name(self) -> str | None: ...

    @property
    def startup_auto_create(self) -> bool: ...


#: Most spans open at once whose session attributes are kept for their end (a bound against spans that
#: never end); past it, the oldest are forgotten.
MAX_KEPT = 10_000


class SessionAttributesProcessor(SpanProcessor):
    """Sets the session, project, source and baggage attributes HoneyHive's SDK sets on every span, and
    keeps them: OpenTelemetry's attribute limit evicts a span's oldest attributes first, these among them,
    and a span without its session is orphaned at HoneyHive. Evicted ones go back on at export
    (:meth:`with_session_kept`), as the SDK's ``preserve_core_attributes`` does."""

    def __init__(self, defaults: SessionDefaults) -> None:
        self._defaults = defaults
        self._open: dict[int, dict[str, str | bool]] = {}
        self._evicted: dict[int, dict[str, str | bool]] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attributes = session_attributes(baggage.get_all(parent_context), self._defaults)
        span.set_attributes(attributes)
        if len(self._open) >= MAX_KEPT:
            self._open.pop(next(iter(self._open)), None)
        self._open[span.context.span_id] = attributes
        scope = current_scope()
        if scope is not None and scope.owner is self._defaults:
            scope.track_open(span)

    def on_end(self, span: ReadableSpan) -> None:
        span_id = span.context.span_id if span.context is not None else 0
        attributes = self._open.pop(span_id, None)
        # Only a span the limit dropped attributes of can have lost these (the oldest go first).
        if attributes and span.dropped_attributes and any(key not in (span.attributes or {}) for key in attributes):
            if len(self._evicted) >= MAX_KEPT:
                self._evicted.pop(next(iter(self._evicted)), None)
            self._evicted[span_id] = attributes
        scope = current_scope()
        if scope is not None:
            scope.forget_open(span)

    def with_session_kept(self, span: ReadableSpan) -> ReadableSpan:
        """The span, or a copy with the session attributes the attribute limit evicted put back."""
        if not self._evicted or span.context is None:
            return span
        evicted = self._evicted.pop(span.context.span_id, None)
        return with_attributes(span, {**(span.attributes or {}), **evicted}) if evicted else span


def session_attributes(entries: Mapping[str, object], defaults: SessionDefaults) -> dict[str, str | bool]:
    """HoneyHive's attributes for a span started with baggage ``entries``: the session, and a request to
    create it unless this tracer sent its start (see ``lifecycle``); the project and source; an
    experiment's run, dataset and datapoint (as HoneyHive's SDK records them, in ``honeyhive_metadata``),
    and the rest of the baggage (``baggage.<key>``)."""
    config = defaults.config
    session_id = entries.get(SESSION_KEY)
    if session_id:
        # Only a session whose start this tracer sent says "false"; any other (a caller's, link()'s)
        # may exist nowhere yet. Named as the caller's SDK names it, else as this tracer's sessions.
        auto_create = entries.get(AUTO_CREATE_KEY) != "false"
        name = entries.get(SESSION_NAME_KEY) or entries.get(SDK_SESSION_NAME_KEY) or defaults.startup_session_name
    else:
        session_id = defaults.startup_session_id
        auto_create = defaults.startup_auto_create
        name = defaults.startup_session_name
    attributes: dict[str, str | bool] = {}
    if session_id:
        attributes[SESSION_ID_ATTRIBUTE] = str(session_id)
        attributes["traceloop.association.properties.session_id"] = str(session_id)
        if auto_create:
            attributes[AUTO_CREATE_KEY] = True
            if name:
                attributes[SESSION_NAME_KEY] = str(name)
    if config.project:
        attributes["honeyhive.project"] = config.project
        attributes["traceloop.association.properties.project"] = config.project
    attributes["honeyhive.source"] = config.source
    attributes["traceloop.association.properties.source"] = config.source
    for key, value in entries.items():
        if key in EXPERIMENT_BAGGAGE_KEYS:
            attributes[f"honeyhive_metadata.{key}"] = str(value)
        elif key != SESSION_KEY and not key.startswith("honeyhive."):
            attributes[f"baggage.{key}"] = str(value)
    return attributes


class InvocationSpanProcessor(SpanProcessor):
    """Holds spans that end inside a scope and exports them in one request when the scope closes.

    Outside any scope a span is exported as it ends. At the scope's caps (span count or bytes) its held
    spans are exported early, so a long invocation cannot hold unbounded memory.
    """

    def __init__(self, exporter: HoneyHiveSpanExporter, owner: object, max_span_size: int) -> None:
        self._exporter = exporter
        self._owner = owner
        self._max_span_size = max_span_size

    def on_end(self, span: ReadableSpan) -> None:
        # One estimate per span serves both caps, the span's size and the scope's held bytes: it walks
        # every attribute, a seventh of the whole per-span cost when made twice (measured, 1000 spans).
        size = estimated_size(span)
        if size > self._max_span_size:
            span = capped(span, self._max_span_size, size)
            size = estimated_size(span)
        scope = current_scope()
        if scope is None or scope.owner is not self._owner:
            self._exporter.export([span])
            return
        if scope.hold(span, size):
            self.flush_scope(scope)

    def flush_scope(self, scope: SessionScope) -> bool:
        """Export what ``scope`` holds now, in one request, within its deadline."""
        spans = scope.take_spans()
        auto_created = scope.auto_created()
        if auto_created:
            spans = [_mark_auto_created(span, auto_created) for span in spans]
        return self._exporter.export(spans, scope.deadline) is SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        scope = current_scope()
        if scope is None or scope.owner is not self._owner:
            return True
        return self.flush_scope(scope)

    def shutdown(self) -> None:
        self._exporter.shutdown()


def _mark_auto_created(span: ReadableSpan, auto_created: Mapping[str, str]) -> ReadableSpan:
    """The span, or, when its session's start failed, a copy marked so HoneyHive creates the session
    under its name. Copies are made only on that failure path."""
    attributes = span.attributes or {}
    name = auto_created.get(str(attributes.get(SESSION_ID_ATTRIBUTE)))
    if name is None or attributes.get(AUTO_CREATE_KEY) is True:
        return span
    return with_attributes(span, {**attributes, AUTO_CREATE_KEY: True, SESSION_NAME_KEY: name})
