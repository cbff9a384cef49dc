"""Failures are contained, bounded, logged once, and never reuse one session id for everything."""

from __future__ import annotations

import logging
import time
import uuid

import pytest

from conftest import API_KEY, make_tracer
from honeyhive_serverless import HoneyHiveTracer, trace
from honeyhive_serverless.wire import OTLP_PATH
from honeyhive_serverless_dev.receiver import DevReceiver


def test_failed_session_start_gives_distinct_local_ids_marked_auto_create(
    receiver: DevReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    tracer = make_tracer(receiver)
    receiver.set_fault("500", path_prefix="/session")
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        ids = [tracer.create_session(session_name=f"s{n}") for n in range(5)]
        with tracer.otel_tracer.start_as_current_span("after-failure"):
            pass
    assert len({*ids}) == 5
    for session_id in ids:
        assert session_id is not None
        uuid.UUID(session_id)
    span = receiver.spans[0]
    assert span.attributes["honeyhive.session_id"] == ids[-1]
    assert span.attributes["honeyhive.session_auto_create"] is True
    local_warnings = [r for r in caplog.records if "its spans ask HoneyHive to create it" in r.getMessage()]
    assert len(local_warnings) == 1


def test_session_start_answer_without_session_id_falls_back_to_a_local_id(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)
    receiver.session_response_override = {"ok": True}
    first = tracer.create_session(session_name="a")
    second = tracer.create_session(session_name="b")
    assert first and second and first != second


def test_export_errors_never_reach_the_caller_and_waits_are_bounded(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, export_mode="immediate")
    receiver.set_fault("hang")

    @trace(tracer=tracer)
    def work() -> str:
        return "result"

    started = time.monotonic()
    with tracer.session_scope(deadline=time.monotonic() + 0.3):
        assert work() == "result"
    assert time.monotonic() - started < 1.5


def test_breaker_stops_paying_the_timeout_while_the_backend_hangs(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, export_mode="invocation")
    receiver.set_fault("hang")
    durations = []
    for _ in range(10):
        started = time.monotonic()
        with (
            tracer.session_scope(deadline=time.monotonic() + 0.2),
            tracer.otel_tracer.start_as_current_span("x"),
        ):
            pass
        durations.append(time.monotonic() - started)
    assert tracer.client.breakers[OTLP_PATH].is_open
    # Three paid the 0.2 s budget; the rest returned at once.
    assert sum(durations[3:]) < 0.1


def test_user_exception_passes_through_unchanged(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)

    class Boom(Exception):
        pass

    @trace(tracer=tracer)
    def explode() -> None:
        raise Boom("bad")

    with pytest.raises(Boom, match="bad"):
        explode()
    [span] = receiver.spans
    assert span.status_code == "ERROR"
    assert span.attributes["honeyhive_error"] == "Boom: bad"


def test_no_api_key_warns_once_and_sends_nothing(receiver: DevReceiver, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        tracer = HoneyHiveTracer.init(project="p", server_url=receiver.url, skip_backend_session_creation=True)
        for _ in range(3):
            assert tracer.create_session(session_name="nokey")
            with tracer.otel_tracer.start_as_current_span("x"):
                pass
        tracer.force_flush()
    assert receiver.requests == []
    assert len([r for r in caplog.records if "no API key" in r.getMessage()]) == 1


def test_key_never_appears_in_logs_when_requests_fail(receiver: DevReceiver, caplog: pytest.LogCaptureFixture) -> None:
    tracer = make_tracer(receiver)
    with caplog.at_level(logging.DEBUG):
        for fault in ("500", "429", "401_once"):
            receiver.set_fault(fault)
            tracer.create_session(session_name="f")
        receiver.set_fault("refuse")
        tracer.create_session(session_name="f")
    assert caplog.records
    assert API_KEY not in caplog.text
