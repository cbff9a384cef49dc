"""``HH_INSTRUMENTORS`` under the real ``awslambdaric``: the official ``openai`` client, traced by the real
``openinference-instrumentation-openai``, calling a fake OpenAI server on loopback, in a function whose
code has no tracing in it (``tests/sandbox_handlers/llm.py``), behind the zero-code redirect and
decorated. What is judged is what the receiver got: per invocation one OTLP request, holding the
invocation span and the LLM span, in that invocation's session.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import API_KEY, REPO, MakeEmulator
from honeyhive_serverless.scope import OPEN_AT_RETURN
from honeyhive_serverless.variables import REDIRECT_HANDLER
from honeyhive_serverless_dev.emulator import LambdaEmulator
from honeyhive_serverless_dev.fake_openai import REPLY, FakeOpenAI
from honeyhive_serverless_dev.receiver import DevReceiver
from honeyhive_serverless_dev.receiver.otlp import ReceivedSpan

FUNCTION = "llm-function"
#: How the function is deployed: the zero-code redirect to llm.handler, or llm_decorated.handler.
FORMS: dict[str, tuple[str, dict[str, str]]] = {
    "zero-code": (REDIRECT_HANDLER, {"HH_LAMBDA_HANDLER": "llm.handler"}),
    "decorated": ("llm_decorated.handler", {}),
}


@pytest.fixture
def openai_api() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as api:
        yield api


def _function(
    emulators: MakeEmulator, receiver: DevReceiver, api: FakeOpenAI, form: str, instrumentors: str | None
) -> LambdaEmulator:
    env = {
        "HH_API_URL": receiver.url,
        "HH_API_KEY": API_KEY,
        "HH_PROJECT": "test-project",
        "OPENAI_BASE_URL": api.base_url,
        "OPENAI_API_KEY": "sk-fake-for-the-loopback-server",
        # The sandbox imports this checkout's runtime (not whatever the venv has installed).
        "PYTHONPATH": str(REPO / "layer"),
        **FORMS[form][1],
    }
    if instrumentors is not None:
        env["HH_INSTRUMENTORS"] = instrumentors
    return emulators(FORMS[form][0], env=env, function_name=FUNCTION)


def _is_llm(span: ReceivedSpan) -> bool:
    return span.attributes.get("openinference.span.kind") == "LLM"


def _invoke_and_collect(
    emulator: LambdaEmulator, receiver: DevReceiver, event: dict[str, Any]
) -> tuple[dict[str, Any], list[ReceivedSpan]]:
    """Invoke once; the spans of the OTLP requests this invocation made (sent before it returned)."""
    before = len(receiver.otlp_requests())
    result = emulator.invoke(event)
    assert result.ok, result.error
    requests = receiver.otlp_requests()[before:]
    assert len(requests) == 1, f"expected one OTLP request per invocation, got {len(requests)}"
    spans = [span for span in receiver.spans if span.request_index == before]
    return result.payload, spans


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_invocation_has_its_llm_span_in_its_own_session_and_one_request(
    form: str, emulators: MakeEmulator, receiver: DevReceiver, openai_api: FakeOpenAI
) -> None:
    emulator = _function(emulators, receiver, openai_api, form, "openai")
    sessions = []
    for n in range(3):
        payload, spans = _invoke_and_collect(emulator, receiver, {"prompt": f"hello {n}"})
        assert payload == {"reply": REPLY}
        [invocation] = [span for span in spans if span.name == FUNCTION]
        [llm] = [span for span in spans if _is_llm(span)]
        assert llm.session_id == invocation.session_id is not None
        assert (llm.trace_id, llm.parent_span_id) == (invocation.trace_id, invocation.span_id)
        assert llm.attributes["honeyhive_event_type"] == "model"
        assert llm.attributes["llm.model_name"] == "gpt-4o-mini"
        assert llm.attributes["llm.token_count.total"] > 0
        assert f"hello {n}" in str(llm.attributes.get("llm.input_messages.0.message.content"))
        sessions.append(invocation.session_id)
    assert len(set(sessions)) == 3
    assert [request["messages"][0]["content"] for request in openai_api.requests] == ["hello 0", "hello 1", "hello 2"]
    assert emulator.cold_starts == 1


def test_without_the_variable_the_llm_call_is_not_traced(
    emulators: MakeEmulator, receiver: DevReceiver, openai_api: FakeOpenAI
) -> None:
    emulator = _function(emulators, receiver, openai_api, "zero-code", None)
    payload, spans = _invoke_and_collect(emulator, receiver, {})
    assert payload == {"reply": REPLY}
    assert [span.name for span in spans] == [FUNCTION]


@pytest.mark.parametrize(
    ("event", "left_open"),
    [
        ({"stream": True}, False),  # read to the end
        ({"stream": True, "read": 1}, False),  # left early: dropped as the handler returns
        ({"stream": True, "read": 1, "keep": True}, True),  # left early and kept alive past the return
    ],
    ids=["consumed", "abandoned", "kept-open"],
)
def test_a_streamed_completion_is_exported_before_the_invocation_returns(
    event: dict[str, Any], left_open: bool, emulators: MakeEmulator, receiver: DevReceiver, openai_api: FakeOpenAI
) -> None:
    emulator = _function(emulators, receiver, openai_api, "zero-code", "openai")
    payload, spans = _invoke_and_collect(emulator, receiver, event)
    expected = REPLY if "read" not in event else REPLY.split()[0]
    assert payload == {"reply": expected}
    [invocation] = [span for span in spans if span.name == FUNCTION]
    [llm] = [span for span in spans if _is_llm(span)]
    assert llm.session_id == invocation.session_id
    assert llm.end_ns <= invocation.end_ns
    assert llm.attributes.get(OPEN_AT_RETURN, False) is left_open
    if "read" not in event:
        assert llm.attributes["llm.output_messages.0.message.content"] == REPLY


def test_an_unknown_instrumentor_gets_one_warning_and_the_function_is_served(
    emulators: MakeEmulator, receiver: DevReceiver, openai_api: FakeOpenAI
) -> None:
    emulator = _function(emulators, receiver, openai_api, "zero-code", "openai,no-such-instrumentor")
    for _ in range(2):
        payload, spans = _invoke_and_collect(emulator, receiver, {})
        assert payload == {"reply": REPLY}
        assert any(_is_llm(span) for span in spans)
    warnings = [line for line in emulator.logs.splitlines() if "no_such_instrumentor" in line]
    assert len(warnings) == 1, emulator.logs
    assert "is not an installed instrumentor" in warnings[0]
    assert "openai" in warnings[0]  # what is installed, to choose from
