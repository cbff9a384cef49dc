"""Copies of ended spans with something changed: ended spans are immutable, and what leaves for
HoneyHive is sometimes not quite what ended (its secrets redacted, its session attributes put back, its
parent the framework run that made the call)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, Status


def with_attributes(
    span: ReadableSpan,
    attributes: Mapping[str, Any],
    events: Sequence[Event] | None = None,
    status: Status | None = None,
    parent: SpanContext | None = None,
) -> ReadableSpan:
    """A copy of an ended span with other attributes (and events, status, parent, when given)."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent if parent is None else parent,
        resource=span.resource,
        attributes=attributes,
        events=span.events if events is None else events,
        links=span.links,
        kind=span.kind,
        status=span.status if status is None else status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
