"""What ``direct`` and ``unknown`` mean (a caller's own payload; an AWS document no trigger claims), what
the wrapper records for each, and the shapes the trigger table once took for direct invokes or named
wrong: WebSocket APIs, Amazon MQ's ``aws:mq``, DocumentDB, AppSync without ``arguments`` or as its
``Invoke`` document, Amazon Connect under another ``Name``, authorizers whatever their context says.
"""

from __future__ import annotations

from typing import Any

import pytest

from honeyhive_serverless import triggers, with_honeyhive_session
from honeyhive_serverless.carriers import event_carrier
from honeyhive_serverless.triggers import FAAS_TRIGGER, SessionLookup, detect_trigger, find_session_id, record_list
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver
from trigger_shapes import FUNCTION, invocation_span, load_event, new_id

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
SESSION = "6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e10"

CALLERS_OWN = [
    pytest.param({}, id="empty"),
    pytest.param({"session_id": SESSION, "prompt": "hi", "temperature": 0.2}, id="prompt"),
    pytest.param({"jobName": "nightly", "jobQueue": "q", "jobDefinition": "d"}, id="batch-job"),
    pytest.param({"Error": "States.Timeout", "Cause": "took too long"}, id="step-functions-catch"),
    # Lambda's own tutorial payload for a DynamoDB microservice: not AppSync's Invoke document.
    pytest.param({"operation": "create", "payload": {"Item": {"id": "1"}}}, id="operation-payload"),
    pytest.param({"version": 2, "type": "order", "source": "shop", "headers": {"a": "b"}}, id="common-words"),
    pytest.param({"request": {"requestId": "r-1"}, "header": {"namespace": "orders"}}, id="alexa-like-words"),
    pytest.param({"Details": {"order": 7}, "Name": "order"}, id="connect-like-words"),
    pytest.param({"info": {"fieldName": "f"}}, id="appsync-like-words"),
]

UNCLAIMED = [
    pytest.param({"Records": [{"eventSource": "aws:newservice", "body": "x"}]}, id="records-of-a-new-source"),
    pytest.param({"Records": [{"id": 1}]}, id="records-naming-no-source"),
    pytest.param({"eventSource": "aws:newservice", "eventSourceArn": "arn:aws:x"}, id="a-new-event-source"),
    pytest.param({"eventSource": "aws:kafka", "records": ["not", "partitions"]}, id="kafka-without-partitions"),
    pytest.param({"requestContext": {"accountId": "123456789012"}, "body": "{}"}, id="a-new-request-context"),
    pytest.param({"detail-type": "x", "detail": {}}, id="eventbridge-without-source"),
    pytest.param({"messageVersion": "1.0", "input": {}}, id="a-schema-version"),
    pytest.param({"invocationId": "i-1", "records": []}, id="a-records-batch"),
    pytest.param({"statusCode": 200, "body": "{}"}, id="a-proxy-response"),
    pytest.param({"principalId": "me", "policyDocument": {}}, id="an-authorizer-policy"),
    pytest.param({"sessionAttributes": {}, "dialogAction": {"type": "Close"}}, id="a-lex-response"),
]


@pytest.mark.parametrize("event", CALLERS_OWN)
def test_a_callers_own_payload_is_direct(event: dict[str, Any]) -> None:
    assert detect_trigger(event) == "direct"
    assert find_session_id(event).candidate == event.get("session_id")


@pytest.mark.parametrize("event", UNCLAIMED)
def test_an_aws_document_no_trigger_claims_is_unknown(event: dict[str, Any]) -> None:
    assert detect_trigger(event) == "unknown"


def test_an_unknown_events_session_and_context_are_read_as_a_payloads() -> None:
    event = {"statusCode": 200, "session_id": SESSION, "traceparent": TRACEPARENT}
    assert find_session_id(event) == SessionLookup("unknown", SESSION, "session_id")
    assert event_carrier("unknown", event).carrier == {"traceparent": TRACEPARENT}


@pytest.mark.parametrize(
    ("event", "trigger", "source"),
    [
        pytest.param({"prompt": "hi"}, "direct", "aws:lambda", id="direct"),
        pytest.param({"statusCode": 200, "body": "{}"}, "unknown", None, id="unknown"),
        pytest.param(load_event("docdb"), "docdb", "aws:docdb", id="docdb"),
    ],
)
def test_the_session_records_the_trigger_and_no_invented_source(
    event: Any, trigger: str, source: str | None, lambda_env: DevReceiver
) -> None:
    @with_honeyhive_session
    def handler(event: Any, context: Any) -> str:
        return "ok"

    assert handler(event, LambdaContext(FUNCTION)) == "ok"

    assert lambda_env.wait_for(lambda rx: len(rx.session_starts) == 1 and any(s.name == FUNCTION for s in rx.spans))
    metadata = lambda_env.session_starts[0]["metadata"]
    assert metadata["trigger"] == trigger
    assert metadata.get("trigger_source") == source
    assert ("trigger_source" in metadata) is (source is not None)
    span = invocation_span(lambda_env)
    assert span.attributes["faas.trigger"] == FAAS_TRIGGER[trigger]
    assert span.attributes["honeyhive_metadata.trigger"] == trigger
    assert span.attributes.get("honeyhive_metadata.trigger_source") == source


# ------------------------------------------------------------------------------------------------
# API Gateway: WebSocket APIs, and authorizers named by what they are


def test_a_websocket_connects_trace_context_is_in_its_headers() -> None:
    event = load_event("websocket_connect", new_id())
    event["headers"]["traceparent"] = TRACEPARENT
    event["multiValueHeaders"]["traceparent"] = [TRACEPARENT]  # API Gateway sends every header in both maps
    trigger = detect_trigger(event)
    assert trigger == "websocket-api"
    assert event_carrier(trigger, event).carrier == {"traceparent": TRACEPARENT}


@pytest.mark.parametrize("event_type", ["MESSAGE", "DISCONNECT"])
def test_a_websocket_message_without_a_session_names_none(event_type: str) -> None:
    event = load_event("websocket_message_json_body", "unused")
    event["requestContext"]["eventType"] = event_type
    event["body"] = '{"action": "sendmessage"}'
    assert find_session_id(event) == SessionLookup("websocket-api")


@pytest.mark.parametrize(
    ("fixture", "trigger"),
    [("http_api_authorizer_v1", "api-gateway-authorizer"), ("websocket_authorizer", "websocket-api-authorizer")],
)
def test_an_authorizer_is_named_an_authorizer_whatever_its_request_context_carries(fixture: str, trigger: str) -> None:
    session_id = new_id()
    event = load_event(fixture, session_id)
    event["requestContext"]["http"] = {"method": "POST", "path": "/chat"}  # as an HTTP API's request says
    assert find_session_id(event) == SessionLookup(trigger, session_id, "header X-Session-ID")
    event["version"] = "2.0"
    assert detect_trigger(event) == trigger


# ------------------------------------------------------------------------------------------------
# Amazon MQ, DocumentDB


@pytest.mark.parametrize("source", ["aws:mq", "aws:amq", "aws:rmq"])
def test_amazon_mq_by_each_name_its_events_give_it(source: str) -> None:
    session_id = new_id()
    event = load_event("activemq_mq_source", session_id)
    event["eventSource"] = source
    assert len(record_list(event)) == 2
    assert find_session_id(event) == SessionLookup("mq", session_id, "properties.session_id")


def test_documentdb_change_events_are_its_records() -> None:
    event = load_event("docdb")
    assert detect_trigger(event) == "docdb"
    assert record_list(event) == event["events"]


# ------------------------------------------------------------------------------------------------
# AppSync, Amazon Connect


@pytest.mark.parametrize("operation", ["Invoke", "BatchInvoke"])
def test_appsyncs_lambda_request_document_is_appsync(operation: str) -> None:
    event = load_event("appsync_invoke_operation")
    event["operation"] = operation
    event["version"] = "2018-05-29"  # as a VTL request mapping template writes it
    assert detect_trigger(event) == "appsync"


def test_an_appsync_call_without_arguments_names_its_session_header() -> None:
    session_id = new_id()
    event = load_event("appsync_no_arguments", session_id)
    assert "arguments" not in event
    assert find_session_id(event) == SessionLookup("appsync", session_id, "header X-Session-ID")
    assert record_list([event, event]) == [event, event]  # and a batch of such calls is AppSync's


def test_connect_under_another_name_is_a_conversation() -> None:
    event = load_event("connect_another_name", "unused")
    data = event["Details"]["ContactData"]
    del data["Attributes"]["session_id"]
    lookup = find_session_id(event)
    assert lookup == SessionLookup(
        "connect", data["InitialContactId"], "Details.ContactData.InitialContactId", conversation=True
    )


@pytest.mark.parametrize(("name", "keys"), triggers._KEYED_SHAPES, ids=[name for name, _ in triggers._KEYED_SHAPES])
def test_each_keyed_row_is_told_by_its_keys_alone(name: str, keys: tuple[str, ...]) -> None:
    assert detect_trigger(dict.fromkeys(keys, "value")) == name
    assert detect_trigger(dict.fromkeys(keys[1:], "value")) != name  # its first key is one it needs
