"""The classic Lambda telemetry loss: a background ``BatchSpanProcessor`` that nobody flushes.

Spans wait in its queue for the schedule delay (``UNFLUSHED_DELAY_MS``); the sandbox is frozen as soon
as the response is posted, so the worker thread never gets to send them.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider()
provider.add_span_processor(
    BatchSpanProcessor(
        OTLPSpanExporter(endpoint=os.environ["UNFLUSHED_ENDPOINT"]),
        schedule_delay_millis=int(os.environ.get("UNFLUSHED_DELAY_MS", "500")),
    )
)
tracer = provider.get_tracer("suite_unflushed")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Makes ``spans`` spans and returns without flushing."""
    count = int(event.get("spans", 1))
    # In a session of the invocation's that its spans ask HoneyHive to create (its OTLP contract), so what
    # arrives is placed; what is lost is the point.
    session: dict[str, str | bool] = {
        "honeyhive.session_id": str(uuid.uuid5(uuid.NAMESPACE_URL, context.aws_request_id)),
        "honeyhive.session_auto_create": True,
        "honeyhive.session_name": "unflushed",
    }
    for index in range(count):
        with tracer.start_as_current_span(f"unflushed-{index}", attributes=session):
            pass
    return {"spans": count, "pid": os.getpid()}
