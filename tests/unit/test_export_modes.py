"""When spans leave: immediately, once per scope, in batches, or never (test mode)."""

from __future__ import annotations

import logging

import pytest

from conftest import make_tracer
from honeyhive_serverless import trace
from honeyhive_serverless_dev.receiver import DevReceiver


def test_immediate_span_is_at_the_receiver_when_the_function_returns(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, export_mode="immediate")

    @trace(tracer=tracer)
    def step() -> int:
        return 1

    step()
    # No waiting: the export happened inside the call.
    assert [s.name for s in receiver.spans] == ["step"]
    with tracer.otel_tracer.start_as_current_span("manual"):
        pass
    assert [s.name for s in receiver.spans] == ["step", "manual"]


def test_invocation_mode_sends_one_request_per_scope_before_it_exits(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, export_mode="invocation")

    @trace(tracer=tracer)
    def step(n: int) -> int:
        return n

    with tracer.session_scope():
        tracer.create_session(session_id="0b0f1d4e-4b4f-4c3e-9c53-2b0a8f7f0a11", skip_api_call=True)
        for n in range(3):
            step(n)
        assert receiver.otlp_requests() == []
    # Received before the scope exited: no wait needed here.
    assert len(receiver.otlp_requests()) == 1
    assert sorted(s.attributes["honeyhive_inputs.n"] for s in receiver.spans) == [0, 1, 2]


def test_invocation_mode_outside_a_scope_exports_each_span(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, export_mode="invocation")
    with tracer.otel_tracer.start_as_current_span("loose"):
        pass
    assert len(receiver.otlp_requests()) == 1


def test_invocation_mode_exports_early_past_the_span_cap(
    receiver: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HH_INVOCATION_MAX_SPANS", "4")
    tracer = make_tracer(receiver, export_mode="invocation")
    with tracer.session_scope():
        for n in range(10):
            with tracer.otel_tracer.start_as_current_span(f"s{n}"):
                pass
        assert len(receiver.otlp_requests()) == 2  # 4 + 4 held spans went early
    assert len(receiver.otlp_requests()) == 3
    assert len(receiver.spans) == 10


def test_session_enrichment_in_a_scope_is_merged_into_one_request(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, export_mode="invocation")
    with tracer.with_session("merged") as session_id:
        tracer.enrich_session(metadata={"a": 1}, outputs={"x": 1})
        tracer.enrich_session(metadata={"b": 2}, metrics={"m": 3})
        assert receiver.event_updates == []
    assert receiver.event_updates == [
        {"event_id": session_id, "metadata": {"a": 1, "b": 2}, "outputs": {"x": 1}, "metrics": {"m": 3}}
    ]


def test_batch_mode_force_flush_drains_the_queue(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, export_mode="batch")
    for n in range(5):
        with tracer.otel_tracer.start_as_current_span(f"b{n}"):
            pass
    assert tracer.force_flush(timeout_millis=5000)
    assert len(receiver.spans) == 5
    tracer.shutdown()


def test_test_mode_sends_nothing_and_still_gives_session_ids(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, test_mode=True, skip_backend_session_creation=False)
    session_id = tracer.create_session(session_name="offline")
    with tracer.with_session("inner") as inner:
        with tracer.otel_tracer.start_as_current_span("x"):
            pass
        tracer.enrich_session(metadata={"a": 1})
    assert session_id and inner and session_id != inner
    assert receiver.requests == []


def test_disable_batch_env_means_immediate(receiver: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HH_DISABLE_BATCH", "true")
    tracer = make_tracer(receiver, export_mode=None)
    assert tracer.config.export_mode == "immediate"


def test_after_response_off_lambda_falls_back_to_invocation_with_one_info_line(
    receiver: DevReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    with caplog.at_level(logging.INFO, logger="honeyhive_serverless"):
        tracer = make_tracer(receiver, export_mode="after_response")
    assert tracer.config.export_mode == "invocation"
    assert tracer.after_response is None
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert "after_response" in caplog.records[0].getMessage()
    with tracer.session_scope():
        with tracer.otel_tracer.start_as_current_span("x"):
            pass
        assert receiver.spans == []
    assert len(receiver.spans) == 1


def test_after_response_falls_back_to_invocation_on_managed_instances(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from honeyhive_serverless.export.extension import AfterResponseExtension

    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")  # nothing listens: never reached
    monkeypatch.setenv("AWS_LAMBDA_MAX_CONCURRENCY", "4")
    with caplog.at_level(logging.INFO, logger="honeyhive_serverless"):
        assert AfterResponseExtension.register(lambda scope: None, 2000) is None
    assert any("Managed Instances; each invocation's export leaves after it" in r.getMessage() for r in caplog.records)


# -- Lambda Managed Instances: no freeze, so an invocation's export leaves after it, off the request path


@pytest.mark.parametrize("mode", ["invocation", "after_response"])
def test_on_managed_instances_the_export_leaves_after_the_invocation_on_the_workers_thread(
    lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The spans are sent once the handler has returned (the export waits, bounded, for the test to say
    so: sent on the handler's thread it would wait in vain), and nothing is lost: all of them arrive."""
    import threading

    from honeyhive_serverless import get_tracer, with_honeyhive_session
    from honeyhive_serverless_dev.lambda_context import LambdaContext

    monkeypatch.setenv("AWS_LAMBDA_MAX_CONCURRENCY", "4")
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")  # after_response falls back before using it
    monkeypatch.setenv("HH_EXPORT_MODE", mode)
    tracer = get_tracer()
    returned = threading.Event()
    sent_after_return: list[bool] = []
    post_spans = tracer.client.post_spans

    def gated(body: bytes, deadline: float | None = None) -> bool:
        sent_after_return.append(returned.wait(5.0))
        return post_spans(body, deadline)

    tracer.client.post_spans = gated  # type: ignore[method-assign]

    @with_honeyhive_session
    def handler(event: object, context: object) -> str:
        with tracer.otel_tracer.start_as_current_span("step"):
            return "ok"

    for _ in range(3):
        assert handler({}, LambdaContext("fn")) == "ok"
    returned.set()
    assert tracer.force_flush()
    # The first export waited for the return; the two invocations queued behind it left together.
    assert sent_after_return == [True, True]
    assert sorted(span.name for span in lambda_env.spans).count("step") == 3
    assert len(lambda_env.session_starts) == 3


def test_on_managed_instances_invocations_queued_behind_an_export_leave_together_in_order(
    lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One request at a time, a worker could send one invocation per round trip: those queued while one
    is sent go in the next request, in order, at most MAX_BATCH at a time, and none is lost."""
    import threading

    from honeyhive_serverless import get_tracer, with_honeyhive_session
    from honeyhive_serverless.export import continuous
    from honeyhive_serverless_dev.lambda_context import LambdaContext

    monkeypatch.setenv("AWS_LAMBDA_MAX_CONCURRENCY", "4")
    monkeypatch.setattr(continuous, "MAX_BATCH", 2)
    tracer = get_tracer()
    release = threading.Event()
    batches: list[int] = []
    post_spans = tracer.client.post_spans

    def gated(body: bytes, deadline: float | None = None) -> bool:
        release.wait(5.0)
        before = len(lambda_env.spans)
        sent = post_spans(body, deadline)
        batches.append(len(lambda_env.spans) - before)
        return sent

    tracer.client.post_spans = gated  # type: ignore[method-assign]

    @with_honeyhive_session
    def handler(event: dict[str, object], context: object) -> str:
        with tracer.otel_tracer.start_as_current_span(f"step {event['n']}"):
            return "ok"

    for n in range(5):
        assert handler({"n": n, "session_id": "6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e10"}, LambdaContext("fn")) == "ok"
    release.set()
    assert tracer.force_flush()
    # Two spans an invocation (its own and its step): the first alone, then two invocations a request.
    assert batches == [2, 4, 4]
    steps = [span.name for span in lambda_env.spans if span.name.startswith("step")]
    assert steps == [f"step {n}" for n in range(5)]


def test_a_managed_instances_worker_sends_what_is_queued_on_sigterm(
    lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda's shutdown: SIGTERM, and what the worker's export thread still holds is sent within the
    allowance, before SIGTERM does what it did before."""
    import signal

    from honeyhive_serverless import get_tracer, with_honeyhive_session
    from honeyhive_serverless_dev.lambda_context import LambdaContext

    monkeypatch.setenv("AWS_LAMBDA_MAX_CONCURRENCY", "4")
    terminated: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: terminated.append(signum))
    try:
        tracer = get_tracer()
        lambda_env.set_fault("slow", delay_s=0.05)

        @with_honeyhive_session
        def handler(event: object, context: object) -> str:
            return "ok"

        for _ in range(3):
            assert handler({"session_id": "6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e10"}, LambdaContext("fn")) == "ok"
        signal.raise_signal(signal.SIGTERM)
        assert terminated == [signal.SIGTERM]  # the handler that was there before still ran
        # All three invocations' spans: the first in its own request, the two queued behind it in one.
        assert len(lambda_env.spans) == 3
        assert len(lambda_env.otlp_requests()) == 2
        assert tracer.force_flush()
    finally:
        signal.signal(signal.SIGTERM, previous)
