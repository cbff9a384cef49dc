"""Evaluating a deployed function (issue 23): HoneyHive's own ``evaluate()`` (``honeyhive==1.7.0``, in a
venv with this project's wheel and boto3) runs each datapoint through a function that invokes a Lambda
function with ``honeyhive_serverless.invoke_function`` and boto3's Lambda client. The Lambda function is
the emulator's, behind its Invoke API; its handler is wrapped with ``@with_honeyhive_session`` and
exports to the receiver the SDK sends to.

``evaluate()`` gives each datapoint a tracer and a session of its own, started with the run, dataset and
datapoint in its metadata, and calls the function inside the datapoint's chain span, with ``run_id``,
``dataset_id``, ``datapoint_id`` and ``session_id`` in baggage: ``invoke_function`` needs nothing more
than that context. The contract:

* each datapoint's Lambda invocation joins that datapoint's session (no session of its own is started),
  and continues the trace of the datapoint's chain span;
* every span the Lambda function sends carries the datapoint's run, dataset and datapoint as
  ``honeyhive_metadata.run_id``, ``.dataset_id`` and ``.datapoint_id``, as the SDK's own spans do;
* the run the receiver recorded (created, completed, linked to the sessions) lists every datapoint and
  session, and every request of the SDK was answered as HoneyHive's schemas say (the SDK's result
  summary is read from it).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from honeyhive_serverless_dev.receiver import ReceivedSpan
from installed import Venv
from sdk_harness import EVALUATED_FUNCTION, SDK_VERSION, SdkEvaluation, sdk_evaluate

DATAPOINTS = 3
EXPERIMENT_KEYS = ("run_id", "dataset_id", "datapoint_id")

# The first test also builds the wheel and the SDK client's venv.
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def evaluation(honeyhive_sdk_client: Venv, sdk_workdir: Path) -> SdkEvaluation:
    """One ``evaluate()`` over three datapoints (a few seconds), shared by the tests below."""
    return sdk_evaluate(honeyhive_sdk_client, DATAPOINTS, sdk_workdir)


def _sessions(evaluation: SdkEvaluation) -> dict[str, dict[str, str]]:
    """The sessions evaluate() started, by id: the run, dataset and datapoint in each one's metadata."""
    starts = evaluation.record.session_starts
    return {start["session_id"]: start["metadata"] for start in starts if start.get("source") == "evaluation"}


def test_each_datapoint_invokes_the_function_in_a_session_of_its_own(evaluation: SdkEvaluation) -> None:
    document = evaluation.document
    sessions = _sessions(evaluation)
    calls = document["calls"]

    assert document["sdk_version"] == SDK_VERSION
    assert len(calls) == len(sessions) == DATAPOINTS
    for call in calls:
        assert (call["status_code"], call["function_error"]) == (200, None), evaluation.function_logs
        found = call["baggage"]
        session_id = found["session_id"]
        # The function ran in the datapoint's context, which names its session, run, dataset, datapoint.
        assert {key: found[key] for key in EXPERIMENT_KEYS} == sessions[session_id]
        assert sessions[session_id]["run_id"] == document["run_id"]
        # The Lambda function's handler ran in that same session.
        assert call["answer"]["session_id"] == session_id
    datapoints = {metadata["datapoint_id"] for metadata in sessions.values()}
    assert len(datapoints) == DATAPOINTS
    # Only the SDK started sessions: each invocation joined the one its caller named.
    assert len(evaluation.record.session_starts) == DATAPOINTS


def test_the_lambda_spans_land_in_their_datapoints_session_with_the_runs_metadata(evaluation: SdkEvaluation) -> None:
    sessions = _sessions(evaluation)
    lambda_spans: dict[str | None, list[ReceivedSpan]] = defaultdict(list)
    chain_spans: dict[str | None, ReceivedSpan] = {}
    for span in evaluation.record.spans:
        if span.resource_attributes.get("service.name") == EVALUATED_FUNCTION:
            lambda_spans[span.session_id].append(span)
        else:  # the SDK's: the span evaluate() runs each datapoint's function in
            assert span.attributes.get("honeyhive_event_type") == "chain"
            chain_spans[span.session_id] = span

    assert set(lambda_spans) == set(sessions), evaluation.function_logs
    for session_id, metadata in sessions.items():
        found = lambda_spans[session_id]
        [invocation] = [span for span in found if span.name == EVALUATED_FUNCTION]
        assert invocation.span_kind == "SERVER"
        assert {span.name for span in found} >= {EVALUATED_FUNCTION, "double"}
        for span in found:
            assert {key: span.attributes.get(f"honeyhive_metadata.{key}") for key in EXPERIMENT_KEYS} == metadata
        # The invocation continues the datapoint's trace, under the span evaluate() called the function in.
        chain = chain_spans[session_id]
        assert (invocation.trace_id, invocation.parent_span_id) == (chain.trace_id, chain.span_id)
        assert {key: chain.attributes.get(f"honeyhive_metadata.{key}") for key in EXPERIMENT_KEYS} == metadata


def test_the_run_lists_every_datapoint_and_session(evaluation: SdkEvaluation) -> None:
    document = evaluation.document
    sessions = _sessions(evaluation)
    datapoints = sorted(metadata["datapoint_id"] for metadata in sessions.values())
    [dataset_id] = {metadata["dataset_id"] for metadata in sessions.values()}

    [run] = evaluation.runs
    assert run.run_id == document["run_id"]
    assert run.status == "completed"
    assert sorted(run.datapoint_ids) == datapoints
    assert sorted(run.event_ids) == sorted(sessions)
    # A local dataset's id (EXT-...) travels in the run's metadata, not as a HoneyHive dataset.
    assert run.metadata["offline_dataset_id"] == dataset_id
    assert run.fields.get("dataset_id") is None
    # The SDK's summary, read from the run's result.
    assert (document["status"], document["success"], document["failed"]) == ("completed", True, [])
    assert sorted(document["passed"]) == datapoints


def test_every_request_was_answered_and_each_session_got_its_outputs(evaluation: SdkEvaluation) -> None:
    requests = evaluation.record.requests
    sessions = _sessions(evaluation)
    answers = {call["baggage"]["session_id"]: call["answer"] for call in evaluation.document["calls"]}

    assert [request for request in requests if request[2] != 200] == []
    run_id = evaluation.document["run_id"]
    assert {(method, path) for method, path, _ in requests} >= {
        ("POST", "/v1/runs"),
        ("PUT", f"/v1/runs/{run_id}"),
        ("GET", f"/v1/runs/{run_id}/result"),
    }
    # evaluate() enriches each session with the function's answer and the datapoint's ground truth.
    updates = {update["event_id"]: update for update in evaluation.event_updates}
    assert set(updates) == set(sessions)
    for session_id, update in updates.items():
        assert update["outputs"] == answers[session_id]
        assert update["feedback"] == {"ground_truth": {"answer": answers[session_id]["answer"]}}
