"""Where each trigger carries W3C trace context, in and out: pure functions of events and payloads.

A carrier is a plain ``{"traceparent": ..., "tracestate": ..., "baggage": ...}`` mapping, the form
OpenTelemetry's propagators read and write. Coming in, it is found in HTTP headers (API Gateway v1,
v2 and WebSocket and their request authorizers, function URLs, ALB single and multi-value, VPC
Lattice), AppSync ``request.headers``, EventBridge ``detail``, a CloudEvent's extension attributes, a
direct, Step Functions or unknown payload's top level, Lambda's ``ClientContext.custom``, and per record in SQS and SNS
message attributes (SNS through SQS too), Kafka record headers, Amazon MQ message properties
(ActiveMQ) and headers (RabbitMQ), and each call's ``request.headers`` in an AppSync batch. Going
out, the same carrier is shaped for each of those.

Nothing here parses Trace Context or Baggage: the propagators do. This module only finds the three
values and refuses ones too long to be what they claim, or no valid text at all, before any parser
sees them.

>>> event_carrier("http-api", {"headers": {"Traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}})
CarrierLookup(carrier={'traceparent': '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'}, where='headers')
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from .payloads import header_text, message_headers, parse_json_object, sns_envelope
from .wire import BAGGAGE, CONTEXT_KEYS, TRACEPARENT, TRACESTATE

Carrier = dict[str, str]

#: Longest value accepted per key, in UTF-8 bytes. A version-00 traceparent is 55; tracestate is at
#: most 32 members (W3C asks vendors to pass on at least 512 characters of it); W3C Baggage caps a
#: baggage string at 8192 bytes. Beyond these a value is ignored with a warning, unparsed.
MAX_LENGTH = {TRACEPARENT: 512, TRACESTATE: 4096, BAGGAGE: 8192}
#: Lambda refuses a ``ClientContext`` larger than this (bytes of the base64 text).
MAX_CLIENT_CONTEXT = 3583
#: SQS and SNS allow this many message attributes on one message.
MAX_MESSAGE_ATTRIBUTES = 10

# Triggers whose event carries HTTP headers at its top level (a token authorizer's carries none).
_HEADER_TRIGGERS = frozenset(
    {"api-gateway-rest", "http-api", "websocket-api", "function-url", "alb", "vpc-lattice"}
    | {"api-gateway-authorizer", "http-api-authorizer", "websocket-api-authorizer"}
)
#: Triggers whose records may each come from a different caller, so each carries its own context.
RECORD_CARRIER_TRIGGERS = frozenset({"sqs", "sns", "kafka", "mq", "appsync-batch"})


class CarrierLookup(NamedTuple):
    """The context keys an event (or record, or client context) carries, and where they were."""

    carrier: Carrier
    where: str | None = None

    def __bool__(self) -> bool:
        return bool(self.carrier)


NO_CARRIER = CarrierLookup({})


def event_carrier(trigger: str, event: object) -> CarrierLookup:
    """The context an event carries for the whole invocation (batches carry theirs per record)."""
    if not isinstance(event, Mapping):
        return NO_CARRIER
    if trigger in _HEADER_TRIGGERS:
        return _found(_header_pairs(event.get("headers"), event.get("multiValueHeaders")), "headers")
    if trigger == "appsync":
        return _appsync_carrier(event)
    if trigger in ("eventbridge", "schedule"):
        detail = event.get("detail")
        return _found(_exact_pairs(detail), "detail") if isinstance(detail, Mapping) else NO_CARRIER
    if trigger == "cloudevent":
        return _found(_exact_pairs(event), "extension attributes")
    if trigger in ("direct", "unknown"):  # a direct invoke's or a Step Functions task's input, or unclaimed
        return _found(_exact_pairs(event), "payload")
    return NO_CARRIER


def record_carrier(trigger: str, record: object) -> CarrierLookup:
    """The context one SQS, SNS, Kafka or Amazon MQ record, or one call of an AppSync batch, carries."""
    if not isinstance(record, Mapping):
        return NO_CARRIER
    if trigger == "sqs":
        attributes = record.get("messageAttributes")
        found = _found(_attribute_pairs(attributes, "stringValue"), "messageAttributes")
        if found:
            return found
        body = record.get("body")
        # SNS delivered through SQS: the body is its envelope. The substring test spares other bodies a parse.
        is_sns = isinstance(body, str) and '"Notification"' in body
        envelope = sns_envelope(parse_json_object(body)) if is_sns else None
        if envelope is not None:
            return _found(_attribute_pairs(envelope.get("MessageAttributes"), "Value"), "body.MessageAttributes")
        return NO_CARRIER
    if trigger == "sns":
        sns = record.get("Sns")
        attributes = sns.get("MessageAttributes") if isinstance(sns, Mapping) else None
        return _found(_attribute_pairs(attributes, "Value"), "Sns.MessageAttributes")
    if trigger in ("kafka", "mq"):
        where, headers = message_headers(record)
        return _found(_message_header_pairs(headers), where)
    if trigger == "appsync-batch":
        return _appsync_carrier(record)
    return NO_CARRIER


def client_context_custom(context: object) -> Mapping[str, Any] | None:
    """A direct invoke's ``ClientContext.custom`` (from awslambdaric's object, or a dict), if a mapping."""
    client_context = getattr(context, "client_context", None)
    custom = getattr(client_context, "custom", None)
    if custom is None and isinstance(client_context, Mapping):
        custom = client_context.get("custom")
    return custom if isinstance(custom, Mapping) else None


def client_context_carrier(context: object) -> CarrierLookup:
    """The context a direct invoke's ``ClientContext.custom`` carries."""
    custom = client_context_custom(context)
    return _found(_exact_pairs(custom), "ClientContext.custom") if custom is not None else NO_CARRIER


def header_carrier(pairs: Iterable[tuple[str, object]], where: str = "headers") -> CarrierLookup:
    """The context in any headers (a Cloud Functions request's, say), names in any case."""
    return _found(_named(pairs, case_insensitive=True), where)


def usable_values(carrier: Mapping[str, str]) -> tuple[Carrier, list[str]]:
    """``carrier`` without the values that cannot be genuine, and a problem for each one left out: too
    long, or not text UTF-8 can carry (a lone surrogate, as a JSON ``\\ud800`` escape gives), which
    the baggage propagator cannot even measure (it raises UnicodeEncodeError)."""
    kept: Carrier = {}
    problems: list[str] = []
    for key, value in carrier.items():
        limit = MAX_LENGTH.get(key)
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            problems.append(f"{key} is not valid Unicode text (a lone surrogate)")
            continue
        if limit is not None and size > limit:
            problems.append(f"{key} too long ({size} bytes, at most {limit})")
        else:
            kept[key] = value
    return kept, problems


# -- going out ---------------------------------------------------------------------------------------


def as_message_attributes(
    carrier: Mapping[str, str], existing: Mapping[str, Any] | None
) -> tuple[dict[str, Any], list[str]]:
    """``existing`` SQS/SNS ``MessageAttributes`` (boto3's shape) plus the carrier's keys, within the
    10-attribute limit: traceparent first, then baggage (the session), then tracestate. Returns the
    attributes and the keys that did not fit."""
    attributes = dict(existing or {})
    left_out: list[str] = []
    for key in (TRACEPARENT, BAGGAGE, TRACESTATE):
        value = carrier.get(key)
        if value is None:
            continue
        if key not in attributes and len(attributes) >= MAX_MESSAGE_ATTRIBUTES:
            left_out.append(key)
            continue
        attributes[key] = {"DataType": "String", "StringValue": value}
    return attributes, left_out


def with_carrier(payload: Mapping[str, Any] | None, carrier: Mapping[str, str]) -> dict[str, Any]:
    """A copy of a JSON payload (EventBridge ``detail``, a Step Functions input) with the carrier's keys."""
    return {**(payload or {}), **carrier}


def decoded_client_context(encoded: object) -> dict[str, Any]:
    """A caller's own ``ClientContext`` (base64 of a JSON object) as that object, to keep beside ours; {}
    when there is none. Raises ``ValueError`` naming the problem when it is no such thing."""
    if not encoded:
        return {}
    if not isinstance(encoded, str | bytes):
        raise ValueError("the ClientContext given is not text")
    try:
        document = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise ValueError("the ClientContext given is not base64 of JSON") from None
    if not isinstance(document, dict):
        raise ValueError("the ClientContext given is not base64 of a JSON object")
    return document


def as_client_context(
    carrier: Mapping[str, str], custom: Mapping[str, Any] | None, base: Mapping[str, Any] | None = None
) -> str:
    """Lambda ``Invoke``'s ``ClientContext``: base64 of ``{"custom": {...custom, ...carrier}}``, beside
    what else a caller's own client context (``base``: its ``client`` and ``env``) holds."""
    document = {**(base or {}), "custom": {**(custom or {}), **carrier}}
    return base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()


# -- internals ---------------------------------------------------------------------------------------


def _found(pairs: Iterator[tuple[str, str]], where: str) -> CarrierLookup:
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        if key not in values:
            values[key] = [value]
        elif key != TRACEPARENT:  # W3C: tracestate and baggage may be split across repeated headers
            # Joined once at the end: appending to the text per header is quadratic in their number
            # (100,000 repeated baggage headers took 0.9 s so, 3.5 s at 200,000).
            values[key].append(value)
    if not values:
        return NO_CARRIER
    return CarrierLookup({key: ",".join(parts) for key, parts in values.items()}, where)


def _named(pairs: Iterable[tuple[object, object]], *, case_insensitive: bool) -> Iterator[tuple[str, str]]:
    for name, value in pairs:
        key = str(name).lower() if case_insensitive else name
        if key in CONTEXT_KEYS and isinstance(value, str) and value:
            yield str(key), value


def _header_pairs(headers: object, multi: object) -> Iterator[tuple[str, str]]:
    """Header values under any case; list values (multi-value headers, Lattice v2) each count."""
    if isinstance(multi, Mapping) and multi:
        source: Mapping[Any, Any] = multi
    elif isinstance(headers, Mapping):
        source = headers
    else:
        return iter(())
    pairs = ((name, item) for name, value in source.items() for item in (value if isinstance(value, list) else [value]))
    return _named(pairs, case_insensitive=True)


def _exact_pairs(document: object) -> Iterator[tuple[str, str]]:
    """The keys as JSON payloads, CloudEvents and client contexts spell them: lower case."""
    return _named(document.items(), case_insensitive=False) if isinstance(document, Mapping) else iter(())


def _attribute_pairs(attributes: object, value_key: str) -> Iterator[tuple[str, str]]:
    if not isinstance(attributes, Mapping):
        return iter(())
    values = (
        (name, attribute.get(value_key)) for name, attribute in attributes.items() if isinstance(attribute, Mapping)
    )
    return _named(values, case_insensitive=False)


def _appsync_carrier(call: Mapping[str, Any]) -> CarrierLookup:
    request = call.get("request")
    headers = request.get("headers") if isinstance(request, Mapping) else None
    return _found(_header_pairs(headers, None), "request.headers")


def _message_header_pairs(headers: Iterator[tuple[object, object]]) -> Iterator[tuple[str, str]]:
    """The context keys among a Kafka record's or an Amazon MQ message's headers (see ``message_headers``)."""
    for name, raw in headers:
        if name in CONTEXT_KEYS:
            value = header_text(raw, MAX_LENGTH[BAGGAGE])
            if value:
                yield str(name), value
