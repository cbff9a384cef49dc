"""The emulator as Lambda Managed Instances run a function: awslambdaric 4.x's forked workers polling at
once, each event to one worker, tenant ids handed over, no freeze, timeouts not enforced."""

from __future__ import annotations

import socket
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from conftest import MakeEmulator
from honeyhive_serverless_dev.emulator import InvocationResult, LambdaEmulator

WORKERS = 4
ACCEPT_TIMEOUT_S = 20.0


def _rendezvous(emulator: LambdaEmulator, parties: int) -> list[InvocationResult]:
    """``parties`` invocations of ``basic.rendezvous`` at once; each is told to answer only once all of them
    are connected to this test, so they all answer only if that many run concurrently."""
    with socket.create_server(("127.0.0.1", 0)) as listener, ThreadPoolExecutor(parties) as pool:
        listener.settimeout(ACCEPT_TIMEOUT_S)
        port = listener.getsockname()[1]
        futures = [pool.submit(emulator.invoke, {"port": port, "index": index}) for index in range(parties)]
        connections = [listener.accept()[0] for _ in range(parties)]
        for connection in connections:
            with connection:
                connection.sendall(b"go")
        return [future.result() for future in futures]


def test_four_workers_take_four_events_at_once_and_each_answer_goes_to_its_invocation(
    emulators: MakeEmulator, managed_instances_python: str
) -> None:
    emulator = emulators("basic.rendezvous", python=managed_instances_python, max_concurrency=WORKERS)
    results = _rendezvous(emulator, WORKERS)
    assert all(result.ok for result in results), [result.error for result in results]
    assert [result.payload["index"] for result in results] == list(range(WORKERS))
    # Four worker processes, none of them the runtime's main process (it only forks and waits).
    pids = {result.payload["pid"] for result in results}
    assert len(pids) == WORKERS
    assert emulator.sandbox_pid not in pids
    assert emulator.cold_starts == 1
    assert not emulator.frozen  # Managed Instances never freeze


def test_many_invocations_share_the_workers_and_never_cross(
    emulators: MakeEmulator, managed_instances_python: str
) -> None:
    emulator = emulators("basic.handler", python=managed_instances_python, max_concurrency=WORKERS)
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(lambda n: emulator.invoke({"n": n}, tenant_id=f"tenant-{n}"), range(120)))
    assert all(result.ok for result in results), [result.error for result in results if not result.ok]
    for n, result in enumerate(results):
        # Each answer is the one its own event produced, with its own request id and tenant.
        assert result.payload["event"] == {"n": n}
        assert result.payload["request_id"] == result.request_id
        assert result.payload["tenant_id"] == f"tenant-{n}"
        assert result.payload["env"]["AWS_LAMBDA_MAX_CONCURRENCY"] == str(WORKERS)
    by_worker = Counter(result.payload["pid"] for result in results)
    assert len(by_worker) <= WORKERS
    # Every worker's invocations are counted in that worker alone.
    for pid, invocations in by_worker.items():
        counts = sorted(result.payload["count"] for result in results if result.payload["pid"] == pid)
        assert counts == list(range(1, invocations + 1))
    assert sum(result.cold for result in results) == 1


def test_a_timeout_fails_the_invocation_and_leaves_its_code_running(
    emulators: MakeEmulator, managed_instances_python: str
) -> None:
    # Long enough for the rendezvous of two below (milliseconds) to beat it by far.
    emulator = emulators("basic.rendezvous", python=managed_instances_python, max_concurrency=2, timeout_s=1.0)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(ACCEPT_TIMEOUT_S)
        late = emulator.invoke({"port": listener.getsockname()[1], "index": 0})
        assert late.error is not None and late.error["errorType"] == "Sandbox.Timedout"
        # The handler is still running (connected, waiting for the go): nothing was killed or frozen.
        connection, _ = listener.accept()
        assert emulator.sandbox_pid is not None and not emulator.frozen
        with connection:
            connection.sendall(b"go")
    # Both workers take an event at once again: the late one went on after its answer.
    again = _rendezvous(emulator, 2)
    assert all(result.ok for result in again), [result.error for result in again]
    assert emulator.cold_starts == 1
    emulator.stop()
    # Its answer came after the invocation had failed: refused (the worker said so through the log socket).
    assert "Failed to post invocation response" in emulator.logs


def test_the_tenant_header_reaches_the_handler_in_single_concurrency_too(emulators: MakeEmulator) -> None:
    emulator = emulators("basic.handler")
    tenant = emulator.invoke({}, tenant_id="tenant-42")
    plain = emulator.invoke({})
    assert tenant.ok and plain.ok
    assert (tenant.payload["tenant_id"], plain.payload["tenant_id"]) == ("tenant-42", None)


def test_a_runtime_client_without_multi_concurrency_never_ends_the_init_phase(emulators: MakeEmulator) -> None:
    # This environment's awslambdaric 3.x ignores AWS_LAMBDA_MAX_CONCURRENCY: one process polls, not two.
    emulator = emulators("basic.handler", max_concurrency=2, init_timeout_s=1.0)
    result = emulator.invoke({})
    assert result.error is not None and result.error["errorType"] == "Sandbox.Timedout"
    assert "1 of 2 runtime workers" in result.error["errorMessage"]
