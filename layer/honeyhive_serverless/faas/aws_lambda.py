"""AWS Lambda through the wrapper: the facts of an ``(event, context)`` call, and the ``X-Session-ID``
header on a proxy-shaped response.

Most triggers are told by the event; an AgentCore Gateway's tool call only by its client context (its
event is the tool's arguments), so that is looked at first: one attribute read for any other call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from .. import variables as var
from ..carriers import (
    RECORD_CARRIER_TRIGGERS,
    CarrierLookup,
    client_context_carrier,
    client_context_custom,
    event_carrier,
    record_carrier,
)
from ..ids import durable_execution_trace_id
from ..triggers import find_session_id, record_list
from ..wire import SESSION_HEADER
from .agentcore_gateway import gateway_call
from .facts import InvocationFacts

#: An X-Ray trace id's length: ``1-``, 8 hex digits (its epoch seconds), ``-``, 24 hex digits.
XRAY_TRACE_ID_LENGTH = 35


def describe(event: Any, context: Any, env: Mapping[str, str], start: str) -> InvocationFacts:
    """The facts of one Lambda invocation; ``context`` may be anything (a test's stand-in, None)."""
    tool_call = gateway_call(client_context_custom(context))
    if tool_call is not None:
        lookup = tool_call.lookup
        carriers: tuple[CarrierLookup, ...] = (tool_call.carrier or client_context_carrier(context),)
        batch = False
    else:
        lookup = find_session_id(event)
        carriers, batch = _carriers(lookup.trigger, event, context)
    return InvocationFacts(
        platform="lambda",
        event=event,
        lookup=lookup,
        invocation_id=_text(getattr(context, "aws_request_id", None)),
        function_name=_text(getattr(context, "function_name", None)) or env.get(var.LAMBDA_FUNCTION_NAME),
        function_version=_text(getattr(context, "function_version", None)) or env.get(var.LAMBDA_FUNCTION_VERSION),
        resource_id=_text(getattr(context, "invoked_function_arn", None)),
        region=env.get(var.AWS_REGION),
        memory_mb=_text(getattr(context, "memory_limit_in_mb", None)) or env.get(var.LAMBDA_FUNCTION_MEMORY_SIZE),
        deadline=deadline_of(context),
        start=start,
        # Tenant isolation mode: awslambdaric 4 gives the Runtime API's Lambda-Runtime-Aws-Tenant-Id here.
        tenant_id=_text(getattr(context, "tenant_id", None)),
        extra={"init_type": env.get(var.LAMBDA_INITIALIZATION_TYPE)},
        carriers=carriers,
        batch=batch,
        xray_trace_id=xray_trace_id(env.get(var.XRAY_TRACE_HEADER)),
        root_trace_id=_execution_trace_id(event) if lookup.trigger == "durable-execution" else None,
        operation=tool_call.tool if tool_call is not None else None,
        operation_attributes=tool_call.span_attributes() if tool_call is not None else {},
    )


def xray_trace_id(header: str | None) -> str | None:
    """The trace id (``Root``) of an X-Ray trace header, or None.

    >>> xray_trace_id("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    '1-5759e988-bd862e3fe1be46a994272793'
    """
    for part in header.split(";") if header else ():
        name, _, value = part.strip().partition("=")
        if name == "Root":
            return value if value.startswith("1-") and len(value) == XRAY_TRACE_ID_LENGTH else None
    return None


def _execution_trace_id(event: Mapping[str, Any]) -> int | None:
    """A durable function's envelope: its execution's trace, one across the execution's invocations
    (Lambda invokes it again from the start after each wait), as its session is one."""
    arn = event.get("DurableExecutionArn")
    return durable_execution_trace_id(arn) if isinstance(arn, str) and arn else None


def deadline_of(context: Any) -> float | None:
    """When the invocation ends (``time.monotonic()``), from a Lambda context; None with no time left as
    it starts (a platform that enforces no deadline, Managed Instances, or a stand-in context): the
    export is then bounded by ``HH_FLUSH_TIMEOUT_MS`` alone."""
    remaining = _call(context, "get_remaining_time_in_millis")
    return time.monotonic() + remaining / 1000 if _positive(remaining) else None


def _carriers(trigger: str, event: Any, context: Any) -> tuple[tuple[CarrierLookup, ...], bool]:
    """Each record's context for a batch; else the event's, else the direct invoke's client context."""
    if trigger in RECORD_CARRIER_TRIGGERS:
        return tuple(record_carrier(trigger, record) for record in record_list(event)), True
    return (event_carrier(trigger, event) or client_context_carrier(context),), False


def with_session_header(result: Any, session_id: str) -> Any:
    """A proxy response (API Gateway, function URL, ALB) with ``X-Session-ID`` added; else unchanged."""
    if not isinstance(result, Mapping) or "statusCode" not in result:
        return result  # not a proxy response: the platform builds it, nothing to add a header to
    response = dict(result)
    headers = result.get("headers")
    if isinstance(result.get("multiValueHeaders"), Mapping) and "headers" not in result:
        response["multiValueHeaders"] = {**result["multiValueHeaders"], SESSION_HEADER: [session_id]}
    elif headers is None or isinstance(headers, Mapping):
        response["headers"] = {**(headers or {}), SESSION_HEADER: session_id}
    else:
        return result  # headers of another shape are the handler's to explain to the platform, unchanged
    return response


def _call(target: Any, method: str) -> Any:
    function: Callable[[], Any] | None = getattr(target, method, None)
    if not callable(function):
        return None
    try:
        return function()
    except Exception:
        return None


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
