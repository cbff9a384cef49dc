"""W3C trace context through ``@with_honeyhive_session``: every trigger's carrier in, the helpers out.

The caller here is a hand-made ``traceparent``; ``tests/integration/test_distributed_tracing.py`` has
HoneyHive's own SDK as the caller.
"""

from __future__ import annotations

import base64
import contextvars
import json
import logging
import secrets
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from conftest import API_KEY
from honeyhive_serverless import (
    HoneyHiveTracer,
    eventbridge_detail,
    extract_context_from_carrier,
    get_tracer,
    inject_context_into_carrier,
    lambda_client_context,
    process_records,
    sqs_message_attributes,
    step_functions_input,
    trace,
    with_distributed_trace_context,
    with_honeyhive_session,
)
from honeyhive_serverless.carriers import MAX_CLIENT_CONTEXT, event_carrier, record_carrier
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver
from honeyhive_serverless_dev.receiver.otlp import ReceivedSpan
from trigger_shapes import load_corpus_event, load_event

LOGGER = "honeyhive_serverless"


class Caller:
    """A caller's span and session, as the headers it would send."""

    def __init__(
        self, session_id: str | None = None, extra_baggage: str = "honeyhive_tracer_id=140644435746960"
    ) -> None:
        self.trace_id = secrets.token_hex(16)
        self.span_id = secrets.token_hex(8)
        self.session_id = session_id if session_id is not None else str(uuid.uuid4())
        members = [extra_baggage] if extra_baggage else []
        if self.session_id:
            members.append(f"session_id={self.session_id}")
        self.carrier = {"traceparent": f"00-{self.trace_id}-{self.span_id}-01", "baggage": ",".join(members)}

    @property
    def headers(self) -> dict[str, str]:
        return {"Traceparent": self.carrier["traceparent"], "Baggage": self.carrier["baggage"]}


@trace
def step(n: int) -> int:
    return n + 1


@with_honeyhive_session
def handler(event: Any, context: Any) -> dict[str, Any]:
    step(1)
    return {"statusCode": 200, "body": "ok"}


def invocation_span(receiver: DevReceiver) -> ReceivedSpan:
    (span,) = [s for s in receiver.spans if s.span_kind == "SERVER"]
    return span


def assert_continues(receiver: DevReceiver, caller: Caller) -> None:
    span = invocation_span(receiver)
    assert span.trace_id == caller.trace_id
    assert span.parent_span_id == caller.span_id
    assert {s.trace_id for s in receiver.spans} == {caller.trace_id}
    assert {s.session_id for s in receiver.spans} == {caller.session_id}
    assert receiver.session_starts == []  # linked, not started


def http_api(headers: dict[str, str]) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "POST /chat",
        "headers": {name.lower(): value for name, value in headers.items()},
        "requestContext": {"http": {"method": "POST", "path": "/chat"}, "domainName": "api.example.com"},
    }


def rest(headers: dict[str, str]) -> dict[str, Any]:
    return {"httpMethod": "POST", "path": "/chat", "headers": headers, "requestContext": {"stage": "prod"}}


def alb_multi(headers: dict[str, str]) -> dict[str, Any]:
    return {
        "httpMethod": "POST",
        "path": "/chat",
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:tg"}},
    }


def lattice_v2(headers: dict[str, str]) -> dict[str, Any]:
    return {
        "version": "2.0",
        "path": "/chat",
        "method": "POST",
        "headers": {name.lower(): [value] for name, value in headers.items()},
        "requestContext": {"serviceNetworkArn": "arn:aws:vpc-lattice:sn", "serviceArn": "arn:aws:vpc-lattice:svc"},
    }


def lattice_v1(headers: dict[str, str]) -> dict[str, Any]:
    return {"raw_path": "/chat", "method": "POST", "headers": {n.lower(): v for n, v in headers.items()}, "body": ""}


def appsync(headers: dict[str, str]) -> dict[str, Any]:
    return {
        "arguments": {"id": "1"},
        "info": {"fieldName": "getChat", "parentTypeName": "Query"},
        "request": {"headers": {name.lower(): value for name, value in headers.items()}},
    }


def authorizer_request(headers: dict[str, str]) -> dict[str, Any]:
    """API Gateway's REQUEST authorizer event (Powertools' fixture) with the caller's headers, in both
    maps as API Gateway sends them."""
    event: dict[str, Any] = load_corpus_event("apiGatewayAuthorizerRequestEvent")
    event["headers"].update(headers)
    event["multiValueHeaders"].update({name: [value] for name, value in headers.items()})
    return event


def http_api_authorizer(headers: dict[str, str]) -> dict[str, Any]:
    event: dict[str, Any] = load_corpus_event("apiGatewayAuthorizerV2Event")
    event["headers"].update({name.lower(): value for name, value in headers.items()})
    return event


def websocket(fixture: str) -> Any:
    """A WebSocket API event of this project's fixtures (its $connect route, its authorizer) with the
    caller's headers in place of its session header, in both maps as API Gateway sends them."""

    def make(headers: dict[str, str]) -> dict[str, Any]:
        event = load_event(fixture, "unused")
        for where in ("headers", "multiValueHeaders"):
            del event[where]["X-Session-ID"]
        event["headers"].update(headers)
        event["multiValueHeaders"].update({name: [value] for name, value in headers.items()})
        return event

    return make


def unclaimed(carrier: dict[str, str]) -> dict[str, Any]:
    """A payload no trigger claims (a proxy response's keys): unknown, its top-level context read."""
    return {"statusCode": 200, "body": "{}", **carrier}


def eventbridge(carrier: dict[str, str]) -> dict[str, Any]:
    return {"detail-type": "order", "source": "shop", "detail": {"order": 7, **carrier}}


def cloudevent(carrier: dict[str, str]) -> dict[str, Any]:
    return {"specversion": "1.0", "type": "order", "source": "shop", "id": "1", **carrier}


@pytest.mark.parametrize(
    "make_event",
    [
        http_api,
        rest,
        alb_multi,
        lattice_v2,
        lattice_v1,
        appsync,
        lambda headers: [appsync(headers)],
        authorizer_request,
        http_api_authorizer,
        websocket("websocket_connect"),
        websocket("websocket_authorizer"),
    ],
    ids=[
        "http-api",
        "rest",
        "alb-multi-value",
        "lattice-v2",
        "lattice-v1",
        "appsync",
        "appsync-batch",
        "rest-authorizer",
        "http-api-authorizer",
        "websocket-connect",
        "websocket-authorizer",
    ],
)
def test_header_carriers_continue_the_callers_trace_and_session(lambda_env: DevReceiver, make_event: Any) -> None:
    caller = Caller()
    response = handler(make_event(caller.headers), LambdaContext(function_name="fn"))
    assert response["statusCode"] == 200
    assert_continues(lambda_env, caller)


@pytest.mark.parametrize(
    "make_event", [eventbridge, cloudevent, dict, unclaimed], ids=["eventbridge", "cloudevent", "payload", "unknown"]
)
def test_payload_carriers_continue_the_callers_trace_and_session(lambda_env: DevReceiver, make_event: Any) -> None:
    caller = Caller()
    handler(make_event(caller.carrier), LambdaContext(function_name="fn"))
    assert_continues(lambda_env, caller)


def test_client_context_of_a_direct_invoke(lambda_env: DevReceiver) -> None:
    caller = Caller()
    context = LambdaContext(function_name="fn")
    context.client_context = SimpleNamespace(custom=caller.carrier)
    handler({"question": "hi"}, context)
    assert_continues(lambda_env, caller)


def test_the_callers_tracer_id_is_not_carried_on(lambda_env: DevReceiver) -> None:
    caller = Caller()
    onward: dict[str, str] = {}

    @with_honeyhive_session
    def relay(event: Any, context: Any) -> None:
        inject_context_into_carrier(onward)

    relay(rest(caller.headers), LambdaContext(function_name="fn"))
    assert "honeyhive_tracer_id" not in onward["baggage"]
    assert f"session_id={caller.session_id}" in onward["baggage"]
    assert all("baggage.honeyhive_tracer_id" not in s.attributes for s in lambda_env.spans)


def test_baggage_without_a_session_continues_the_trace_in_a_new_session(lambda_env: DevReceiver) -> None:
    caller = Caller(session_id="", extra_baggage="userid=42")
    handler(rest(caller.headers), LambdaContext(function_name="fn"))
    span = invocation_span(lambda_env)
    assert span.trace_id == caller.trace_id and span.parent_span_id == caller.span_id
    (started,) = lambda_env.session_starts
    assert span.session_id == started["session_id"]
    assert span.attributes["baggage.userid"] == "42"


def test_an_explicit_session_beats_the_baggage_session(lambda_env: DevReceiver) -> None:
    caller = Caller()
    explicit = str(uuid.uuid4())
    handler(rest({**caller.headers, "X-Session-ID": explicit}), LambdaContext(function_name="fn"))
    assert {s.session_id for s in lambda_env.spans} == {explicit}
    assert invocation_span(lambda_env).trace_id == caller.trace_id


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"traceparent": "00-xyz-123-01"}, "traceparent is not W3C Trace Context"),
        ({"traceparent": "00-" + "a" * 600}, "traceparent too long"),
        ({"baggage": "k=" + "v" * 9000}, "baggage too long"),
        ({"baggage": "a b c,=,ok=1"}, "baggage has 2 malformed"),
    ],
    ids=["bad-traceparent", "long-traceparent", "long-baggage", "garbage-baggage"],
)
def test_malformed_context_gets_one_warning_and_is_served(
    lambda_env: DevReceiver, caplog: pytest.LogCaptureFixture, headers: dict[str, str], named: str
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = handler(rest(headers), LambdaContext(function_name="fn"))
    assert response["statusCode"] == 200 and response["body"] == "ok"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == [LOGGER], [r.getMessage() for r in warnings]
    assert named in warnings[0].getMessage()
    assert "v" * 100 not in warnings[0].getMessage()
    assert len(lambda_env.session_starts) == 1  # a new session, the function ran as usual


def sqs_record(carrier: dict[str, str], body: str = "{}") -> dict[str, Any]:
    attributes = {name: {"stringValue": value, "dataType": "String"} for name, value in carrier.items()}
    return {"eventSource": "aws:sqs", "messageId": str(uuid.uuid4()), "body": body, "messageAttributes": attributes}


def test_a_batch_links_every_record_and_gives_each_its_session(lambda_env: DevReceiver) -> None:
    callers = [Caller() for _ in range(3)]
    event = {"Records": [sqs_record(caller.carrier, json.dumps({"n": n})) for n, caller in enumerate(callers)]}
    seen: dict[int, str | None] = {}

    @with_honeyhive_session
    def consume(event: Any, context: Any) -> None:
        def one(record: dict[str, Any]) -> None:
            seen[json.loads(record["body"])["n"]] = get_tracer().session_id

        process_records(event, one)

    consume(event, LambdaContext(function_name="fn"))
    span = invocation_span(lambda_env)
    assert sorted(span.links) == sorted((c.trace_id, c.span_id) for c in callers)
    assert span.trace_id not in {c.trace_id for c in callers}  # several senders: links only
    assert seen == {n: caller.session_id for n, caller in enumerate(callers)}
    records = [s for s in lambda_env.spans if s.name == "sqs-record"]
    assert {s.links[0] for s in records} == {(c.trace_id, c.span_id) for c in callers}


def test_one_record_batch_continues_its_sender(lambda_env: DevReceiver) -> None:
    caller = Caller()
    handler({"Records": [sqs_record(caller.carrier)]}, LambdaContext(function_name="fn"))
    assert_continues(lambda_env, caller)
    assert invocation_span(lambda_env).links == [(caller.trace_id, caller.span_id)]


def activemq_message(carrier: dict[str, str]) -> dict[str, Any]:
    """The first message of Powertools' ActiveMQ fixture, the carrier among its properties."""
    message: dict[str, Any] = load_corpus_event("activeMQEvent")["messages"][0]
    message["properties"].update(carrier)
    return message


def rabbitmq_message(carrier: dict[str, Any]) -> dict[str, Any]:
    """The first message of Powertools' RabbitMQ fixture, the carrier among its headers."""
    message: dict[str, Any] = load_corpus_event("rabbitMQEvent")["rmqMessagesByQueue"]["pizzaQueue::/"][0]
    message["basicProperties"]["headers"].update(carrier)
    return message


@pytest.mark.parametrize(
    ("trigger", "record"),
    [
        pytest.param(
            "sqs",
            lambda c: {
                "eventSource": "aws:sqs",
                "body": json.dumps({"Type": "Notification", "Message": "{}", "MessageAttributes": _sns_attributes(c)}),
            },
            id="sns-through-sqs",
        ),
        pytest.param(
            "sns",
            lambda c: {"EventSource": "aws:sns", "Sns": {"Message": "{}", "MessageAttributes": _sns_attributes(c)}},
            id="sns",
        ),
        pytest.param("kafka", lambda c: {"headers": [{n: list(v.encode()) for n, v in c.items()}]}, id="kafka"),
        pytest.param("mq", activemq_message, id="activemq-properties"),
        pytest.param("mq", rabbitmq_message, id="rabbitmq-text-headers"),
        pytest.param(
            "mq",
            lambda c: rabbitmq_message({n: {"bytes": list(v.encode())} for n, v in c.items()}),
            id="rabbitmq-bytes",
        ),
        pytest.param("mq", lambda c: rabbitmq_message({n: list(v.encode()) for n, v in c.items()}), id="rabbitmq-list"),
        pytest.param("appsync-batch", appsync, id="appsync-batch-call"),
    ],
)
def test_record_carriers(trigger: str, record: Any) -> None:
    caller = Caller()
    assert record_carrier(trigger, record(caller.carrier)).carrier == caller.carrier


@pytest.mark.parametrize(
    "make_event",
    [
        lambda c: {**load_corpus_event("activeMQEvent"), "messages": [activemq_message(c)]},
        lambda c: {**load_corpus_event("rabbitMQEvent"), "rmqMessagesByQueue": {"q::/": [rabbitmq_message(c)]}},
    ],
    ids=["activemq", "rabbitmq"],
)
def test_amazon_mq_event_continues_its_one_sender(lambda_env: DevReceiver, make_event: Any) -> None:
    caller = Caller()
    handler(make_event(caller.carrier), LambdaContext(function_name="fn"))
    assert_continues(lambda_env, caller)
    assert invocation_span(lambda_env).attributes["faas.trigger"] == "pubsub"


def _sns_attributes(carrier: dict[str, str]) -> dict[str, Any]:
    return {name: {"Type": "String", "Value": value} for name, value in carrier.items()}


def test_kafka_event_continues_its_one_sender(lambda_env: DevReceiver) -> None:
    caller = Caller()
    record = {"topic": "t", "headers": [{name: list(value.encode())} for name, value in caller.carrier.items()]}
    event = {"eventSource": "aws:kafka", "records": {"t-0": [record]}}
    handler(event, LambdaContext(function_name="fn"))
    assert_continues(lambda_env, caller)
    assert invocation_span(lambda_env).attributes["faas.trigger"] == "pubsub"


def test_headers_split_across_values_are_one_list() -> None:
    event = {"multiValueHeaders": {"baggage": ["a=1", "b=2"], "traceparent": ["first", "second"]}}
    assert event_carrier("alb", event).carrier == {"baggage": "a=1,b=2", "traceparent": "first"}


# -- going out --------------------------------------------------------------------------------------


def run_in_session(make: Any) -> tuple[Any, str]:
    """``make()`` inside a wrapped invocation; its result and the invocation's session."""
    out: dict[str, Any] = {}

    @with_honeyhive_session
    def sender(event: Any, context: Any) -> None:
        out["made"] = make()
        out["session"] = get_tracer().session_id

    sender({}, LambdaContext(function_name="sender"))
    return out["made"], out["session"]


@pytest.mark.parametrize(
    ("make", "to_event"),
    [
        (sqs_message_attributes, lambda attrs: {"Records": [_as_sqs_record(attrs)]}),
        (
            lambda: eventbridge_detail({"order": 1}),
            lambda detail: {"detail-type": "o", "source": "s", "detail": detail},
        ),
        (lambda: step_functions_input({"order": 1}), lambda payload: payload),
    ],
    ids=["sqs", "eventbridge", "step-functions"],
)
def test_what_a_function_sends_on_the_next_one_continues(lambda_env: DevReceiver, make: Any, to_event: Any) -> None:
    made, session = run_in_session(make)
    lambda_env.clear()
    handler(to_event(made), LambdaContext(function_name="fn"))
    span = invocation_span(lambda_env)
    assert span.session_id == session
    assert span.parent_span_id is not None
    assert lambda_env.session_starts == []


def _as_sqs_record(attributes: dict[str, Any]) -> dict[str, Any]:
    """boto3's ``MessageAttributes`` as Lambda's SQS event source delivers them."""
    delivered = {n: {"stringValue": a["StringValue"], "dataType": a["DataType"]} for n, a in attributes.items()}
    return {"eventSource": "aws:sqs", "body": "{}", "messageAttributes": delivered}


def test_message_attributes_keep_the_users_and_the_limit(hh_env: DevReceiver, caplog: pytest.LogCaptureFixture) -> None:
    nine = {f"a{i}": {"DataType": "String", "StringValue": str(i)} for i in range(9)}
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        made, _ = run_in_session(lambda: sqs_message_attributes(nine))
    assert set(made) == {*nine, "traceparent"}
    (warning,) = caplog.records
    assert "baggage" in warning.getMessage()


def test_client_context_holds_the_context_and_stays_under_lambdas_limit(
    hh_env: DevReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    made, session = run_in_session(lambda: lambda_client_context({"app": "web"}))
    custom = json.loads(base64.b64decode(made))["custom"]
    assert custom["app"] == "web" and f"session_id={session}" in custom["baggage"]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        big, _ = run_in_session(lambda: lambda_client_context({"blob": "x" * MAX_CLIENT_CONTEXT}))
    assert "traceparent" not in json.loads(base64.b64decode(big))["custom"]
    assert len(caplog.records) == 1


def test_sdk_helpers_outside_any_invocation(hh_env: DevReceiver) -> None:
    caller = Caller()
    tracer = get_tracer()
    assert extract_context_from_carrier({"x": "y"}, tracer) is None
    with with_distributed_trace_context(caller.headers, tracer):
        assert tracer.session_id == caller.session_id
        step(1)
        carrier: dict[str, str] = {}
        inject_context_into_carrier(carrier)
    assert tracer.session_id != caller.session_id
    assert tracer.force_flush()
    (span,) = hh_env.spans
    assert (span.trace_id, span.parent_span_id, span.session_id) == (caller.trace_id, caller.span_id, caller.session_id)
    assert carrier["traceparent"].split("-")[1] == caller.trace_id
    explicit = str(uuid.uuid4())
    with with_distributed_trace_context(caller.headers, tracer, session_id=explicit):
        assert tracer.session_id == explicit


def test_link_and_unlink(hh_env: DevReceiver) -> None:
    caller = Caller()
    tracer = get_tracer()
    token = tracer.link(caller.headers)
    assert tracer.session_id == caller.session_id
    assert tracer.inject({})["traceparent"].split("-")[1] == caller.trace_id
    tracer.unlink(token)
    assert tracer.session_id != caller.session_id
    tracer.unlink(None)  # a failed link's token: nothing happens


def test_link_carrier_at_init_makes_the_carriers_trace_and_session_the_start_up_ones(hh_env: DevReceiver) -> None:
    caller = Caller()

    def script() -> None:  # a script's whole run: init attaches the carrier's context for it
        tracer = HoneyHiveTracer.init(
            api_key=API_KEY, server_url=hh_env.url, link_carrier=caller.headers, skip_backend_session_creation=False
        )
        assert tracer.session_id == caller.session_id
        with tracer.start_span("work"):
            pass
        assert tracer.force_flush()

    contextvars.copy_context().run(script)
    assert hh_env.session_starts == []  # linked to the caller's session, not a start-up one of its own
    (span,) = hh_env.spans
    assert (span.trace_id, span.parent_span_id, span.session_id) == (caller.trace_id, caller.span_id, caller.session_id)
