"""Tracing on Lambda Managed Instances (issue 16): awslambdaric 4.x forks four workers under
AWS_LAMBDA_MAX_CONCURRENCY and the emulator hands them many invocations at once; what the receiver got
shows every invocation in its own session, no span in another's, none lost, each tenant recorded.

awslambdaric 4.x imports the handler module in each worker after the fork, so each worker builds its own
tracer at import (the fork safety of a tracer built before a fork is covered by the unit tier).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import API_KEY, MANAGED_INSTANCES_PATH, SANDBOX_HANDLERS
from honeyhive_serverless_dev.emulator import InvocationResult, LambdaEmulator
from honeyhive_serverless_dev.receiver import DevReceiver, ReceivedSpan

WORKERS = 4
INVOCATIONS = 200
STEPS = 2  # the handler's child spans (sandbox_handlers/managed_instances.STEPS)
SPANS_PER_INVOCATION = 1 + STEPS
EXPORT_WAIT_S = 30.0
#: Sessions the events name (linked, not started here).
LINKED = [f"6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e{n:02d}" for n in range(100)]


def _emulator(
    receiver: DevReceiver, python: str, *, env: dict[str, str] | None = None, timeout_s: float = 30.0
) -> LambdaEmulator:
    variables = {"HH_API_URL": receiver.url, "HH_API_KEY": API_KEY, "PYTHONPATH": MANAGED_INSTANCES_PATH}
    return LambdaEmulator(
        "managed_instances.handler",
        task_root=SANDBOX_HANDLERS,
        python=python,
        max_concurrency=WORKERS,
        env={**variables, **(env or {})},
        timeout_s=timeout_s,
    )


@pytest.fixture
def started() -> Iterator[list[LambdaEmulator]]:
    """Emulators a test starts, stopped (their sandboxes killed) at its end."""
    emulators: list[LambdaEmulator] = []
    try:
        yield emulators
    finally:
        for emulator in emulators:
            emulator.stop()


def _invoke_all(emulator: LambdaEmulator, count: int) -> list[InvocationResult]:
    """``count`` invocations at once, event ``{"index": n}`` of tenant ``tenant-n``."""
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda n: emulator.invoke({"index": n}, tenant_id=f"tenant-{n}"), range(count)))


def _index(span: ReceivedSpan) -> int:
    value = span.attributes["honeyhive_metadata.index"]
    assert isinstance(value, int)
    return value


def _invocation_spans(receiver: DevReceiver) -> dict[int, ReceivedSpan]:
    """The invocation span of each event index (one each, or the test fails)."""
    spans = [span for span in receiver.spans if "faas.invocation_id" in span.attributes]
    by_index = {_index(span): span for span in spans}
    assert len(by_index) == len(spans), "an index has two invocation spans"
    return by_index


def test_two_hundred_concurrent_invocations_on_four_workers_keep_their_sessions_spans_and_tenants(
    receiver: DevReceiver, managed_instances_python: str, started: list[LambdaEmulator]
) -> None:
    emulator = _emulator(receiver, managed_instances_python).start()
    started.append(emulator)
    results = _invoke_all(emulator, INVOCATIONS)
    assert all(result.ok for result in results), [result.error for result in results if not result.ok]
    assert [result.payload["index"] for result in results] == list(range(INVOCATIONS))
    assert all(result.payload["tenant_id"] == f"tenant-{n}" for n, result in enumerate(results))
    workers = Counter(result.payload["pid"] for result in results)
    assert len(workers) == WORKERS  # 200 events at once keep every worker busy

    # Nothing lost: every span of every invocation arrived (and none twice).
    assert receiver.wait_for_spans(INVOCATIONS * SPANS_PER_INVOCATION, timeout=EXPORT_WAIT_S)
    assert len(receiver.spans) == INVOCATIONS * SPANS_PER_INVOCATION
    invocations = _invocation_spans(receiver)
    assert sorted(invocations) == list(range(INVOCATIONS))
    # Each invocation has its own session.
    sessions = {index: span.session_id for index, span in invocations.items()}
    assert None not in sessions.values()
    assert len(set(sessions.values())) == INVOCATIONS
    # No span crossed: each carries its own invocation's session and trace.
    crossed = [
        span
        for span in receiver.spans
        if span.session_id != sessions[_index(span)] or span.trace_id != invocations[_index(span)].trace_id
    ]
    assert crossed == []
    assert Counter(_index(span) for span in receiver.spans) == dict.fromkeys(range(INVOCATIONS), SPANS_PER_INVOCATION)
    # The tenant of each invocation: on its span and in its session's metadata.
    assert all(span.attributes["aws.lambda.tenant_id"] == f"tenant-{index}" for index, span in invocations.items())
    starts = {start["session_id"]: start for start in receiver.session_starts}
    assert set(starts) == set(sessions.values())
    for index, session_id in sessions.items():
        assert starts[session_id]["metadata"]["tenant_id"] == f"tenant-{index}"
    # A cold start per worker (each imported the handler and built its tracer), one sandbox.
    assert sum(span.attributes["faas.coldstart"] is True for span in invocations.values()) == WORKERS
    assert emulator.cold_starts == 1


def test_an_invocation_with_no_time_left_still_exports_its_spans(
    receiver: DevReceiver, managed_instances_python: str, started: list[LambdaEmulator]
) -> None:
    # A deadline at the invocation's start: Managed Instances fail the invocation, its code goes on.
    emulator = _emulator(receiver, managed_instances_python, timeout_s=0.0).start()
    started.append(emulator)
    count = 2 * WORKERS
    results = _invoke_all(emulator, count)
    assert all(result.error is not None and result.error["errorType"] == "Sandbox.Timedout" for result in results)
    assert receiver.wait_for_spans(count * SPANS_PER_INVOCATION, timeout=EXPORT_WAIT_S)
    assert len(receiver.spans) == count * SPANS_PER_INVOCATION
    invocations = _invocation_spans(receiver)
    assert sorted(invocations) == list(range(count))
    remaining = [span.attributes["honeyhive_metadata.remaining_ms"] for span in invocations.values()]
    assert all(isinstance(ms, int) and ms <= 0 for ms in remaining), remaining
    # No span of one of those invocations was ended as a timeout's last gasp.
    assert all(span.status_code != "ERROR" for span in receiver.spans)
    emulator.stop()
    # The workers' output came through the log socket.
    assert all(f"managed-instances handler ran index={n}\n" in emulator.logs for n in range(count))


def test_after_response_exports_after_each_invocation_on_its_worker_and_loses_nothing(
    receiver: DevReceiver, managed_instances_python: str, started: list[LambdaEmulator]
) -> None:
    emulator = _emulator(receiver, managed_instances_python, env={"HH_EXPORT_MODE": "after_response"}).start()
    started.append(emulator)
    count = 100
    results = _invoke_all(emulator, count)
    assert all(result.ok for result in results), [result.error for result in results if not result.ok]
    assert {result.payload["export_mode"] for result in results} == {"invocation"}
    assert receiver.wait_for_spans(count * SPANS_PER_INVOCATION, timeout=EXPORT_WAIT_S)
    assert len(receiver.spans) == count * SPANS_PER_INVOCATION
    assert sorted(_invocation_spans(receiver)) == list(range(count))
    assert len(receiver.session_starts) == count


def test_a_shutdown_sends_what_the_workers_still_hold(
    receiver: DevReceiver, managed_instances_python: str, started: list[LambdaEmulator]
) -> None:
    """Exports leave after their invocations, so a shutdown can find some still queued on a worker: on
    SIGTERM each worker sends them within Lambda's allowance. A slow receiver keeps them queued (the
    sessions are linked: one request each)."""
    emulator = _emulator(receiver, managed_instances_python).start()
    started.append(emulator)
    count = 2 * WORKERS
    receiver.set_fault("slow", delay_s=0.03)
    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(lambda n: emulator.invoke({"index": n, "session_id": LINKED[n]}), range(count)))
    assert all(result.ok for result in results), [result.error for result in results if not result.ok]
    emulator.stop()
    assert len(receiver.spans) == count * SPANS_PER_INVOCATION
    assert sorted(_invocation_spans(receiver)) == list(range(count))
