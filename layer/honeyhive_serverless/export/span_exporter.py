"""An OpenTelemetry ``SpanExporter`` that sends OTLP protobuf to HoneyHive over the pooled client."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .._log import logger
from ..attributes import truncate
from ..wire import EVENT_TYPE_ATTRIBUTE, SUPERSEDED_KEY
from .client import HoneyHiveClient
from .event_types import event_type_of


class HoneyHiveSpanExporter(SpanExporter):
    """Encodes spans as one ``ExportTraceServiceRequest`` and POSTs it; bounded, never raises.

    Given ``max_span_size``, a span estimated above it leaves as a copy whose largest string attributes
    are cut to fit (the SDK only stores its ``max_span_size``). The invocation processor caps the spans
    it holds itself, with the size it estimates anyway, so its exporter is given none.
    """

    def __init__(self, client: HoneyHiveClient, max_span_size: int | None = None) -> None:
        self._client = client
        self._max_span_size = max_span_size

    def export(self, spans: Sequence[ReadableSpan], deadline: float | None = None) -> SpanExportResult:
        spans = [span for span in spans if not (span.attributes or {}).get(SUPERSEDED_KEY)]
        if not spans:
            return SpanExportResult.SUCCESS
        spans = with_event_types(spans)
        if self._max_span_size is not None:
            limit = self._max_span_size
            spans = [capped(span, limit, estimated_size(span)) for span in spans]
        try:
            body = encode_spans(spans).SerializeToString()
        except Exception:  # one span the encoder cannot take must not lose the others
            encodable = [span for span in spans if _encodes(span)]
            logger.warning("honeyhive: dropped %d span(s) that cannot be encoded", len(spans) - len(encodable))
            if not encodable:
                return SpanExportResult.FAILURE
            spans = encodable
            body = encode_spans(encodable).SerializeToString()
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


def estimated_size(span: ReadableSpan) -> int:
    """A cheap upper-bound guess of a span's encoded size, for the held-bytes and span-size caps."""
    return _estimate(span.name, span.attributes or {}, len(span.events))


def _estimate(name: str, attributes: Mapping[str, Any], events: int) -> int:
    size = 128 + len(name)
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


def with_attributes(span: ReadableSpan, attributes: Mapping[str, Any]) -> ReadableSpan:
    """A copy of an ended span with other attributes (ended spans are immutable)."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _encodes(span: ReadableSpan) -> bool:
    try:
        encode_spans([span]).SerializeToString()
    except Exception:
        return False
    return True
