"""One pooled keep-alive connection per process for REST and OTLP alike."""

from __future__ import annotations

from conftest import make_tracer
from honeyhive_serverless_dev.receiver import DevReceiver


def test_twenty_create_session_calls_use_one_tcp_connection(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)
    ids = {tracer.create_session(session_name=f"s{n}") for n in range(20)}
    assert len(ids) == 20
    assert len(receiver.session_starts) == 20
    assert receiver.connection_count == 1


def test_sessions_enrichment_and_spans_share_the_connection(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, export_mode="immediate")
    for n in range(5):
        tracer.create_session(session_name=f"s{n}")
        with tracer.otel_tracer.start_as_current_span("x"):
            pass
        tracer.enrich_session(metadata={"n": n})
    assert len(receiver.requests) == 15
    assert receiver.connection_count == 1


def test_a_connection_closed_by_the_server_is_replaced_transparently(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)
    tracer.create_session(session_name="before")
    receiver.set_fault("refuse")  # closes the listening socket and every open connection
    receiver.clear_fault()
    assert tracer.create_session(session_name="after")
    assert [s["session_name"] for s in receiver.session_starts] == ["before", "after"]
    assert receiver.connection_count == 2
