"""What goes over the wire has the HoneyHive SDK's shape (reference: honeyhive-wire.md)."""

from __future__ import annotations

import json
import uuid

from conftest import API_KEY, make_tracer
from honeyhive_serverless import trace
from honeyhive_serverless_dev.receiver import DevReceiver


def test_traced_span_carries_the_sdk_attributes_with_their_types(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)
    session_id = tracer.create_session(session_name="wire")

    @trace(event_type="model", tracer=tracer)
    def llm_call(prompt: str, chat: list[dict[str, str]]) -> dict[str, str]:
        tracer.enrich_span(
            metadata={"model": "gpt-x", "nested": {"a": 1}},
            metrics={"latency_ms": 12.5},
            feedback={"thumbs": True},
            config={"temperature": 0.1},
            user_properties={"user_id": "u1"},
        )
        return {"completion": "42"}

    assert llm_call("hello", chat=[{"role": "user", "content": "hi"}]) == {"completion": "42"}

    [span] = receiver.spans
    attrs = span.attributes
    assert span.name == "llm_call"
    expected = {
        "honeyhive.session_id": session_id,
        "traceloop.association.properties.session_id": session_id,
        "honeyhive.project": "test-project",
        "traceloop.association.properties.project": "test-project",
        "honeyhive.source": "dev",
        "traceloop.association.properties.source": "dev",
        "honeyhive_event_type": "model",
        "honeyhive_event_name": "llm_call",
        "honeyhive_inputs.prompt": "hello",
        "honeyhive_inputs.chat.0.role": "user",
        "honeyhive_metadata.model": "gpt-x",
        "honeyhive_metadata.nested.a": 1,
        "honeyhive_metrics.latency_ms": 12.5,
        "honeyhive_feedback.thumbs": True,
        "honeyhive_config.temperature": 0.1,
        "honeyhive_user_properties.user_id": "u1",
        "honeyhive_outputs.result.completion": "42",
    }
    for key, value in expected.items():
        assert attrs[key] == value, key
        assert type(attrs[key]) is type(value), key
    assert isinstance(attrs["honeyhive_duration_ms"], float)


def test_export_request_has_the_sdk_headers(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, source="unit")
    with tracer.otel_tracer.start_as_current_span("one"):
        pass
    [request] = receiver.otlp_requests()
    assert request.path == "/opentelemetry/v1/traces"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["x-source"] == "unit"
    assert request.headers["content-type"] == "application/x-protobuf"
    assert request.headers["hh-client-language"] == "python"
    assert request.headers["hh-client-package"] == "honeyhive-serverless"
    assert request.headers["hh-client-version"]


def test_session_start_and_enrich_bodies_have_the_sdk_shape(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)
    session_id = tracer.create_session(
        session_name="shape", inputs={"q": "hi"}, metadata={"m": 1}, user_properties={"u": "x"}
    )
    assert session_id is not None
    uuid.UUID(session_id)
    [start] = receiver.session_starts
    assert start["project"] == "test-project"
    assert start["session_name"] == "shape"
    assert start["source"] == "dev"
    assert start["inputs"] == {"q": "hi"}
    assert start["metadata"] == {"m": 1}
    assert start["user_properties"] == {"u": "x"}
    assert None not in start.values()

    tracer.enrich_session(outputs={"answer": 42}, metrics={"score": 0.5}, inputs={"late": True})
    [update] = receiver.event_updates
    assert update == {
        "event_id": session_id,
        "outputs": {"answer": 42},
        "metrics": {"score": 0.5},
        "metadata": {"inputs": {"late": True}},
    }
    put = next(r for r in receiver.requests if r.method == "PUT")
    assert put.path == "/events"
    assert json.loads(put.body)["event_id"] == session_id


def test_link_makes_no_request_and_spans_join_the_linked_session(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)
    existing = str(uuid.uuid4())
    assert tracer.create_session(session_id=existing, skip_api_call=True) == existing
    assert receiver.session_starts == []
    with tracer.otel_tracer.start_as_current_span("linked"):
        pass
    assert receiver.spans[0].attributes["honeyhive.session_id"] == existing


def test_other_baggage_entries_become_baggage_attributes(receiver: DevReceiver) -> None:
    from opentelemetry import baggage
    from opentelemetry import context as otel_context

    tracer = make_tracer(receiver)
    tracer.create_session(session_name="bag")
    token = otel_context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        with tracer.otel_tracer.start_as_current_span("with-baggage"):
            pass
    finally:
        otel_context.detach(token)
    attrs = receiver.spans[0].attributes
    assert attrs["baggage.tenant"] == "acme"
    assert "baggage.session_id" not in attrs


def test_an_experiments_context_is_recorded_as_the_sdk_records_it(receiver: DevReceiver) -> None:
    """Under HoneyHive's ``evaluate()`` the caller's baggage names the run, dataset and datapoint: the SDK
    records them as ``honeyhive_metadata.<key>``, and so must a deployed function, or it is not
    attributed to the run."""
    from opentelemetry import baggage
    from opentelemetry import context as otel_context

    tracer = make_tracer(receiver)
    context = otel_context.get_current()
    for key, value in {"run_id": "run-1", "dataset_id": "ds-1", "datapoint_id": "dp-1", "tenant": "acme"}.items():
        context = baggage.set_baggage(key, value, context)
    token = otel_context.attach(context)
    try:
        with tracer.start_span("step"):
            pass
    finally:
        otel_context.detach(token)
    assert receiver.wait_for_spans(1)
    attrs = receiver.spans[0].attributes
    assert attrs["honeyhive_metadata.run_id"] == "run-1"
    assert attrs["honeyhive_metadata.dataset_id"] == "ds-1"
    assert attrs["honeyhive_metadata.datapoint_id"] == "dp-1"
    assert attrs["baggage.tenant"] == "acme"
    assert not any(key in attrs for key in ("baggage.run_id", "baggage.dataset_id", "baggage.datapoint_id"))
