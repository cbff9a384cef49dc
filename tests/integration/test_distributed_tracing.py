"""Distributed tracing (issue 13): ``@with_honeyhive_session`` continues the caller's W3C trace and its
HoneyHive session from every trigger's carrier, and this package's outgoing helpers carry them onward.

The caller is HoneyHive's own SDK (``honeyhive==1.7.0``, the ``sdk_calls`` fixture: a real
``HoneyHiveTracer`` that ran ``create_session()`` and ``inject_context_into_carrier(headers, tracer)``
inside a span, against a dev receiver of its own), or a function wrapped here that used the outgoing
helpers. What is asserted is what the callee's dev receiver got (spans, their trace, parent and links,
session starts) and what the callee's caller got back.

The contract:

* the invocation span (the function's name, kind SERVER) continues the caller's trace: same trace id,
  its parent the caller's span; every span of the invocation is in the caller's session (baggage keys
  ``session_id``, ``honeyhive_session_id``, ``honeyhive.session_id``), and no session start is sent;
* an explicit session (``X-Session-ID``, a body or payload ``session_id``, a ``session_id`` message
  attribute) wins over baggage; baggage without a session: the trace goes on, in a new session;
* a batch links every record's context to the invocation span (and parents it on a context all records
  share); ``process_records`` runs each record in the session its own baggage names;
* a malformed or oversized ``traceparent``/``baggage``: one ``honeyhive:`` warning from the package's
  logger, a new trace and session, and the handler's answer unchanged;
* ``sqs_message_attributes``, ``sns_message_attributes``, ``eventbridge_detail``,
  ``lambda_client_context``, ``step_functions_input`` and the SDK's ``inject_context_into_carrier``,
  ``extract_context_from_carrier``, ``with_distributed_trace_context`` are importable from
  ``honeyhive_serverless``, and what they inject names the current session in baggage.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import flask
import functions_framework
import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from opentelemetry import baggage as otel_baggage
from opentelemetry import trace as otel_trace

from conftest import API_KEY, REPO, TESTS, MakeEmulator
from honeyhive_serverless import (
    HoneyHiveTracer,
    eventbridge_detail,
    extract_context_from_carrier,
    get_tracer,
    inject_context_into_carrier,
    lambda_client_context,
    process_records,
    sns_message_attributes,
    sqs_message_attributes,
    step_functions_input,
    trace,
    with_distributed_trace_context,
    with_honeyhive_session,
)
from honeyhive_serverless_dev.emulator import LambdaEmulator
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver, ReceivedSpan
from installed import Venv
from sdk_harness import SdkCall, SdkCalls, sdk_callee, sdk_init_fields
from trigger_shapes import load_event, new_id

FUNCTION = "fn"
PRODUCER = "producer"
CONSUMER = "consumer"
REGION = "us-east-1"
PACKAGE_LOGGER = "honeyhive_serverless"
#: W3C Baggage's limit on a whole header (OpenTelemetry's propagator drops anything longer).
BAGGAGE_MAX_BYTES = 8192


# ------------------------------------------------------------------------------------------------
# Functions, contexts, environments


@dataclass
class InvokedContext(LambdaContext):
    """A Lambda context with the ``client_context`` awslambdaric gives a direct invoke that carried one."""

    client_context: Any = None


def ctx(name: str = FUNCTION, **fields: Any) -> LambdaContext:
    return LambdaContext(function_name=name, **fields)


@trace
def step(n: int) -> int:
    return 2 * n


def answer(event: Any) -> dict[str, Any]:
    """The callees' usual work and answer: a traced step, then an HTTP response (the wrapper adds
    ``X-Session-ID`` to it for an HTTP trigger)."""
    step(1)
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "ok"}


def session_after_a_step(event: Any) -> str | None:
    """The other callees' work and answer: a traced step, then the session they ran in."""
    step(1)
    return get_tracer().session_id


def run_function(event: Any, context: Any, body: Callable[[Any], Any] = answer) -> Any:
    @with_honeyhive_session
    def handler(event: Any, context: Any) -> Any:
        return body(event)

    return handler(event, context)


@dataclass(frozen=True)
class Sent:
    """What a wrapped function A sent onward: its session, the span current when it sent, the carrier."""

    session_id: str
    trace_id: str
    span_id: str
    carrier: Any


def send_from_a_function(make_carrier: Callable[[], Any]) -> Sent:
    """Function A (wrapped, invoked with an event that names no session, so it starts one of its own)
    builds an outgoing carrier inside its traced ``send`` step."""

    @trace
    def send() -> dict[str, Any]:
        span_context = otel_trace.get_current_span().get_span_context()
        return {
            "carrier": make_carrier(),
            "trace_id": format(span_context.trace_id, "032x"),
            "span_id": format(span_context.span_id, "016x"),
        }

    @with_honeyhive_session
    def producer(event: Any, context: Any) -> dict[str, Any]:
        return {**send(), "session_id": get_tracer().session_id}

    return Sent(**producer({"job": "summarise"}, ctx(PRODUCER)))


# ------------------------------------------------------------------------------------------------
# Reading the receiver


def invocation_span(receiver: DevReceiver, name: str = FUNCTION) -> ReceivedSpan:
    roots = [s for s in receiver.spans if s.span_kind == "SERVER" and s.name == name]
    assert len(roots) == 1, f"{len(roots)} invocation spans named {name!r}: {[s.name for s in receiver.spans]}"
    return roots[0]


def invocation_spans(receiver: DevReceiver, name: str = FUNCTION) -> list[ReceivedSpan]:
    """The invocation span of function ``name`` and every span below it."""
    root = invocation_span(receiver, name)
    found, frontier = [root], {root.span_id}
    while frontier:
        children = [s for s in receiver.spans if s.parent_span_id in frontier]
        found += children
        frontier = {s.span_id for s in children}
    return found


def assert_continues(
    receiver: DevReceiver, *, trace_id: str, parent: str, session_id: str, name: str = FUNCTION
) -> ReceivedSpan:
    """Function ``name``'s spans continue the caller's trace under ``parent``, all in ``session_id``."""
    spans = invocation_spans(receiver, name)
    root = spans[0]
    assert len(spans) >= 2, "the handler's own span is missing"
    assert (root.trace_id, root.parent_span_id) == (trace_id, parent)
    assert {s.trace_id for s in spans} == {trace_id}
    assert {s.session_id for s in spans} == {session_id}
    return root


def started_sessions(receiver: DevReceiver) -> list[str]:
    return [str(start["session_id"]) for start in receiver.session_starts]


def package_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.levelno >= logging.WARNING
        and (record.name == PACKAGE_LOGGER or record.name.startswith(f"{PACKAGE_LOGGER}."))
    ]


def response_session(response: Mapping[str, Any]) -> str | None:
    """The ``X-Session-ID`` the wrapper put on an HTTP response (single- or multi-value headers)."""
    single = response.get("headers") or {}
    multi = response.get("multiValueHeaders") or {}
    if "X-Session-ID" in single:
        return str(single["X-Session-ID"])
    if "X-Session-ID" in multi:
        return str(multi["X-Session-ID"][0])
    return None


# ------------------------------------------------------------------------------------------------
# Trigger events carrying a context, from the shapes of tests/events


def named(carrier: Mapping[str, str], naming: str) -> dict[str, str]:
    """The carrier's header names as a platform delivers them.

    ``as-sent``: as the caller sent them (REST v1 and ALB pass names through; the SDK sends them
    lower-case); ``lower-cased``: as HTTP API v2 and function URLs deliver every name; ``capitalised``:
    as a client that canonicalises names sends them (Go's ``Traceparent``, ``Baggage``)."""
    if naming == "lower-cased":
        return {key.lower(): value for key, value in carrier.items()}
    if naming == "capitalised":
        return {key.capitalize(): value for key, value in carrier.items()}
    assert naming == "as-sent"
    return dict(carrier)


def _without_session_header(headers: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in headers.items() if key.lower() != "x-session-id"}


def http_event(shape: str, headers: Mapping[str, str], session_header: str | None = None) -> dict[str, Any]:
    """The fixture ``shape`` without its session header, carrying ``headers`` in every header map it has
    (and ``X-Session-ID: session_header`` when given)."""
    event = load_event(shape, session_id=new_id())
    extra = dict(headers)
    if session_header is not None:
        extra["x-session-id"] = session_header
    if isinstance(event.get("headers"), dict):
        event["headers"] = {**_without_session_header(event["headers"]), **extra}
    if isinstance(event.get("multiValueHeaders"), dict):
        multi = {key: [value] for key, value in extra.items()}
        event["multiValueHeaders"] = {**_without_session_header(event["multiValueHeaders"]), **multi}
    return event


def lattice_v2_event(headers: Mapping[str, str]) -> dict[str, Any]:
    """A VPC Lattice (event structure version 2) request: every header value is a list."""
    return {
        "version": "2.0",
        "path": "/chat",
        "method": "POST",
        "headers": {
            "content-type": ["application/json"],
            "user-agent": ["curl/8.4.0"],
            **{key: [value] for key, value in headers.items()},
        },
        "queryStringParameters": {"stream": ["false"]},
        "body": '{"message": "hello"}',
        "isBase64Encoded": False,
        "requestContext": {
            "serviceNetworkArn": f"arn:aws:vpc-lattice:{REGION}:123456789012:servicenetwork/sn-0bf3f2882e9cc805a",
            "serviceArn": f"arn:aws:vpc-lattice:{REGION}:123456789012:service/svc-0a40eebed65f8d69c",
            "targetGroupArn": f"arn:aws:vpc-lattice:{REGION}:123456789012:targetgroup/tg-6d0ecf831eec9f09",
            "identity": {
                "sourceVpcArn": f"arn:aws:ec2:{REGION}:123456789012:vpc/vpc-0b8276c84697e7339",
                "type": "AWS_IAM",
                "principal": "arn:aws:sts::123456789012:assumed-role/caller/057d00f8b51257ba3c853a0f248943cf",
                "sessionName": "057d00f8b51257ba3c853a0f248943cf",
            },
            "region": REGION,
            "timeEpoch": "1712666096000000",
        },
    }


def lattice_v1_event(headers: Mapping[str, str]) -> dict[str, Any]:
    """A VPC Lattice (event structure version 1) request: snake_case keys, single-value headers."""
    return {
        "raw_path": "/chat?stream=false",
        "method": "POST",
        "headers": {"content-type": "application/json", "user-agent": "curl/8.4.0", **headers},
        "query_string_parameters": {"stream": "false"},
        "body": '{"message": "hello"}',
        "is_base64_encoded": False,
    }


def appsync_event(headers: Mapping[str, str]) -> dict[str, Any]:
    """An AppSync direct Lambda resolver's event: the GraphQL request's headers under ``request``."""
    return {
        "arguments": {"question": "hello"},
        "identity": None,
        "source": None,
        "request": {
            "headers": {
                "content-type": "application/json",
                "host": "abc.appsync-api.us-east-1.amazonaws.com",
                **headers,
            },
            "domainName": None,
        },
        "prev": None,
        "info": {
            "selectionSetList": ["answer"],
            "selectionSetGraphQL": "{\n  answer\n}",
            "parentTypeName": "Query",
            "fieldName": "ask",
            "variables": {},
        },
        "stash": {},
    }


def sqs_record(body: Any, attributes: Mapping[str, str]) -> dict[str, Any]:
    """One SQS record as Lambda's event source mapping delivers it, with String message attributes."""
    record: dict[str, Any] = copy.deepcopy(load_event("sqs_no_session")["Records"][0])
    record["messageId"] = new_id()
    record["body"] = body if isinstance(body, str) else json.dumps(body)
    record["messageAttributes"] = {
        name: {"stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": "String"}
        for name, value in attributes.items()
    }
    return record


def lambda_sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """A message ``sqs.receive_message`` returned, as Lambda's SQS event source mapping delivers it."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: {
                "stringValue": attribute.get("StringValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": attribute["DataType"],
            }
            for name, attribute in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def sns_event(message: str, attributes: Mapping[str, str]) -> dict[str, Any]:
    event = load_event("sns_attribute", session_id=new_id())
    event["Records"][0]["Sns"]["Message"] = message
    event["Records"][0]["Sns"]["MessageAttributes"] = {
        name: {"Type": "String", "Value": value} for name, value in attributes.items()
    }
    return event


def sns_via_sqs_event(attributes: Mapping[str, str]) -> dict[str, Any]:
    event = load_event("sns_via_sqs", session_id=new_id())
    envelope = json.loads(event["Records"][0]["body"])
    envelope["MessageAttributes"] = {name: {"Type": "String", "Value": value} for name, value in attributes.items()}
    event["Records"][0]["body"] = json.dumps(envelope, indent=2)
    return event


def kafka_event(headers: Mapping[str, str]) -> dict[str, Any]:
    """An Amazon MSK event with one record; Lambda gives each header's value as a list of its bytes."""
    value = base64.b64encode(json.dumps({"job": "summarise"}).encode()).decode()
    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": f"arn:aws:kafka:{REGION}:123456789012:cluster/llm/6e2c3f1a-0b4d-4e6f-8a7b-1c2d3e4f5a6b-2",
        "bootstrapServers": "b-1.llm.kafka.us-east-1.amazonaws.com:9092",
        "records": {
            "jobs-0": [
                {
                    "topic": "jobs",
                    "partition": 0,
                    "offset": 15,
                    "timestamp": 1712666096000,
                    "timestampType": "CREATE_TIME",
                    "key": base64.b64encode(b"user-42").decode(),
                    "value": value,
                    "headers": [{name: list(text.encode())} for name, text in headers.items()],
                }
            ]
        },
    }


def eventbridge_event(detail: Mapping[str, Any]) -> dict[str, Any]:
    event = load_event("eventbridge", session_id=new_id())
    event["detail"] = dict(detail)
    return event


def cloudevent_dict(extensions: Mapping[str, str]) -> dict[str, Any]:
    event = load_event("cloudevent", session_id=new_id())
    del event["sessionid"]
    return {**event, **extensions}


# ------------------------------------------------------------------------------------------------
# a. HTTP triggers: the SDK's headers continue its trace and session


HTTP_SHAPES = [
    ("apigw_rest_v1", "as-sent"),
    ("apigw_rest_v1", "capitalised"),
    ("apigw_rest_v1_multivalue_only", "as-sent"),
    ("http_api_v2", "lower-cased"),
    ("function_url", "lower-cased"),
    ("alb", "as-sent"),
    ("alb", "capitalised"),
    ("alb_multivalue", "as-sent"),
    ("alb_multivalue", "capitalised"),
]


@pytest.mark.parametrize(("shape", "naming"), HTTP_SHAPES, ids=[f"{s}-{n}" for s, n in HTTP_SHAPES])
def test_http_triggers_continue_the_sdk_callers_trace_and_session(
    lambda_env: DevReceiver, sdk_calls: SdkCalls, shape: str, naming: str
) -> None:
    call = sdk_calls.calls[0]
    seen: list[str | None] = []

    def body(event: Any) -> dict[str, Any]:
        seen.append(get_tracer().session_id)
        return answer(event)

    response = run_function(http_event(shape, named(call.headers, naming)), ctx(), body)

    assert seen == [call.session_id]
    assert response_session(response) == call.session_id
    assert response["body"] == "ok"
    assert_continues(lambda_env, trace_id=call.trace_id, parent=call.span_id, session_id=call.session_id)
    assert started_sessions(lambda_env) == []  # linked to the caller's session: nothing started
    # The SDK's honeyhive_tracer_id is a process-local id of the caller's tracer: it means nothing here.
    for span in lambda_env.spans:
        assert not [key for key in span.attributes if "honeyhive_tracer_id" in key], span.attributes


PEER_HTTP_EVENTS: dict[str, Callable[[Mapping[str, str]], dict[str, Any]]] = {
    "vpc-lattice-v2": lattice_v2_event,
    "vpc-lattice-v1": lattice_v1_event,
    "appsync": appsync_event,
}


@pytest.mark.parametrize("trigger", sorted(PEER_HTTP_EVENTS))
def test_vpc_lattice_and_appsync_headers_continue_the_sdk_callers_trace(
    lambda_env: DevReceiver, sdk_calls: SdkCalls, trigger: str
) -> None:
    call = sdk_calls.calls[0]
    run_function(PEER_HTTP_EVENTS[trigger](call.headers), ctx())
    assert_continues(lambda_env, trace_id=call.trace_id, parent=call.span_id, session_id=call.session_id)
    assert started_sessions(lambda_env) == []


@pytest.fixture
def gcf_env(hh_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[DevReceiver]:
    """``hh_env`` on Cloud Functions; undoes what ``create_app`` does to ``sys.path`` and ``sys.modules``."""
    monkeypatch.setenv("K_SERVICE", "hh-distributed")
    monkeypatch.setattr(sys, "path", list(sys.path))
    saved = sys.modules.get("gcf_functions")
    yield hh_env
    if saved is not None:
        sys.modules["gcf_functions"] = saved
    else:
        sys.modules.pop("gcf_functions", None)


def gcf_app(monkeypatch: pytest.MonkeyPatch, target: str, signature_type: str) -> flask.Flask:
    monkeypatch.setenv("FUNCTION_TARGET", target)  # create_app sets it; set first so monkeypatch undoes it
    create_app: Callable[..., Any] = functions_framework.create_app
    app = create_app(target, str(TESTS / "gcf_functions.py"), signature_type)
    assert isinstance(app, flask.Flask)
    return app


def test_cloud_functions_http_headers_continue_the_sdk_callers_trace(
    gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch, sdk_calls: SdkCalls
) -> None:
    call = sdk_calls.calls[0]
    client = gcf_app(monkeypatch, "chat_http", "http").test_client()

    response = client.post("/", json={"n": 1, "question": "why spans"}, headers=call.headers)

    assert response.status_code == 200
    assert response.get_json()["seen_session_id"] == call.session_id
    assert response.headers["X-Session-ID"] == call.session_id
    assert_continues(gcf_env, trace_id=call.trace_id, parent=call.span_id, session_id=call.session_id, name="chat_http")
    assert started_sessions(gcf_env) == []


@pytest.mark.parametrize("key", ["session_id", "honeyhive_session_id", "honeyhive.session_id"])
def test_every_baggage_key_the_sdk_reads_names_the_session(
    lambda_env: DevReceiver, sdk_calls: SdkCalls, key: str
) -> None:
    call = sdk_calls.calls[0]
    headers = {"traceparent": call.traceparent, "baggage": f"honeyhive_tracer_id=1,{key}={call.session_id}"}
    run_function(http_event("http_api_v2", headers), ctx())
    assert_continues(lambda_env, trace_id=call.trace_id, parent=call.span_id, session_id=call.session_id)
    assert started_sessions(lambda_env) == []


# ------------------------------------------------------------------------------------------------
# Message and invoke carriers, with the SDK's context in each


def _sqs(call: SdkCall) -> tuple[dict[str, Any], Any]:
    return {"Records": [sqs_record({"job": "summarise"}, call.headers)]}, ctx()


def _sns(call: SdkCall) -> tuple[dict[str, Any], Any]:
    return sns_event("summarise", call.headers), ctx()


def _sns_via_sqs(call: SdkCall) -> tuple[dict[str, Any], Any]:
    return sns_via_sqs_event(call.headers), ctx()


def _kafka(call: SdkCall) -> tuple[dict[str, Any], Any]:
    return kafka_event(call.headers), ctx()


def _eventbridge(call: SdkCall) -> tuple[dict[str, Any], Any]:
    return eventbridge_event({"turn": 5, **call.headers}), ctx()


def _step_functions(call: SdkCall) -> tuple[dict[str, Any], Any]:
    event = load_event("step_functions", session_id=new_id())
    del event["session_id"]
    return {**event, **call.headers}, ctx()


def _direct_client_context(call: SdkCall) -> tuple[dict[str, Any], Any]:
    client_context = SimpleNamespace(custom=dict(call.headers), env=None, client=None)
    return {"prompt": "hello"}, InvokedContext(function_name=FUNCTION, client_context=client_context)


CARRIERS: dict[str, Callable[[SdkCall], tuple[dict[str, Any], Any]]] = {
    "sqs-message-attributes": _sqs,
    "sns-message-attributes": _sns,
    "sns-via-sqs-body": _sns_via_sqs,
    "kafka-record-headers": _kafka,
    "eventbridge-detail": _eventbridge,
    "step-functions-input": _step_functions,
    "direct-invoke-client-context": _direct_client_context,
}


@pytest.mark.parametrize("carrier", sorted(CARRIERS))
def test_message_and_invoke_carriers_continue_the_sdk_callers_trace_and_session(
    lambda_env: DevReceiver, sdk_calls: SdkCalls, carrier: str
) -> None:
    call = sdk_calls.calls[0]
    event, context = CARRIERS[carrier](call)
    seen: list[str | None] = []

    def body(event: Any) -> str:
        seen.append(get_tracer().session_id)
        step(1)
        return "done"

    assert run_function(event, context, body) == "done"
    assert seen == [call.session_id]
    root = assert_continues(lambda_env, trace_id=call.trace_id, parent=call.span_id, session_id=call.session_id)
    assert started_sessions(lambda_env) == []
    if carrier in ("sqs-message-attributes", "sns-message-attributes", "sns-via-sqs-body", "kafka-record-headers"):
        assert (call.trace_id, call.span_id) in root.links  # a batch of one: its record's context is linked


# ------------------------------------------------------------------------------------------------
# b, g. Outgoing helpers from a function A to a function B, through moto where AWS carries them


def test_sqs_message_attributes_through_moto_link_b_into_as_session_and_trace(
    lambda_env: DevReceiver, aws: None
) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName=f"jobs-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    tenant = {"tenant": {"DataType": "String", "StringValue": "acme"}}
    attributes: list[dict[str, Any]] = []

    def send() -> str:
        attributes.append(sqs_message_attributes(dict(tenant)))
        sent = sqs.send_message(QueueUrl=queue_url, MessageBody='{"job": 1}', MessageAttributes=attributes[0])
        return str(sent["MessageId"])

    sent = send_from_a_function(send)

    # boto3's MessageAttributes shape, merged onto the attributes A gave.
    [given] = attributes
    assert given["tenant"] == tenant["tenant"]
    assert given["traceparent"]["DataType"] == "String"
    assert given["traceparent"]["StringValue"].split("-")[1:3] == [sent.trace_id, sent.span_id]
    assert f"session_id={sent.session_id}" in given["baggage"]["StringValue"]
    assert started_sessions(lambda_env) == [sent.session_id]  # A named no session: it started one

    messages = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"], AttributeNames=["All"])
    [message] = messages["Messages"]
    event = {"Records": [lambda_sqs_record(message, queue_arn)]}
    assert run_function(event, ctx(CONSUMER), session_after_a_step) == sent.session_id

    root = assert_continues(
        lambda_env, trace_id=sent.trace_id, parent=sent.span_id, session_id=sent.session_id, name=CONSUMER
    )
    assert (sent.trace_id, sent.span_id) in root.links
    [send_span] = [s for s in lambda_env.spans if s.name == "send"]
    assert send_span.span_id == sent.span_id  # B's parent is the span A sent from
    assert started_sessions(lambda_env) == [sent.session_id]  # B linked: no session of its own


def test_sns_message_attributes_through_moto_sns_to_sqs_link_b(lambda_env: DevReceiver, aws: None) -> None:
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name=f"events-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # Raw message delivery off (the default): the SQS body is SNS's JSON envelope, attributes inside it.
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    def publish() -> Any:
        attributes = sns_message_attributes()
        assert attributes["traceparent"]["DataType"] == "String"
        return sns.publish(TopicArn=topic_arn, Message='{"event": "regenerate"}', MessageAttributes=attributes)

    sent = send_from_a_function(publish)

    [message] = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["Type"] == "Notification"
    assert set(envelope["MessageAttributes"]) >= {"traceparent", "baggage"}
    event = {"Records": [lambda_sqs_record(message, queue_arn)]}
    run_function(event, ctx(CONSUMER), session_after_a_step)

    assert_continues(lambda_env, trace_id=sent.trace_id, parent=sent.span_id, session_id=sent.session_id, name=CONSUMER)
    assert started_sessions(lambda_env) == [sent.session_id]


def test_sns_message_attributes_delivered_to_lambda_link_b(lambda_env: DevReceiver) -> None:
    sent = send_from_a_function(sns_message_attributes)
    # What SNS hands a subscribed function: {"Type": "String", "Value": ...} for each attribute published.
    attributes = {name: attribute["StringValue"] for name, attribute in sent.carrier.items()}
    run_function(sns_event("regenerate", attributes), ctx(CONSUMER), session_after_a_step)
    assert_continues(lambda_env, trace_id=sent.trace_id, parent=sent.span_id, session_id=sent.session_id, name=CONSUMER)
    assert started_sessions(lambda_env) == [sent.session_id]


def test_eventbridge_detail_carries_as_context_to_b(lambda_env: DevReceiver) -> None:
    sent = send_from_a_function(lambda: eventbridge_detail({"turn": 5}))
    detail = sent.carrier
    assert detail["turn"] == 5
    assert detail["traceparent"].split("-")[1:3] == [sent.trace_id, sent.span_id]
    assert f"session_id={sent.session_id}" in detail["baggage"]

    run_function(eventbridge_event(detail), ctx(CONSUMER), session_after_a_step)

    assert_continues(lambda_env, trace_id=sent.trace_id, parent=sent.span_id, session_id=sent.session_id, name=CONSUMER)
    assert started_sessions(lambda_env) == [sent.session_id]


def test_step_functions_input_carries_as_context_to_b(lambda_env: DevReceiver) -> None:
    payload = {"query": "quarterly revenue 2023", "top_k": 5}
    sent = send_from_a_function(lambda: step_functions_input(dict(payload)))
    task_input = sent.carrier
    assert {key: task_input[key] for key in payload} == payload
    assert {"traceparent", "baggage"} <= set(task_input)

    # A state machine passes the task input on as the next function's event, top-level keys and all.
    run_function(json.loads(json.dumps(task_input)), ctx(CONSUMER), session_after_a_step)

    assert_continues(lambda_env, trace_id=sent.trace_id, parent=sent.span_id, session_id=sent.session_id, name=CONSUMER)
    assert started_sessions(lambda_env) == [sent.session_id]


@pytest.mark.breaks_contract(
    "orphaned-span",
    reason="honeyhive 1.7.0 as a callee, on a receiver of its own where the caller's session was never "
    "started: it joins the session without asking HoneyHive to create it (what this project no longer does)",
)
def test_inject_context_into_carrier_nests_the_sdk_as_callee_under_a(
    lambda_env: DevReceiver, honeyhive_sdk: Venv, sdk_workdir: Path
) -> None:
    def inject() -> dict[str, str]:
        headers: dict[str, str] = {"content-type": "application/json"}
        inject_context_into_carrier(headers)
        return headers

    sent = send_from_a_function(inject)
    found, record = sdk_callee(honeyhive_sdk, sent.carrier, sdk_workdir)

    # The SDK's with_distributed_trace_context() read this package's carrier as its own peers' one.
    assert (found["trace_id"], found["parent_span_id"], found["session_id"]) == (
        sent.trace_id,
        sent.span_id,
        sent.session_id,
    )
    [span] = [s for s in record.spans if s.name == "sdk-callee"]
    assert (span.trace_id, span.parent_span_id, span.session_id) == (sent.trace_id, sent.span_id, sent.session_id)


def test_with_distributed_trace_context_outside_a_function_nests_under_the_sdk_caller(
    hh_env: DevReceiver, sdk_calls: SdkCalls
) -> None:
    call = sdk_calls.calls[0]
    extracted = extract_context_from_carrier(call.headers)
    assert format(otel_trace.get_current_span(extracted).get_span_context().trace_id, "032x") == call.trace_id
    assert otel_baggage.get_baggage("session_id", extracted) == call.session_id

    before = get_tracer().session_id
    with with_distributed_trace_context(call.headers):
        assert get_tracer().session_id == call.session_id
        step(21)
    explicit = new_id()
    with with_distributed_trace_context(call.headers, session_id=explicit):
        assert get_tracer().session_id == explicit
        step(22)
    assert get_tracer().session_id == before  # detached on exit
    get_tracer().flush()

    assert hh_env.wait_for(lambda rx: len([s for s in rx.spans if s.name == "step"]) == 2)
    steps = {s.attributes["honeyhive_inputs.n"]: s for s in hh_env.spans if s.name == "step"}
    for n, session_id in ((21, call.session_id), (22, explicit)):
        assert (steps[n].trace_id, steps[n].parent_span_id, steps[n].session_id) == (
            call.trace_id,
            call.span_id,
            session_id,
        )


# ------------------------------------------------------------------------------------------------
# c. A direct invoke's ClientContext, through the real awslambdaric; CloudEvents


def _consumer_emulator(emulators: MakeEmulator, receiver: DevReceiver) -> LambdaEmulator:
    # PYTHONPATH: the sandbox imports this checkout's runtime (not whatever the venv has installed).
    env = {
        "HH_API_URL": receiver.url,
        "HH_API_KEY": API_KEY,
        "HH_PROJECT": "test-project",
        "PYTHONPATH": str(REPO / "layer"),
    }
    return emulators("distributed.handler", env=env, function_name=CONSUMER)


def test_lambda_client_context_reaches_b_under_awslambdaric(lambda_env: DevReceiver, emulators: MakeEmulator) -> None:
    emulator = _consumer_emulator(emulators, lambda_env)
    results: list[Any] = []

    def invoke() -> dict[str, Any]:
        encoded = lambda_client_context({"tenant": "acme"})
        # What boto3's lambda.invoke(ClientContext=...) sends: base64 JSON, at most 3,583 bytes.
        assert isinstance(encoded, str) and len(encoded) <= 3583
        client_context = json.loads(base64.b64decode(encoded))
        results.append(emulator.invoke({"n": 3}, client_context=client_context))
        return dict(client_context)

    sent = send_from_a_function(invoke)

    [result] = results
    assert result.ok, result.error
    assert result.payload["session_id"] == sent.session_id
    assert result.payload["trace_id"] == sent.trace_id
    custom = result.payload["custom"]
    assert custom["tenant"] == "acme"
    assert custom["traceparent"].split("-")[1:3] == [sent.trace_id, sent.span_id]
    assert lambda_env.wait_for(lambda rx: any(s.name == CONSUMER for s in rx.spans))
    assert_continues(lambda_env, trace_id=sent.trace_id, parent=sent.span_id, session_id=sent.session_id, name=CONSUMER)
    assert started_sessions(lambda_env) == [sent.session_id]


def test_the_sdk_callers_context_as_client_context_under_awslambdaric(
    receiver: DevReceiver, emulators: MakeEmulator, sdk_calls: SdkCalls
) -> None:
    call = sdk_calls.calls[0]
    emulator = _consumer_emulator(emulators, receiver)

    result = emulator.invoke({"n": 4}, client_context={"custom": call.headers})

    assert result.ok, result.error
    assert (result.payload["session_id"], result.payload["trace_id"]) == (call.session_id, call.trace_id)
    assert receiver.wait_for(lambda rx: any(s.name == CONSUMER for s in rx.spans))
    assert_continues(receiver, trace_id=call.trace_id, parent=call.span_id, session_id=call.session_id, name=CONSUMER)
    assert started_sessions(receiver) == []


def test_a_lambda_cloudevent_continues_the_trace_and_its_sessionid_names_the_session(
    lambda_env: DevReceiver, sdk_calls: SdkCalls
) -> None:
    call = sdk_calls.calls[0]
    extensions = {"traceparent": call.traceparent, "tracestate": "hh=1", "sessionid": call.session_id}
    run_function(cloudevent_dict(extensions), ctx(), session_after_a_step)
    assert_continues(lambda_env, trace_id=call.trace_id, parent=call.span_id, session_id=call.session_id)
    assert started_sessions(lambda_env) == []


def test_a_cloudevent_without_a_session_continues_the_trace_in_a_new_session(
    lambda_env: DevReceiver, sdk_calls: SdkCalls
) -> None:
    call = sdk_calls.calls[0]
    run_function(cloudevent_dict({"traceparent": call.traceparent}), ctx(), session_after_a_step)
    [new] = started_sessions(lambda_env)
    assert new != call.session_id
    assert_continues(lambda_env, trace_id=call.trace_id, parent=call.span_id, session_id=new)


@pytest.mark.parametrize("encoding", ["binary", "structured"])
def test_a_cloud_functions_cloudevent_continues_the_sdk_callers_trace(
    gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch, sdk_calls: SdkCalls, encoding: str
) -> None:
    call = sdk_calls.calls[0]
    client = gcf_app(monkeypatch, "on_event", "cloudevent").test_client()
    attributes = {
        "type": "com.example.honeyhive.test",
        "source": "https://example.com/honeyhive-tests",
        "traceparent": call.traceparent,
        "sessionid": call.session_id,
    }
    encode = {"binary": to_binary, "structured": to_structured}[encoding]
    headers, data = encode(CloudEvent(attributes, {"n": 6}))

    response = client.post("/", headers=headers, data=data)

    assert response.status_code == 200
    assert_continues(gcf_env, trace_id=call.trace_id, parent=call.span_id, session_id=call.session_id, name="on_event")
    assert started_sessions(gcf_env) == []


# ------------------------------------------------------------------------------------------------
# d. Sessions: baggage without one, and explicit ones that win over baggage


def test_baggage_without_a_session_continues_the_trace_in_a_new_session(
    lambda_env: DevReceiver, sdk_calls: SdkCalls
) -> None:
    call = sdk_calls.calls[0]
    headers = {"traceparent": call.traceparent, "baggage": "userid=42"}
    response = run_function(http_event("http_api_v2", headers), ctx())

    [new] = started_sessions(lambda_env)
    assert new != call.session_id
    assert response_session(response) == new
    assert_continues(lambda_env, trace_id=call.trace_id, parent=call.span_id, session_id=new)


def _explicit_header(call: SdkCall, explicit: str) -> dict[str, Any]:
    return http_event("http_api_v2", call.headers, session_header=explicit)


def _explicit_body(call: SdkCall, explicit: str) -> dict[str, Any]:
    event = load_event("http_api_v2_json_body", session_id=explicit)
    event["headers"] = {**event["headers"], **call.headers}
    return event


def _explicit_message_attribute(call: SdkCall, explicit: str) -> dict[str, Any]:
    return {"Records": [sqs_record({"job": 1}, {**call.headers, "session_id": explicit})]}


def _explicit_payload(call: SdkCall, explicit: str) -> dict[str, Any]:
    return {"prompt": "hello", "session_id": explicit, **call.headers}


EXPLICIT: dict[str, Callable[[SdkCall, str], dict[str, Any]]] = {
    "x-session-id-header": _explicit_header,
    "json-body-session-id": _explicit_body,
    "sqs-session-id-attribute": _explicit_message_attribute,
    "payload-session-id": _explicit_payload,
}


@pytest.mark.parametrize("where", sorted(EXPLICIT))
def test_an_explicit_session_wins_over_the_baggage_one(
    lambda_env: DevReceiver, sdk_calls: SdkCalls, where: str
) -> None:
    call = sdk_calls.calls[0]
    explicit = new_id()
    run_function(EXPLICIT[where](call, explicit), ctx(), session_after_a_step)
    # The session is the explicit one; the trace is still the caller's.
    assert_continues(lambda_env, trace_id=call.trace_id, parent=call.span_id, session_id=explicit)
    assert started_sessions(lambda_env) == []


# ------------------------------------------------------------------------------------------------
# e. Malformed context: one warning, a new trace and session, the answer unchanged


def _oversized_baggage() -> str:
    members = [f"session_id={new_id()}"] + [f"k{index}={'v' * 40}" for index in range(200)]
    header = ",".join(members)
    assert len(header.encode()) > BAGGAGE_MAX_BYTES
    return header


MALFORMED: dict[str, dict[str, str]] = {
    "traceparent-not-hex": {"traceparent": "00-xyz-b7ad6b7169203331-01"},
    "traceparent-short-span-id": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad-01"},
    "baggage-oversized": {"baggage": _oversized_baggage()},
    "baggage-garbage-members": {"baggage": "this is not baggage;;;,=,%%%,k=v=w x"},
    "baggage-session-not-an-id": {"baggage": "session_id=not-a-session-id"},
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_context_warns_once_and_starts_anew_with_the_answer_unchanged(
    lambda_env: DevReceiver, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    headers = MALFORMED[case]
    answer_headers = {"Content-Type": "text/plain"}
    handler_answer: dict[str, Any] = {"statusCode": 201, "headers": answer_headers, "body": "created"}

    def body(event: Any) -> dict[str, Any]:
        step(1)
        return copy.deepcopy(handler_answer)

    for invocation in range(2):
        caplog.clear()
        lambda_env.clear()
        with caplog.at_level(logging.WARNING):
            response = run_function(http_event("http_api_v2", headers), ctx(), body)

        warnings = package_warnings(caplog)
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert warnings[0].getMessage().startswith("honeyhive:")
        [new] = started_sessions(lambda_env)
        assert response == {**handler_answer, "headers": {**answer_headers, "X-Session-ID": new}}
        root = invocation_span(lambda_env)
        assert root.parent_span_id is None, invocation  # a trace of its own
        assert root.links == []
        assert {s.session_id for s in invocation_spans(lambda_env)} == {new}


# ------------------------------------------------------------------------------------------------
# f. Batches: every record's context linked, every record in its own baggage's session


def test_a_batch_links_every_records_context_and_runs_each_record_in_its_session(
    lambda_env: DevReceiver, sdk_calls: SdkCalls
) -> None:
    senders = sdk_calls.calls[1:4]
    event = {"Records": [sqs_record({"n": n}, call.headers) for n, call in enumerate(senders, start=1)]}

    def body(event: Any) -> list[int]:
        return process_records(event, lambda record: step(json.loads(record["body"])["n"]))

    assert run_function(event, ctx(), body) == [2, 4, 6]

    root = invocation_span(lambda_env)
    assert len(root.links) == 3
    assert set(root.links) == {(call.trace_id, call.span_id) for call in senders}
    assert root.parent_span_id is None  # three callers: none of them is the parent
    by_n = {s.attributes["honeyhive_inputs.n"]: s.session_id for s in lambda_env.spans if s.name == "step"}
    assert by_n == {n: call.session_id for n, call in enumerate(senders, start=1)}
    assert not set(started_sessions(lambda_env)) & {call.session_id for call in senders}


def test_a_batch_whose_records_share_one_context_is_parented_on_it(
    lambda_env: DevReceiver, sdk_calls: SdkCalls
) -> None:
    call = sdk_calls.calls[0]
    event = {"Records": [sqs_record({"n": n}, call.headers) for n in range(3)]}

    run_function(event, ctx(), lambda event: None)

    root = invocation_span(lambda_env)
    assert (root.trace_id, root.parent_span_id) == (call.trace_id, call.span_id)
    assert set(root.links) == {(call.trace_id, call.span_id)}


# ------------------------------------------------------------------------------------------------
# h. The SDK's init keywords


def plausible_value(name: str, field: Mapping[str, Any]) -> Any:
    """A value a user of the SDK could pass for its init keyword ``name`` (``field``: its annotation text,
    default and whether it is required, from the SDK's config model)."""
    by_name: dict[str, Any] = {
        "api_key": API_KEY,
        "ingestion_api_key": "hh_ingst_" + "a1b2c3d4e5f6a7b8c9d0e1f2" + "_" + "0123456789abcdef" * 4,
        "server_url": "http://127.0.0.1:9",
        "project": "sdk-compat",
        "source": "staging",
        "session_name": "sdk-compat-session",
        "session_id": new_id(),
        "inputs": {"question": "why spans"},
        "link_carrier": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        "span_name_filters": {"include": [{"type": "prefix", "value": "llm."}], "exclude": []},
        "run_id": new_id(),
        "dataset_id": "dataset-1",
        "datapoint_id": "datapoint-1",
        "cache_max_size": 100,
        "cache_ttl": 60.0,
        "cache_cleanup_interval": 30.0,
    }
    if name in by_name:
        return by_name[name]
    if name == "requests_session":
        import requests

        return requests.Session()
    annotation, default = str(field["annotation"]), field["default"]
    if "bool" in annotation:
        return not bool(default)
    if isinstance(default, int | float) and not isinstance(default, bool):
        return default
    if "int" in annotation:
        return 1
    if "float" in annotation:
        return 1.0
    if "Dict" in annotation or "dict" in annotation:
        return {}
    return f"{name}-value"


def test_every_init_keyword_of_the_sdk_is_accepted(honeyhive_sdk: Venv, sdk_workdir: Path) -> None:
    models = sdk_init_fields(honeyhive_sdk, sdk_workdir)
    fields = {name: field for model in models.values() for name, field in model.items()}
    assert len(fields) >= 30  # the SDK's TracerConfig alone has 29

    rejected: dict[str, str] = {}
    for name, field in sorted(fields.items()):
        arguments = {"test_mode": True, name: plausible_value(name, field)}
        if name == "test_mode":
            arguments[name] = True
        try:
            tracer = HoneyHiveTracer.init(**arguments)
        except Exception as exc:  # a TypeError (unknown keyword) or a refusal of a plausible value
            rejected[name] = f"{type(exc).__name__}: {exc}"
        else:
            tracer.shutdown()
    assert rejected == {}
