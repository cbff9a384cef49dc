"""A tracer built before a fork (Lambda Managed Instances fork their Python workers from one parent)
works in the child: its own threads and connections, and the parent's keep working."""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any

import pytest

from honeyhive_serverless import get_tracer, trace, with_honeyhive_session
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


@trace
def step(n: int) -> int:
    return n


@with_honeyhive_session
def handler(event: Any, context: Any) -> str:
    step(1)
    return "ok"


def _linked() -> dict[str, str]:
    """An event naming its session: one request per invocation, so each connection's use is certain."""
    return {"session_id": str(uuid.uuid4())}


def test_a_child_forked_after_the_tracer_was_used_exports_on_its_own_and_the_parent_still_does(
    lambda_env: DevReceiver,
) -> None:
    assert handler(_linked(), LambdaContext("fn")) == "ok"  # threads started, a connection pooled
    assert lambda_env.wait_for(lambda rx: len(rx.otlp_requests()) == 1)
    assert lambda_env.connection_count == 1
    pid = os.fork()
    if pid == 0:  # the child: one invocation, then out, without pytest's teardown
        code = 1
        try:
            ok = handler(_linked(), LambdaContext("fn")) == "ok"
            code = 0 if ok and get_tracer().client.transport.idle_count >= 1 else 2
        finally:
            sys.stdout.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert lambda_env.wait_for(lambda rx: len(rx.otlp_requests()) == 2)
    assert lambda_env.connection_count == 2  # the child's own
    assert handler(_linked(), LambdaContext("fn")) == "ok"  # the parent, on its own pooled connection still
    assert lambda_env.wait_for(lambda rx: len(rx.otlp_requests()) == 3)
    assert lambda_env.connection_count == 2
    spans = [s for s in lambda_env.spans if s.name == "step"]
    assert len({s.session_id for s in spans}) == 3
