"""HoneyHive's published contract, rule by rule (issue 23): each test failed on what was sent before.

The rules (``honeyhive_serverless.lifecycle``): a session joined without a start asks HoneyHive to create
it on every span, under its name; every start carries the ``start_time`` of the session's beginning; a
refused start keeps the session's name, inputs and metadata; an enrichment of a session that may exist
only through its spans follows those spans.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context

from conftest import API_KEY, make_tracer
from honeyhive_serverless import trace, with_honeyhive_session
from honeyhive_serverless.lifecycle import now_ms
from honeyhive_serverless.scope import ScopeLimits, SessionScope
from honeyhive_serverless.wire import AUTO_CREATE_KEY, EVENTS_PATH, OTLP_PATH, SESSION_NAME_KEY
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver, ReceivedSpan


@trace
def step(n: int) -> int:
    return n * 2


def ctx(**fields: Any) -> LambdaContext:
    return LambdaContext(**{"function_name": "fn", **fields})


def asks_for_creation(spans: list[ReceivedSpan], name: str) -> bool:
    return bool(spans) and all(
        span.attributes.get(AUTO_CREATE_KEY) is True and span.attributes.get(SESSION_NAME_KEY) == name for span in spans
    )


def request_order(receiver: DevReceiver) -> list[str]:
    return [urlsplit(request.path).path for request in receiver.requests]


# -- a session joined without a start asks HoneyHive to create it, under its name ------------------------


def test_a_session_the_event_names_is_asked_for_under_the_invocations_name(lambda_env: DevReceiver) -> None:
    minted = str(uuid.uuid4())  # a caller (a web front end, a queue producer) made this id itself

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> int:
        return step(1)

    assert handler({"session_id": minted}, ctx()) == 2
    assert lambda_env.session_starts == []
    assert asks_for_creation(lambda_env.spans_for_session(minted), "lambda-fn")


def test_a_session_in_the_callers_baggage_is_asked_for(lambda_env: DevReceiver) -> None:
    minted = str(uuid.uuid4())
    carrier = {"baggage": f"session_id={minted}"}
    client_context = {"custom": carrier}

    @with_honeyhive_session(session_name="worker")
    def handler(event: Any, context: Any) -> int:
        return step(2)

    assert handler({}, ctx(client_context=client_context)) == 4
    assert asks_for_creation(lambda_env.spans_for_session(minted), "worker")


def test_link_and_skip_api_call_ask_for_their_session(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, session_name="svc")
    linked = str(uuid.uuid4())
    token = tracer.link({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                         "baggage": f"session_id={linked}"})  # fmt: skip
    with tracer.start_span("under-link"):
        pass
    tracer.unlink(token)
    skipped = str(uuid.uuid4())
    tracer.create_session(session_name="named", session_id=skipped, skip_api_call=True)
    with tracer.start_span("under-skip"):
        pass
    assert receiver.session_starts == []
    assert asks_for_creation(receiver.spans_for_session(linked), "svc")
    assert asks_for_creation(receiver.spans_for_session(skipped), "named")


def test_skip_backend_session_creation_asks_for_the_start_up_session_even_when_given(receiver: DevReceiver) -> None:
    given = str(uuid.uuid4())
    tracer = make_tracer(receiver, session_id=given, session_name="job")
    with tracer.start_span("work"):
        pass
    assert asks_for_creation(receiver.spans_for_session(given), "job")


def test_a_session_started_here_does_not_ask(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)
    session_id = tracer.create_session(session_name="started")
    with tracer.start_span("work"):
        pass
    spans = receiver.spans_for_session(str(session_id))
    assert spans and all(AUTO_CREATE_KEY not in span.attributes for span in spans)


# -- every start carries the start_time of the session's beginning ---------------------------------------


def test_every_start_is_dated_and_its_session_covers_its_children(lambda_env: DevReceiver) -> None:
    @with_honeyhive_session
    def handler(event: Any, context: Any) -> int:
        return step(3)

    before = now_ms()
    assert handler({}, ctx()) == 6
    [start] = lambda_env.session_starts
    session_id = start["session_id"]
    spans = lambda_env.spans_for_session(session_id)
    assert before <= start["start_time"] <= min(span.start_ns for span in spans) // 1_000_000
    [update] = [u for u in lambda_env.event_updates if u["event_id"] == session_id]
    assert start["start_time"] + update["duration"] >= max(span.end_ns for span in spans) / 1_000_000


def test_a_start_sent_after_the_response_carries_the_sessions_beginning(receiver: DevReceiver) -> None:
    """``after_response`` sends the start with the rest, after the response: dated then by the server,
    the session would begin after its own children."""
    tracer = make_tracer(receiver, export_mode="invocation")
    handed: list[SessionScope] = []
    scope = SessionScope(tracer, None, limits=ScopeLimits(100, 1 << 20), hand_off=handed.append)
    with tracer._closing(scope):
        session_id = tracer.sessions.start_in_scope(scope, {"session_name": "later"})
        with tracer.start_span("child"):
            pass
    assert receiver.requests == []  # all of it waits for the hand-off's sender
    tracer.flush_scope(handed[0])
    [start] = receiver.session_starts
    [child] = receiver.spans_for_session(session_id)
    assert start["start_time"] <= child.start_ns // 1_000_000
    assert request_order(receiver)[0] == "/session/start"


def test_create_session_and_the_start_up_session_are_dated(receiver: DevReceiver) -> None:
    before = now_ms()
    tracer = make_tracer(receiver, skip_backend_session_creation=False, session_name="boot")
    tracer.create_session(session_name="request")
    assert [start["session_name"] for start in receiver.session_starts] == ["boot", "request"]
    assert all(before <= start["start_time"] <= now_ms() for start in receiver.session_starts)


# -- a refused start keeps the session's name, inputs and metadata ---------------------------------------


def test_a_refused_start_keeps_name_inputs_and_metadata(lambda_env: DevReceiver) -> None:
    lambda_env.set_fault("500", path_prefix="/session")

    @with_honeyhive_session(session_name="refused")
    def handler(event: Any, context: Any) -> int:
        return step(4)

    assert handler({"question": "why"}, ctx(aws_request_id="req-1")) == 8
    [session_id] = {span.session_id for span in lambda_env.spans}
    assert session_id is not None and asks_for_creation(lambda_env.spans_for_session(session_id), "refused")
    [update] = [u for u in lambda_env.event_updates if u["event_id"] == session_id]
    assert update["metadata"]["inputs"] == {"event": {"question": "why"}}
    assert update["metadata"]["request_id"] == "req-1"
    # Sent once the spans that create the session were in.
    assert request_order(lambda_env).index(EVENTS_PATH) > request_order(lambda_env).index(OTLP_PATH)


def test_a_refused_create_session_outside_a_scope_follows_the_next_flush(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, export_mode="batch")
    receiver.set_fault("500", path_prefix="/session")
    session_id = tracer.create_session(session_name="script", inputs={"q": 1}, metadata={"team": "a"})
    receiver.clear_fault()
    with tracer.start_span("work"):
        pass
    assert receiver.event_updates == []  # held: the session exists nowhere yet
    assert tracer.force_flush()
    assert asks_for_creation(receiver.spans_for_session(str(session_id)), "script")
    [update] = receiver.event_updates
    assert update == {"event_id": session_id, "metadata": {"team": "a", "inputs": {"q": 1}}}
    assert request_order(receiver)[-1] == EVENTS_PATH


# -- an enrichment of a session that may exist only through its spans follows them -------------------------


def test_a_linked_sessions_enrichment_follows_the_spans_that_create_it(lambda_env: DevReceiver) -> None:
    minted = str(uuid.uuid4())

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> int:
        from honeyhive_serverless import enrich_session

        enrich_session(metadata={"tier": "gold"})
        return step(5)

    assert handler({"session_id": minted}, ctx()) == 10
    order = request_order(lambda_env)
    assert order == [OTLP_PATH, EVENTS_PATH]
    assert lambda_env.event_updates == [{"event_id": minted, "metadata": {"tier": "gold"}}]


def test_a_started_sessions_enrichment_keeps_its_round_trips(lambda_env: DevReceiver) -> None:
    """The common path: a session the wrapper started is enriched beside its spans, as before."""

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> int:
        return step(6)

    assert handler({}, ctx()) == 12
    assert sorted(request_order(lambda_env)) == sorted(["/session/start", OTLP_PATH, EVENTS_PATH])


@pytest.mark.parametrize("mode", ["invocation", "immediate"])
def test_experiment_context_reaches_a_linked_functions_spans(lambda_env: DevReceiver, mode: str) -> None:
    """What ``invoke_function`` sends from under ``evaluate()``: the datapoint's session and the run's
    context, in the invoke's client context; the function's spans are the datapoint's, with its metadata."""
    from honeyhive_serverless.distributed import _with_client_context

    datapoint_session = str(uuid.uuid4())
    caller = otel_context.get_current()
    for key, value in {"run_id": "run-9", "dataset_id": "ds-9", "datapoint_id": "dp-9"}.items():
        caller = baggage.set_baggage(key, value, caller)
    token = otel_context.attach(caller)
    try:
        kwargs = _with_client_context({"FunctionName": "fn"}, datapoint_session)
    finally:
        otel_context.detach(token)
    client_context = json.loads(base64.b64decode(kwargs["ClientContext"]))

    @with_honeyhive_session(tracer=make_tracer(lambda_env, export_mode=mode))
    def handler(event: Any, context: Any) -> int:
        return step(7)

    assert handler({}, ctx(client_context=client_context)) == 14
    spans = lambda_env.spans_for_session(datapoint_session)
    assert len(spans) == 2
    for span in spans:
        assert span.attributes["honeyhive_metadata.run_id"] == "run-9"
        assert span.attributes["honeyhive_metadata.dataset_id"] == "ds-9"
        assert span.attributes["honeyhive_metadata.datapoint_id"] == "dp-9"
        assert span.attributes[AUTO_CREATE_KEY] is True


def test_the_api_key_never_reaches_a_start_body(lambda_env: DevReceiver) -> None:
    @with_honeyhive_session
    def handler(event: Any, context: Any) -> int:
        return 1

    handler({}, ctx())
    assert all(API_KEY not in json.dumps(start) for start in lambda_env.session_starts)


def test_a_linked_invocation_still_sends_one_request(lambda_env: DevReceiver) -> None:
    """W2 of ``make bench``: an invocation in a session the event names, with nothing to add to it, sends
    its spans and nothing else; the request to create the session rides on them."""

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> int:
        return step(8)

    assert handler({"session_id": str(uuid.uuid4())}, ctx()) == 16
    assert request_order(lambda_env) == [OTLP_PATH]


@pytest.mark.breaks_contract("refused-update", reason="an update of a session no span ever asked for, on purpose")
def test_an_update_of_an_unknown_session_is_tried_again_then_dropped_with_one_warning(
    receiver: DevReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    tracer = make_tracer(receiver)
    nowhere = str(uuid.uuid4())
    tracer.enrich_session(session_id=nowhere, metadata={"lost": True})
    assert receiver.requests == []  # held: nothing says the session exists
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        assert tracer.force_flush() is False
    puts = [r for r in receiver.requests if urlsplit(r.path).path == EVENTS_PATH]
    assert [r.status for r in puts] == [404, 404, 404, 404]  # the first try and three more
    assert [r.getMessage() for r in caplog.records if "does not know session" in r.getMessage()] == [
        f"honeyhive: HoneyHive does not know session {nowhere}; its enrichment was not applied"
    ]


def test_a_session_handed_on_gets_no_duration_that_would_end_it_before_the_next_function(
    lambda_env: DevReceiver,
) -> None:
    """A session whose context went into a message: the function that reads it joins later, so a
    duration measured to this invocation's end would end the session before that function's spans."""
    from honeyhive_serverless import sqs_message_attributes

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> dict[str, Any]:
        return sqs_message_attributes()

    attributes = handler({}, ctx())
    assert "baggage" in attributes
    [start] = lambda_env.session_starts
    updates = [u for u in lambda_env.event_updates if u["event_id"] == start["session_id"]]
    assert all("duration" not in update for update in updates)


def test_a_session_handed_on_from_a_nested_scope_gets_no_duration_either(lambda_env: DevReceiver) -> None:
    """The invocation's session handed on inside a scope of its own (a block, a web request under the
    wrapper): the invocation's scope, which began the session, still gives it no duration."""
    from honeyhive_serverless import get_tracer, sqs_message_attributes

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> dict[str, Any]:
        with get_tracer().session_scope():
            return sqs_message_attributes()

    assert "baggage" in handler({}, ctx())
    [start] = lambda_env.session_starts
    updates = [u for u in lambda_env.event_updates if u["event_id"] == start["session_id"]]
    assert all("duration" not in update for update in updates)
