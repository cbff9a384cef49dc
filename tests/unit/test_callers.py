"""Callers named right: a Bedrock AgentCore Gateway's tool call (told by its client context, not its
event), the conversations OpenTelemetry's baggage keys name (``session.id``, ``gen_ai.conversation.id``)
wherever baggage arrives, and the invocation's X-Ray trace id beside the W3C trace. Judged by what the
dev receiver got; ``tests/integration/test_callers_under_awslambdaric.py`` runs the gateway's call and
the X-Ray id through the real runtime client.
"""

from __future__ import annotations

import json
import logging
import secrets
from types import SimpleNamespace
from typing import Any

import pytest

from honeyhive_serverless import get_tracer, trace, with_honeyhive_session
from honeyhive_serverless.sessions import conversation_session_id
from honeyhive_serverless.wire import AUTO_CREATE_KEY
from honeyhive_serverless_dev.asgi_serving import served_asgi
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver, ReceivedSpan
from trigger_shapes import FUNCTION, new_id
from web_apps import fastapi_app
from web_servers import get

PROJECT = "test-project"  # conftest's hh_env
TOOL_SPAN = "get_forecast"


@trace
def step(n: int) -> int:
    return n + 1


@with_honeyhive_session
def handler(event: Any, context: Any) -> dict[str, Any]:
    step(1)
    return {"arguments": event, "session_id": get_tracer().session_id}


def invocation_span(receiver: DevReceiver) -> ReceivedSpan:
    (span,) = [s for s in receiver.spans if s.span_kind == "SERVER"]
    return span


def traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def gateway_context(headers: Any = None, tool: str = f"Weather___{TOOL_SPAN}") -> LambdaContext:
    """What awslambdaric hands a function an AgentCore Gateway invokes: the tool and the gateway's ids in
    ``ClientContext.custom``, the allowed request headers under ``bedrockAgentCorePropagatedHeaders``."""
    custom: dict[str, Any] = {
        "bedrockAgentCoreMessageVersion": "1.0",
        "bedrockAgentCoreAwsRequestId": new_id(),
        "bedrockAgentCoreMcpMessageId": "17",
        "bedrockAgentCoreGatewayId": "weather-gw-1a2b3c",
        "bedrockAgentCoreTargetId": "TGT0123456",
        "bedrockAgentCoreToolName": tool,
    }
    if headers is not None:
        custom["bedrockAgentCorePropagatedHeaders"] = headers
    context = LambdaContext(function_name=FUNCTION)
    context.client_context = SimpleNamespace(custom=custom, env=None, client=None)
    return context


# -- Bedrock AgentCore Gateway ---------------------------------------------------------------------------


def test_a_gateway_tool_call_is_named_by_its_tool_and_joins_the_session_its_caller_names(
    lambda_env: DevReceiver,
) -> None:
    named = new_id()
    # A tool argument that happens to be called session_id is the model's, not a session.
    arguments = {"city": "Paris", "session_id": new_id()}
    result = handler(arguments, gateway_context({"X-Session-ID": named, "x-tenant": "acme"}))
    assert result == {"arguments": {"city": "Paris", "session_id": arguments["session_id"]}, "session_id": named}
    span = invocation_span(lambda_env)
    assert span.name == TOOL_SPAN
    assert span.attributes["honeyhive_event_name"] == TOOL_SPAN
    assert span.attributes["gen_ai.operation.name"] == "execute_tool"
    assert span.attributes["gen_ai.tool.name"] == TOOL_SPAN
    assert span.attributes["faas.trigger"] == "other"
    assert span.attributes["jsonrpc.request.id"] == "17"
    assert span.attributes["aws.bedrock_agentcore.gateway.id"] == "weather-gw-1a2b3c"
    assert span.attributes["aws.bedrock_agentcore.gateway.target.id"] == "TGT0123456"
    assert span.attributes["faas.name"] == FUNCTION
    assert {s.session_id for s in lambda_env.spans} == {named}
    assert lambda_env.session_starts == []


def test_a_gateway_tool_call_continues_the_trace_and_the_agentcore_session_in_its_headers(
    lambda_env: DevReceiver,
) -> None:
    trace_id, span_id, parent = traceparent()
    # Some runtimes hand the propagated headers over as their JSON text.
    headers = json.dumps({"Traceparent": parent, "Baggage": "session.id=agentcore-session-0042"})
    result = handler({"city": "Oslo"}, gateway_context(headers))
    expected = conversation_session_id("agentcore-session-0042", PROJECT)
    assert result["session_id"] == expected
    span = invocation_span(lambda_env)
    assert (span.trace_id, span.parent_span_id) == (trace_id, span_id)
    assert {s.session_id for s in lambda_env.spans} == {expected}
    assert all(s.attributes[AUTO_CREATE_KEY] is True for s in lambda_env.spans)  # asked for, never started
    assert lambda_env.session_starts == []


def test_a_gateway_tool_call_naming_no_session_starts_one_saying_who_called(lambda_env: DevReceiver) -> None:
    handler({"city": "Rome"}, gateway_context(tool="lookup"))  # a tool name without a target's prefix
    [start] = lambda_env.session_starts
    assert (start["metadata"]["trigger"], start["metadata"]["trigger_source"]) == (
        "agentcore-gateway",
        "aws:bedrock-agentcore",
    )
    assert invocation_span(lambda_env).name == "lookup"


def test_a_direct_invoke_with_another_client_context_is_still_a_direct_invoke(lambda_env: DevReceiver) -> None:
    context = LambdaContext(function_name=FUNCTION)
    context.client_context = SimpleNamespace(custom={"bedrockAgentCoreToolName": ""}, env=None, client=None)
    handler({"q": 1}, context)
    span = invocation_span(lambda_env)
    assert span.name == FUNCTION and "gen_ai.tool.name" not in span.attributes
    assert lambda_env.session_starts[0]["metadata"]["trigger"] == "direct"


# -- conversations named in baggage ---------------------------------------------------------------------------


def _rest(headers: dict[str, str]) -> dict[str, Any]:
    return {"httpMethod": "POST", "path": "/chat", "headers": headers, "requestContext": {"stage": "prod"}}


def _client_context(carrier: dict[str, str]) -> tuple[Any, LambdaContext]:
    context = LambdaContext(function_name=FUNCTION)
    context.client_context = SimpleNamespace(custom=carrier, env=None, client=None)
    return {"q": 1}, context


def _sqs(carrier: dict[str, str]) -> tuple[Any, LambdaContext]:
    attributes = {name: {"stringValue": value, "dataType": "String"} for name, value in carrier.items()}
    record = {"eventSource": "aws:sqs", "messageId": new_id(), "body": "{}", "messageAttributes": attributes}
    return {"Records": [record]}, LambdaContext(function_name=FUNCTION)


CARRIERS = {
    "http-headers": lambda carrier: (_rest(carrier), LambdaContext(function_name=FUNCTION)),
    "client-context": _client_context,
    "sqs-message-attributes": _sqs,
}


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize("key", ["session.id", "gen_ai.conversation.id"])
def test_a_conversation_in_the_callers_baggage_is_one_session(lambda_env: DevReceiver, carrier: str, key: str) -> None:
    sessions = []
    for _ in range(2):
        _, _, parent = traceparent()
        event, context = CARRIERS[carrier]({"traceparent": parent, "baggage": f"{key}=conversation%20A7"})
        sessions.append(handler(event, context)["session_id"])
    expected = conversation_session_id("conversation A7", PROJECT)
    assert sessions == [expected, expected]
    assert {s.session_id for s in lambda_env.spans} == {expected}
    assert lambda_env.session_starts == []


def test_an_explicit_session_beats_a_conversation_in_baggage(lambda_env: DevReceiver) -> None:
    in_baggage, in_header = new_id(), new_id()
    conversation = "session.id=conv-1,gen_ai.conversation.id=conv-2"
    assert (
        handler(_rest({"baggage": f"{conversation},session_id={in_baggage}"}), LambdaContext(FUNCTION))["session_id"]
        == in_baggage
    )
    assert (
        handler(_rest({"baggage": conversation, "X-Session-ID": in_header}), LambdaContext(FUNCTION))["session_id"]
        == in_header
    )
    # Of the two conversation keys, OpenTelemetry's session convention comes first.
    assert handler(_rest({"baggage": conversation}), LambdaContext(FUNCTION))["session_id"] == (
        conversation_session_id("conv-1", PROJECT)
    )


def test_conversations_in_baggage_can_be_turned_off(lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HH_CONVERSATION_SESSIONS", "false")
    off = with_honeyhive_session(handler.__wrapped__)  # type: ignore[attr-defined]  # read as it is decorated
    seen = {off(_rest({"baggage": "session.id=conv-1"}), LambdaContext(FUNCTION))["session_id"] for _ in range(2)}
    assert len(seen) == 2 and conversation_session_id("conv-1", PROJECT) not in seen


def test_an_unusable_conversation_key_warns_once_and_starts_a_new_session(
    lambda_env: DevReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        handler(_rest({"baggage": "session.id=" + "x" * 300}), LambdaContext(FUNCTION))
    [line] = [record.getMessage() for record in caplog.records]
    assert "conversation key in the api-gateway-rest event (baggage session.id): too long" in line
    assert len(lambda_env.session_starts) == 1


def test_a_web_request_whose_baggage_names_a_conversation_joins_its_session(
    hh_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K_SERVICE", "hh-web-test")
    with served_asgi(fastapi_app()) as port:
        replies = [get(port, f"/chat/{n}", {"baggage": "gen_ai.conversation.id=web-conv-9"}) for n in (1, 2)]
    expected = conversation_session_id("web-conv-9", PROJECT)
    assert [reply.headers["x-session-id"] for reply in replies] == [expected, expected]
    assert {s.session_id for s in hh_env.spans} == {expected}


# -- X-Ray ------------------------------------------------------------------------------------------------


def test_the_invocations_xray_trace_id_is_recorded_and_the_w3c_trace_is_kept(
    lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    roots = ["1-5759e988-bd862e3fe1be46a994272793", "1-6698980d-e829ae270ab34b69b488b098"]
    trace_id, span_id, parent = traceparent()
    for root in roots:  # as the runtime client sets it before each invocation
        monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1")
        handler(_rest({"traceparent": parent}), LambdaContext(FUNCTION))
    spans = [s for s in lambda_env.spans if s.span_kind == "SERVER"]
    assert [s.attributes["aws.xray.trace_id"] for s in spans] == roots
    assert {(s.trace_id, s.parent_span_id) for s in spans} == {(trace_id, span_id)}


@pytest.mark.parametrize("header", ["", "Parent=53995c3f42cd8ad8", "Root=2-abc;Sampled=1", "Root=" + "1-" * 40])
def test_no_xray_trace_id_is_recorded_from_a_header_that_has_none(
    lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch, header: str
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", header)
    assert handler({"q": 1}, LambdaContext(FUNCTION))["arguments"] == {"q": 1}
    assert "aws.xray.trace_id" not in invocation_span(lambda_env).attributes
