"""HoneyHive's experiment runs, as its SDK's ``evaluate()`` uses them: a run created, updated, its result read.

What ``evaluate()`` of ``honeyhive==1.7.0`` sends for a local dataset, besides the session starts, span
exports and ``PUT /events`` the rest of the receiver answers:

* ``POST /v1/runs`` (status ``pending``, the datapoints' ids, ``metadata.offline_dataset_id``): it reads
  ``run_id`` of the answer and uses that run id from then on;
* ``PUT /v1/runs/{run_id}`` (status ``completed``, ``event_ids``: the datapoints' sessions);
* ``GET /v1/runs/{run_id}/result?aggregate_function=average``: ``status``, ``success``, ``passed``,
  ``failed``, ``metrics`` and ``datapoints`` of the answer make its result summary.

Bodies and parameters are checked against HoneyHive's published schemas (``spec/dataplane-experiments.json``),
strictly: a property the schema does not name is refused (400), so a client's typo shows here rather than
as a field silently missing from a run. Answers follow the response schemas. The receiver runs no
evaluators: a run's result passes every datapoint, with no metrics.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .contract_spec import EXPERIMENTS, spec_document

RUNS_PATH = "/v1/runs"
#: The excerpt of HoneyHive's dataplane spec these routes follow (package data beside this module).
SPEC_PATH = Path(__file__).resolve().parent / "spec" / EXPERIMENTS
CREATE_RUN = "POST /v1/runs"
UPDATE_RUN = "PUT /v1/runs/{run_id}"
RUN_RESULT = "GET /v1/runs/{run_id}/result"
_RUN_PATH = re.compile(re.escape(RUNS_PATH) + r"/(?P<run_id>[^/]+)(?P<result>/result)?")
#: The receiver's workspace, as its session starts name it.
SCOPE = {"scope_type": "project", "scope_id": "local"}

#: An answer: its HTTP status and its JSON document.
Answer = tuple[int, Any]


class _Refused(Exception):
    """A request answered with ``status`` and ``message`` instead of its route's answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Run:
    """One experiment run: the fields its requests set (the create's, then each update's over them:
    an object field such as ``metadata`` is merged, any other replaced) and what the receiver gave it."""

    run_id: str
    #: The run's record id (``ExperimentRunObject.id``), not its run id.
    id: str
    fields: dict[str, Any]
    created_at: str
    updated_at: str | None = None

    @property
    def status(self) -> str:
        return str(self.fields.get("status") or "pending")

    @property
    def event_ids(self) -> list[str]:
        """The run's sessions, as ``evaluate()`` links them when it completes the run."""
        return list(self.fields.get("event_ids") or [])

    @property
    def datapoint_ids(self) -> list[str]:
        return list(self.fields.get("datapoint_ids") or [])

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.fields.get("metadata") or {})

    def as_object(self) -> dict[str, Any]:
        """The run as HoneyHive answers it (``ExperimentRunObject``)."""
        fields = self.fields
        return {
            "id": self.id,
            "run_id": self.run_id,
            "name": fields.get("name"),
            "description": fields.get("description"),
            "status": self.status,
            "metadata": self.metadata,
            "results": dict(fields.get("results") or {}),
            "metrics": {},
            "event_ids": self.event_ids,
            "configuration": dict(fields.get("configuration") or {}),
            "is_active": True,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            **SCOPE,
            "dataset_id": fields.get("dataset_id"),
            "dataset_name": None,
        }


class Runs:
    """The runs created so far, by run id; answers the runs routes (from any handler thread).

    ``datapoint_of(session_id)``: the datapoint a session ran (its session start's ``metadata``), for a
    run's result. Called without this store's lock held, so it may take locks of its own.
    """

    def __init__(self, datapoint_of: Callable[[str], str | None]) -> None:
        self._datapoint_of = datapoint_of
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}

    def get(self, run_id: str) -> Run | None:
        """A copy of the run ``run_id``, None when there is none."""
        with self._lock:
            run = self._runs.get(run_id)
            return copy.deepcopy(run) if run is not None else None

    def all(self) -> list[Run]:
        """Copies of every run, in the order they were created."""
        with self._lock:
            return copy.deepcopy(list(self._runs.values()))

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()

    def answer(self, method: str, target: str, body: bytes) -> Answer | None:
        """The answer to ``method target`` (path and query) with ``body``; None when it is no runs route."""
        parts = urlsplit(target)
        path = parts.path
        try:
            if path == RUNS_PATH and method == "POST":
                return self._create(body)
            match = _RUN_PATH.fullmatch(path)
            if match is None:
                return None
            if method == "PUT" and not match["result"]:
                return self._update(_path_run_id(UPDATE_RUN, match["run_id"]), body)
            if method == "GET" and match["result"]:
                return self._result(_path_run_id(RUN_RESULT, match["run_id"]), parse_qs(parts.query))
        except _Refused as refused:
            return refused.status, {"error": refused.message}
        return None

    def _create(self, body: bytes) -> Answer:
        fields = _checked_body(CREATE_RUN, body)
        # HoneyHive makes the run id when the client sends none.
        run_id = str(fields.pop("run_id", None) or uuid.uuid4())
        run = Run(run_id=run_id, id=uuid.uuid4().hex, fields=fields, created_at=_now())
        with self._lock:
            if run_id in self._runs:
                raise _Refused(400, f"run {run_id} exists")
            self._runs[run_id] = run
            return 200, {"evaluation": run.as_object(), "run_id": run_id}

    def _update(self, run_id: str, body: bytes) -> Answer:
        changes = _checked_body(UPDATE_RUN, body)
        with self._lock:
            run = self._known(run_id)
            for key, value in changes.items():
                current = run.fields.get(key)
                # evaluate() sends part of its metadata again on completion (offline_dataset_id alone):
                # merged, the rest it sent at creation (git) stays.
                merged = {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value
                run.fields[key] = merged
            run.updated_at = _now()
            return 200, {"evaluation": run.as_object()}

    def _result(self, run_id: str, query: Mapping[str, list[str]]) -> Answer:
        aggregate_function = _query_value(RUN_RESULT, "aggregate_function", query)
        with self._lock:
            run = copy.deepcopy(self._known(run_id))
        # Outside the lock: the lookup takes the receiver's.
        datapoints: list[dict[str, Any]] = [
            {"datapoint_id": self._datapoint_of(session_id), "session_id": session_id, "passed": True, "metrics": []}
            for session_id in run.event_ids
        ]
        return 200, {
            "status": run.status,
            "success": True,
            "passed": [point["datapoint_id"] or point["session_id"] for point in datapoints],
            "failed": [],
            "metrics": {"aggregation_function": aggregate_function, "details": []},
            "datapoints": datapoints,
            "event_details": [],
            "run_object": run.as_object(),
        }

    def _known(self, run_id: str) -> Run:
        run = self._runs.get(run_id)
        if run is None:
            raise _Refused(404, f"no run {run_id}")
        return run


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


# ---- the spec


@functools.cache
def operations() -> dict[str, Any]:
    """The spec excerpt's operations, by ``METHOD /path``."""
    found: dict[str, Any] = spec_document(EXPERIMENTS)["operations"]
    return found


@functools.cache
def _validator(operation: str, parameter: str | None = None) -> Draft202012Validator:
    """A strict validator of ``operation``'s request body, or of its ``parameter``."""
    spec = operations()[operation]
    if parameter is None:
        schema = spec["requestBody"]
    else:
        [schema] = [found["schema"] for found in spec["parameters"] if found["name"] == parameter]
    return Draft202012Validator(closed(schema), format_checker=Draft202012Validator.FORMAT_CHECKER)


def closed(schema: Any) -> Any:
    """``schema`` with every object that lists its properties closed to others (strict checking)."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    found = {key: closed(value) for key, value in schema.items()}
    if isinstance(schema.get("properties"), dict) and "additionalProperties" not in schema:
        found["additionalProperties"] = False
    return found


def _check(operation: str, instance: Any, parameter: str | None = None) -> None:
    error = best_match(_validator(operation, parameter).iter_errors(instance))
    if error is not None:
        where = parameter if parameter is not None else "body"
        path = error.json_path.removeprefix("$")
        raise _Refused(400, f"{operation}: {where}{path}: {error.message}")


def _checked_body(operation: str, body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise _Refused(400, f"{operation}: invalid JSON body: {exc}") from None
    _check(operation, document)
    assert isinstance(document, dict)  # the schema is an object's
    return document


def _path_run_id(operation: str, run_id: str) -> str:
    _check(operation, run_id, "run_id")
    return run_id


def _query_value(operation: str, name: str, query: Mapping[str, list[str]]) -> str:
    """The query parameter ``name`` (its schema's default when absent), checked against its schema."""
    [spec] = [found for found in operations()[operation]["parameters"] if found["name"] == name]
    values = query.get(name)
    if not values:
        return str(spec["schema"]["default"])
    _check(operation, values[-1], name)
    return values[-1]
