"""Which trigger sent an event, and which HoneyHive session it names: pure functions of the event.

Shapes covered: direct invoke and Step Functions (``session_id`` at the top), API Gateway REST (v1
``headers`` / ``multiValueHeaders``), HTTP API v2 and function URLs, ALB, a JSON body (base64 when
``isBase64Encoded``), SQS (message attribute, else JSON body), SNS (message attribute, else JSON
message), SNS delivered through SQS, EventBridge (``detail.session_id``), Kinesis (JSON data), CloudEvents
(``sessionid`` extension, else ``data.session_id``) and VPC Lattice (headers, versions 1 and 2). Kafka
and AppSync are recognised (their trace context is read by ``carriers``).

Why not Powertools' event data classes: importing any of them imports them all (measured 33-42 ms
after OpenTelemetry on this project's machines), paid on the cold start of every HTTP or queue
function; the shapes read here are a handful of keys.

>>> find_session_id({"session_id": "6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e10"}).candidate
'6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e10'
>>> find_session_id({"headers": {"X-Session-ID": "x"}, "httpMethod": "GET", "requestContext": {}}).trigger
'api-gateway-rest'
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .payloads import b64decode_text, parse_json_object, sns_envelope
from .wire import CLOUDEVENT_SESSION_EXTENSION, SESSION_FIELD, SESSION_HEADER

# Header names are compared lower-cased: API Gateway passes them as the client sent them.
_SESSION_HEADER = SESSION_HEADER.lower()
MAX_ID_LENGTH = 64

#: HoneyHive trigger name -> OpenTelemetry ``faas.trigger`` value.
FAAS_TRIGGER = {
    "api-gateway-rest": "http",
    "http-api": "http",
    "function-url": "http",
    "alb": "http",
    "vpc-lattice": "http",
    "http": "http",
    "sqs": "pubsub",
    "sns": "pubsub",
    "kafka": "pubsub",
    "eventbridge": "pubsub",
    "kinesis": "datasource",
    "cloudevent": "pubsub",
    "schedule": "timer",
    "appsync": "other",
    "direct": "other",
}
_KAFKA_SOURCES = ("aws:kafka", "SelfManagedKafka")
HTTP_TRIGGERS = frozenset(name for name, kind in FAAS_TRIGGER.items() if kind == "http")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# uuid.UUID() alone also takes "0x"-prefixed, underscored and oddly hyphenated hex; HoneyHive's ids are
# the canonical form, accepted here in any case, unhyphenated, braced or as a urn.
_UUID = re.compile(
    r"^ *(?:urn:uuid:)?\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}? *$",
    re.IGNORECASE | re.ASCII,
)


@dataclass(frozen=True)
class SessionLookup:
    """What the event says: its trigger, the raw session id it carries (if any), and where it was."""

    trigger: str
    candidate: object = None
    where: str | None = None


def detect_trigger(event: object) -> str:
    """The trigger that produced a Lambda event, from its shape (``direct`` when nothing matches)."""
    if not isinstance(event, Mapping):
        return "direct"
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], Mapping):
        source = records[0].get("eventSource") or records[0].get("EventSource")
        return {"aws:sqs": "sqs", "aws:sns": "sns", "aws:kinesis": "kinesis"}.get(str(source), "direct")
    if event.get("eventSource") in _KAFKA_SOURCES and isinstance(event.get("records"), Mapping):
        return "kafka"
    context = event.get("requestContext")
    if isinstance(context, Mapping):
        if "elb" in context:
            return "alb"
        if "serviceNetworkArn" in context:
            return "vpc-lattice"
        if event.get("version") == "2.0" or isinstance(context.get("http"), Mapping):
            domain = context.get("domainName")
            return "function-url" if isinstance(domain, str) and ".lambda-url." in domain else "http-api"
        if "httpMethod" in event:
            return "api-gateway-rest"
    if "detail-type" in event and "detail" in event and "source" in event:
        return "schedule" if event.get("detail-type") == "Scheduled Event" else "eventbridge"
    if "specversion" in event and "type" in event and "source" in event:
        return "cloudevent"
    if "raw_path" in event and "method" in event and isinstance(event.get("headers"), Mapping):
        return "vpc-lattice"  # Lattice's version 1 event: no requestContext
    info = event.get("info")
    if isinstance(info, Mapping) and "fieldName" in info and isinstance(event.get("request"), Mapping):
        return "appsync"
    return "direct"


def find_session_id(event: object) -> SessionLookup:
    """The session id an event names, unvalidated (see :func:`validate_session_id`)."""
    trigger = detect_trigger(event)
    if not isinstance(event, Mapping):
        return SessionLookup(trigger)
    if trigger in HTTP_TRIGGERS:
        return _from_http(trigger, event)
    if trigger in ("sqs", "sns", "kinesis"):
        return _from_records(trigger, event)
    if trigger in ("eventbridge", "schedule"):
        detail = event.get("detail")
        if isinstance(detail, Mapping) and SESSION_FIELD in detail:
            return SessionLookup(trigger, detail[SESSION_FIELD], "detail.session_id")
        return SessionLookup(trigger)
    if trigger == "cloudevent":
        return _from_cloudevent_dict(event)
    if SESSION_FIELD in event:
        return SessionLookup(trigger, event[SESSION_FIELD], "session_id")
    return SessionLookup(trigger)


def find_record_session_id(trigger: str, record: object) -> SessionLookup:
    """The session id one SQS, SNS or Kinesis record names (for per-record sessions in a batch)."""
    if not isinstance(record, Mapping):
        return SessionLookup(trigger)
    if trigger == "sqs":
        return _from_sqs_record(record)
    if trigger == "sns":
        sns = record.get("Sns")
        return _from_sns_message(sns, "Sns") if isinstance(sns, Mapping) else SessionLookup(trigger)
    if trigger == "kinesis":
        kinesis = record.get("kinesis")
        data = kinesis.get("data") if isinstance(kinesis, Mapping) else None
        return _in_json(trigger, b64decode_text(data) if isinstance(data, str) else None, "kinesis.data")
    return SessionLookup(trigger)


def validate_session_id(value: object) -> tuple[str | None, str | None]:
    """``(session_id, None)`` when ``value`` is a HoneyHive session id (a UUID), else ``(None, reason)``.

    >>> validate_session_id("6F1C2A52-3F8E-4A0E-9A55-0C4B7F5D2E10")
    ('6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e10', None)
    >>> validate_session_id("abc")[1]
    'not a UUID'
    """
    if not isinstance(value, str):
        return None, f"not a string ({type(value).__name__})"
    if len(value) > MAX_ID_LENGTH:
        return None, f"too long ({len(value)} characters)"
    if _CONTROL.search(value):
        return None, "contains control characters"
    match = _UUID.match(value)
    if match is None:
        return None, "not a UUID"
    return str(uuid.UUID("".join(match.groups()))), None


def record_list(event: object) -> list[Any]:
    """The records of a batch event (SQS, SNS, Kinesis ``Records``; Kafka's per partition), or []."""
    if not isinstance(event, Mapping):
        return []
    records = event.get("Records")
    if isinstance(records, list):
        return records
    partitions = event.get("records")  # Kafka: {"topic-partition": [record, ...]}
    if isinstance(partitions, Mapping) and event.get("eventSource") in _KAFKA_SOURCES:
        return [record for batch in partitions.values() if isinstance(batch, list) for record in batch]
    return []


def http_headers(event: Mapping[str, Any]) -> Iterator[tuple[str, object]]:
    """Every (lower-cased name, value) of an API Gateway / ALB / function URL / Lattice event's headers."""
    headers = event.get("headers")
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            yield str(name).lower(), value
    multi = event.get("multiValueHeaders")
    if isinstance(multi, Mapping):
        for name, values in multi.items():
            if isinstance(values, list) and values:
                yield str(name).lower(), values[0]


def _from_http(trigger: str, event: Mapping[str, Any]) -> SessionLookup:
    for name, value in http_headers(event):
        if name == _SESSION_HEADER:
            # Lattice's version 2 gives every header a list of values.
            first = value[0] if trigger == "vpc-lattice" and isinstance(value, list) and value else value
            return SessionLookup(trigger, first, f"header {SESSION_HEADER}")
    body = event.get("body")
    if not isinstance(body, str) or not body:
        return SessionLookup(trigger)
    text = b64decode_text(body) if event.get("isBase64Encoded") is True else body
    return _in_json(trigger, text, "body.session_id")


def _from_records(trigger: str, event: Mapping[str, Any]) -> SessionLookup:
    """The one session all records agree on; none when they name none or several."""
    found: SessionLookup | None = None
    for record in record_list(event):
        lookup = find_record_session_id(trigger, record)
        if lookup.candidate is None:
            continue
        if found is not None and found.candidate != lookup.candidate:
            return SessionLookup(trigger)  # records name different sessions: each gets its own
        found = lookup
    return found or SessionLookup(trigger)


def _from_sqs_record(record: Mapping[str, Any]) -> SessionLookup:
    attributes = record.get("messageAttributes")
    if isinstance(attributes, Mapping):
        attribute = attributes.get(SESSION_FIELD)
        if isinstance(attribute, Mapping) and "stringValue" in attribute:
            return SessionLookup("sqs", attribute["stringValue"], "messageAttributes.session_id")
    body = record.get("body")
    document = parse_json_object(body) if isinstance(body, str) else None
    envelope = sns_envelope(document)
    if envelope is not None:
        inner = _from_sns_message(envelope, "body")  # SNS delivered through SQS
        return SessionLookup("sqs", inner.candidate, inner.where)
    if isinstance(document, Mapping) and SESSION_FIELD in document:
        return SessionLookup("sqs", document[SESSION_FIELD], "body.session_id")
    return SessionLookup("sqs")


def _from_sns_message(message: Mapping[str, Any], where: str) -> SessionLookup:
    attributes = message.get("MessageAttributes")
    if isinstance(attributes, Mapping):
        attribute = attributes.get(SESSION_FIELD)
        if isinstance(attribute, Mapping) and "Value" in attribute:
            return SessionLookup("sns", attribute["Value"], f"{where}.MessageAttributes.session_id")
    body = message.get("Message")
    return _in_json("sns", body if isinstance(body, str) else None, f"{where}.Message.session_id")


def _from_cloudevent_dict(event: Mapping[str, Any]) -> SessionLookup:
    if CLOUDEVENT_SESSION_EXTENSION in event:
        return SessionLookup("cloudevent", event[CLOUDEVENT_SESSION_EXTENSION], "extension sessionid")
    data = event.get("data")
    if isinstance(data, Mapping) and SESSION_FIELD in data:
        return SessionLookup("cloudevent", data[SESSION_FIELD], "data.session_id")
    return SessionLookup("cloudevent")


def _in_json(trigger: str, text: str | None, where: str) -> SessionLookup:
    document = parse_json_object(text)
    if isinstance(document, Mapping) and SESSION_FIELD in document:
        return SessionLookup(trigger, document[SESSION_FIELD], where)
    return SessionLookup(trigger)
