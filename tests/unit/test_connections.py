"""One pooled keep-alive connection per process for REST and OTLP alike."""

from __future__ import annotations

import pytest

from conftest import make_tracer
from honeyhive_serverless.export import transport as transport_module
from honeyhive_serverless.export.transport import HttpTransport
from honeyhive_serverless.wire import SESSION_START_PATH
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


# -- the connection lifecycle: a dead idle connection is found as the invocation starts, not at export

# A request HoneyHive takes at any time: a session start (again, it merges).
SESSION_START = b'{"session": {"session_id": "6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e10"}}'
HEADERS = {"Authorization": "Bearer k", "Content-Type": "application/json"}


def _transport(receiver: DevReceiver) -> HttpTransport:
    transport = HttpTransport(receiver.url)
    assert transport.request("POST", SESSION_START_PATH, SESSION_START, HEADERS, 1.0).status == 200
    assert (receiver.connection_count, transport.idle_count) == (1, 1)
    return transport


def _request_then_connections(receiver: DevReceiver, transport: HttpTransport) -> int:
    """Connections accepted once one more request is answered (the receiver counts an accept when its
    thread takes it, which a request on that connection waits for)."""
    assert transport.request("POST", SESSION_START_PATH, SESSION_START, HEADERS, 1.0).status == 200
    return receiver.connection_count


def test_reserve_keeps_a_live_connection(receiver: DevReceiver) -> None:
    transport = _transport(receiver)
    assert transport.reserve() == 0  # nothing to open: the idle one is alive
    assert transport.idle_count == 1
    assert _request_then_connections(receiver, transport) == 1


def test_reserve_replaces_a_connection_the_server_closed_so_the_request_finds_one_open(
    receiver: DevReceiver,
) -> None:
    transport = _transport(receiver)
    receiver.set_fault("refuse")  # closes every open connection (a load balancer's idle timeout, say)
    receiver.clear_fault()
    assert transport.open_reserved(transport.reserve(), 1.0) > 0
    assert transport.idle_count == 1
    assert _request_then_connections(receiver, transport) == 2  # on the connection prepared for it


def test_reserve_replaces_a_connection_idle_for_longer_than_a_load_balancer_keeps_it(
    receiver: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = _transport(receiver)
    monkeypatch.setattr(transport_module, "MAX_IDLE_S", 0.0)
    assert transport.open_reserved(transport.reserve(), 1.0) > 0
    assert transport.idle_count == 1
    monkeypatch.setattr(transport_module, "MAX_IDLE_S", 50.0)
    assert _request_then_connections(receiver, transport) == 2


def test_reserve_restores_as_many_connections_as_the_last_export_used(receiver: DevReceiver) -> None:
    transport = HttpTransport(receiver.url)
    held = [transport._checkout(1.0)[0] for _ in range(2)]  # two requests side by side, as an export makes
    for conn in held:
        transport._checkin(conn)
    receiver.set_fault("refuse")
    receiver.clear_fault()
    assert transport.open_reserved(transport.reserve(), 1.0) > 0
    assert transport.idle_count == 2


def test_reserve_with_the_backend_down_is_bounded_and_quiet(receiver: DevReceiver) -> None:
    transport = _transport(receiver)
    receiver.set_fault("refuse")
    try:
        assert transport.open_reserved(transport.reserve(), 0.5) == 0
        assert transport.idle_count == 0
    finally:
        receiver.clear_fault()


def test_the_wrapper_prepares_beside_the_handler_and_the_export_pays_no_handshake(lambda_env: DevReceiver) -> None:
    from honeyhive_serverless import get_tracer, with_honeyhive_session
    from honeyhive_serverless_dev.lambda_context import LambdaContext

    @with_honeyhive_session
    def handler(event: object, context: object) -> str:
        return "ok"

    handler({"session_id": "6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e10"}, LambdaContext("fn"))
    assert lambda_env.connection_count == 1
    lambda_env.set_fault("refuse")
    lambda_env.clear_fault()
    transport = get_tracer().client.transport
    calls: list[float] = []
    open_reserved = transport.open_reserved

    def recording(count: int, timeout: float) -> int:
        calls.append(timeout)
        return open_reserved(count, timeout)

    transport.open_reserved = recording  # type: ignore[method-assign]
    handler({"session_id": "6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e10"}, LambdaContext("fn"))
    assert len(calls) == 1 and 0 < calls[0] <= 2.0  # bounded by the export timeout and the deadline
    assert len(lambda_env.otlp_requests()) == 2
    assert lambda_env.connection_count == 2


LINKED = "6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e10"


@pytest.mark.parametrize(
    ("event", "connections"), [({}, 2), ({"session_id": LINKED}, 1)], ids=["new session", "linked session"]
)
def test_a_first_invocation_opens_what_its_export_needs_beside_the_handler(
    lambda_env: DevReceiver, event: dict[str, str], connections: int
) -> None:
    """A new session's start takes the connection prepared for the invocation, and its export sends spans
    and enrichment side by side: the second is opened beside the handler too, not at export. A linked
    session's export sends spans alone: one connection. The handler waits (as on a model's answer) until
    the receiver has accepted what was opened beside it: its export then opens none."""
    from honeyhive_serverless import enrich_session, get_tracer, with_honeyhive_session
    from honeyhive_serverless_dev.lambda_context import LambdaContext

    transport = get_tracer().client.transport
    phase = ["handler"]
    opened_in: list[str] = []
    connect = transport._connect

    def recording(timeout: float) -> object:
        opened_in.append(phase[0])
        return connect(timeout)

    transport._connect = recording  # type: ignore[method-assign,assignment]

    @with_honeyhive_session
    def handler(event: object, context: object) -> str:
        if not event:
            enrich_session(metadata={"answer": 1})
        lambda_env.wait_for(lambda receiver: receiver.connection_count >= connections, timeout=2.0)
        phase[0] = "export"
        return "ok"

    assert handler(event, LambdaContext("fn")) == "ok"
    assert opened_in == ["handler"] * connections
    assert len(lambda_env.otlp_requests()) == 1
