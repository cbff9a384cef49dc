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
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.context import Context

from ._log import logger
from .carriers import MAX_CLIENT_CONTEXT, Carrier, as_client_context, as_message_attributes, with_carrier
from .tracer import HoneyHiveTracer, current_tracer
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


def _current_carrier(tracer_instance: HoneyHiveTracer | None) -> Carrier:
    carrier: Carrier = {}
    (tracer_instance or current_tracer()).inject_context(carrier)
    return carrier
