"""A router in front of a decorated function, for the after_response tests: the runtime calls
``front_router.handler`` (not traced), which calls the traced ``answer`` only when the event asks for it, so
some invocations hand nothing off. ``broken_start.handler`` is the same router whose tracing fails to
start."""

from __future__ import annotations

from typing import Any

from honeyhive_serverless import trace, with_honeyhive_session


@trace
def step(n: int) -> int:
    return n


@with_honeyhive_session
def answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    step(1)
    return {"traced": True}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("traced"):
        return answer(event, context)
    return {"traced": False}
