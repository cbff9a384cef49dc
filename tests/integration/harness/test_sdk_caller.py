"""The HoneyHive SDK harness itself: the pinned SDK in its own venv, what ``tests/sdk_caller.py`` prints,
and what the SDK sends the dev receiver (which must answer everything it asks)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib

from conftest import REPO
from honeyhive_serverless.wire import OTLP_PATH, SESSION_START_PATH
from honeyhive_serverless_dev.layer_build import LOCK_PATH
from installed import Venv
from sdk_harness import SDK_API_KEY, SDK_VERSION, SdkCalls, sdk_callee, sdk_init_fields

HEX32 = re.compile(r"[0-9a-f]{32}")
HEX16 = re.compile(r"[0-9a-f]{16}")
SDK_NAME = re.compile(r"honeyhive(?![-_.]?serverless)\s*([=<>!~\[;]|$)", re.IGNORECASE)
TRACEPARENT = re.compile(r"00-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})")


def baggage_members(header: str) -> dict[str, str]:
    """A W3C baggage header as a dict (no properties or percent-encoding in what the SDK sends)."""
    return dict(member.strip().split("=", 1) for member in header.split(","))


def test_the_sdk_venv_holds_the_pinned_sdk_and_nothing_of_this_project(honeyhive_sdk: Venv, sdk_workdir: Path) -> None:
    probe = (
        "import importlib.metadata as m, importlib.util as u;"
        "print(m.version('honeyhive'), u.find_spec('honeyhive_serverless'))"
    )
    result = honeyhive_sdk.run("python", "-c", probe, cwd=sdk_workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [SDK_VERSION, "None"]
    # ...and the SDK is in nothing this project installs or ships: dependencies, extras, pins, the layer.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]
    assert not [requirement for requirement in requirements if SDK_NAME.match(requirement)]
    for pins in (LOCK_PATH, *sorted((REPO / "constraints").glob("*.txt"))):
        assert not [line for line in pins.read_text().splitlines() if SDK_NAME.match(line)], pins


def test_the_caller_prints_the_carrier_it_injected(sdk_calls: SdkCalls) -> None:
    assert sdk_calls.sdk_version == SDK_VERSION
    assert len(sdk_calls.calls) == 4
    for call in sdk_calls.calls:
        assert HEX32.fullmatch(call.trace_id) and HEX16.fullmatch(call.span_id)
        match = TRACEPARENT.fullmatch(call.traceparent)
        assert match, call.traceparent
        assert (match["trace"], match["span"]) == (call.trace_id, call.span_id)
        assert int(match["flags"], 16) & 1  # sampled
        # The SDK's session travels in baggage, beside its process-local tracer id.
        members = baggage_members(call.headers["baggage"])
        assert members["session_id"] == call.session_id == call.baggage["session_id"]
        assert "honeyhive_tracer_id" in members
        assert set(call.headers) == {"traceparent", "baggage"}
    assert len({call.session_id for call in sdk_calls.calls}) == 4
    assert len({call.trace_id for call in sdk_calls.calls}) == 4


def test_the_dev_receiver_answers_everything_the_sdk_sends(sdk_calls: SdkCalls) -> None:
    record = sdk_calls.record
    assert {(method, path) for method, path, _ in record.requests} == {
        ("POST", SESSION_START_PATH),
        ("POST", OTLP_PATH),
    }
    assert {status for _, _, status in record.requests} == {200}
    assert record.authorizations == {f"Bearer {SDK_API_KEY}"}
    # init() starts a session of its own; then one create_session() per call.
    started = [start["session_id"] for start in record.session_starts]
    assert len(started) == 1 + len(sdk_calls.calls)
    assert started[1:] == [call.session_id for call in sdk_calls.calls]
    assert record.session_starts[0]["session_name"] == "sdk-caller"
    spans = {(s.trace_id, s.span_id): s for s in record.spans}
    assert len(spans) == len(sdk_calls.calls)
    for call in sdk_calls.calls:
        span = spans[(call.trace_id, call.span_id)]
        assert span.name == "call-function"
        assert span.session_id == call.session_id
        assert span.parent_span_id is None


@pytest.mark.breaks_contract(
    "orphaned-span",
    reason="honeyhive 1.7.0 as a callee, on a receiver of its own where the caller's session was never "
    "started: it joins the session without asking HoneyHive to create it (what this project no longer does)",
)
def test_the_sdk_as_callee_continues_a_carrier(honeyhive_sdk: Venv, sdk_calls: SdkCalls, sdk_workdir: Path) -> None:
    call = sdk_calls.calls[0]
    found, record = sdk_callee(honeyhive_sdk, call.headers, sdk_workdir)
    assert found["trace_id"] == call.trace_id
    assert found["parent_span_id"] == call.span_id
    assert found["session_id"] == call.session_id
    [span] = [s for s in record.spans if s.name == "sdk-callee"]
    assert (span.trace_id, span.parent_span_id, span.session_id) == (call.trace_id, call.span_id, call.session_id)


def test_the_sdk_init_fields_are_its_three_config_models(honeyhive_sdk: Venv, sdk_workdir: Path) -> None:
    models = sdk_init_fields(honeyhive_sdk, sdk_workdir)
    assert set(models) == {"TracerConfig", "SessionConfig", "EvaluationConfig"}
    assert {"api_key", "server_url", "project", "source", "session_name", "disable_batch", "test_mode"} <= set(
        models["TracerConfig"]
    )
    assert "skip_backend_session_creation" in models["SessionConfig"]
    assert {"is_evaluation", "run_id", "dataset_id", "datapoint_id"} <= set(models["EvaluationConfig"])
    assert models["TracerConfig"]["max_links"]["default"] == 128
