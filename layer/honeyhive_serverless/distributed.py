"""Distributed tracing under HoneyHive's SDK names, and the serverless carriers a function sends on.

The SDK's three helpers read and run the same here (``tracer_instance`` is optional: the current
tracer by default). The others put the current trace context and session where the next function
finds it, so a downstream function wrapped with ``@with_honeyhive_session`` continues the trace, in
the same session, by itself:

>>> from honeyhive_serverless import sqs_message_attributes
>>> attributes = sqs_message_attributes({"kind": {"DataType": "String", "StringValue": "order"}})
>>> sorted(attributes)[:1]
['kind']

``sqs.send_message(..., MessageAttributes=sqs_message_attributes())``,
``sns.publish(..., MessageAttributes=sns_message_attributes())``,
``events.put_events(Entries=[{..., "Detail": json.dumps(eventbridge_detail(detail))}])``,
``lambda_.invoke(..., ClientContext=lambda_client_context())`` and
``sfn.start_execution(..., input=json.dumps(step_functions_input(payload)))``.

A client that calls a deployed function (an experiment's function under HoneyHive's ``evaluate()``, a
script, another service) uses ``invoke_function(lambda_client, FunctionName=..., Payload=...)`` or
``await ainvoke_function(...)``: the function's spans then join the caller's trace and session, and an
experiment's run, dataset and datapoint travel with them. Neither builds a tracer: they carry the
current context only.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.context import Context

from . import propagation
from ._log import logger
from .carriers import (
    MAX_CLIENT_CONTEXT,
    Carrier,
    as_client_context,
    as_message_attributes,
    decoded_client_context,
    with_carrier,
)
from .scope import note_handed_on
from .tracer import HoneyHiveTracer, built_tracer, current_tracer
from .wire import SESSION_KEY


def inject_context_into_carrier(
    carrier: MutableMapping[str, str], tracer_instance: HoneyHiveTracer | None = None
) -> None:
    """Write the current trace context and session into ``carrier`` (HTTP headers, say), in place."""
    (tracer_instance or current_tracer()).inject_context(carrier)


def extract_context_from_carrier(
    carrier: Mapping[str, Any], tracer_instance: HoneyHiveTracer | None = None
) -> Context | None:
    """The caller's context in ``carrier``, to start spans under (``context=``); None when it has none."""
    return (tracer_instance or current_tracer()).extract_context(carrier)


@contextmanager
def with_distributed_trace_context(
    carrier: Mapping[str, Any], tracer_instance: HoneyHiveTracer | None = None, *, session_id: str | None = None
) -> Iterator[Context]:
    """Run the block in the caller's trace and session: spans started inside are children of the
    caller's span, in the session its baggage names (``session_id=`` wins). The context is back on exit."""
    tracer = tracer_instance or current_tracer()
    context = tracer.extract_context(carrier) or otel_context.get_current()
    if session_id:
        context = baggage.set_baggage(SESSION_KEY, session_id, context)
    token = otel_context.attach(context)
    try:
        yield context
    finally:
        otel_context.detach(token)


def sqs_message_attributes(
    attributes: Mapping[str, Any] | None = None, *, tracer_instance: HoneyHiveTracer | None = None
) -> dict[str, Any]:
    """SQS ``MessageAttributes`` (``attributes`` plus ``traceparent``, ``tracestate``, ``baggage``)."""
    shaped, left_out = as_message_attributes(_current_carrier(tracer_instance), attributes)
    if left_out:
        logger.warning(
            "honeyhive: message already has 10 attributes, the most allowed; not sent with it: %s", ", ".join(left_out)
        )
    return shaped


#: SNS ``Publish`` takes ``MessageAttributes`` in the same shape as SQS, with the same 10-attribute limit.
sns_message_attributes = sqs_message_attributes


def eventbridge_detail(
    detail: Mapping[str, Any] | None = None, *, tracer_instance: HoneyHiveTracer | None = None
) -> dict[str, Any]:
    """An EventBridge event's ``detail`` with the context's keys added (``json.dumps`` it into ``Detail``)."""
    return with_carrier(detail, _current_carrier(tracer_instance))


def step_functions_input(
    payload: Mapping[str, Any] | None = None, *, tracer_instance: HoneyHiveTracer | None = None
) -> dict[str, Any]:
    """A Step Functions execution's input with the context's keys at its top level, where a task
    function wrapped here reads them (pass them on with ``Payload.$: $`` or the keys' paths)."""
    return with_carrier(payload, _current_carrier(tracer_instance))


def lambda_client_context(
    custom: Mapping[str, Any] | None = None, *, tracer_instance: HoneyHiveTracer | None = None
) -> str:
    """``Invoke``'s ``ClientContext`` (base64 JSON) whose ``custom`` holds the context's keys."""
    encoded = as_client_context(_current_carrier(tracer_instance), custom)
    if len(encoded) > MAX_CLIENT_CONTEXT:
        # Lambda would refuse the whole invoke: send the caller's own client context without ours.
        logger.warning(
            "honeyhive: client context over Lambda's %d bytes; sent without trace context", MAX_CLIENT_CONTEXT
        )
        return as_client_context({}, custom)
    return encoded


def invoke_function(client: Any, *, session_id: str | None = None, **invoke_kwargs: Any) -> Any:
    """``client.invoke(**invoke_kwargs)`` (a boto3 Lambda client) with the current trace context, session
    (``session_id=`` when the context names none) and baggage in its ``ClientContext``, merged into the
    caller's own ``ClientContext`` if given. What ``invoke`` returns or raises passes through unchanged."""
    return client.invoke(**_with_client_context(invoke_kwargs, session_id))


async def ainvoke_function(client: Any, *, session_id: str | None = None, **invoke_kwargs: Any) -> Any:
    """:func:`invoke_function` for async callers: an async client's ``invoke`` (aiobotocore) is awaited;
    a boto3 client's blocking call runs in a thread, off the event loop. The context is this task's."""
    kwargs = _with_client_context(invoke_kwargs, session_id)  # read here, in the caller's task
    if inspect.iscoroutinefunction(client.invoke):
        return await client.invoke(**kwargs)
    import asyncio  # only for async callers: it costs a cold start some 30 ms

    return await asyncio.to_thread(client.invoke, **kwargs)


def _with_client_context(invoke_kwargs: dict[str, Any], session_id: str | None) -> dict[str, Any]:
    """``invoke_kwargs`` whose ``ClientContext`` carries the current context; as given if that fails."""
    try:
        given = decoded_client_context(invoke_kwargs.get("ClientContext"))
    except ValueError as error:
        logger.warning("honeyhive: invoked without trace context: %s", error)
        return invoke_kwargs
    try:
        custom = given.get("custom")
        encoded = as_client_context(
            _current_carrier(None, session_id), custom if isinstance(custom, dict) else None, given
        )
    except Exception:  # the invoke goes ahead, untraced
        logger.exception("honeyhive: could not add the trace context to the invoke")
        return invoke_kwargs
    if len(encoded) > MAX_CLIENT_CONTEXT:
        logger.warning(
            "honeyhive: client context over Lambda's %d bytes; invoked without trace context", MAX_CLIENT_CONTEXT
        )
        return invoke_kwargs
    return {**invoke_kwargs, "ClientContext": encoded}


def _current_carrier(tracer_instance: HoneyHiveTracer | None, session_id: str | None = None) -> Carrier:
    """The current context as a carrier. With no tracer given, the current one's session if one is
    built, else the context's alone: nothing here builds a tracer (which could start a session)."""
    carrier: Carrier = {}
    tracer = tracer_instance or built_tracer()
    propagation.inject(carrier, session_id=session_id or (tracer.session_id if tracer is not None else None))
    note_handed_on()
    return carrier
