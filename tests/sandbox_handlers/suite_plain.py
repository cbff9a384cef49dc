"""An undecorated handler for the zero-code tests: no honeyhive_serverless import, only the
OpenTelemetry API, as code instrumented by some other library would have."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import trace


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with trace.get_tracer("suite_plain").start_as_current_span("plain-work") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    return {"echo": event, "pid": os.getpid(), "trace_id": trace_id}
