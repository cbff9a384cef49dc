"""The deployed function of the ``evaluate()`` test (tests/integration/test_evaluate.py), run by the real
``awslambdaric``: an experiment's function invokes it with a datapoint's inputs, and it answers with its
work and the session it ran in."""

from __future__ import annotations

from typing import Any

from honeyhive_serverless import get_tracer, trace, with_honeyhive_session


@trace
def double(n: int) -> int:
    return 2 * n


@with_honeyhive_session
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"answer": double(int(event["n"])), "session_id": get_tracer().session_id}
