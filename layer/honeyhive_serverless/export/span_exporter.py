"""An OpenTelemetry ``SpanExporter`` that sends OTLP protobuf to HoneyHive over the pooled client."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .._log import logger
from .client import HoneyHiveClient


class HoneyHiveSpanExporter(SpanExporter):
    """Encodes spans as one ``ExportTraceServiceRequest`` and POSTs it; bounded, never raises."""

    def __init__(self, client: HoneyHiveClient) -> None:
        self._client = client

    def export(self, spans: Sequence[ReadableSpan], deadline: float | None = None) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            body = encode_spans(spans).SerializeToString()
        except Exception:  # one span the encoder cannot take must not lose the others
            encodable = [span for span in spans if _encodes(span)]
            logger.warning("honeyhive: dropped %d span(s) that cannot be encoded", len(spans) - len(encodable))
            if not encodable:
                return SpanExportResult.FAILURE
            body = encode_spans(encodable).SerializeToString()
        ok = self._client.post_spans(body, deadline)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._client.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _encodes(span: ReadableSpan) -> bool:
    try:
        encode_spans([span]).SerializeToString()
    except Exception:
        return False
    return True
