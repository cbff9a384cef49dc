"""Which trigger sent an event, and which HoneyHive session it names: pure functions of the event.

A trigger is told by a few keys of its event, checked in an order that keeps the SQS/SNS records,
HTTP and direct-invoke paths shortest; :data:`TRIGGERS` gives each one's OpenTelemetry
``faas.trigger`` and source. Every event of Powertools' corpus (``tests/events/powertools/``) and of
AWS's own (the SAM CLI's and aws-lambda-go's, ``shared/events/``) has its own trigger.

``direct`` and ``unknown``: Lambda does not say who invoked it, so the shape decides. ``direct`` is a
payload a caller wrote and passed to Lambda's Invoke API (an SDK, the console, a Step Functions task
with its state's input): any JSON value that is not an object, or an object none of whose top-level
keys is one of :data:`SERVICE_KEYS`, the keys of AWS's own documents: the envelope of a service's
event (``Records``/``records``, ``eventSource``, ``requestContext``, ``detail-type``, a schema's
version such as ``messageVersion``, an ``invocationId``) or an answer a service defines for a function
(a proxy response's ``statusCode``, an authorizer's ``policyDocument`` or ``isAuthorized``, a Lex
``dialogAction``...). An object with such a key that no row of the table recognises is ``unknown``:
``faas.trigger`` ``other`` and no source, for nothing says which service sent it. The rule errs toward
``unknown``: a caller's own payload that uses such a key is named ``unknown`` (its ``session_id`` and
trace context are read as a direct payload's), where erring the other way would call a service's
event a direct invoke from ``aws:lambda``.

Where the session is: ``session_id`` at the top (direct invoke, Step Functions, unknown);
``X-Session-ID``, else a JSON body's ``session_id`` (base64 when ``isBase64Encoded``), for API Gateway
REST, HTTP and WebSocket APIs and their request authorizers, function URLs, ALB and VPC Lattice; the
one session all records agree on, each from an SQS or SNS message attribute (else its JSON body or
message; SNS through SQS too), Kinesis JSON data, a Kafka record header, an ActiveMQ property or a
RabbitMQ header; EventBridge's ``detail.session_id``; a CloudEvent's ``sessionid`` extension, else
``data.session_id``; AppSync's ``request.headers`` (per call in a batch); and the conversation-native
Bedrock Agents, Lex V2 and Amazon Connect (``conversations``: a conversation key when the
conversation sets no id).

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
from collections.abc import Iterator, KeysView, Mapping
from typing import Any, NamedTuple

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
#: answer decides that request's response), a WebSocket API's routes (each a message on a connection
#: an HTTP request opened) and Lambda@Edge (it answers, or rewrites, a CloudFront request);
#: ``datasource`` reacts to a change in a store (S3 notifications, DynamoDB and Kinesis streams,
#: DocumentDB change streams, Firehose, Kinesis Data Analytics, CloudWatch Logs, a CodeCommit push);
#: ``pubsub`` to a message (SQS, SNS, Amazon MQ, Kafka, EventBridge, CloudEvents, an IoT device's);
#: ``timer`` to a schedule; ``other`` is the rest: a direct invoke or Step Functions task; AppSync,
#: whose resolvers answer a field and not the request (its authorizer is other with it); the
#: conversations (Bedrock Agents, Lex, Connect, Alexa); and the services that call a function as a
#: step of their own work (Cognito, CloudFormation, CodePipeline, CodeDeploy, Config, Secrets Manager
#: rotation, S3 Batch Operations, S3 Object Lambda, SES receipt rules, CloudWatch alarm actions and
#: dashboard widgets, IoT authorizers and provisioning hooks, SageMaker Ground Truth, WorkMail, Client
#: VPN). The source names the service as Lambda's ``eventSource`` does, else by its IAM prefix:
#: ``aws:mq`` for both Amazon MQ engines (their events say ``aws:amq``, ``aws:rmq``, or ``aws:mq``),
#: ``aws:kafka`` for MSK and self-managed Kafka alike, ``aws:ec2`` for Client VPN (its endpoints are
#: EC2's). ``unknown`` has none: see the module's docstring. ``http`` and ``cloudevent`` are Cloud
#: Functions' triggers too.
TRIGGERS: dict[str, tuple[str, str | None]] = {
    "api-gateway-rest": ("http", "aws:apigateway"),
    "http-api": ("http", "aws:apigateway"),
    "websocket-api": ("http", "aws:apigateway"),
    "api-gateway-authorizer": ("http", "aws:apigateway"),
    "http-api-authorizer": ("http", "aws:apigateway"),
    "websocket-api-authorizer": ("http", "aws:apigateway"),
    "function-url": ("http", "aws:lambda"),
    "alb": ("http", "aws:elasticloadbalancing"),
    "vpc-lattice": ("http", "aws:vpc-lattice"),
    "cloudfront": ("http", "aws:cloudfront"),
    "http": ("http", "gcp:cloudfunctions"),
    "sqs": ("pubsub", "aws:sqs"),
    "sns": ("pubsub", "aws:sns"),
    "mq": ("pubsub", "aws:mq"),
    "kafka": ("pubsub", "aws:kafka"),
    "eventbridge": ("pubsub", "aws:events"),
    "cloudevent": ("pubsub", "cloudevents"),
    "iot": ("pubsub", "aws:iot"),
    "iot-1-click": ("pubsub", "aws:iot1click"),
    "schedule": ("timer", "aws:events"),
    "s3": ("datasource", "aws:s3"),
    "dynamodb": ("datasource", "aws:dynamodb"),
    "kinesis": ("datasource", "aws:kinesis"),
    "docdb": ("datasource", "aws:docdb"),
    "firehose": ("datasource", "aws:firehose"),
    "kinesis-analytics": ("datasource", "aws:kinesisanalytics"),
    "cloudwatch-logs": ("datasource", "aws:logs"),
    "codecommit": ("datasource", "aws:codecommit"),
    "appsync": ("other", "aws:appsync"),
    "appsync-batch": ("other", "aws:appsync"),
    "appsync-authorizer": ("other", "aws:appsync"),
    "bedrock-agent": ("other", "aws:bedrock"),
    "agentcore-gateway": ("other", "aws:bedrock-agentcore"),  # a tool call; told by its client context
    "lex": ("other", "aws:lex"),
    "lex-v1": ("other", "aws:lex"),
    "connect": ("other", "aws:connect"),
    "alexa-skill": ("other", "aws:alexa"),
    "alexa-smart-home": ("other", "aws:alexa"),
    "durable-execution": ("other", "aws:lambda"),
    "cognito": ("other", "aws:cognito-idp"),
    "cognito-sync": ("other", "aws:cognito-sync"),
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
    "iot-authorizer": ("other", "aws:iot"),
    "iot-provisioning-hook": ("other", "aws:iot"),
    "sagemaker-ground-truth": ("other", "aws:sagemaker"),
    "workmail": ("other", "aws:workmail"),
    "client-vpn": ("other", "aws:ec2"),
    "direct": ("other", "aws:lambda"),
    "unknown": ("other", None),
}
#: Trigger name -> OpenTelemetry ``faas.trigger`` value.
FAAS_TRIGGER = {name: kind for name, (kind, _source) in TRIGGERS.items()}
HTTP_TRIGGERS = frozenset(name for name, kind in FAAS_TRIGGER.items() if kind == "http")

# Lambda's eventSource in the first of an event's Records -> trigger (Kafka's, Amazon MQ's and
# DocumentDB's are at the top). Lambda@Edge's records name none: each holds a "cf".
_RECORD_SOURCES = {
    "aws:sqs": "sqs",
    "aws:sns": "sns",
    "aws:kinesis": "kinesis",
    "aws:s3": "s3",
    "aws:dynamodb": "dynamodb",
    "aws:ses": "ses",
    "aws:codecommit": "codecommit",
}
_KAFKA_SOURCES = ("aws:kafka", "SelfManagedKafka", "aws:SelfManagedKafka")
_MQ_SOURCES = ("aws:amq", "aws:rmq", "aws:mq")  # ActiveMQ, RabbitMQ; and both as older events name them
_DOCDB_SOURCE = "aws:docdb"
# Triggers whose session is the one their records agree on.
_RECORD_TRIGGERS = frozenset({"sqs", "sns", "kinesis", "kafka", "mq", "appsync-batch"})
# The operations of AppSync's Lambda data source. A resolver with a request handler (a JavaScript
# function, or a mapping template that adds its "version") sends the function that request whole:
# {"operation": "Invoke", "payload": ...}. A caller's own {"operation": "create", ...} stays direct.
_APPSYNC_OPERATIONS = ("Invoke", "BatchInvoke")
# Shapes told by their keys alone: every key of the row is in each event of that trigger, and the
# first is that row's alone (the event's keys find the few rows to check by it).
_KEYED_SHAPES = (
    ("cloudevent", ("specversion", "type", "source")),
    ("vpc-lattice", ("raw_path", "method", "headers")),  # Lattice's version 1: no requestContext
    ("bedrock-agent", ("actionGroup", "agent", "messageVersion")),
    ("lex", ("sessionState", "bot", "sessionId")),
    ("lex-v1", ("currentIntent", "bot", "invocationSource")),
    ("durable-execution", ("DurableExecutionArn", "CheckpointToken")),
    ("appsync", ("typeName", "fieldName")),  # Amplify's @function resolver
    ("api-gateway-authorizer", ("authorizationToken", "type", "methodArn")),  # a TOKEN one
    ("firehose", ("deliveryStreamArn", "records")),
    ("kinesis-analytics", ("applicationArn", "records")),
    ("cloudwatch-logs", ("awslogs",)),
    ("cognito", ("triggerSource", "userPoolId")),
    ("cognito-sync", ("datasetRecords", "identityPoolId", "datasetName")),
    ("cloudformation", ("ResponseURL", "RequestType")),
    ("codepipeline", ("CodePipeline.job",)),
    ("codedeploy", ("LifecycleEventHookExecutionId", "DeploymentId")),
    ("config-rule", ("configRuleArn", "invokingEvent")),
    ("secrets-manager", ("SecretId", "ClientRequestToken", "Step")),
    ("s3-batch", ("invocationSchemaVersion", "tasks")),
    ("s3-object-lambda", ("xAmzRequestId", "userRequest")),
    ("cloudwatch-alarm", ("alarmData", "alarmArn")),
    ("cloudwatch-dashboard", ("widgetContext",)),
    ("iot", ("clickType", "serialNumber", "batteryVoltage")),  # an IoT button's, through an IoT rule
    ("iot-1-click", ("placementInfo", "deviceEvent", "deviceInfo")),
    ("iot-authorizer", ("protocolData", "protocols", "connectionMetadata")),
    ("iot-provisioning-hook", ("claimCertificateId", "certificateId", "templateArn")),
    ("sagemaker-ground-truth", ("labelingJobArn", "version")),
    ("workmail", ("flowDirection", "summaryVersion", "envelope")),
    ("client-vpn", ("connection-id", "endpoint-id", "schema-version")),
)
# A row's first key -> (its place in the table, its trigger, all its keys).
_SHAPES_BY_KEY = {keys[0]: (place, name, frozenset(keys)) for place, (name, keys) in enumerate(_KEYED_SHAPES)}
#: The keys of AWS's own documents, which a caller's own payload seldom uses (see the module's
#: docstring): a service event's envelope, its schema's version and its invocation's id; the answers
#: services define for a function (an HTTP proxy response, an authorizer's policy or verdict, a Lex
#: dialog, an IoT provisioning hook's, an S3 Batch result); AppSync's identities.
SERVICE_KEYS = frozenset(
    {"Records", "records", "eventSource", "EventSource", "eventSourceArn", "requestContext", "detail-type"}
    | {"messageVersion", "invocationSchemaVersion", "schema-version", "summaryVersion", "invocationId"}
    | {"statusCode", "isBase64Encoded", "multiValueHeaders", "principalId", "policyDocument", "policyDocuments"}
    | {"isAuthorized", "resolverContext", "isAuthenticated", "dialogAction", "sessionState", "allowProvisioning"}
    | {"treatMissingKeysAs", "cognitoIdentityPoolId", "defaultAuthStrategy", "sourceIp"}
)
_ALEXA_KEYS = frozenset({"request", "header", "directive"})  # a skill's request, a smart home directive
# Any of the keys that tell a shape from a direct invoke: most direct invokes have none, and are told
# so in one pass over their keys.
_TELLING_KEYS = frozenset().union(
    *(keys for _name, keys in _KEYED_SHAPES),
    SERVICE_KEYS,
    _ALEXA_KEYS,
    {"info", "operation", "Details"},  # AppSync's, Connect's
)

#: ASCII control characters: never in an id or a key (they would break a log line, or a header).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# uuid.UUID() alone also takes "0x"-prefixed, underscored and oddly hyphenated hex; HoneyHive's ids are
# the canonical form, accepted here in any case, unhyphenated, braced or as a urn.
# Compiled on first use through re's cache: 0.4-0.6 ms at import (measured), which an invocation that
# names no session never needs.
_UUID = r"^ *(?:urn:uuid:)?\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}? *$"
_UUID_FLAGS = re.IGNORECASE | re.ASCII


class SessionLookup(NamedTuple):
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
    """The source of a trigger (``aws:s3``, ``aws:sqs``, ...; see :data:`TRIGGERS`), None if it has none."""
    entry = TRIGGERS.get(name)
    return entry[1] if entry is not None else None


def detect_trigger(event: object) -> str:
    """The trigger that produced a Lambda event, from its shape (``direct`` or ``unknown`` when no
    row matches: see the module's docstring)."""
    if not isinstance(event, Mapping):
        return "appsync-batch" if isinstance(event, list) and _is_appsync_batch(event) else "direct"
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], Mapping):
        first = records[0]
        source = first.get("eventSource") or first.get("EventSource")
        # Only text names a source: str() of anything else could be as deep as the event (RecursionError).
        if isinstance(source, str):
            return _RECORD_SOURCES.get(source, "unknown")
        return "cloudfront" if "cf" in first else "unknown"
    context = event.get("requestContext")
    if isinstance(context, Mapping):
        if "elb" in context:
            return "alb"
        if "serviceNetworkArn" in context:
            return "vpc-lattice"
        if "connectionId" in context:  # a WebSocket API's: $connect, $disconnect, $default, a custom route
            return "websocket-api-authorizer" if "methodArn" in event else "websocket-api"
        if "routeArn" in event:
            return "http-api-authorizer"
        if "methodArn" in event:  # a REST API's REQUEST authorizer, or an HTTP API's in payload format 1.0
            return "api-gateway-authorizer"
        if event.get("version") == "2.0" or isinstance(context.get("http"), Mapping):
            domain = context.get("domainName")
            return "function-url" if isinstance(domain, str) and ".lambda-url." in domain else "http-api"
        if "httpMethod" in event:
            return "api-gateway-rest"
        if "authorizationToken" in event and "apiId" in context:
            return "appsync-authorizer"
    if "detail-type" in event and "detail" in event and "source" in event:
        return "schedule" if event.get("detail-type") == "Scheduled Event" else "eventbridge"
    keys = event.keys()
    if keys.isdisjoint(_TELLING_KEYS):
        return "direct"
    return _shape_trigger(event, keys)


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
    match = re.match(_UUID, value, _UUID_FLAGS)
    if match is None:
        return None, "not a UUID"
    return str(uuid.UUID("".join(match.groups()))), None


def record_list(event: object) -> list[Any]:
    """The records of a batch event, or []: ``Records`` (SQS, SNS, Kinesis, S3, DynamoDB, SES), Kafka's
    per partition, Amazon MQ's messages (RabbitMQ's per queue), DocumentDB's change events, or the
    calls of an AppSync batch."""
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
    if source == _DOCDB_SOURCE:
        changes = event.get("events")  # each {"event": <a change stream event>}
        return changes if isinstance(changes, list) else []
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


def _shape_trigger(event: Mapping[str, Any], keys: KeysView[Any]) -> str:
    """The trigger of an event that is neither records, a request nor EventBridge's, told by its other keys."""
    source = event.get("eventSource")
    if isinstance(source, str):
        if source in _KAFKA_SOURCES:
            if isinstance(event.get("records"), Mapping):
                return "kafka"
        elif source in _MQ_SOURCES:
            return "mq"
        elif source == _DOCDB_SOURCE:
            return "docdb"
    # Each test only where its key is: a function call costs more than a look at the keys.
    if ("info" in keys and _is_appsync(event)) or ("payload" in keys and event.get("operation") in _APPSYNC_OPERATIONS):
        return "appsync"
    if "Details" in keys and _is_connect(event):
        return "connect"
    # The first row (in the table's order) whose keys the event has all of: rarely more than one to check.
    found: tuple[int, str] | None = None
    for key in keys & _SHAPES_BY_KEY.keys():
        place, name, required = _SHAPES_BY_KEY[key]
        if keys >= required and (found is None or place < found[0]):
            found = (place, name)
    if found is not None:
        return found[1]
    # After the rows: a Cognito trigger's "request" is no Alexa request, and is told sooner by its keys.
    if not keys.isdisjoint(_ALEXA_KEYS):
        alexa = _alexa(event)
        if alexa is not None:
            return alexa
    return "direct" if keys.isdisjoint(SERVICE_KEYS) else "unknown"


def _is_appsync(event: Mapping[str, Any]) -> bool:
    """A direct resolver's context: its ``info`` names the field and its parent type (``arguments``
    may be absent)."""
    info = event.get("info")
    return isinstance(info, Mapping) and "fieldName" in info and ("parentTypeName" in info or "arguments" in event)


def _is_connect(event: Mapping[str, Any]) -> bool:
    """An Amazon Connect contact flow's call: ``Details`` with its ``ContactData``, whatever its ``Name``."""
    details = event.get("Details")
    if not isinstance(details, Mapping):
        return False
    return event.get("Name") == "ContactFlowEvent" or isinstance(details.get("ContactData"), Mapping)


def _alexa(event: Mapping[str, Any]) -> str | None:
    """``alexa-skill`` for an Alexa skill's request (its ``requestId`` is an Amazon ``amzn1.`` id),
    ``alexa-smart-home`` for a smart home directive (payload version 2 or 3: an ``Alexa`` namespace)."""
    request = event.get("request")
    if isinstance(request, Mapping):
        request_id = request.get("requestId")
        if isinstance(request_id, str) and request_id.startswith("amzn1."):
            return "alexa-skill"
    directive = event.get("directive")
    header = directive.get("header") if isinstance(directive, Mapping) else event.get("header")
    namespace = header.get("namespace") if isinstance(header, Mapping) else None
    return "alexa-smart-home" if isinstance(namespace, str) and namespace.startswith("Alexa") else None


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
