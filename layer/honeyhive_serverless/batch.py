"""Per-record sessions for SQS, SNS, Kinesis and Kafka batches.

>>> from honeyhive_serverless.batch import process_records
>>> process_records({"Records": []}, lambda record: record)
[]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry.trace import Link

from ._log import logger, quote_prefix
from .carriers import record_carrier
from .propagation import extract
from .tracer import HoneyHiveTracer, current_tracer
from .triggers import detect_trigger, find_record_session_id, record_list, validate_session_id

R = TypeVar("R")


def process_records(
    event: Any,
    record_handler: Callable[[Any], R],
    *,
    tracer: HoneyHiveTracer | None = None,
    session_name: str | None = None,
    capture_record: bool = True,
) -> list[R]:
    """Run ``record_handler`` on each record, each in its own session: the one the record names, else
    the one its trace context's baggage names, else a new one. Each record's span links to the span
    that sent the record.

    After each record the invocation's session is current again. Inside ``@with_honeyhive_session``
    every record's spans still leave with the invocation's one export. A record handler's exception
    propagates unchanged, as it would without tracing.
    """
    active = tracer or current_tracer()
    trigger = detect_trigger(event)
    results: list[R] = []
    for index, record in enumerate(record_list(event)):
        with active.session_scope():
            sent_from = extract(record_carrier(trigger, record).carrier, otel_context.get_current())
            lookup = find_record_session_id(trigger, record)
            session_id = None
            for candidate, where in ((lookup.candidate, lookup.where), (sent_from.session, "baggage")):
                if candidate is None:
                    continue
                session_id, problem = validate_session_id(candidate)
                if session_id is not None:
                    break
                logger.warning(
                    "honeyhive: ignoring the session id of %s record %d (%s): %s, value %s; new session",
                    trigger,
                    index,
                    where,
                    problem,
                    quote_prefix(candidate),
                )
            if session_id is not None:
                active.create_session(session_id=session_id, skip_api_call=True)
            else:
                config = active.config
                active.create_session(
                    session_name=session_name or f"{trigger}-record",
                    inputs={"record": config.redaction.captured(record, config.max_payload_bytes)}
                    if capture_record
                    else None,
                )
            sender = sent_from.span_context
            with active.otel_tracer.start_as_current_span(
                f"{trigger}-record",
                attributes={"honeyhive_event_type": "chain", "honeyhive_event_name": f"{trigger}-record"},
                links=[Link(sender)] if sender is not None else None,
            ):
                results.append(record_handler(record))
    return results
