"""An OpenTelemetry ``SpanExporter`` that sends OTLP protobuf to HoneyHive over the pooled client.

Every span leaves through :meth:`HoneyHiveSpanExporter.export`, whatever the export mode: the one place
where the attributes anything set (this package, an instrumentor, the user's ``enrich_span``) are
redacted before they leave.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status

from .._log import logger
from ..attributes import truncate
from ..redaction import DEFAULT_REDACTION, Redaction
from ..wire import EVENT_TYPE_ATTRIBUTE, SUPERSEDED_KEY
from .client import HoneyHiveClient
from .event_types import event_type_of
from .model_calls import FrameworkParents, one_event_per_call
from .otlp_encoding import encode_spans
from .span_copies import with_attributes


class HoneyHiveSpanExporter(SpanExporter):
    """Encodes spans as one ``ExportTraceServiceRequest`` and POSTs it; bounded, never raises.

    Given ``max_span_size``, a span estimated above it leaves as a copy whose largest string attributes
    are cut to fit (the SDK only stores its ``max_span_size``). The invocation processor caps the spans
    it holds itself, with the size it estimates anyway, so its exporter is given none. A span holding
    a secret (``redaction``) leaves as a copy without it (:func:`redacted`).
    """

    def __init__(
        self,
        client: HoneyHiveClient,
        max_span_size: int | None = None,
        redaction: Redaction = DEFAULT_REDACTION,
        restore: Callable[[ReadableSpan], ReadableSpan] | None = None,
        framework_parents: FrameworkParents | None = None,
    ) -> None:
        self._client = client
        self._max_span_size = max_span_size
        self._redaction = redaction
        #: Puts back what OpenTelemetry's attribute limit evicted of a span's session attributes.
        self._restore = restore
        #: Where spans started inside a LangChain run recorded that run's span (see ``model_calls``).
        self._framework_parents = framework_parents

    def export(self, spans: Sequence[ReadableSpan], deadline: float | None = None) -> SpanExportResult:
        spans = [span for span in spans if not (span.attributes or {}).get(SUPERSEDED_KEY)]
        if not spans:
            return SpanExportResult.SUCCESS
        if self._restore is not None:
            spans = [self._restore(span) for span in spans]
        adopted = self._framework_parents.take(spans) if self._framework_parents is not None else {}
        spans = with_event_types(one_event_per_call(spans, adopted))
        if self._redaction.enabled:
            spans = [redacted(span, self._redaction) for span in spans]
        if self._max_span_size is not None:
            limit = self._max_span_size
            spans = [capped(span, limit, estimated_size(span)) for span in spans]
        try:
            body = encode_spans(spans)
        except Exception:  # one span the encoder cannot take must not lose the others
            encodable = [span for span in spans if _encodes(span)]
            logger.warning("honeyhive: dropped %d span(s) that cannot be encoded", len(spans) - len(encodable))
            if not encodable:
                return SpanExportResult.FAILURE
            spans = encodable
            body = encode_spans(encodable)
        ok = self._client.post_spans(body, deadline)
        logger.debug(
            "honeyhive: %s %d span(s) (%d bytes)", "exported" if ok else "could not export", len(spans), len(body)
        )
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._client.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def with_event_types(spans: Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
    """``spans``, with those an instrumentor made given their HoneyHive event type (as copies)."""
    typed: list[ReadableSpan] | None = None
    for index, span in enumerate(spans):
        attributes = span.attributes or {}
        if EVENT_TYPE_ATTRIBUTE in attributes:
            continue  # every span this package makes says its type
        event_type = event_type_of(attributes)
        if event_type is None:
            continue
        if typed is None:
            typed = list(spans)
        typed[index] = with_attributes(span, {**attributes, EVENT_TYPE_ATTRIBUTE: event_type})
    return spans if typed is None else typed


def redacted(span: ReadableSpan, redaction: Redaction) -> ReadableSpan:
    """``span`` itself when nothing it carries is secret (the common case, and cheap: one lookup per
    attribute name, a few substring searches per text), else a copy with every secret replaced: in its
    attributes, its events' (an exception's message) and its status description."""
    attributes = redaction.attributes(span.attributes or {})
    events = None
    for index, event in enumerate(span.events):
        event_attributes = redaction.attributes(event.attributes or {})
        if event_attributes is not None:
            events = events or list(span.events)
            events[index] = Event(event.name, event_attributes, event.timestamp)
    status = span.status
    description = status.description
    if description:
        clean = redaction.text(description)
        if clean is not description:
            status = Status(status.status_code, clean)
    if attributes is None and events is None and status is span.status:
        return span
    return with_attributes(span, (span.attributes or {}) if attributes is None else attributes, events, status)


def estimated_size(span: ReadableSpan) -> int:
    """A cheap upper-bound guess of a span's encoded size, for the held-bytes and span-size caps."""
    return _estimate(span.name, span.attributes or {}, len(span.events))


def _estimate(name: str, attributes: Mapping[str, Any], events: int) -> int:
    size = 128 + (len(name) if isinstance(name, str) else 16)  # a name that is not text is the encoder's to drop
    for key, value in attributes.items():
        size += len(key) + (len(value) if isinstance(value, str) else 16)
    return size + 64 * events


def capped(span: ReadableSpan, max_size: int, size: int) -> ReadableSpan:
    """``span`` (of :func:`estimated_size` ``size``), or when that is above ``max_size`` a copy whose
    largest string attributes are cut (each marked ``...[truncated N bytes]``) until it fits or no
    string is left to cut."""
    if size <= max_size:
        return span
    attributes = dict(span.attributes or {})
    strings = {key: value for key, value in attributes.items() if isinstance(value, str)}
    for key, value in sorted(strings.items(), key=lambda item: -len(item[1])):
        excess = _estimate(span.name, attributes, len(span.events)) - max_size
        if excess <= 0:
            break
        attributes[key] = truncate(value, max(0, len(value) - excess))
    return with_attributes(span, attributes)


def _encodes(span: ReadableSpan) -> bool:
    try:
        encode_spans([span])
    except Exception:
        return False
    return True
