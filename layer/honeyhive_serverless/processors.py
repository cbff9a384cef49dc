"""Span processors: one stamps HoneyHive's session attributes on start, one decides when spans leave.

They compose on the tracer provider like any OpenTelemetry processors: the attribute processor runs
first, then exactly one export processor chosen by the export mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import baggage
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExportResult

from .exporter import HoneyHiveSpanExporter
from .scope import AUTO_CREATE_KEY, SESSION_KEY, SESSION_NAME_KEY, SessionScope, current_scope

if TYPE_CHECKING:
    from .tracer import HoneyHiveTracer


class SessionAttributesProcessor(SpanProcessor):
    """Sets the session, project, source and baggage attributes HoneyHive's SDK sets on every span."""

    def __init__(self, tracer: HoneyHiveTracer) -> None:
        self._tracer = tracer

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        entries = baggage.get_all(parent_context)
        config = self._tracer.config
        session_id = entries.get(SESSION_KEY) or self._tracer.startup_session_id
        attributes: dict[str, str | bool] = {}
        if session_id:
            attributes["honeyhive.session_id"] = str(session_id)
            attributes["traceloop.association.properties.session_id"] = str(session_id)
        if not session_id or entries.get(AUTO_CREATE_KEY) == "true":
            attributes[AUTO_CREATE_KEY] = True
            name = entries.get(SESSION_NAME_KEY) or self._tracer.startup_session_name
            if name:
                attributes[SESSION_NAME_KEY] = str(name)
        if config.project:
            attributes["honeyhive.project"] = config.project
            attributes["traceloop.association.properties.project"] = config.project
        attributes["honeyhive.source"] = config.source
        attributes["traceloop.association.properties.source"] = config.source
        for key, value in entries.items():
            if key != SESSION_KEY and not key.startswith("honeyhive."):
                attributes[f"baggage.{key}"] = str(value)
        span.set_attributes(attributes)
        scope = current_scope()
        if scope is not None and scope.owner is self._tracer:
            scope.open_spans[id(span)] = span

    def on_end(self, span: ReadableSpan) -> None:
        scope = current_scope()
        if scope is not None:
            scope.open_spans.pop(id(span), None)


def estimated_size(span: ReadableSpan) -> int:
    """A cheap upper-bound guess of a span's encoded size, for the held-bytes cap."""
    size = 128 + len(span.name)
    for key, value in (span.attributes or {}).items():
        size += len(key) + (len(value) if isinstance(value, str) else 16)
    return size + 64 * len(span.events)


class InvocationSpanProcessor(SpanProcessor):
    """Holds spans that end inside a scope and exports them in one request when the scope closes.

    Outside any scope a span is exported as it ends. Past the caps (span count or bytes) a scope's held
    spans are exported early, so a long invocation cannot hold unbounded memory.
    """

    def __init__(self, exporter: HoneyHiveSpanExporter, owner: object, max_spans: int, max_bytes: int) -> None:
        self._exporter = exporter
        self._owner = owner
        self._max_spans = max_spans
        self._max_bytes = max_bytes

    def on_end(self, span: ReadableSpan) -> None:
        scope = current_scope()
        if scope is None or scope.owner is not self._owner:
            self._exporter.export([span])
            return
        with scope.lock:
            scope.spans.append(span)
            scope.held_bytes += estimated_size(span)
            over_cap = len(scope.spans) >= self._max_spans or scope.held_bytes >= self._max_bytes
        if over_cap:
            self.flush_scope(scope)

    def flush_scope(self, scope: SessionScope) -> bool:
        """Export what ``scope`` holds now, in one request, within its deadline."""
        spans = scope.take_spans()
        if scope.auto_created:
            spans = [_mark_auto_created(span) if _session_of(span) in scope.auto_created else span for span in spans]
        return self._exporter.export(spans, scope.deadline) is SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        scope = current_scope()
        if scope is None or scope.owner is not self._owner:
            return True
        return self.flush_scope(scope)

    def shutdown(self) -> None:
        self._exporter.shutdown()


def _session_of(span: ReadableSpan) -> object:
    return (span.attributes or {}).get("honeyhive.session_id")


def _mark_auto_created(span: ReadableSpan) -> ReadableSpan:
    """A copy of an ended span whose session's start failed, marked so HoneyHive creates the session.

    Ended spans are immutable; this copy is made only on that failure path.
    """
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes={**(span.attributes or {}), AUTO_CREATE_KEY: True},
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
