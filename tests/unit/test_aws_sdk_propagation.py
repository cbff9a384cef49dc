"""``HH_PROPAGATE_AWS_SDK=true``: plain boto3 calls inside a wrapped handler carry the trace and the session.

No helper in the handlers below: OpenTelemetry's botocore instrumentation (SNS, the X-Ray header) and
this package's request hook (SQS, Lambda's ClientContext) put ``traceparent`` and ``baggage`` where the
next service reads them, and each AWS call is a span of the invocation's session. moto plays SQS and
SNS in-process; a Lambda Invoke is answered by a ``before-send`` hook, which also shows its request.

The instrumentation and the global propagator are process-wide: every test here leaves both as it
found them, so no other test sees an instrumented botocore.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from honeyhive_serverless import aws_sdk, get_tracer, variables, with_honeyhive_session
from honeyhive_serverless.aws_sdk import propagate_aws_sdk
from honeyhive_serverless.wire import BAGGAGE, SESSION_KEY, TRACEPARENT
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver

REGION = "us-east-1"
XRAY_HEADER = "X-Amzn-Trace-Id"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:hh-key-AbCdEf"


# --------------------------------------------------------------------------------------------
# Fixtures and helpers


def instrumentor() -> Any:
    """The process's one BotocoreInstrumentor (a singleton)."""
    return BotocoreInstrumentor()  # type: ignore[no-untyped-call]


@pytest.fixture(autouse=True)
def leave_otel_as_found(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Whatever a test instruments or composes is undone: botocore unwrapped, the propagator restored,
    and this process's decisions forgotten."""
    saved = propagate.get_global_textmap()
    monkeypatch.setattr(aws_sdk, "_state", aws_sdk._State())
    try:
        yield
    finally:
        if instrumentor().is_instrumented_by_opentelemetry:
            instrumentor().uninstrument()
        propagate.set_global_textmap(saved)


@pytest.fixture
def lambda_env(lambda_env: DevReceiver, aws: None) -> DevReceiver:
    """conftest's ``lambda_env``, with moto: these functions call AWS."""
    return lambda_env


@pytest.fixture
def opted_in(lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> DevReceiver:
    """The user's switch, then the tracer built as the first invocation builds it."""
    monkeypatch.setenv(variables.PROPAGATE_AWS_SDK, "true")
    get_tracer()
    assert instrumentor().is_instrumented_by_opentelemetry
    return lambda_env


def ctx() -> LambdaContext:
    return LambdaContext(function_name="fn")


class Seen:
    """What the handler saw of its own invocation: the trace id and the session id."""

    trace_id = ""
    session_id = ""

    def record(self) -> None:
        self.trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
        self.session_id = get_tracer().session_id or ""


def create_queue(name: str = "q") -> str:
    with suppress_instrumentation():
        url: str = boto3.client("sqs").create_queue(QueueName=name)["QueueUrl"]
        return url


def receive(queue_url: str, count: int = 1) -> list[dict[str, Any]]:
    with suppress_instrumentation():
        messages: list[dict[str, Any]] = boto3.client("sqs").receive_message(
            QueueUrl=queue_url, MessageAttributeNames=["All"], MaxNumberOfMessages=10
        )["Messages"]
    assert len(messages) == count
    return messages


def string_attributes(attributes: dict[str, Any]) -> dict[str, str]:
    """SQS ``MessageAttributes`` (``StringValue``) or an SNS envelope's (``Value``), as name -> text."""
    return {name: value.get("StringValue", value.get("Value")) for name, value in attributes.items()}


def baggage_entries(header: str) -> dict[str, str]:
    entries = (member.split(";")[0].split("=", 1) for member in header.split(","))
    return {urllib.parse.unquote(key.strip()): urllib.parse.unquote(value.strip()) for key, value in entries}


def assert_carries(carrier: dict[str, str], seen: Seen) -> str:
    """``carrier`` holds the invocation's trace and session; returns the parent span id it names."""
    version, trace_id, parent_id, flags = carrier[TRACEPARENT].split("-")
    assert (version, trace_id, flags) == ("00", seen.trace_id, "01")
    assert baggage_entries(carrier[BAGGAGE])[SESSION_KEY] == seen.session_id
    return parent_id


def aws_spans(receiver: DevReceiver) -> list[Any]:
    return [span for span in receiver.spans if span.attributes.get("rpc.system") == "aws-api"]


class _Body:
    """Enough of urllib3's response for botocore to read a body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        data, self._data = self._data, b""
        return data


def answer_lambda(client: Any, requests: list[Any]) -> None:
    """Answer this client's Invoke calls with ``{}`` (moto cannot run a function here); keep each request."""
    from botocore.awsrequest import AWSResponse

    def respond(request: Any, **kwargs: Any) -> AWSResponse:
        requests.append(request)
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, _Body(b"{}"))

    client.meta.events.register_first("before-send.lambda.Invoke", respond)


def decoded_client_context(request: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(base64.b64decode(request.headers["X-Amz-Client-Context"]))
    return document


# --------------------------------------------------------------------------------------------
# Plain boto3 calls in a handler carry the context


def test_sqs_send_message_carries_the_trace_and_the_session(opted_in: DevReceiver) -> None:
    queue_url = create_queue()
    seen = Seen()

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> str:
        seen.record()
        boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody="hello")
        return "ok"

    assert handler({}, ctx()) == "ok"

    [message] = receive(queue_url)
    assert message["Body"] == "hello"
    parent_id = assert_carries(string_attributes(message["MessageAttributes"]), seen)
    assert opted_in.wait_for(lambda rx: len(aws_spans(rx)) >= 1)
    [span] = aws_spans(opted_in)
    # The message's parent is the send's own span, in the invocation's trace and session.
    assert span.name == "SQS.SendMessage"
    assert span.span_kind == "CLIENT"
    assert (span.trace_id, span.span_id, span.session_id) == (seen.trace_id, parent_id, seen.session_id)
    [invocation] = [s for s in opted_in.spans if s.name == "fn"]
    assert span.parent_span_id == invocation.span_id
    assert span.attributes["rpc.method"] == "SendMessage"


def test_sqs_batch_entries_each_carry_it_and_keep_their_own_attributes(opted_in: DevReceiver) -> None:
    queue_url = create_queue()
    seen = Seen()
    own = {"tenant": {"DataType": "String", "StringValue": "acme"}}
    own_before = json.dumps(own)

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> None:
        seen.record()
        boto3.client("sqs").send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": "a", "MessageBody": "a", "MessageAttributes": own}, {"Id": "b", "MessageBody": "b"}],
        )

    handler({}, ctx())

    messages = {message["Body"]: string_attributes(message["MessageAttributes"]) for message in receive(queue_url, 2)}
    for attributes in messages.values():
        assert_carries(attributes, seen)
    assert messages["a"]["tenant"] == "acme"
    assert json.dumps(own) == own_before  # the caller's own dict is not written into


def test_sns_publish_carries_it_through_to_a_subscribed_queue(opted_in: DevReceiver) -> None:
    queue_url = create_queue("subscriber")
    with suppress_instrumentation():
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic_arn = sns.create_topic(Name="events")["TopicArn"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    seen = Seen()

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> None:
        seen.record()
        boto3.client("sns").publish(TopicArn=topic_arn, Message="hello")

    handler({}, ctx())

    [message] = receive(queue_url)
    envelope = json.loads(message["Body"])  # SNS's notification, as an SQS subscriber gets it
    assert envelope["Message"] == "hello"
    parent_id = assert_carries(string_attributes(envelope["MessageAttributes"]), seen)
    assert opted_in.wait_for(lambda rx: len(aws_spans(rx)) >= 1)
    [span] = aws_spans(opted_in)
    assert (span.name, span.span_kind) == ("events send", "PRODUCER")
    assert (span.trace_id, span.span_id, span.session_id) == (seen.trace_id, parent_id, seen.session_id)


def test_lambda_invoke_carries_it_in_the_client_context(opted_in: DevReceiver) -> None:
    requests: list[Any] = []
    seen = Seen()

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> Any:
        seen.record()
        client = boto3.client("lambda")
        answer_lambda(client, requests)
        return client.invoke(FunctionName="callee", Payload=json.dumps({"n": 1}))["StatusCode"]

    assert handler({}, ctx()) == 200

    [request] = requests
    parent_id = assert_carries(decoded_client_context(request)["custom"], seen)
    # The instrumentation's own carrier, beside ours: "headers" added to a JSON-object payload.
    payload = json.loads(request.body)
    assert payload["n"] == 1
    assert assert_carries(payload["headers"], seen) == parent_id
    assert opted_in.wait_for(lambda rx: len(aws_spans(rx)) >= 1)
    [span] = aws_spans(opted_in)
    assert span.name == "Lambda.Invoke"
    assert span.attributes["faas.invoked_name"] == "callee"
    assert (span.trace_id, span.span_id, span.session_id) == (seen.trace_id, parent_id, seen.session_id)


def test_a_client_context_of_the_caller_keeps_what_it_had(opted_in: DevReceiver) -> None:
    theirs = {"client": {"app_title": "mobile"}, "custom": {"tenant": "acme"}, "env": {"locale": "en"}}
    requests: list[Any] = []
    seen = Seen()

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> None:
        seen.record()
        client = boto3.client("lambda")
        answer_lambda(client, requests)
        encoded = base64.b64encode(json.dumps(theirs).encode()).decode()
        client.invoke(FunctionName="callee", ClientContext=encoded, InvocationType="RequestResponse")

    handler({}, ctx())

    [request] = requests
    document = decoded_client_context(request)
    assert document["client"] == theirs["client"]
    assert document["env"] == theirs["env"]
    assert document["custom"]["tenant"] == "acme"
    assert_carries(document["custom"], seen)


def test_a_carrier_the_caller_filled_by_hand_is_left_alone(opted_in: DevReceiver) -> None:
    queue_url = create_queue()
    by_hand = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> None:
        attributes = {TRACEPARENT: {"DataType": "String", "StringValue": by_hand}}
        boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody="x", MessageAttributes=attributes)

    handler({}, ctx())

    [message] = receive(queue_url)
    assert string_attributes(message["MessageAttributes"]) == {TRACEPARENT: by_hand}


def test_a_message_with_no_room_for_the_context_is_sent_without_and_warned_about_once(
    opted_in: DevReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    queue_url = create_queue()
    full = {f"a{n}": {"DataType": "String", "StringValue": str(n)} for n in range(9)}  # SQS takes 10

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> None:
        for _ in range(2):
            boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody="x", MessageAttributes=full)

    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        handler({}, ctx())

    for message in receive(queue_url, 2):
        assert set(message["MessageAttributes"]) == set(full)
    assert len([r for r in caplog.records if "too many message attributes" in r.getMessage()]) == 1


def test_tracings_own_aws_call_for_the_key_makes_no_span(
    opted_in: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities.parameters import base

    from honeyhive_serverless.tracer import reset_tracer

    with suppress_instrumentation():
        boto3.client("secretsmanager").create_secret(Name="hh-key", SecretString="hh-key-from-secrets")
        arn = boto3.client("secretsmanager").describe_secret(SecretId="hh-key")["ARN"]
    monkeypatch.delenv(variables.API_KEY)
    monkeypatch.setenv(variables.API_KEY_SECRET_ARN, arn)
    providers: dict[str, Any] = base.DEFAULT_PROVIDERS  # type: ignore[attr-defined]
    providers.clear()  # Powertools' cached clients would outlive the mock
    reset_tracer()
    get_tracer()  # the variable alone instruments botocore as the tracer is built
    queue_url = create_queue()

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> None:
        boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody="x")

    handler({}, ctx())
    providers.clear()

    assert opted_in.wait_for(lambda rx: len(aws_spans(rx)) >= 1)
    assert [span.attributes["rpc.method"] for span in aws_spans(opted_in)] == ["SendMessage"]
    assert {request.headers.get("authorization") for request in opted_in.otlp_requests()} == {
        "Bearer hh-key-from-secrets"
    }


# --------------------------------------------------------------------------------------------
# Once per process, never in the way


def test_off_by_default_botocore_is_untouched(lambda_env: DevReceiver) -> None:
    queue_url = create_queue()
    get_tracer()

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> None:
        boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody="x")

    handler({}, ctx())

    assert not instrumentor().is_instrumented_by_opentelemetry
    [message] = receive(queue_url)
    assert "MessageAttributes" not in message
    assert lambda_env.wait_for(lambda rx: any(span.name == "fn" for span in rx.spans))
    assert aws_spans(lambda_env) == []


def _recording_provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _count_instrument_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    original: Callable[..., Any] = BotocoreInstrumentor._instrument

    def counting(self: BotocoreInstrumentor, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(self, **kwargs)

    monkeypatch.setattr(BotocoreInstrumentor, "_instrument", counting)
    return calls


def test_applied_once_however_often_and_from_however_many_threads(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_instrument_calls(monkeypatch)
    provider, exporter = _recording_provider()
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(propagate_aws_sdk(provider))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert propagate_aws_sdk(provider)

    assert results == [True] * 8
    assert len(calls) == 1
    create_queue()  # untraced
    boto3.client("sqs").list_queues()
    assert [span.name for span in exporter.get_finished_spans()] == ["SQS.ListQueues"]  # one span, not two


def test_a_tracer_built_anew_gets_the_aws_spans(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_instrument_calls(monkeypatch)
    first, first_spans = _recording_provider()
    second, second_spans = _recording_provider()
    assert propagate_aws_sdk(first)
    assert propagate_aws_sdk(second)  # as after reset_tracer(): the old provider is shut down

    boto3.client("sqs").list_queues()

    assert len(calls) == 2
    assert first_spans.get_finished_spans() == ()
    assert [span.name for span in second_spans.get_finished_spans()] == ["SQS.ListQueues"]


def test_instrumentation_someone_else_applied_is_kept(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    theirs, their_spans = _recording_provider()
    instrumentor().instrument(tracer_provider=theirs)
    calls = _count_instrument_calls(monkeypatch)
    ours, our_spans = _recording_provider()

    assert propagate_aws_sdk(ours)

    boto3.client("sqs").list_queues()
    assert calls == []
    assert our_spans.get_finished_spans() == ()
    assert [span.name for span in their_spans.get_finished_spans()] == ["SQS.ListQueues"]
    assert {TRACEPARENT, BAGGAGE} <= propagate.get_global_textmap().fields


@pytest.mark.parametrize(
    ("hidden", "named"),
    [("opentelemetry.instrumentation.botocore", "opentelemetry-instrumentation-botocore"), ("botocore", "botocore")],
)
def test_a_missing_package_is_named_once_and_nothing_is_instrumented(
    hidden: str, named: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The next import of the instrumentation fails as if `hidden` were not installed.
    monkeypatch.delitem(sys.modules, "opentelemetry.instrumentation.botocore")
    for name in [name for name in sys.modules if name == hidden or name.startswith(hidden + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, hidden, None)
    provider, _ = _recording_provider()

    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        assert propagate_aws_sdk(provider) is False
        assert propagate_aws_sdk(provider) is False

    [record] = caplog.records
    assert named in record.getMessage()
    assert "not traced" in record.getMessage()
    assert not instrumentor().is_instrumented_by_opentelemetry


def test_a_failure_inside_is_a_warning_not_an_exception(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: BotocoreInstrumentor, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(BotocoreInstrumentor, "_instrument", broken)
    provider, _ = _recording_provider()
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        assert propagate_aws_sdk(provider) is False
    assert "RuntimeError: boom" in caplog.text


# --------------------------------------------------------------------------------------------
# The global propagator


def test_the_default_propagator_already_has_both_and_is_kept() -> None:
    before = propagate.get_global_textmap()
    assert {TRACEPARENT, BAGGAGE} <= before.fields  # OTEL_PROPAGATORS' default: tracecontext,baggage
    aws_sdk.include_w3c_propagators()
    assert propagate.get_global_textmap() is before


def test_a_propagator_without_w3c_gets_both_and_keeps_its_own() -> None:
    propagate.set_global_textmap(AwsXRayPropagator())  # as OTEL_PROPAGATORS=xray sets it
    aws_sdk.include_w3c_propagators()
    composed = propagate.get_global_textmap()
    assert {TRACEPARENT, "tracestate", BAGGAGE, XRAY_HEADER} <= composed.fields

    tracer = TracerProvider().get_tracer("t")
    from opentelemetry import baggage
    from opentelemetry import context as otel_context

    token = otel_context.attach(baggage.set_baggage(SESSION_KEY, "s-1"))
    try:
        with tracer.start_as_current_span("caller") as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            trace_id = span.get_span_context().trace_id
    finally:
        otel_context.detach(token)
    assert {TRACEPARENT, BAGGAGE, XRAY_HEADER} <= set(carrier)
    assert baggage_entries(carrier[BAGGAGE]) == {SESSION_KEY: "s-1"}

    # Where both trace headers arrive and disagree, the user's own propagator still decides.
    other = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    extracted = propagate.extract({**carrier, TRACEPARENT: other})
    assert trace.get_current_span(extracted).get_span_context().trace_id == trace_id
    # And where only W3C arrives, W3C is read.
    only_w3c = propagate.extract({TRACEPARENT: other})
    assert format(trace.get_current_span(only_w3c).get_span_context().trace_id, "032x") == "a" * 32


def _run(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_"))}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**clean, **env}, check=True
    )
    return result.stdout.strip()


def test_otel_propagators_xray_is_kept_beside_w3c_in_a_fresh_process() -> None:
    code = (
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from honeyhive_serverless.aws_sdk import propagate_aws_sdk\n"
        "from opentelemetry import propagate\n"
        "assert propagate_aws_sdk(TracerProvider())\n"
        "print(','.join(sorted(propagate.get_global_textmap().fields)))"
    )
    fields = _run(code, OTEL_PROPAGATORS="xray", AWS_DEFAULT_REGION=REGION)
    assert fields.split(",") == sorted([XRAY_HEADER, BAGGAGE, TRACEPARENT, "tracestate"])


def test_nothing_loads_the_instrumentation_unless_the_opt_in_runs() -> None:
    code = (
        "import sys, honeyhive_serverless.aws_sdk\n"
        "from honeyhive_serverless import get_tracer\n"
        "get_tracer()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.instrumentation', 'botocore'))))"
    )
    assert _run(code, **{variables.LAMBDA_FUNCTION_NAME: "fn"}) == "[]"


def test_the_variable_alone_turns_it_on_when_the_tracer_is_built() -> None:
    code = (
        "import sys\n"
        "from opentelemetry import propagate\n"
        "from honeyhive_serverless import get_tracer\n"
        "get_tracer()\n"
        "from opentelemetry.instrumentation.botocore import BotocoreInstrumentor\n"
        "assert BotocoreInstrumentor().is_instrumented_by_opentelemetry\n"
        "print(','.join(sorted(propagate.get_global_textmap().fields)))"
    )
    env = {variables.PROPAGATE_AWS_SDK: "true", "OTEL_PROPAGATORS": "xray", variables.LAMBDA_FUNCTION_NAME: "fn"}
    assert _run(code, **env).split(",") == sorted([XRAY_HEADER, BAGGAGE, TRACEPARENT, "tracestate"])
