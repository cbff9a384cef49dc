"""Traced handlers for the end-to-end Lambda suite (tests/test_lambda_suite*.py).

Each one exposes what the tests cannot see from outside the sandbox: how many tracers this process
built, the session that was current when the handler started, the trace its spans belong to. The
event steers the work: ``n`` (the answer is ``2 * n``), ``spans`` (extra child spans), ``raise`` (an
exception with that message), ``sleep_s`` (inside an open child span), ``report`` (add the facts to
the result; without it the result is exactly ``{"answer": 2 * n}``).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from honeyhive_serverless import HoneyHiveTracer, enrich_session, get_tracer, trace, with_honeyhive_session

BUILDS = 0
INVOCATIONS = 0
_original_init = HoneyHiveTracer.__init__


def _counting_init(self: HoneyHiveTracer, *args: Any, **kwargs: Any) -> None:
    global BUILDS
    BUILDS += 1
    _original_init(self, *args, **kwargs)


# Counts every tracer this process builds (the wrapper builds one while the module is imported).
HoneyHiveTracer.__init__ = _counting_init  # type: ignore[method-assign]

log = logging.getLogger("suite")


@trace
def step(n: int) -> int:
    return 2 * n


def _work(event: dict[str, Any]) -> dict[str, Any]:
    global INVOCATIONS
    INVOCATIONS += 1
    tracer = get_tracer()
    session = tracer.session_id
    n = int(event.get("n", 0))
    answer = step(n)
    log.info("handling invocation %d of this sandbox", INVOCATIONS)
    with tracer.otel_tracer.start_as_current_span("inner") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        for index in range(int(event.get("spans", 0))):
            with tracer.otel_tracer.start_as_current_span(f"extra-{index}"):
                pass
        if event.get("sleep_s"):
            time.sleep(float(event["sleep_s"]))
        if event.get("raise"):
            raise RuntimeError(str(event["raise"]))
    enrich_session(metadata={"n": n})
    result: dict[str, Any] = {"answer": answer}
    if event.get("report"):
        # The first invocation's session start fetches the key beside the handler; wait for that
        # fetch (or make it) so the count is not a race against it. It still counts every fetch.
        tracer.api_keys.get()
        result.update(
            pid=os.getpid(),
            tracer_id=id(tracer),
            builds=BUILDS,
            invocations=INVOCATIONS,
            session=session,
            trace_id=trace_id,
            key_fetches=tracer.api_keys.fetch_count,
            export_mode=tracer.config.export_mode,
        )
    return result


@with_honeyhive_session
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The traced handler most of the suite runs."""
    return _work(event)


@with_honeyhive_session
def http_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An HTTP-shaped answer whatever the trigger (the wrapper adds X-Session-ID to HTTP ones only)."""
    return {"statusCode": 200, "body": "ok"}
