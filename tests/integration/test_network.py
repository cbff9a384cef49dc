"""Production network realism through the emulator: HTTPS from a throwaway CA, a receiver that closes
keep-alive connections idle for 0.3 s (as a load balancer does, after 60 s) and charges 150 ms per new
connection (the TCP and TLS round trips). A connection that died while the sandbox was frozen, and the
first after a cold start, are opened beside the handler: the export pays no handshake, loses nothing,
and resumes the TLS session."""

from __future__ import annotations

import uuid

from conftest import API_KEY, REPO, SANDBOX_HANDLERS
from honeyhive_serverless_dev.emulator import LambdaEmulator
from honeyhive_serverless_dev.receiver import DevReceiver

WORK_MS = 300
CONNECT_DELAY_MS = 150
#: What the wrapper may add to the handler's own time, well under one connection's cost.
OVERHEAD_MS = CONNECT_DELAY_MS * 2 / 3


def test_a_connection_closed_while_frozen_is_replaced_beside_the_handler_and_the_export_pays_no_handshake() -> None:
    with DevReceiver(tls=True, idle_timeout_s=0.3, connect_delay_ms=CONNECT_DELAY_MS) as receiver:
        env = {
            "HH_API_URL": receiver.url,
            "HH_API_KEY": API_KEY,
            "SSL_CERT_FILE": str(receiver.ca_path),
            "PYTHONPATH": str(REPO / "layer"),  # this checkout's runtime
        }
        with LambdaEmulator("slow_handler.handler", task_root=SANDBOX_HANDLERS, env=env) as emulator:
            event = {"work_ms": WORK_MS, "session_id": str(uuid.uuid4())}
            first = emulator.invoke(event)  # cold: its first connection is opened beside it too
            assert receiver.wait_for(lambda rx: rx.idle_closes == 1, timeout=5)  # closed while frozen
            second = emulator.invoke(event)
            assert first.ok and second.ok, (first.error, second.error, emulator.logs)
        requests = receiver.otlp_requests()
    assert len(requests) == 2  # nothing lost to the dead connection
    assert [r.new_connection for r in requests] == [True, True]
    assert requests[1].tls_resumed is True  # the second connection resumed the first's TLS session
    for result in (first, second):
        # With the handshake at export the invocation would take WORK_MS + CONNECT_DELAY_MS and more.
        assert result.duration_ms < WORK_MS + OVERHEAD_MS, result.duration_ms
