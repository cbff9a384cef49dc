"""Durable functions with the real ``aws-durable-execution-sdk-python``: a ``@durable_execution`` handler
under ``@with_honeyhive_session``, run for every invocation of one execution by the SDK's own local
runner (``aws-durable-execution-sdk-python-testing``: its in-memory checkpoint service and its
scheduler, which invokes the function again after each wait, with the time skipped).

The runner hands the handler its in-memory client inside an invocation object; Lambda hands it the JSON
envelope and the SDK reaches the checkpoint API through boto3. ``_Boto3Lambda`` turns one into the
other, so the handler gets the envelope as Lambda delivers it and the SDK's own boto3 path
(``LambdaClient``) talks to the runner's checkpoint service. Judged by what the receiver got.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("aws_durable_execution_sdk_python_testing")  # Python 3.11+, as the SDK

from aws_durable_execution_sdk_python.config import Duration, StepConfig
from aws_durable_execution_sdk_python.context import DurableContext
from aws_durable_execution_sdk_python.exceptions import StepError
from aws_durable_execution_sdk_python.execution import durable_execution
from aws_durable_execution_sdk_python.lambda_service import DurableServiceClient, InvocationStatus, OperationUpdate
from aws_durable_execution_sdk_python.plugin import DurableInstrumentationPluginFactory
from aws_durable_execution_sdk_python.retries import RetryDecision
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

from honeyhive_serverless import trace, with_honeyhive_session
from honeyhive_serverless.durable import (
    ATTEMPT,
    EXECUTION_ARN,
    OUTCOME,
    REPLAY,
    REPLAYED_OPERATIONS,
    SESSION_EXECUTION_ARN,
    SESSION_STATUS,
    STATUS,
    honeyhive_durable,
)
from honeyhive_serverless.ids import durable_execution_trace_id
from honeyhive_serverless.sessions import conversation_session_id
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver
from honeyhive_serverless_dev.receiver.otlp import ReceivedSpan
from trigger_shapes import FUNCTION

PROJECT = "test-project"  # conftest's hh_env
Workflow = Callable[[Any, DurableContext], Any]


class _Boto3Lambda:
    """The two Lambda API calls the SDK makes through boto3 (with boto3's parameter names), answered by
    the runner's checkpoint service."""

    def __init__(self) -> None:
        self.service: DurableServiceClient | None = None

    def _service(self) -> DurableServiceClient:
        assert self.service is not None, "no invocation is running"
        return self.service

    def checkpoint_durable_execution(
        self,
        *,
        DurableExecutionArn: str,
        CheckpointToken: str,
        Updates: list[Any],
        ClientToken: str | None = None,
    ) -> dict[str, Any]:
        updates = [OperationUpdate.from_dict(update) for update in Updates]
        output = self._service().checkpoint(DurableExecutionArn, CheckpointToken, updates, ClientToken)
        state = output.new_execution_state
        return {
            "CheckpointToken": output.checkpoint_token,
            "NewExecutionState": {
                "Operations": [operation.to_dict() for operation in state.operations],
                "NextMarker": state.next_marker,
            },
        }

    def get_durable_execution_state(
        self,
        *,
        DurableExecutionArn: str,
        CheckpointToken: str,
        Marker: str,
        MaxItems: int,
    ) -> dict[str, Any]:
        output = self._service().get_execution_state(DurableExecutionArn, CheckpointToken, Marker, MaxItems)
        return {
            "Operations": [operation.to_dict() for operation in output.operations],
            "NextMarker": output.next_marker,
        }


def _execute(
    workflow: Workflow, plugins: list[DurableInstrumentationPluginFactory]
) -> tuple[Any, list[dict[str, Any]]]:
    """One execution to its end: ``workflow`` as a durable function under ``with_honeyhive_session``
    (outermost, where the envelope is); the runner's result and the envelope of each invocation."""
    lambda_api = _Boto3Lambda()
    # Called with the dev tools' context, the attributes the real runtime client gives (the SDK types its own).
    handler: Callable[[Any, Any], Any] = with_honeyhive_session(
        durable_execution(workflow, boto3_client=lambda_api, plugins=plugins)
    )
    envelopes: list[dict[str, Any]] = []

    def invoke(invocation: Any, _runner_context: Any) -> Any:
        lambda_api.service = invocation.service_client
        # As Lambda delivers it: JSON (the runner's object also carries the client, which Lambda does not).
        envelope = json.loads(json.dumps(invocation.to_json_dict(), default=str))
        envelopes.append(envelope)
        return handler(envelope, LambdaContext(FUNCTION))

    with DurableFunctionTestRunner(handler=invoke) as runner:
        result = runner.run(input=json.dumps({"order_id": "o-42"}), execution_timeout=60)
    return result, envelopes


def _three_steps(outside: Iterator[int]) -> Workflow:
    """Step one, a wait, step two, a wait, step three: three invocations. ``outside`` counts the runs of
    the code outside steps."""

    @trace(event_type="model")
    def call_model(prompt: str) -> str:
        return prompt.upper()

    def workflow(event: Any, context: DurableContext) -> list[str]:
        next(outside)
        one = context.step(lambda _: call_model("one"), name="one")
        context.wait(Duration.from_seconds(1), name="first-wait")
        two = context.step(lambda _: "two", name="two")
        context.wait(Duration.from_seconds(1), name="second-wait")
        three = context.step(lambda _: "three", name="three")
        return [one, two, three]

    return workflow


def _invocation_spans(receiver: DevReceiver, count: int) -> list[ReceivedSpan]:
    assert receiver.wait_for(lambda rx: len([s for s in rx.spans if s.name == FUNCTION]) == count)
    return sorted((span for span in receiver.spans if span.name == FUNCTION), key=lambda span: span.start_ns)


def test_three_invocations_are_one_session_and_each_step_is_traced_once(lambda_env: DevReceiver) -> None:
    outside = iter(range(100))
    result, envelopes = _execute(_three_steps(outside), [honeyhive_durable])
    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == ["ONE", "two", "three"]

    invocations = _invocation_spans(lambda_env, 3)
    arn = envelopes[0]["DurableExecutionArn"]
    assert [envelope["DurableExecutionArn"] for envelope in envelopes] == [arn] * 3
    session = conversation_session_id(arn, PROJECT)
    assert [span.session_id for span in invocations] == [session] * 3
    assert [span.attributes[EXECUTION_ARN] for span in invocations] == [arn] * 3
    assert [span.attributes[REPLAY] for span in invocations] == [False, True, True]
    # Before the second: step one and the first wait; before the third: those, step two and the second wait.
    assert [span.attributes[REPLAYED_OPERATIONS] for span in invocations] == [0, 2, 4]
    assert [span.attributes[STATUS] for span in invocations] == ["PENDING", "PENDING", "SUCCEEDED"]

    assert lambda_env.wait_for(lambda rx: len(rx.spans) == 3 + 3 + 1)
    steps = {span.name: span for span in lambda_env.spans if span.name in ("one", "two", "three")}
    assert [span.name for span in lambda_env.spans].count("one") == 1
    assert [span.name for span in lambda_env.spans].count("two") == 1
    assert [span.name for span in lambda_env.spans].count("three") == 1
    # Each step in the invocation that ran it, in the session, once; replayed steps made no span.
    for step, invocation in zip(("one", "two", "three"), invocations, strict=True):
        span = steps[step]
        assert span.parent_span_id == invocation.span_id
        assert span.session_id == session
        assert span.attributes["honeyhive_event_type"] == "tool"
        assert span.attributes[ATTEMPT] == 1
        assert span.attributes[OUTCOME] == "SUCCEEDED"
    [model] = [span for span in lambda_env.spans if span.name == "call_model"]
    assert model.parent_span_id == steps["one"].span_id
    assert model.session_id == session
    # The code outside steps runs again on every replay: the SDK's rule, said in the README.
    assert next(outside) == 3


def test_a_retried_step_has_a_span_per_attempt_each_in_its_own_invocation(lambda_env: DevReceiver) -> None:
    attempts = iter(range(100))

    def flaky(_: Any) -> str:
        if next(attempts) == 0:
            raise RuntimeError("upstream busy")
        return "ok"

    def retry_once(error: Exception, attempts_made: int) -> RetryDecision:
        return RetryDecision.retry(Duration.from_seconds(1)) if attempts_made < 2 else RetryDecision.no_retry()

    def workflow(event: Any, context: DurableContext) -> str:
        return context.step(flaky, name="flaky", config=StepConfig(retry_strategy=retry_once))

    result, _ = _execute(workflow, [honeyhive_durable])
    assert result.status is InvocationStatus.SUCCEEDED

    invocations = _invocation_spans(lambda_env, 2)
    assert lambda_env.wait_for(lambda rx: len([s for s in rx.spans if s.name == "flaky"]) == 2)
    first, second = sorted((s for s in lambda_env.spans if s.name == "flaky"), key=lambda span: span.start_ns)
    assert (first.attributes[ATTEMPT], second.attributes[ATTEMPT]) == (1, 2)
    assert first.parent_span_id == invocations[0].span_id
    assert second.parent_span_id == invocations[1].span_id
    assert first.attributes[OUTCOME] == "FAILED"
    assert first.status_code == "ERROR"
    assert first.attributes["honeyhive_error"] == "RuntimeError: upstream busy"
    assert second.attributes[OUTCOME] == "SUCCEEDED"
    # The failed attempt suspended the first invocation until the retry; nothing had completed before it.
    assert [span.attributes[STATUS] for span in invocations] == ["PENDING", "SUCCEEDED"]
    assert [span.attributes[REPLAYED_OPERATIONS] for span in invocations] == [0, 0]


def test_without_the_plugin_the_durable_functions_spans_miss_the_invocation(lambda_env: DevReceiver) -> None:
    """Why the plugin is needed: without any plugin the SDK runs the handler in a thread with a fresh
    context, so a span made there has neither the invocation span for parent nor its session."""
    result, envelopes = _execute(_three_steps(iter(range(100))), [])
    assert result.status is InvocationStatus.SUCCEEDED

    invocations = _invocation_spans(lambda_env, 3)
    session = conversation_session_id(envelopes[0]["DurableExecutionArn"], PROJECT)
    assert [span.session_id for span in invocations] == [session] * 3  # the wrapper alone joins the session
    assert REPLAY not in invocations[0].attributes
    invocation_ids = {span.span_id for span in invocations}
    assert not [
        span
        for span in lambda_env.spans
        if span.name == "call_model" and (span.session_id == session or span.parent_span_id in invocation_ids)
    ]


def _session_updates(receiver: DevReceiver, session: str) -> list[dict[str, Any]]:
    return [update for update in receiver.event_updates if update["event_id"] == session]


def test_every_invocation_of_an_execution_is_in_one_trace_and_every_parent_was_sent(lambda_env: DevReceiver) -> None:
    """One trace per execution across its invocations and replays, its id derived from the execution ARN;
    each invocation span a root of it (in HoneyHive, a child of the session), so every parent resolves."""
    _, envelopes = _execute(_three_steps(iter(range(100))), [honeyhive_durable])
    invocations = _invocation_spans(lambda_env, 3)
    assert lambda_env.wait_for(lambda rx: len(rx.spans) == 3 + 3 + 1)
    trace_id = format(durable_execution_trace_id(envelopes[0]["DurableExecutionArn"]), "032x")
    assert {span.trace_id for span in lambda_env.spans} == {trace_id}
    assert [span.parent_span_id for span in invocations] == [None] * 3
    sent = {span.span_id for span in lambda_env.spans}
    assert len(sent) == len(lambda_env.spans)  # no span sent twice
    assert all(span.parent_span_id in sent for span in lambda_env.spans if span not in invocations)
    assert sorted(span.name for span in lambda_env.spans if span.attributes.get(OUTCOME)) == ["one", "three", "two"]

    # Another execution of the same function: another trace.
    lambda_env.clear()
    _, others = _execute(_three_steps(iter(range(100))), [honeyhive_durable])
    assert others[0]["DurableExecutionArn"] != envelopes[0]["DurableExecutionArn"]
    assert lambda_env.wait_for(lambda rx: len(rx.spans) == 3 + 3 + 1)
    assert {span.trace_id for span in lambda_env.spans} == {
        format(durable_execution_trace_id(others[0]["DurableExecutionArn"]), "032x")
    }


def test_the_invocation_that_ends_the_execution_gives_its_session_the_status(lambda_env: DevReceiver) -> None:
    result, envelopes = _execute(_three_steps(iter(range(100))), [honeyhive_durable])
    assert result.status is InvocationStatus.SUCCEEDED
    arn = envelopes[0]["DurableExecutionArn"]
    session = conversation_session_id(arn, PROJECT)
    invocations = _invocation_spans(lambda_env, 3)
    assert lambda_env.wait_for(lambda rx: len(_session_updates(rx, session)) == 1)
    # Only the last invocation ended the execution: the two that suspended (PENDING) told the session nothing.
    [update] = _session_updates(lambda_env, session)
    assert update["metadata"] == {SESSION_STATUS: "SUCCEEDED", SESSION_EXECUTION_ARN: arn}
    assert all(span.status_code != "ERROR" for span in invocations)
    assert "honeyhive_error" not in invocations[-1].attributes


def test_a_failed_execution_is_failed_on_its_session_and_its_last_invocation(lambda_env: DevReceiver) -> None:
    def refuse(_: Any) -> str:
        raise PermissionError("not approved")

    def workflow(event: Any, context: DurableContext) -> str:
        context.step(lambda _: "asked", name="ask")
        context.wait(Duration.from_seconds(1), name="for-approval")
        no_retry = StepConfig(retry_strategy=lambda error, attempts: RetryDecision.no_retry())
        return context.step(refuse, name="approve", config=no_retry)

    result, envelopes = _execute(workflow, [honeyhive_durable])
    assert result.status is InvocationStatus.FAILED
    arn = envelopes[0]["DurableExecutionArn"]
    session = conversation_session_id(arn, PROJECT)
    first, last = _invocation_spans(lambda_env, 2)
    assert lambda_env.wait_for(lambda rx: len(_session_updates(rx, session)) == 1)
    # As the SDK reports the execution's error (and Lambda shows it): the step's error, by its wire type.
    error = f"{StepError.__module__}.{StepError.__qualname__}: not approved"
    [update] = _session_updates(lambda_env, session)
    assert update["metadata"] == {SESSION_STATUS: "FAILED", SESSION_EXECUTION_ARN: arn, "error": error}
    assert (first.attributes[STATUS], last.attributes[STATUS]) == ("PENDING", "FAILED")
    assert "honeyhive_error" not in first.attributes
    assert last.status_code == "ERROR"
    assert last.attributes["honeyhive_error"] == error
    # The failed execution is one trace too, its failing step in it once.
    assert lambda_env.wait_for(lambda rx: len(rx.spans) == 2 + 2)
    assert {span.trace_id for span in lambda_env.spans} == {format(durable_execution_trace_id(arn), "032x")}
    [approve] = [span for span in lambda_env.spans if span.name == "approve"]
    assert approve.parent_span_id == last.span_id
