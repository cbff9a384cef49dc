"""A traced handler for the distributed-tracing tests (tests/integration/test_distributed_tracing.py),
run by the real ``awslambdaric``: it reports the session and trace it ran in, what the runtime handed it
as the invoke's client context, and the X-Ray trace header the runtime set for the invocation."""

from __future__ import annotations

import os
from typing import Any

from honeyhive_serverless import get_tracer, trace, with_honeyhive_session


@trace
def step(n: int) -> int:
    return 2 * n


@with_honeyhive_session
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    tracer = get_tracer()
    step(int(event.get("n", 0)))
    with tracer.otel_tracer.start_as_current_span("inner") as span:
        span_context = span.get_span_context()
    found = context.client_context
    return {
        "session_id": tracer.session_id,
        "trace_id": format(span_context.trace_id, "032x"),
        "custom": None if found is None else found.custom,
        "xray_trace_header": os.environ.get("_X_AMZN_TRACE_ID"),
    }
