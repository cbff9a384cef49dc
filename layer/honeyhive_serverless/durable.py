"""Durable functions: a plugin for ``aws-durable-execution-sdk-python`` that traces only new work.

>>> from aws_durable_execution_sdk_python.execution import durable_execution
>>> from honeyhive_serverless import with_honeyhive_session
>>> from honeyhive_serverless.durable import honeyhive_durable
>>> @with_honeyhive_session  # outside: it sees the envelope, so every replay joins one session
... @durable_execution(plugins=[honeyhive_durable])
... def handler(event, context):
...     return context.step(lambda _: "done", name="work")

Lambda invokes a durable function again from the start after each wait and the SDK replays its
checkpoint log: a step that completed in an earlier invocation returns its stored result and its
function is not called, so it makes no span and the SDK reports it to no plugin hook. What the SDK
tells a plugin, and this one records:

- per invocation (on the invocation span): the execution ARN, whether an earlier invocation checkpointed
  operations (``is_first_invocation``), how many operations were complete before this invocation began
  (their results are replayed from the log, not run), and how the invocation ended (``SUCCEEDED``,
  ``PENDING`` when it suspends on a wait, ``FAILED``, ``RETRY``);
- per run of a user function (``on_user_function_start`` / ``_end``, called only when the function
  really runs: a new step, a retry's attempt, a child context's body): one span, so a replayed step
  gets none and each step appears once across the invocations of an execution. A child context whose
  body runs again only to replay its children (``is_replay_children``) gets a span marked
  ``honeyhive.durable.replayed``;
- per execution (on its session, by the invocation that ends it): how it ended, ``SUCCEEDED`` or
  ``FAILED`` (metadata ``durable_execution_status``, with ``error`` when it failed, which also marks
  that invocation's span), and its ARN (``durable_execution_arn``). An execution that times out or is
  stopped ends without an invocation to tell.

The wrapper, not this plugin, puts every invocation of an execution in one trace (its id derived from
the execution ARN, ``ids.durable_execution_trace_id``): each invocation span is a root of that trace,
in HoneyHive a child of the session, so no span names a parent that was never exported.

Registering any plugin also makes the SDK run the handler in a copy of the caller's context (without
one it runs in a fresh thread context): the invocation span and the session reach the durable
function's own spans only then. Code outside steps runs again on every replay (the SDK's rule, not
ours), so its spans repeat; put LLM calls in steps.

Only a function that already imports the durable SDK imports this module (nothing else in the runtime
does, so the SDK's import, and boto3's, stays out of every other function's cold start).
"""

from __future__ import annotations

import threading
from contextvars import Token
from typing import Any

from aws_durable_execution_sdk_python.lambda_service import ErrorObject
from aws_durable_execution_sdk_python.plugin import (
    DurableInstrumentationPlugin,
    InvocationEndInfo,
    InvocationStartInfo,
    InvocationStatus,
    OperationType,
    UserFunctionEndInfo,
    UserFunctionOutcome,
    UserFunctionStartInfo,
)
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode

from .tracer import HoneyHiveTracer, current_tracer

EXECUTION_ARN = "aws.lambda.durable.execution_arn"
#: An earlier invocation of the execution checkpointed operations: this one starts by replaying them.
REPLAY = "honeyhive.durable.replay"
#: Operations complete before this invocation began: their stored results are replayed, not run again.
REPLAYED_OPERATIONS = "honeyhive.durable.replayed_operations"
#: How the invocation ended for the SDK: SUCCEEDED, PENDING (suspended, to be invoked again), FAILED, RETRY.
STATUS = "honeyhive.durable.status"
#: A user function's span repeats work of an earlier invocation (a child context replaying its children).
REPLAYED = "honeyhive.durable.replayed"
OPERATION_ID = "honeyhive.durable.operation_id"
OPERATION_TYPE = "honeyhive.durable.operation_type"
ATTEMPT = "honeyhive.durable.attempt"
OUTCOME = "honeyhive.durable.outcome"

#: Session metadata, set by the invocation that ends the execution: how it ended (SUCCEEDED or FAILED;
#: with ``error`` when it failed), and which execution the session is.
SESSION_STATUS = "durable_execution_status"
SESSION_EXECUTION_ARN = "durable_execution_arn"

# OperationStatus values after which an operation does not run again (the SDK keeps its own list private).
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED", "STOPPED"})
#: How an invocation ends the execution; PENDING and RETRY invocations are followed by another.
_EXECUTION_ENDS = frozenset({InvocationStatus.SUCCEEDED, InvocationStatus.FAILED})


class HoneyHiveDurablePlugins:
    """The plugin factory the SDK takes (``plugins=[...]``): one plugin per invocation, on the tracer
    given here, else the tracer of the invocation's scope (``with_honeyhive_session``'s)."""

    def __init__(self, tracer: HoneyHiveTracer | None = None) -> None:
        self._tracer = tracer

    def create_plugin(self, info: InvocationStartInfo, /) -> DurableInstrumentationPlugin:
        return _InvocationTracing(self._tracer or current_tracer())


honeyhive_durable = HoneyHiveDurablePlugins()


class _InvocationTracing(DurableInstrumentationPlugin):
    """One invocation's hooks. The SDK contains a hook's failures (logs them), so none fails the handler."""

    def __init__(self, tracer: HoneyHiveTracer) -> None:
        self._tracer = tracer
        # Parallel and map branches run their hooks on their own threads.
        self._lock = threading.Lock()
        self._running: dict[str, tuple[Span, Token[Context]]] = {}

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        # The handler thread, in a copy of the caller's context: the current span is the invocation's.
        replayed = sum(
            1
            for operation in info.operations.values()
            if operation.operation_type is not OperationType.EXECUTION and operation.status.value in _TERMINAL
        )
        attributes: dict[str, Any] = {REPLAY: not info.is_first_invocation, REPLAYED_OPERATIONS: replayed}
        if info.execution_arn:
            attributes[EXECUTION_ARN] = info.execution_arn
        otel_trace.get_current_span().set_attributes(attributes)

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        # In the context of the start hook: the current span and session are the invocation's.
        span = otel_trace.get_current_span()
        span.set_attribute(STATUS, info.status.value)
        if info.status not in _EXECUTION_ENDS:
            return  # suspended (PENDING) or to be retried (RETRY): the execution goes on
        metadata: dict[str, Any] = {SESSION_STATUS: info.status.value}
        if info.execution_arn:
            metadata[SESSION_EXECUTION_ARN] = info.execution_arn
        if info.status is InvocationStatus.FAILED:
            message = _error_text(info.error) if info.error is not None else "the durable execution failed"
            # The function returned (the SDK reports the failure in its output): nothing raised to the wrapper.
            span.set_attribute("honeyhive_error", message)
            span.set_status(Status(StatusCode.ERROR, message))
            metadata["error"] = message
        # The session is the execution's: merged into what the invocation's scope sends as it closes.
        self._tracer.enrich_session(metadata=metadata)

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        name = info.name or info.operation_id
        kind = info.operation_type.value
        attributes: dict[str, Any] = {
            # A step is one piece of work; a child context, map or parallel holds other operations.
            "honeyhive_event_type": "tool" if info.operation_type is OperationType.STEP else "chain",
            "honeyhive_event_name": name,
            OPERATION_ID: info.operation_id,
            OPERATION_TYPE: kind,
            REPLAYED: info.is_replay_children,
        }
        if info.attempt is not None:
            attributes[ATTEMPT] = info.attempt
        span = self._tracer.otel_tracer.start_span(name, attributes=attributes)
        # Current while the function runs (its end hook comes on the same thread), so what it traces nests.
        token = otel_context.attach(otel_trace.set_span_in_context(span))
        with self._lock:
            self._running[info.operation_id] = (span, token)

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        with self._lock:
            running = self._running.pop(info.operation_id, None)
        if running is None:
            return
        span, token = running
        span.set_attribute(OUTCOME, info.outcome.value)
        if info.outcome is UserFunctionOutcome.FAILED and info.error is not None:
            message = _error_text(info.error)
            span.set_attribute("honeyhive_error", message)
            span.set_status(Status(StatusCode.ERROR, message))
        span.end()
        otel_context.detach(token)


def _error_text(error: ErrorObject) -> str:
    return f"{error.type}: {error.message}" if error.type else str(error.message)
