"""Callers named right through the real runtime client (``awslambdaric`` under the emulator): a Bedrock
AgentCore Gateway's tool call, as the runtime hands its client context over, and each invocation's
X-Ray trace id, as the runtime sets ``_X_AMZN_TRACE_ID`` from the Runtime API's ``Lambda-Runtime-Trace-Id``.
``tests/unit/test_callers.py`` has the rules in-process."""

from __future__ import annotations

import secrets
from typing import Any

from conftest import API_KEY, REPO, MakeEmulator
from honeyhive_serverless_dev.emulator import LambdaEmulator
from honeyhive_serverless_dev.receiver import DevReceiver, ReceivedSpan
from trigger_shapes import new_id

FUNCTION = "weather-tools"


def _tool_function(emulators: MakeEmulator, receiver: DevReceiver) -> LambdaEmulator:
    # PYTHONPATH: the sandbox imports this checkout's runtime (not whatever the venv has installed).
    env = {
        "HH_API_URL": receiver.url,
        "HH_API_KEY": API_KEY,
        "HH_PROJECT": "test-project",
        "PYTHONPATH": str(REPO / "layer"),
    }
    return emulators("distributed.handler", env=env, function_name=FUNCTION)


def _invocation_spans(receiver: DevReceiver, count: int) -> list[ReceivedSpan]:
    assert receiver.wait_for(lambda rx: len([s for s in rx.spans if s.span_kind == "SERVER"]) == count)
    return [span for span in receiver.spans if span.span_kind == "SERVER"]


def test_an_agentcore_gateway_tool_call_is_the_tool_in_the_callers_trace_and_session(
    receiver: DevReceiver, emulators: MakeEmulator
) -> None:
    trace_id, span_id, session_id = secrets.token_hex(16), secrets.token_hex(8), new_id()
    custom: dict[str, Any] = {
        "bedrockAgentCoreMessageVersion": "1.0",
        "bedrockAgentCoreMcpMessageId": "3",
        "bedrockAgentCoreGatewayId": "weather-gw-1a2b3c",
        "bedrockAgentCoreTargetId": "TGT0123456",
        "bedrockAgentCoreToolName": "Weather___get_forecast",
        "bedrockAgentCorePropagatedHeaders": {
            "traceparent": f"00-{trace_id}-{span_id}-01",
            "X-Session-ID": session_id,
        },
    }
    result = _tool_function(emulators, receiver).invoke({"n": 2}, client_context={"custom": custom})
    assert result.ok, result.error
    assert (result.payload["session_id"], result.payload["trace_id"]) == (session_id, trace_id)
    [span] = _invocation_spans(receiver, 1)
    assert (span.name, span.attributes["gen_ai.tool.name"], span.attributes["faas.trigger"]) == (
        "get_forecast",
        "get_forecast",
        "other",
    )
    assert (span.trace_id, span.parent_span_id, span.session_id) == (trace_id, span_id, session_id)
    assert {s.session_id for s in receiver.spans} == {session_id}
    assert receiver.session_starts == []


def test_each_invocation_records_its_own_xray_trace_id(receiver: DevReceiver, emulators: MakeEmulator) -> None:
    function = _tool_function(emulators, receiver)
    results = [function.invoke({"n": n}) for n in range(2)]
    assert all(result.ok for result in results), [result.error for result in results]
    headers = [str(result.payload["xray_trace_header"]) for result in results]
    roots = [header.split(";")[0].removeprefix("Root=") for header in headers]
    assert roots[0] != roots[1] and all(root.startswith("1-") for root in roots), headers
    spans = _invocation_spans(receiver, 2)
    assert [span.attributes["aws.xray.trace_id"] for span in spans] == roots
    # The trace is this package's own (no W3C caller here), never X-Ray's.
    assert all(span.trace_id != root[2:].replace("-", "") for span, root in zip(spans, roots, strict=True))
