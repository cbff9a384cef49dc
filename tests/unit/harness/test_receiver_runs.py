"""The dev receiver's experiment runs (``receiver/experiments.py``), over real sockets: what HoneyHive's
``evaluate()`` creates, completes and reads, checked against HoneyHive's schemas (the spec excerpt
shipped beside the module) and answered as they say."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from honeyhive_serverless_dev.receiver import DevReceiver
from honeyhive_serverless_dev.receiver.experiments import (
    CREATE_RUN,
    RUN_RESULT,
    SPEC_PATH,
    UPDATE_RUN,
    closed,
    operations,
)

pytestmark = pytest.mark.timeout(30)

API_KEY = "hh-runs-key"
#: What honeyhive==1.7.0's evaluate() sends for a local dataset of two datapoints (as captured from it).
CREATE = {
    "name": "experiment",
    "status": "pending",
    "metadata": {"offline_dataset_id": "EXT-63c8a722ecb56965", "git": {"branch": "main"}},
    "event_ids": [],
    "configuration": {"function": "fn", "evaluators": [], "max_workers": 10, "aggregate_function": "average"},
    "datapoint_ids": ["EXT-84ff06f825efc0da", "EXT-e9db3093ea4a347b"],
}


@pytest.fixture
def rx() -> Iterator[DevReceiver]:
    receiver = DevReceiver(api_keys={API_KEY}).start()
    try:
        yield receiver
    finally:
        receiver.stop()


def call(receiver: DevReceiver, method: str, path: str, body: bytes | dict[str, Any] | None = None) -> tuple[int, Any]:
    payload = json.dumps(body).encode() if isinstance(body, dict) else body
    connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def assert_answered_as_specified(operation: str, document: Any) -> None:
    """``document`` is what ``operation``'s 200 schema describes, and names nothing it does not."""
    schema = closed(operations()[operation]["responses"]["200"]["schema"])
    errors = [error.message for error in Draft202012Validator(schema).iter_errors(document)]
    assert errors == []


def start_session(receiver: DevReceiver, datapoint_id: str) -> str:
    session_id = str(uuid.uuid4())
    session = {"session_id": session_id, "source": "evaluation", "metadata": {"datapoint_id": datapoint_id}}
    status, _ = call(receiver, "POST", "/session/start", {"session": session})
    assert status == 200
    return session_id


def test_the_excerpt_names_its_source_and_the_operations_evaluate_calls() -> None:
    source = json.loads(SPEC_PATH.read_text())["x-source"]

    assert (source["repository"], source["path"]) == ("honeyhiveai/python-sdk", "openapi/dataplane.yaml")
    assert source["commit"] == "66f5b597b039d2ca477074c1411c091eda69e03b"
    assert set(operations()) == {CREATE_RUN, UPDATE_RUN, RUN_RESULT}
    # Every $ref is inlined, its name kept.
    assert '"$ref"' not in SPEC_PATH.read_text()
    assert operations()[CREATE_RUN]["requestBody"]["x-ref"] == "PostExperimentRunRequest"


def test_a_run_is_created_completed_and_its_result_read_as_evaluate_does(rx: DevReceiver) -> None:
    run_id = str(uuid.uuid4())
    sessions = {datapoint: start_session(rx, datapoint) for datapoint in CREATE["datapoint_ids"]}

    created = call(rx, "POST", "/v1/runs", {**CREATE, "run_id": run_id})
    completion = {
        "name": "experiment",
        "status": "completed",
        "metadata": {"offline_dataset_id": "EXT-63c8a722ecb56965"},
    }
    updated = call(rx, "PUT", f"/v1/runs/{run_id}", {**completion, "event_ids": list(sessions.values())})
    result = call(rx, "GET", f"/v1/runs/{run_id}/result?aggregate_function=average")

    assert [created[0], updated[0], result[0]] == [200, 200, 200]
    assert_answered_as_specified(CREATE_RUN, created[1])
    assert_answered_as_specified(UPDATE_RUN, updated[1])
    assert_answered_as_specified(RUN_RESULT, result[1])
    assert created[1]["run_id"] == run_id
    assert created[1]["evaluation"]["status"] == "pending"
    assert updated[1]["evaluation"]["status"] == "completed"
    # The completion's metadata is merged into the creation's: the git context stays.
    assert updated[1]["evaluation"]["metadata"] == CREATE["metadata"]
    summary = result[1]
    assert (summary["status"], summary["success"], summary["failed"]) == ("completed", True, [])
    assert sorted(summary["passed"]) == sorted(CREATE["datapoint_ids"])
    assert summary["metrics"] == {"aggregation_function": "average", "details": []}
    assert {(point["datapoint_id"], point["session_id"]) for point in summary["datapoints"]} == set(sessions.items())

    [run] = rx.runs.all()
    assert (run.run_id, run.status, run.datapoint_ids) == (run_id, "completed", CREATE["datapoint_ids"])
    assert run.event_ids == list(sessions.values())
    assert rx.runs.get(run_id) == run


def test_a_run_without_an_id_gets_one(rx: DevReceiver) -> None:
    status, answer = call(rx, "POST", "/v1/runs", {"name": "anonymous"})

    assert status == 200
    assert uuid.UUID(answer["run_id"])
    assert rx.runs.get(answer["run_id"]) is not None


@pytest.mark.parametrize(
    ("method", "path", "body", "problem"),
    [
        ("POST", "/v1/runs", {**CREATE, "nmae": "typo"}, "'nmae' was unexpected"),
        ("POST", "/v1/runs", {**CREATE, "status": "done"}, "'done' is not one of"),
        ("POST", "/v1/runs", {**CREATE, "datapoint_ids": [""]}, "body.datapoint_ids[0]"),
        ("POST", "/v1/runs", b"{not json", "invalid JSON body"),
        ("POST", "/v1/runs", b"[]", "is not of type 'object'"),
        ("PUT", "/v1/runs/run-1", {"status": "completed"}, "'run-1' is not a 'uuid'"),
        ("GET", f"/v1/runs/{uuid.uuid4()}/result?aggregate_function=mean", None, "'mean' is not one of"),
    ],
)
def test_what_the_schemas_refuse_is_answered_400_and_recorded_nowhere(
    rx: DevReceiver, method: str, path: str, body: bytes | dict[str, Any] | None, problem: str
) -> None:
    status, answer = call(rx, method, path, body)

    assert status == 400
    assert problem in answer["error"]
    assert rx.runs.all() == []


def test_an_unknown_run_is_404_and_a_run_created_twice_400(rx: DevReceiver) -> None:
    run_id = str(uuid.uuid4())
    assert call(rx, "PUT", f"/v1/runs/{run_id}", {"status": "completed"})[0] == 404
    assert call(rx, "GET", f"/v1/runs/{run_id}/result")[0] == 404

    assert call(rx, "POST", "/v1/runs", {"run_id": run_id})[0] == 200
    status, answer = call(rx, "POST", "/v1/runs", {"run_id": run_id, "name": "again"})

    assert (status, answer) == (400, {"error": f"run {run_id} exists"})
    assert rx.runs.get(run_id).fields == {}  # type: ignore[union-attr]
    assert call(rx, "DELETE", f"/v1/runs/{run_id}")[0] == 404  # not a route evaluate() takes


def test_clear_forgets_the_runs(rx: DevReceiver) -> None:
    assert call(rx, "POST", "/v1/runs", {"name": "forgotten"})[0] == 200

    rx.clear()

    assert rx.runs.all() == []
