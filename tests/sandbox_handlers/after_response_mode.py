"""A traced handler for the after_response tests: reports the export mode the tracer settled on."""

from __future__ import annotations

from typing import Any

from honeyhive_serverless import get_tracer, trace, with_honeyhive_session


@trace
def step(n: int) -> int:
    return n


@with_honeyhive_session
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    for n in range(3):
        step(n)
    return {"mode": get_tracer().config.export_mode, "request_id": context.aws_request_id}
