"""A traced handler for Lambda Managed Instances (awslambdaric 4.x under AWS_LAMBDA_MAX_CONCURRENCY).

Every span of an invocation carries the event's ``index`` (``honeyhive_metadata.index``), so the test can
tell whether a span landed in the session of the invocation that made it. The response says which worker
ran it and what the runtime handed over.
"""

from __future__ import annotations

import os
from typing import Any

from honeyhive_serverless import enrich_span, get_tracer, trace, with_honeyhive_session

#: The child spans each invocation makes.
STEPS = 2


@trace
def step(index: int, n: int) -> int:
    enrich_span(metadata={"index": index})
    return n


@with_honeyhive_session
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    index = event["index"]
    remaining_ms = context.get_remaining_time_in_millis()
    enrich_span(metadata={"index": index, "remaining_ms": remaining_ms})
    for n in range(STEPS):
        step(index, n)
    # Through the log socket (a worker's stdout), not the runtime's own pipe.
    print(f"managed-instances handler ran index={index}", flush=True)
    return {
        "index": index,
        "pid": os.getpid(),
        "tenant_id": context.tenant_id,
        "remaining_ms": remaining_ms,
        "export_mode": get_tracer().config.export_mode,
    }
