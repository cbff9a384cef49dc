"""Which trigger sent an event, and which HoneyHive session it names: pure functions of the event.

A trigger is told by a few keys of its event, checked in an order that keeps the SQS/SNS records and
HTTP paths shortest; :data:`TRIGGERS` gives each one's OpenTelemetry ``faas.trigger`` and source.
Every event of Powertools' corpus has its own trigger (``tests/events/powertools/``).

Where the session is: ``session_id`` at the top (direct invoke, Step Functions); ``X-Session-ID``,
else a JSON body's ``session_id`` (base64 when ``isBase64Encoded``), for API Gateway REST and HTTP
APIs and their request authorizers, function URLs, ALB and VPC Lattice; the one session all records
agree on, each from an SQS or SNS message attribute (else its JSON body or message; SNS through SQS
too), Kinesis JSON data, a Kafka record header, an ActiveMQ property or a RabbitMQ header;
EventBridge's ``detail.session_id``; a CloudEvent's ``sessionid`` extension, else ``data.session_id``;
AppSync's ``request.headers`` (per call in a batch); and the conversation-native Bedrock Agents, Lex
V2 and Amazon Connect (``conversations``: a conversation key when the conversation sets no id).

Why not Powertools' event data classes: importing any of them imports them all (measured 33-42 ms
after OpenTelemetry on this project's machines), paid on the cold start of every HTTP or queue
function; the shapes read here are a handful of keys.

>>> find_session_id({"session_id": "6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e10"}).candidate
'6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e10'
>>> find_session_id({"headers": {"X-Session-ID": "x"}, "httpMethod": "GET", "requestContext": {}}).trigger
'api-gateway-rest'
>>> TRIGGERS["s3"]
('datasource', 'aws:s3')
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .conversations import LOOKUPS as CONVERSATION_LOOKUPS
from .payloads import b64decode_text, header_text, message_headers, parse_json_object, sns_envelope
from .wire import CLOUDEVENT_SESSION_EXTENSION, SESSION_FIELD, SESSION_HEADER

# Header names are compared lower-cased: API Gateway passes them as the client sent them.
_SESSION_HEADER = SESSION_HEADER.lower()
_IN_HEADER = f"header {SESSION_HEADER}"
MAX_ID_LENGTH = 64

#: Every trigger, the one place for the rule: name -> (OpenTelemetry ``faas.trigger``, its source).
#: ``faas.trigger`` as OpenTelemetry's FaaS conventions define it: ``http`` answers an inbound HTTP
#: request, and so do API Gateway's authorizers (API Gateway calls one for one HTTP request, and its
#: answer decides that request's response); ``datasource`` reacts to a change in a store (S3
#: notifications, DynamoDB and Kinesis streams, Firehose, CloudWatch Logs); ``pubsub`` to a message
#: (SQS, SNS, Amazon MQ, Kafka, EventBridge, CloudEvents); ``timer`` to a schedule; ``other`` is the
#: rest: a direct invoke or Step Functions task; AppSync, whose resolvers answer a field and not the
#: request (its authorizer is other with it); the conversations; and the services that call a
#: function as a step of their own work (Cognito, CloudFormation, CodePipeline, CodeDeploy, Config,
#: Secrets Manager rotation, S3 Batch Operations, S3 Object Lambda, SES receipt rules, CloudWatch alarm
#: actions and dashboard widgets). The source names the service as Lambda's ``eventSource`` does:
#: ``aws:mq`` for both Amazon MQ engines (their events say ``aws:amq``, ``aws:rmq``), ``aws:kafka``
#: for MSK and self-managed Kafka alike. ``http`` and ``cloudevent`` are Cloud Functions' triggers too.
TRIGGERS: dict[str, tuple[str, str]] = {
    "api-gateway-rest": ("http", "aws:apigateway"),
    "http-api": ("http", "aws:apigateway"),
    "api-gateway-authorizer": ("http", "aws:apigateway"),
    "http-api-authorizer": ("http", "aws:apigateway"),
    "function-url": ("http", "aws:lambda"),
    "alb": ("http", "aws:elasticloadbalancing"),
    "vpc-lattice": ("http", "aws:vpc-lattice"),
    "http": ("http", "gcp:cloudfunctions"),
    "sqs": ("pubsub", "aws:sqs"),
    "sns": ("pubsub", "aws:sns"),
    "mq": ("pubsub", "aws:mq"),
    "kafka": ("pubsub", "aws:kafka"),
    "eventbridge": ("pubsub", "aws:events"),
    "cloudevent": ("pubsub", "cloudevents"),
    "schedule": ("timer", "aws:events"),
    "s3": ("datasource", "aws:s3"),
    "dynamodb": ("datasource", "aws:dynamodb"),
    "kinesis": ("datasource", "aws:kinesis"),
    "firehose": ("datasource", "aws:firehose"),
    "cloudwatch-logs": ("datasource", "aws:logs"),
    "appsync": ("other", "aws:appsync"),
    "appsync-batch": ("other", "aws:appsync"),
    "appsync-authorizer": ("other", "aws:appsync"),
    "bedrock-agent": ("other", "aws:bedrock"),
    "agentcore-gateway": ("other", "aws:bedrock-agentcore"),  # a tool call; told by its client context
    "lex": ("other", "aws:lex"),
    "connect": ("other", "aws:connect"),
    "durable-execution": ("other", "aws:lambda"),
    "cognito": ("other", "aws:cognito-idp"),
    "cloudformation": ("other", "aws:cloudformation"),
    "codepipeline": ("other", "aws:codepipeline"),
    "codedeploy": ("other", "aws:codedeploy"),
    "config-rule": ("other", "aws:config"),
    "secrets-manager": ("other", "aws:secretsmanager"),
    "s3-batch": ("other", "aws:s3"),
    "s3-object-lambda": ("other", "aws:s3-object-lambda"),
    "ses": ("other", "aws:ses"),
    "cloudwatch-alarm": ("other", "aws:cloudwatch"),
    "cloudwatch-dashboard": ("other", "aws:cloudwatch"),
    "direct": ("other", "aws:lambda"),
}
#: Trigger name -> OpenTelemetry ``faas.trigger`` value.
FAAS_TRIGGER = {name: kind for name, (kind, _source) in TRIGGERS.items()}
HTTP_TRIGGERS = frozenset(name for name, kind in FAAS_TRIGGER.items() if kind == "http")

# Lambda's eventSource in the first of an event's Records -> trigger (Kafka's and Amazon MQ's are at the top).
_RECORD_SOURCES = {
    "aws:sqs": "sqs",
    "aws:sns": "sns",
    "aws:kinesis": "kinesis",
    "aws:s3": "s3",
    "aws:dynamodb": "dynamodb",
    "aws:ses": "ses",
}
_KAFKA_SOURCES = ("aws:kafka", "SelfManagedKafka", "aws:SelfManagedKafka")
_MQ_SOURCES = ("aws:amq", "aws:rmq")  # ActiveMQ, RabbitMQ
# Triggers whose session is the one their records agree on.
_RECORD_TRIGGERS = frozenset({"sqs", "sns", "kinesis", "kafka", "mq", "appsync-batch"})
# Shapes told by their keys alone: every key of the set is in each event of that trigger.
_KEYED_SHAPES = (
    ("cloudevent", frozenset({"specversion", "type", "source"})),
    ("vpc-lattice", frozenset({"raw_path", "method", "headers"})),  # Lattice's version 1: no requestContext
    ("bedrock-agent", frozenset({"agent", "actionGroup", "messageVersion"})),
    ("lex", frozenset({"bot", "sessionId", "sessionState"})),
    ("durable-execution", frozenset({"DurableExecutionArn", "CheckpointToken"})),
    ("appsync", frozenset({"typeName", "fieldName", "arguments"})),  # Amplify's @function resolver
    ("api-gateway-authorizer", frozenset({"type", "authorizationToken", "methodArn"})),  # a TOKEN one
    ("firehose", frozenset({"deliveryStreamArn", "records"})),
    ("cloudwatch-logs", frozenset({"awslogs"})),
    ("cognito", frozenset({"triggerSource", "userPoolId"})),
    ("cloudformation", frozenset({"RequestType", "ResponseURL"})),
    ("codepipeline", frozenset({"CodePipeline.job"})),
    ("codedeploy", frozenset({"DeploymentId", "LifecycleEventHookExecutionId"})),
    ("config-rule", frozenset({"configRuleArn", "invokingEvent"})),
    ("secrets-manager", frozenset({"SecretId", "ClientRequestToken", "Step"})),
    ("s3-batch", frozenset({"invocationSchemaVersion", "tasks"})),
    ("s3-object-lambda", frozenset({"xAmzRequestId", "userRequest"})),
    ("cloudwatch-alarm", frozenset({"alarmArn", "alarmData"})),
    ("cloudwatch-dashboard", frozenset({"widgetContext"})),
)
# Any of their keys: most direct invokes have none, and are told so in one pass over their keys.
_SHAPE_KEYS = frozenset().union(*(required for _name, required in _KEYED_SHAPES))

#: ASCII control characters: never in an id or a key (they would break a log line, or a header).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# uuid.UUID() alone also takes "0x"-prefixed, underscored and oddly hyphenated hex; HoneyHive's ids are
# the canonical form, accepted here in any case, unhyphenated, braced or as a urn.
_UUID = re.compile(
    r"^ *(?:urn:uuid:)?\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}? *$",
    re.IGNORECASE | re.ASCII,
)


@dataclass(frozen=True)
class SessionLookup:
    """What the event says: its trigger, the raw session id it carries (if any), and where it was.

    With ``conversation`` true the candidate is no session id but a conversation key (a Bedrock or
    Lex ``sessionId``, a Connect contact id): non-empty text naming a conversation, not validated
    here, from which the wrapper derives one deterministic session id.
    """

    trigger: str
    candidate: object = None
    where: str | None = None
    conversation: bool = False


def trigger_source(name: str) -> str | None:
    """The source of a trigger (``aws:s3``, ``aws:sqs``, ...; see :data:`TRIGGERS`), None if unknown."""
    entry = TRIGGERS.get(name)
    return entry[1] if entry is not None else None


def detect_trigger(event: object) -> str:
    """The trigger that produced a Lambda event, from its shape (``direct`` when nothing matches)."""
    if not isinstance(event, Mapping):
        return "appsync-batch" if isinstance(event, list) and _is_appsync_batch(event) else "direct"
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], Mapping):
        source = records[0].get("eventSource") or records[0].get("EventSource")
        # Only text names a source: str() of anything else could be as deep as the event (RecursionError).
        return _RECORD_SOURCES.get(source, "direct") if isinstance(source, str) else "direct"
    context = event.get("requestContext")
    if isinstance(context, Mapping):
        if "elb" in context:
            return "alb"
        if "serviceNetworkArn" in context:
            return "vpc-lattice"
        if event.get("version") == "2.0" or isinstance(context.get("http"), Mapping):
            if "routeArn" in event:
                return "http-api-authorizer"
            domain = context.get("domainName")
            return "function-url" if isinstance(domain, str) and ".lambda-url." in domain else "http-api"
        if "httpMethod" in event:
            return "api-gateway-authorizer" if "methodArn" in event else "api-gateway-rest"
        if "authorizationToken" in event and "apiId" in context:
            return "appsync-authorizer"
    source = event.get("eventSource")
    if source is not None:
        if source in _KAFKA_SOURCES and isinstance(event.get("records"), Mapping):
            return "kafka"
        if source in _MQ_SOURCES:
            return "mq"
    if "detail-type" in event and "detail" in event and "source" in event:
        return "schedule" if event.get("detail-type") == "Scheduled Event" else "eventbridge"
    if _is_appsync(event):
        return "appsync"
    if event.get("Name") == "ContactFlowEvent" and isinstance(event.get("Details"), Mapping):
        return "connect"
    keys = event.keys()
    if not keys.isdisjoint(_SHAPE_KEYS):
        for name, required in _KEYED_SHAPES:
            if keys >= required:
                return name
    return "direct"


def find_session_id(event: object) -> SessionLookup:
    """The session id (or conversation key) an event names, unvalidated (see :func:`validate_session_id`)."""
    trigger = detect_trigger(event)
    if trigger in HTTP_TRIGGERS and isinstance(event, Mapping):
        return _from_http(trigger, event)
    if trigger in _RECORD_TRIGGERS:
        return _from_records(trigger, event)  # an AppSync batch is a list
    if not isinstance(event, Mapping):
        return SessionLookup(trigger)
    if trigger in ("eventbridge", "schedule"):
        detail = event.get("detail")
        if isinstance(detail, Mapping) and SESSION_FIELD in detail:
            return SessionLookup(trigger, detail[SESSION_FIELD], "detail.session_id")
        return SessionLookup(trigger)
    if trigger == "cloudevent":
        return _from_cloudevent_dict(event)
    if trigger == "appsync":
        found = _from_appsync_call(trigger, event)
        if found.candidate is not None:
            return found
    conversation = CONVERSATION_LOOKUPS.get(trigger)
    if conversation is not None:
        key = conversation(event)
        return SessionLookup(trigger, *key) if key is not None else SessionLookup(trigger)
    if SESSION_FIELD in event:
        return SessionLookup(trigger, event[SESSION_FIELD], "session_id")
    return SessionLookup(trigger)


def find_record_session_id(trigger: str, record: object) -> SessionLookup:
    """The session id one record names (SQS, SNS, Kinesis, Kafka, Amazon MQ, or one call of an AppSync
    batch), for per-record sessions in a batch."""
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
    if trigger in ("kafka", "mq"):
        where, headers = message_headers(record)
        for name, raw in headers:
            if name == SESSION_FIELD:
                text = header_text(raw)
                return SessionLookup(trigger, raw if text is None else text, f"{where}.{SESSION_FIELD}")
    if trigger == "appsync-batch":
        return _from_appsync_call(trigger, record)
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
    if CONTROL_CHARACTERS.search(value):
        return None, "contains control characters"
    match = _UUID.match(value)
    if match is None:
        return None, "not a UUID"
    return str(uuid.UUID("".join(match.groups()))), None


def record_list(event: object) -> list[Any]:
    """The records of a batch event, or []: ``Records`` (SQS, SNS, Kinesis, S3, DynamoDB, SES), Kafka's
    per partition, Amazon MQ's messages (RabbitMQ's per queue), or the calls of an AppSync batch."""
    if isinstance(event, list):
        return event if _is_appsync_batch(event) else []
    if not isinstance(event, Mapping):
        return []
    records = event.get("Records")
    if isinstance(records, list):
        return records
    source = event.get("eventSource")
    if source in _KAFKA_SOURCES:
        return _flatten(event.get("records"))  # {"topic-partition": [record, ...]}
    if source in _MQ_SOURCES:
        messages = event.get("messages")  # ActiveMQ
        return messages if isinstance(messages, list) else _flatten(event.get("rmqMessagesByQueue"))
    return []


def http_headers(event: Mapping[str, Any]) -> Iterator[tuple[str, object]]:
    """Every (lower-cased name, value) of an API Gateway / ALB / function URL / Lattice event's headers
    (or of an AppSync call's ``request``)."""
    headers = event.get("headers")
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            yield str(name).lower(), value
    multi = event.get("multiValueHeaders")
    if isinstance(multi, Mapping):
        for name, values in multi.items():
            if isinstance(values, list) and values:
                yield str(name).lower(), values[0]


def _is_appsync(event: Mapping[str, Any]) -> bool:
    info = event.get("info")
    return isinstance(info, Mapping) and "fieldName" in info and "arguments" in event


def _is_appsync_batch(event: list[Any]) -> bool:
    """A batch resolver's event: a list of AppSync resolver calls (the first one tells)."""
    return bool(event) and isinstance(event[0], Mapping) and _is_appsync(event[0])


def _flatten(batches: object) -> list[Any]:
    """The records of ``{key: [record, ...]}`` (Kafka's partitions, RabbitMQ's queues), in order."""
    if not isinstance(batches, Mapping):
        return []
    return [record for batch in batches.values() if isinstance(batch, list) for record in batch]


def _header_session(trigger: str, event: Mapping[str, Any]) -> SessionLookup | None:
    for name, value in http_headers(event):
        if name == _SESSION_HEADER:
            # Lattice's version 2 gives every header a list of values.
            first = value[0] if trigger == "vpc-lattice" and isinstance(value, list) and value else value
            return SessionLookup(trigger, first, _IN_HEADER)
    return None


def _from_http(trigger: str, event: Mapping[str, Any]) -> SessionLookup:
    found = _header_session(trigger, event)
    if found is not None:
        return found
    body = event.get("body")
    if not isinstance(body, str) or not body:
        return SessionLookup(trigger)
    text = b64decode_text(body) if event.get("isBase64Encoded") is True else body
    return _in_json(trigger, text, "body.session_id")


def _from_appsync_call(trigger: str, call: Mapping[str, Any]) -> SessionLookup:
    """An AppSync resolver call's session: the GraphQL request's ``X-Session-ID`` header."""
    request = call.get("request")
    found = _header_session(trigger, request) if isinstance(request, Mapping) else None
    return found or SessionLookup(trigger)


def _from_records(trigger: str, event: object) -> SessionLookup:
    """The one session all records agree on; none when they name none or several."""
    found: SessionLookup | None = None
    for record in record_list(event):
        lookup = find_record_session_id(trigger, record)
        if lookup.candidate is None:
            continue
        if found is not None and not _same(found.candidate, lookup.candidate):
            return SessionLookup(trigger)  # records name different sessions: each gets its own
        found = lookup
    return found or SessionLookup(trigger)


def _same(first: object, second: object) -> bool:
    """Whether two records' candidates are one: a candidate may be any JSON, nested deeper than ``==``
    can compare (RecursionError); such candidates are no session id, and are told apart."""
    try:
        return first is second or bool(first == second)
    except RecursionError:
        return False


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
