"""``@with_honeyhive_session`` in-process: isolation between invocations, outcomes, timeouts, batches."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

import pytest

from honeyhive_serverless import enrich_session, get_tracer, process_records, trace, with_honeyhive_session
from honeyhive_serverless.faas.starts import starts
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver


def ctx(**fields: Any) -> LambdaContext:
    return LambdaContext(**{"function_name": "fn", **fields})


@trace
def step(n: int) -> int:
    return n * 2


def test_new_linked_new_in_one_process_share_nothing(lambda_env: DevReceiver) -> None:
    seen: list[str | None] = []

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(get_tracer().session_id)
        step(event["n"])
        return {"n": event["n"]}

    linked = str(uuid.uuid4())
    assert handler({"n": 1}, ctx()) == {"n": 1}
    assert handler({"n": 2, "session_id": linked}, ctx()) == {"n": 2}
    assert handler({"n": 3}, ctx()) == {"n": 3}
    # Nothing left behind after the last invocation: outside one, spans join the tracer's own session.
    assert get_tracer().session_id == get_tracer().startup_session_id

    first, second, third = seen
    assert second == linked
    assert len({first, second, third}) == 3
    assert [s["session_id"] for s in lambda_env.session_starts] == [first, third]
    by_n: dict[object, set[str | None]] = {}
    for span in lambda_env.spans:
        n = span.attributes.get("honeyhive_inputs.n") or span.attributes.get("honeyhive_inputs.event.n")
        by_n.setdefault(n, set()).add(span.session_id)
    assert by_n == {1: {first}, 2: {second}, 3: {third}}
    assert len(lambda_env.otlp_requests()) == 3  # one export per invocation


def test_a_raising_handler_or_its_own_create_session_does_not_leak(lambda_env: DevReceiver) -> None:
    class Refused(Exception):
        pass

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> str:
        if event.get("own"):
            get_tracer().create_session(session_name="handler-made")
        step(1)
        if event.get("raise"):
            raise Refused("no")
        return get_tracer().session_id or ""

    with pytest.raises(Refused, match="no"):
        handler({"own": True, "raise": True}, ctx())
    after_raise = handler({}, ctx())
    made_by_handler = [s["session_id"] for s in lambda_env.session_starts if s["session_name"] == "handler-made"]
    assert after_raise not in made_by_handler
    handler({"own": True}, ctx())
    clean = handler({}, ctx())
    assert clean not in made_by_handler
    assert get_tracer().session_id == get_tracer().startup_session_id
    errors = [s for s in lambda_env.spans if s.status_code == "ERROR"]
    assert [s.name for s in errors] == ["fn"]
    assert errors[0].attributes["honeyhive_error"] == "Refused: no"
    error_updates = [u for u in lambda_env.event_updates if "error" in u.get("metadata", {})]
    assert error_updates[0]["metadata"]["error"] == "Refused: no"


def test_invocation_span_facts_and_session_enrichment_merged_once(lambda_env: DevReceiver) -> None:
    @with_honeyhive_session(session_name=lambda event, context: f"chat-{event['user']}")
    def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
        enrich_session(metadata={"a": 1})
        enrich_session(metrics={"score": 0.9})
        return {"ok": "yes"}

    context = ctx(function_version="7", memory_limit_in_mb="256")
    handler({"user": "ann"}, context)
    [start] = lambda_env.session_starts
    assert start["session_name"] == "chat-ann"
    assert start["inputs"] == {"event": {"user": "ann"}}
    assert start["metadata"]["request_id"] == context.aws_request_id
    assert start["metadata"]["trigger"] == "direct"
    [span] = [s for s in lambda_env.spans if s.name == "fn"]
    attrs = span.attributes
    assert attrs["faas.invocation_id"] == context.aws_request_id
    assert attrs["faas.name"] == "fn"
    assert attrs["faas.version"] == "7"
    assert attrs["faas.trigger"] == "other"
    assert attrs["cloud.resource_id"] == context.invoked_function_arn
    assert attrs["cloud.region"] == "us-east-1"
    assert attrs["honeyhive_metadata.request_id"] == context.aws_request_id
    [update] = lambda_env.event_updates
    assert update["event_id"] == start["session_id"]
    assert update["metadata"] == {"a": 1}
    assert update["metrics"] == {"score": 0.9}
    assert update["outputs"] == {"response": {"ok": "yes"}}
    assert isinstance(update["duration"], float)


def test_capture_is_capped_with_a_visible_marker(lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HH_MAX_PAYLOAD_BYTES", "100")

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> str:
        return "r" * 500

    handler({"blob": "x" * 5000}, ctx())
    captured = lambda_env.session_starts[0]["inputs"]["event"]
    assert isinstance(captured, str)
    assert "[truncated" in captured
    assert len(captured) < 200
    assert "[truncated" in lambda_env.event_updates[0]["outputs"]["response"]


def test_capture_toggles_off(lambda_env: DevReceiver) -> None:
    @with_honeyhive_session(capture_event=False, capture_response=False)
    def handler(event: Any, context: Any) -> str:
        return "secret-response"

    handler({"secret": "input"}, ctx())
    assert "inputs" not in lambda_env.session_starts[0]
    assert "outputs" not in lambda_env.event_updates[0]
    everything = json.dumps([s.attributes for s in lambda_env.spans])
    assert "secret-response" not in everything
    assert '"input"' not in everything


def test_timeout_last_gasp_sends_open_spans_marked_timeout(lambda_env: DevReceiver) -> None:
    release = threading.Event()

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> str:
        tracer = get_tracer()
        with tracer.otel_tracer.start_as_current_span("slow-llm-call"):
            release.wait(5)  # stuck past the deadline, as a hung call would be
        return "late"

    deadline_s = 0.6
    started = time.monotonic()
    # The handler blocks; the last gasp fires HH_TIMEOUT_MARGIN_MS (250 ms) before its deadline.
    worker = threading.Thread(target=handler, args=({}, ctx(timeout_s=deadline_s)))
    worker.start()
    assert lambda_env.wait_for(lambda r: len(r.spans) >= 2, timeout=deadline_s + 1)
    arrived = time.monotonic() - started
    release.set()
    worker.join()
    assert arrived < deadline_s  # before the platform would have killed the sandbox
    timed_out = lambda_env.spans[:2]
    assert {s.name for s in timed_out} == {"slow-llm-call", "fn"}
    for span in timed_out:
        assert span.status_code == "ERROR"
        assert span.attributes["honeyhive_error"].startswith("timeout")
    # The session's enrichment leaves beside the spans, not after them: awaited as its own arrival.
    assert lambda_env.wait_for(lambda r: any(u.get("metadata", {}).get("timeout") for u in r.event_updates))
    marked = [u for u in lambda_env.event_updates if u.get("metadata", {}).get("timeout")]
    assert len(marked) == 1


def test_the_timer_never_fires_in_a_later_invocation(lambda_env: DevReceiver) -> None:
    @with_honeyhive_session
    def handler(event: Any, context: Any) -> str:
        with get_tracer().otel_tracer.start_as_current_span("quick"):
            pass
        return "ok"

    for _ in range(3):
        assert handler({}, ctx(timeout_s=0.35)) == "ok"
    # The watchdog runs due callbacks in order on one thread: once a later sentinel has run, any stale
    # timer of those invocations would have fired (and sent spans marked timeout) before it.
    from honeyhive_serverless.faas.watchdog import watchdog

    sentinel = threading.Event()
    watchdog.arm(time.monotonic() + 0.4, sentinel.set)
    assert sentinel.wait(2)
    assert all(s.status_code != "ERROR" for s in lambda_env.spans)
    assert not any(u.get("metadata", {}).get("timeout") for u in lambda_env.event_updates)


def test_cold_start_only_first_and_not_for_provisioned_or_proactive(
    lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    def make() -> Any:
        @with_honeyhive_session
        def handler(event: Any, context: Any) -> None:
            return None

        return handler

    def coldstarts() -> list[bool]:
        return [s.attributes["faas.coldstart"] for s in lambda_env.spans if "faas.coldstart" in s.attributes]

    monkeypatch.setattr(starts, "_first", True)
    handler = make()
    handler({}, ctx())
    handler({}, ctx())
    assert coldstarts() == [True, False]

    lambda_env.clear()
    monkeypatch.setattr(starts, "_first", True)
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")
    make()({}, ctx())
    assert coldstarts() == [False]
    assert lambda_env.session_starts[0]["metadata"]["start"] == "provisioned"

    lambda_env.clear()
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE")
    monkeypatch.setattr(starts, "_first", True)
    handler = make()
    monkeypatch.setattr(starts, "_initialised_at", time.monotonic() - 5)  # init long before the event
    handler({}, ctx())
    assert coldstarts() == [False]
    assert lambda_env.session_starts[0]["metadata"]["start"] == "proactive"


def test_snapstart_restore_marks_the_next_invocation(lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    from honeyhive_serverless.faas.snapstart import after_restore

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> None:
        return None

    monkeypatch.setattr(starts, "_first", False)
    handler({}, ctx())
    after_restore()
    handler({}, ctx())
    assert [s["metadata"]["start"] for s in lambda_env.session_starts] == ["warm", "restored"]


def test_powertools_logger_gets_the_session_id_per_invocation(lambda_env: DevReceiver) -> None:
    from aws_lambda_powertools import Logger

    log = Logger(service="svc")
    seen: list[Any] = []

    @with_honeyhive_session(logger=log)
    def handler(event: Any, context: Any) -> None:
        seen.append(log.get_current_keys().get("session_id"))

    handler({}, ctx())
    assert seen == [lambda_env.session_starts[0]["session_id"]]
    assert "session_id" not in log.get_current_keys()


def test_async_handler_is_traced(lambda_env: DevReceiver) -> None:
    import asyncio

    @with_honeyhive_session
    async def handler(event: Any, context: Any) -> str:
        await asyncio.sleep(0)
        step(4)
        return "async-ok"

    assert asyncio.run(handler({}, ctx())) == "async-ok"
    session_id = lambda_env.session_starts[0]["session_id"]
    assert {s.session_id for s in lambda_env.spans} == {session_id}
    assert len(lambda_env.spans) == 2


def test_batch_records_each_in_their_own_session(lambda_env: DevReceiver, caplog: pytest.LogCaptureFixture) -> None:
    linked = str(uuid.uuid4())

    def sqs(body: dict[str, Any]) -> dict[str, Any]:
        return {"eventSource": "aws:sqs", "messageId": str(uuid.uuid4()), "body": json.dumps(body)}

    event = {"Records": [sqs({"n": 1, "session_id": linked}), sqs({"n": 2}), sqs({"n": 3, "session_id": "bad"})]}

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> list[int]:
        outer = get_tracer().session_id
        results = process_records(event, lambda record: step(json.loads(record["body"])["n"]))
        assert get_tracer().session_id == outer
        return results

    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        assert handler(event, ctx()) == [2, 4, 6]
    assert len(caplog.records) == 1
    assert "record 2" in caplog.records[0].getMessage()
    invocation_session = next(s["session_id"] for s in lambda_env.session_starts if s["session_name"] == "lambda-fn")
    record_sessions = {s.attributes["honeyhive_inputs.n"]: s.session_id for s in lambda_env.spans if s.name == "step"}
    assert record_sessions[1] == linked
    assert len({invocation_session, *record_sessions.values()}) == 4
    assert len(lambda_env.otlp_requests()) == 1  # records' spans leave with the invocation's export


def test_batch_mode_is_drained_before_the_invocation_returns(
    lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HH_EXPORT_MODE", "batch")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")  # the queue would otherwise wait ten minutes

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> str:
        step(1)
        return "ok"

    assert handler({}, ctx()) == "ok"
    assert len(lambda_env.spans) == 2  # no wait: drained inside the invocation


def test_session_start_runs_beside_the_handler_and_a_failed_one_marks_the_spans(
    lambda_env: DevReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    seen_while_running: list[bool] = []

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> str:
        # The start is not awaited before the handler runs: it reaches the receiver meanwhile.
        seen_while_running.append(lambda_env.wait_for(lambda r: len(r.session_starts) == 1, timeout=5))
        step(1)
        return "ok"

    assert handler({}, ctx()) == "ok"
    assert seen_while_running == [True]
    first = lambda_env.spans_for_session(lambda_env.session_starts[0]["session_id"])
    assert first and all("honeyhive.session_auto_create" not in s.attributes for s in first)

    lambda_env.clear()
    lambda_env.set_fault("500", path_prefix="/session")
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        assert handler({}, ctx()) == "ok"
    assert lambda_env.session_starts == []
    assert len(lambda_env.spans) == 2
    assert all(s.attributes["honeyhive.session_auto_create"] is True for s in lambda_env.spans)
    assert any("its spans ask HoneyHive to create it" in r.getMessage() for r in caplog.records)


def test_the_tenant_of_a_tenant_isolated_function_is_on_the_span_and_in_the_session(lambda_env: DevReceiver) -> None:
    @with_honeyhive_session
    def handler(event: Any, context: Any) -> str:
        return "ok"

    assert handler({}, ctx(tenant_id="tenant-7")) == "ok"
    assert handler({}, ctx()) == "ok"
    assert lambda_env.wait_for(lambda rx: len(rx.session_starts) == 2 and len(rx.spans) == 2)
    tenants = [span.attributes.get("aws.lambda.tenant_id") for span in lambda_env.spans]
    assert tenants == ["tenant-7", None]
    assert [start.get("metadata", {}).get("tenant_id") for start in lambda_env.session_starts] == ["tenant-7", None]


@pytest.mark.parametrize("remaining_ms", [0, -5000])
def test_no_time_left_at_the_start_means_no_deadline_not_a_timeout(lambda_env: DevReceiver, remaining_ms: int) -> None:
    """Managed Instances enforce no timeout: the remaining time may read zero or less from the start."""

    class Context(LambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return remaining_ms

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> str:
        step(1)
        return "ok"

    assert handler({}, Context("fn")) == "ok"
    assert lambda_env.wait_for(lambda rx: len(rx.spans) == 2)
    assert all(span.status_code != "ERROR" for span in lambda_env.spans)
    assert not any("honeyhive.timeout" in span.attributes for span in lambda_env.spans)
