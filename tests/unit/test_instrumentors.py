"""``HH_INSTRUMENTORS``: the selection rule, and instrumentors applied with the tracer's provider, in
process: the real ``openai`` client and OpenInference's instrumentor against the fake OpenAI server,
and OpenTelemetry's own ``BaseInstrumentor`` for the failure cases (a missing library, a failing
instrumentor), registered as real entry points of a distribution on ``sys.path``."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from conftest import make_tracer
from honeyhive_serverless import HoneyHiveTracer, get_tracer, trace
from honeyhive_serverless.config import resolve_config
from honeyhive_serverless.export.event_types import event_type_of
from honeyhive_serverless.instrumentors import InstrumentorSelection, parse_instrumentors
from honeyhive_serverless.tracer import reset_tracer
from honeyhive_serverless_dev.fake_openai import REPLY, FakeOpenAI
from honeyhive_serverless_dev.receiver import DevReceiver

LOGGER = "honeyhive_serverless"


@pytest.mark.parametrize(
    ("value", "disabled", "expected"),
    [
        (None, "", InstrumentorSelection()),
        ("", "", InstrumentorSelection()),
        ("openai", "", InstrumentorSelection(names=("openai",))),
        (" OpenAI , Google-GenAI,openai ", "", InstrumentorSelection(names=("openai", "google_genai"))),
        ("all", "", InstrumentorSelection(everything=True)),
        (
            "all,-langchain",
            "mcp, openai_agents",
            InstrumentorSelection(True, (), ("langchain", "mcp", "openai_agents")),
        ),
        ("openai,-openai", "", InstrumentorSelection(excluded=("openai",))),
        ("openai", "openai", InstrumentorSelection(names=("openai",))),  # OTel's list only trims `all`
        (["anthropic", "bedrock"], "", InstrumentorSelection(names=("anthropic", "bedrock"))),
    ],
)
def test_the_selection_rule(value: Any, disabled: str, expected: InstrumentorSelection) -> None:
    assert parse_instrumentors(value, disabled) == expected


def test_the_variable_and_the_argument_resolve_in_config() -> None:
    env = {"HH_INSTRUMENTORS": "all,-mcp", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "langchain"}
    assert resolve_config(env=env).instrumentors == InstrumentorSelection(True, (), ("mcp", "langchain"))
    assert resolve_config(instrumentors=["openai"], env=env).instrumentors.names == ("openai",)
    assert not resolve_config(env={}).instrumentors
    with pytest.raises(ValueError, match="instrumentors"):
        resolve_config(instrumentors=3, env={})  # type: ignore[arg-type]


def test_naming_botocore_is_the_aws_sdk_opt_in() -> None:
    assert resolve_config(env={"HH_INSTRUMENTORS": "openai,botocore"}).propagate_aws_sdk
    assert not resolve_config(env={"HH_INSTRUMENTORS": "all"}).propagate_aws_sdk


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"openinference.span.kind": "LLM"}, "model"),
        ({"openinference.span.kind": "CHAIN"}, "chain"),
        ({"openinference.span.kind": "AGENT"}, "chain"),
        ({"openinference.span.kind": "TOOL"}, "tool"),
        ({"openinference.span.kind": "RETRIEVER"}, "tool"),
        ({"openinference.span.kind": "EMBEDDING"}, "tool"),
        ({"gen_ai.operation.name": "chat"}, "model"),
        ({"gen_ai.operation.name": "embeddings"}, "model"),
        ({"gen_ai.operation.name": "execute_tool"}, "tool"),
        ({"gen_ai.operation.name": "invoke_agent"}, "chain"),
        # gen_ai.operation.name first, as HoneyHive maps them
        ({"gen_ai.operation.name": "execute_tool", "openinference.span.kind": "LLM"}, "tool"),
        ({"gen_ai.operation.name": "something_new"}, None),
        ({"http.method": "GET"}, None),
    ],
)
def test_event_types_as_honeyhive_maps_them(attributes: dict[str, Any], expected: str | None) -> None:
    assert event_type_of(attributes) == expected


# -- applied with the tracer's provider ------------------------------------------------------------


@pytest.fixture
def openai_api() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as api:
        yield api


def _complete(api: FakeOpenAI) -> str:
    client = OpenAI(base_url=api.base_url, api_key="sk-fake")
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    return completion.choices[0].message.content or ""


def _llm_spans(receiver: DevReceiver) -> list[Any]:
    return [span for span in receiver.spans if span.attributes.get("openinference.span.kind") == "LLM"]


@pytest.mark.parametrize("value", ["openai", "all"])
def test_an_instrumentor_sends_its_spans_through_the_tracer_in_its_session(
    value: str, receiver: DevReceiver, openai_api: FakeOpenAI
) -> None:
    tracer = make_tracer(receiver, instrumentors=value)
    session_id = tracer.create_session(session_name="chat")

    @trace(tracer=tracer, event_type="chain")
    def answer() -> str:
        return _complete(openai_api)

    assert answer() == REPLY
    tracer.flush()
    [llm] = _llm_spans(receiver)
    [chain] = [span for span in receiver.spans if span.name == "answer"]
    assert llm.session_id == session_id == chain.session_id
    assert llm.parent_span_id == chain.span_id
    assert (llm.attributes["honeyhive_event_type"], chain.attributes["honeyhive_event_type"]) == ("model", "chain")


def test_without_instrumentors_nothing_is_instrumented(receiver: DevReceiver, openai_api: FakeOpenAI) -> None:
    tracer = make_tracer(receiver)
    assert _complete(openai_api) == REPLY
    tracer.flush()
    assert _llm_spans(receiver) == []


def test_a_new_tracer_takes_the_instrumentation_over_and_reset_removes_it(
    monkeypatch: pytest.MonkeyPatch, receiver: DevReceiver, openai_api: FakeOpenAI
) -> None:
    monkeypatch.setenv("HH_API_KEY", "hh-key")
    monkeypatch.setenv("HH_API_URL", receiver.url)
    monkeypatch.setenv("HH_EXPORT_MODE", "immediate")
    monkeypatch.setenv("HH_INSTRUMENTORS", "openai")
    first = get_tracer()
    reset_tracer()  # first is shut down; its instrumentation removed
    monkeypatch.delenv("HH_INSTRUMENTORS")
    _complete(openai_api)
    assert _llm_spans(receiver) == []
    monkeypatch.setenv("HH_INSTRUMENTORS", "openai")
    second = get_tracer()
    assert second is not first
    _complete(openai_api)
    second.flush()
    assert len(_llm_spans(receiver)) == 1


def test_an_instrumentor_the_user_applied_is_left_alone(
    caplog: pytest.LogCaptureFixture, receiver: DevReceiver, openai_api: FakeOpenAI
) -> None:
    from openinference.instrumentation.openai import OpenAIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider

    own = TracerProvider()
    OpenAIInstrumentor().instrument(tracer_provider=own)
    try:
        with caplog.at_level(logging.INFO, logger=LOGGER):
            tracer = make_tracer(receiver, instrumentors="openai")
        _complete(openai_api)
        tracer.flush()
        assert _llm_spans(receiver) == []  # they went to the user's provider
        assert any("instrumented already" in record.getMessage() for record in caplog.records)
    finally:
        OpenAIInstrumentor().uninstrument()


# -- what goes wrong gets one warning line each --------------------------------------------------------

FAKE_DISTRIBUTION = """\
Metadata-Version: 2.1
Name: hh-test-instrumentors
Version: 1.0
"""
ENTRY_POINTS = """\
[opentelemetry_instrumentor]
needs_missing = hh_test_instrumentors:NeedsMissingLibrary
needs_newer = hh_test_instrumentors:NeedsNewerPytest
broken = hh_test_instrumentors:Broken
"""
MODULE = """
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor


class NeedsMissingLibrary(BaseInstrumentor):
    def instrumentation_dependencies(self):
        return ("no-such-library-for-honeyhive >= 1",)

    def _instrument(self, **kwargs):
        raise AssertionError("never applied: its library is missing")

    def _uninstrument(self, **kwargs):
        pass


class NeedsNewerPytest(BaseInstrumentor):
    def instrumentation_dependencies(self):
        return ("pytest >= 999",)

    def _instrument(self, **kwargs):
        raise AssertionError("never applied: the installed pytest is older")

    def _uninstrument(self, **kwargs):
        pass


class Broken(BaseInstrumentor):
    def instrumentation_dependencies(self):
        return ()

    def _instrument(self, **kwargs):
        raise RuntimeError("this instrumentor is broken")

    def _uninstrument(self, **kwargs):
        pass
"""


@pytest.fixture
def test_instrumentors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Three instrumentors, installed as a distribution is: a module and its dist-info on ``sys.path``."""
    (tmp_path / "hh_test_instrumentors.py").write_text(MODULE)
    info = tmp_path / "hh_test_instrumentors-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(FAKE_DISTRIBUTION)
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("hh_test_instrumentors", None)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith(LOGGER)]


@pytest.mark.usefixtures("test_instrumentors")
def test_named_problems_get_one_warning_line_each(
    caplog: pytest.LogCaptureFixture, receiver: DevReceiver, openai_api: FakeOpenAI
) -> None:
    with caplog.at_level(logging.WARNING):
        tracer = make_tracer(receiver, instrumentors="openai,needs-missing,needs_newer,broken,nonesuch")
    warnings = _warnings(caplog)
    assert len(warnings) == 4, warnings
    missing, newer, broken, unknown = warnings
    assert "needs_missing is not applied" in missing and "no-such-library-for-honeyhive" in missing
    assert "needs_newer is not applied" in newer and "pytest" in newer
    assert "broken failed (RuntimeError: this instrumentor is broken)" in broken
    assert "HH_INSTRUMENTORS='nonesuch' is not an installed instrumentor" in unknown and "openai" in unknown
    # The rest still applies, and tracing works.
    assert _complete(openai_api) == REPLY
    tracer.flush()
    assert len(_llm_spans(receiver)) == 1


@pytest.mark.usefixtures("test_instrumentors")
def test_all_passes_over_missing_libraries_quietly_but_not_over_failures(
    caplog: pytest.LogCaptureFixture, receiver: DevReceiver, openai_api: FakeOpenAI
) -> None:
    with caplog.at_level(logging.WARNING):
        tracer = make_tracer(receiver, instrumentors="all")
    warnings = _warnings(caplog)
    assert len(warnings) == 2, warnings  # the version out of range and the failure; the missing one is quiet
    assert "needs_newer is not applied" in warnings[0]
    assert "broken failed" in warnings[1]
    assert _complete(openai_api) == REPLY
    tracer.flush()
    assert len(_llm_spans(receiver)) == 1


def test_the_kill_switch_applies_no_instrumentor(receiver: DevReceiver, openai_api: FakeOpenAI) -> None:
    tracer = HoneyHiveTracer.init(
        api_key="k", server_url=receiver.url, instrumentors="openai", disable_tracing=True, export_mode="immediate"
    )
    assert _complete(openai_api) == REPLY
    tracer.flush()
    assert receiver.spans == []
