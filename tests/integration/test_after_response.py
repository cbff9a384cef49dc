"""HH_EXPORT_MODE=after_response through the emulator: the in-process extension exports after the
response and before the freeze, on every Python the layer supports."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import API_KEY, LAYER_PYTHONS, RUNTIME_CACHE, SANDBOX_HANDLERS
from honeyhive_serverless_dev.emulator import InvocationResult, LambdaEmulator, ensure_runtime
from honeyhive_serverless_dev.layer_build import layer_zip_name
from honeyhive_serverless_dev.receiver import DevReceiver, ReceivedRequest

SPANS_PER_INVOCATION = 4  # the invocation span and three steps


def _sandbox(receiver: DevReceiver, **options: object) -> LambdaEmulator:
    env = {"HH_API_URL": receiver.url, "HH_API_KEY": API_KEY, "HH_EXPORT_MODE": "after_response"}
    return LambdaEmulator("after_response_mode.handler", task_root=SANDBOX_HANDLERS, env=env, **options)  # type: ignore[arg-type]


def _layer_sandbox(receiver: DevReceiver, python: str, dist: Path, **options: object) -> LambdaEmulator:
    """The same handler on a pyenv interpreter, from the built layer and a pip-installed runtime client."""
    return _sandbox(
        receiver,
        layers=[dist / layer_zip_name(python, "x86_64")],
        python=python,
        runtime_path=[ensure_runtime(python, RUNTIME_CACHE)],
        **options,
    )


@pytest.fixture
def sandbox(receiver: DevReceiver) -> Iterator[LambdaEmulator]:
    emulator = _sandbox(receiver).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def _requests_by_invocation(receiver: DevReceiver) -> dict[str, list[ReceivedRequest]]:
    """The OTLP requests that carried each invocation's spans (by the invocation span's request id)."""
    requests = receiver.otlp_requests()
    by_trace: dict[str, str] = {
        span.trace_id: str(span.attributes["faas.invocation_id"])
        for span in receiver.spans
        if "faas.invocation_id" in span.attributes
    }
    out: dict[str, list[ReceivedRequest]] = {}
    for span in receiver.spans:
        out.setdefault(by_trace[span.trace_id], []).append(requests[span.request_index])
    return out


def test_a_thousand_frozen_invocations_lose_nothing_and_export_before_each_freeze(
    sandbox: LambdaEmulator, receiver: DevReceiver
) -> None:
    invocations: list[InvocationResult] = []
    for n in range(1000):
        event = {"session_id": str(uuid.uuid4())} if n % 2 else {}
        result = sandbox.invoke(event)
        assert result.ok, result.error
        assert sandbox.wait_frozen()
        invocations.append(result)
    assert invocations[0].payload["mode"] == "after_response"
    assert sum(result.cold for result in invocations) == 1
    assert len(receiver.spans) == SPANS_PER_INVOCATION * 1000
    by_invocation = _requests_by_invocation(receiver)
    for result in invocations:
        requests = by_invocation[result.request_id]
        assert result.frozen_at is not None
        assert all(request.received_at <= result.frozen_at for request in requests), result.request_id
    # New sessions were started (after their responses) before their spans arrived.
    assert len(receiver.session_starts) == 500


def test_the_response_does_not_wait_for_the_export(sandbox: LambdaEmulator, receiver: DevReceiver) -> None:
    receiver.delay_ms = 50  # a slow backend: any export before the response would show in its latency
    results = [sandbox.invoke({}) for _ in range(10)]
    assert all(result.ok for result in results)
    assert sandbox.wait_frozen()
    by_invocation = _requests_by_invocation(receiver)
    for result in results[1:]:  # warm ones
        assert result.duration_ms < 50
        starts = [request.received_at for request in by_invocation[result.request_id]]
        assert min(starts) > result.response_at  # the export began after the response was posted
    assert len(receiver.session_starts) == 10
    assert len(receiver.spans) == SPANS_PER_INVOCATION * 10


@pytest.mark.parametrize("python", ["3.12", "3.13"])
def test_shutdown_lets_the_export_under_way_finish(python: str, dist: Path, receiver: DevReceiver) -> None:
    """SIGTERM (Lambda's shutdown) arrives while the extension exports: the export still completes.
    Python 3.12+ only: older runtime clients wait on the main thread, where signal handlers run."""
    emulator = _layer_sandbox(receiver, python, dist, freeze=False).start()
    try:
        receiver.delay_ms = 200  # the export is still under way when the sandbox shuts down
        assert emulator.invoke({"session_id": str(uuid.uuid4())}).ok
    finally:
        emulator.stop()
    assert len(receiver.spans) == SPANS_PER_INVOCATION


@pytest.mark.parametrize("python", LAYER_PYTHONS)
def test_the_extension_runs_while_the_runtime_client_waits_on_every_python(
    python: str, dist: Path, receiver: DevReceiver
) -> None:
    receiver.delay_ms = 20
    emulator = _layer_sandbox(receiver, python, dist).start()
    try:
        results = []
        for _ in range(5):
            result = emulator.invoke({})
            assert result.ok, (result.error, emulator.logs)
            assert emulator.wait_frozen()
            results.append(result)
    finally:
        emulator.stop()
    assert results[0].payload["mode"] == "after_response", emulator.logs
    by_invocation = _requests_by_invocation(receiver)
    for result in results:
        received = [request.received_at for request in by_invocation[result.request_id]]
        assert result.frozen_at is not None
        assert result.response_at < min(received) and max(received) <= result.frozen_at
    assert len(receiver.spans) == SPANS_PER_INVOCATION * 5


# ------------------------------------------------------------------------------------------------
# Invocations that hand nothing off never hold the sandbox: the extension learns of the response from
# the runtime client and goes back to /event/next (the sandbox then freezes), long before the deadline.

#: Well under the invocations' 10 s timeout, before which the extension used to wait for a hand-off.
PROMPTLY_S = 1.0


@pytest.mark.parametrize(
    ("handler", "event", "expected"),
    [
        ("front_router.handler", {"traced": False}, {"traced": False}),
        ("broken_start.handler", {}, {"served": True}),
    ],
    ids=["router-path-without-the-wrapped-function", "tracing-failed-to-start"],
)
def test_an_invocation_that_hands_nothing_off_lets_the_sandbox_freeze_at_once(
    receiver: DevReceiver, handler: str, event: dict[str, object], expected: dict[str, object]
) -> None:
    env = {"HH_API_URL": receiver.url, "HH_API_KEY": API_KEY, "HH_EXPORT_MODE": "after_response"}
    with LambdaEmulator(handler, task_root=SANDBOX_HANDLERS, env=env, timeout_s=10) as emulator:
        for _ in range(3):
            result = emulator.invoke(event)
            assert result.ok, (result.error, emulator.logs)
            assert result.payload == expected
            assert emulator.wait_frozen(timeout=PROMPTLY_S), "the extension held the sandbox after the response"


def test_the_router_still_exports_the_invocations_that_call_the_wrapped_function(receiver: DevReceiver) -> None:
    env = {"HH_API_URL": receiver.url, "HH_API_KEY": API_KEY, "HH_EXPORT_MODE": "after_response"}
    with LambdaEmulator("front_router.handler", task_root=SANDBOX_HANDLERS, env=env, timeout_s=10) as emulator:
        events = [{"traced": True}, {"traced": False}, {"traced": True}]
        for event in events:
            result = emulator.invoke(event)
            assert result.ok, (result.error, emulator.logs)
            assert emulator.wait_frozen(timeout=PROMPTLY_S)
            # Exported after the response and before the freeze: here by the time it froze.
    invocations = [s for s in receiver.spans if "faas.invocation_id" in s.attributes]
    assert len(invocations) == 2
    assert len([s for s in receiver.spans if s.name == "step"]) == 2
