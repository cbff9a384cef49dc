"""Running HoneyHive's SDK (``tests/sdk_caller.py`` in the ``honeyhive_sdk`` venv) against a dev receiver
of its own, and reading what it printed and what it sent.

The SDK never enters this project's layer, runtime dependencies or constraints: it lives only in that
venv, outside the checkout, pinned by :data:`SDK_REQUIREMENT`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conftest import REPO, SANDBOX_HANDLERS, TESTS
from honeyhive_serverless_dev.emulator import InvokeApi, LambdaEmulator
from honeyhive_serverless_dev.receiver import DevReceiver, ReceivedSpan
from honeyhive_serverless_dev.receiver.experiments import Run
from installed import Venv

#: The SDK version the compatibility tests run against (HoneyHive's reference docs describe it).
SDK_REQUIREMENT = "honeyhive==1.7.0"
SDK_VERSION = SDK_REQUIREMENT.partition("==")[2]
CALLER = TESTS / "sdk_caller.py"
#: What the caller script authenticates with (the receiver refuses any other key).
SDK_API_KEY = "hh-sdk-caller-key"
SDK_TIMEOUT_S = 120
#: The Lambda function the caller's ``evaluate`` mode invokes, and its handler.
EVALUATED_FUNCTION = "evaluated-function"
EVALUATED_HANDLER = "evaluated.handler"


@dataclass(frozen=True)
class SdkCall:
    """One outgoing call the SDK made: its session, its span, and the carrier it injected."""

    session_id: str
    trace_id: str
    span_id: str
    headers: dict[str, str]
    #: The caller's baggage when it injected (what ``headers["baggage"]`` encodes).
    baggage: dict[str, str]

    @property
    def traceparent(self) -> str:
        return self.headers["traceparent"]


@dataclass(frozen=True)
class SdkRecord:
    """What the SDK sent its receiver in one run."""

    requests: list[tuple[str, str, int]]  # (method, path, status)
    session_starts: list[dict[str, Any]]
    spans: list[ReceivedSpan]
    authorizations: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class SdkCalls:
    """A run of ``sdk_caller.py calls``: the SDK's version, its calls, what it sent."""

    sdk_version: str
    calls: list[SdkCall]
    record: SdkRecord


@dataclass(frozen=True)
class SdkEvaluation:
    """A run of ``sdk_caller.py evaluate``: what the caller printed, what the SDK and the Lambda function
    sent their receiver, the receiver's record of the runs and session updates, and the function's logs."""

    document: dict[str, Any]
    record: SdkRecord
    runs: list[Run]
    event_updates: list[dict[str, Any]]
    function_logs: str


def run_sdk(venv: Venv, *args: str, cwd: Path) -> dict[str, Any]:
    """``sdk_caller.py ARGS`` with the SDK venv's python; the JSON document it printed."""
    result = venv.run("python", CALLER, *args, cwd=cwd, timeout=SDK_TIMEOUT_S)
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def _record(receiver: DevReceiver) -> SdkRecord:
    return SdkRecord(
        requests=[(r.method, urlsplit(r.path).path, r.status) for r in receiver.requests],
        session_starts=list(receiver.session_starts),
        spans=list(receiver.spans),
        authorizations={r.headers.get("authorization", "") for r in receiver.requests},
    )


def sdk_calls(venv: Venv, count: int, cwd: Path) -> SdkCalls:
    """``count`` independent calls from the SDK, each in a session of its own, against a receiver of their own."""
    receiver = DevReceiver(api_keys={SDK_API_KEY}).start()
    try:
        document = run_sdk(venv, "calls", receiver.url, str(count), cwd=cwd)
        # disable_batch: every span was sent before the script printed; nothing is still on its way.
        record = _record(receiver)
    finally:
        receiver.stop()
    calls = [SdkCall(**call) for call in document["calls"]]
    return SdkCalls(sdk_version=str(document["sdk_version"]), calls=calls, record=record)


def sdk_evaluate(venv: Venv, count: int, cwd: Path) -> SdkEvaluation:
    """The SDK's ``evaluate()`` over ``count`` datapoints, its function invoking :data:`EVALUATED_FUNCTION`
    (the emulator, behind its Invoke API) with ``invoke_function``; the SDK and the function send to one
    receiver."""
    receiver = DevReceiver(api_keys={SDK_API_KEY}).start()
    # PYTHONPATH: the sandbox imports this checkout's runtime.
    env = {"HH_API_URL": receiver.url, "HH_API_KEY": SDK_API_KEY, "PYTHONPATH": str(REPO / "layer")}
    emulator = LambdaEmulator(EVALUATED_HANDLER, task_root=SANDBOX_HANDLERS, env=env, function_name=EVALUATED_FUNCTION)
    try:
        with emulator, InvokeApi(emulator) as front:
            document = run_sdk(venv, "evaluate", receiver.url, front.url, str(count), cwd=cwd)
            # The function may send its spans after it answered: wait for every invocation's span.
            receiver.wait_for(lambda rx: len(_invocation_spans(rx)) >= count, timeout=10)
        record = _record(receiver)
        runs = receiver.runs.all()
        event_updates = list(receiver.event_updates)
    finally:
        receiver.stop()
    return SdkEvaluation(document, record, runs, event_updates, emulator.logs)


def _invocation_spans(receiver: DevReceiver) -> list[ReceivedSpan]:
    return [span for span in receiver.spans if span.name == EVALUATED_FUNCTION and span.span_kind == "SERVER"]


def sdk_callee(venv: Venv, carrier: dict[str, str], cwd: Path) -> tuple[dict[str, Any], SdkRecord]:
    """The SDK as the called service: ``with_distributed_trace_context(carrier, tracer)`` around a span.

    Returns that span's ids and session (as the SDK saw them) and what the SDK sent."""
    receiver = DevReceiver(api_keys={SDK_API_KEY}).start()
    try:
        found = run_sdk(venv, "callee", receiver.url, json.dumps(carrier), cwd=cwd)
        record = _record(receiver)
    finally:
        receiver.stop()
    return found, record


def sdk_init_fields(venv: Venv, cwd: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The SDK's config models' fields: ``{model: {field: {"annotation", "default", "required"}}}``."""
    models = run_sdk(venv, "init-fields", cwd=cwd)["models"]
    assert isinstance(models, dict)
    return models
