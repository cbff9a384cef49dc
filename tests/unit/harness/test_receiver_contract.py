"""The dev receiver holds its traffic to HoneyHive's published contract (receiver/spec/), over real sockets
with real OTLP protobuf; the suite fails a test whose receivers saw it broken; dev-server shows it."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from dev_server_process import DevServerProcess
from honeyhive_serverless.wire import AUTO_CREATE_KEY
from honeyhive_serverless_dev.receiver import TRACES_PATH, DevReceiver
from honeyhive_serverless_dev.receiver import contract_spec as spec

pytestmark = pytest.mark.timeout(60)

TESTS = Path(__file__).parents[2]
MS = 1_000_000  # nanoseconds


def send(rx: DevReceiver, method: str, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def rest(rx: DevReceiver, method: str, path: str, document: dict[str, Any]) -> tuple[int, Any]:
    status, data = send(rx, method, path, json.dumps(document).encode(), "application/json")
    return status, json.loads(data) if data else None


def span(
    name: str,
    session_id: str | None,
    attributes: dict[str, Any] | None = None,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> ReadableSpan:
    """A finished span in ``session_id`` (None: in no session)."""
    attributes = dict(attributes or {})
    if session_id is not None:
        attributes["honeyhive.session_id"] = session_id
    started = TracerProvider().get_tracer("contract").start_span(name, attributes=attributes, start_time=start_ns)
    started.end(end_time=end_ns)
    assert isinstance(started, ReadableSpan)
    return started


def export(rx: DevReceiver, *spans: ReadableSpan) -> int:
    """One OTLP/protobuf request carrying ``spans``; its status."""
    return send(rx, "POST", TRACES_PATH, encode_spans(list(spans)).SerializeToString(), "application/x-protobuf")[0]


# ---------------------------------------------------------------------------------------------
# the contract data


def test_the_shipped_contract_names_its_sources_and_its_schemas_are_json_schema() -> None:
    for name in (spec.DATAPLANE, spec.OTLP_PROTOCOL, spec.SEMCONV):
        assert spec.spec_document(name)["x-source"], name
    for what in (spec.START_SESSION, spec.UPDATE_EVENT, spec.SESSION_START_RESPONSE, spec.SPAN_ATTRIBUTES):
        spec.validator(what)  # check_schema raises for a schema that is not one
    attributes = spec.span_attributes_schema()["properties"]
    assert attributes[AUTO_CREATE_KEY] == {"type": "boolean"}
    assert attributes["honeyhive_event_type"] == {"enum": ["session", "model", "tool", "chain"]}


def test_the_receivers_answer_to_a_session_start_keeps_the_response_schema(receiver: DevReceiver) -> None:
    status, answer = rest(receiver, "POST", "/session/start", {"session": {"session_name": "n", "start_time": 1.0}})
    assert status == 200
    assert spec.problems(spec.SESSION_START_RESPONSE, answer) == []
    assert receiver.contract_report().clean


# ---------------------------------------------------------------------------------------------
# REST bodies


@pytest.mark.breaks_contract("request-schema", reason="start_time as a string")
def test_a_start_with_start_time_as_a_string_is_flagged_and_still_answered(receiver: DevReceiver) -> None:
    body = {"session": {"session_id": "s1", "start_time": "1700000000000", "inputs": {"q": 1}}}
    assert rest(receiver, "POST", "/session/start", body)[0] == 200

    [violation] = receiver.contract_report().violations
    assert violation.kind == "request-schema"
    assert violation.where == "POST /session/start body"
    assert violation.message == "session.start_time: '1700000000000' is not of type 'number'"
    assert (violation.session_id, str(violation.request)) == ("s1", "request #1 POST /session/start")
    assert receiver.contract_report().sessions == {"s1": "started"}


@pytest.mark.breaks_contract("request-schema", reason="outputs as a string")
def test_an_update_with_outputs_that_are_no_object_is_flagged(receiver: DevReceiver) -> None:
    assert rest(receiver, "POST", "/session/start", {"session": {"session_id": "s1"}})[0] == 200
    assert rest(receiver, "PUT", "/events", {"event_id": "s1", "outputs": "plain text"})[0] == 200
    [violation] = receiver.contract_report().violations
    assert violation.message == "outputs: 'plain text' is not of type 'object', 'null'"


# ---------------------------------------------------------------------------------------------
# spans and sessions


@pytest.mark.breaks_contract("span-attribute", "orphaned-span", reason="auto-create asked with a string")
def test_a_span_asking_auto_create_with_the_string_true_is_flagged_and_creates_nothing(receiver: DevReceiver) -> None:
    assert export(receiver, span("handler", "s1", {AUTO_CREATE_KEY: "true"})) == 200

    report = receiver.contract_report()
    assert [(f.kind, f.message) for f in report.violations] == [
        ("span-attribute", "honeyhive.session_auto_create: 'true' is not of type 'boolean'")
    ]
    assert [f.session_id for f in report.orphaned_spans] == ["s1"]
    assert report.sessions == {}


@pytest.mark.breaks_contract("orphaned-span", reason="a span of a session nobody made")
def test_a_span_of_an_unknown_session_without_auto_create_is_orphaned_but_answered_200(receiver: DevReceiver) -> None:
    lost = span("lost", "nobody")
    assert export(receiver, lost) == 200

    [orphan] = receiver.contract_report().orphaned_spans
    span_id = f"{lost.context.span_id:016x}"
    assert (orphan.session_id, orphan.span_id, orphan.where) == ("nobody", span_id, f"span 'lost' ({span_id})")
    assert receiver.contract_report().counts() == {"violations": 0, "orphaned_spans": 1, "refused_updates": 0}
    assert len(receiver.spans) == 1  # recorded all the same


def test_one_span_asking_creates_the_session_for_every_span_of_it_in_the_request(receiver: DevReceiver) -> None:
    assert export(receiver, span("child", "s1"), span("root", "s1", {AUTO_CREATE_KEY: True})) == 200
    assert export(receiver, span("later", "s1")) == 200  # the session exists now

    assert receiver.contract_report().sessions == {"s1": "auto-created"}
    assert receiver.contract_report().clean


def test_the_session_id_is_found_through_honeyhives_fallback_chain(receiver: DevReceiver) -> None:
    via_traceloop = span("a", None, {"traceloop.association.properties.session_id": "s1", AUTO_CREATE_KEY: True})
    via_otel = span("b", None, {"session.id": "s2", AUTO_CREATE_KEY: True})
    assert export(receiver, via_traceloop, via_otel) == 200
    assert receiver.contract_report().sessions == {"s1": "auto-created", "s2": "auto-created"}
    assert receiver.contract_report().clean


@pytest.mark.breaks_contract("span-attribute", "span-without-session", reason="a bad event type; no session")
def test_an_unknown_event_type_and_a_span_in_no_session_are_flagged(receiver: DevReceiver) -> None:
    odd = span("odd", "s1", {"honeyhive_event_type": "llm", AUTO_CREATE_KEY: True})
    assert export(receiver, odd, span("nowhere", None)) == 200
    assert [(f.kind, f.where.split(" (")[0]) for f in receiver.contract_report().violations] == [
        ("span-attribute", "span 'odd'"),
        ("span-without-session", "span 'nowhere'"),
    ]


@pytest.mark.breaks_contract("refused-update", reason="an update before any span made its session")
def test_an_update_of_an_unknown_session_is_refused_until_a_span_auto_creates_it(receiver: DevReceiver) -> None:
    update = {"event_id": "s1", "metadata": {"k": "v"}}
    status, answer = rest(receiver, "PUT", "/events", update)
    assert status == 404
    assert "s1" in answer["error"]
    assert receiver.event_updates == []
    [refused] = receiver.contract_report().refused_updates
    assert (refused.session_id, str(refused.request)) == ("s1", "request #1 PUT /events")

    assert export(receiver, span("root", "s1", {AUTO_CREATE_KEY: True})) == 200
    assert rest(receiver, "PUT", "/events", update) == (200, {"success": True})
    assert receiver.event_updates == [update]
    assert len(receiver.contract_report().refused_updates) == 1


@pytest.mark.breaks_contract("update-of-unknown-event", reason="a lenient receiver answers it")
def test_a_lenient_receiver_answers_an_update_of_an_unknown_session_and_flags_it() -> None:
    with DevReceiver(strict=False) as rx:
        assert rest(rx, "PUT", "/events", {"event_id": "s1"})[0] == 200
        assert len(rx.event_updates) == 1
        [violation] = rx.contract_report().violations
        assert (violation.kind, violation.session_id) == ("update-of-unknown-event", "s1")


def test_clear_keeps_the_sessions_honeyhive_has(receiver: DevReceiver) -> None:
    assert rest(receiver, "POST", "/session/start", {"session": {"session_id": "s1"}})[0] == 200
    receiver.clear()
    assert rest(receiver, "PUT", "/events", {"event_id": "s1"})[0] == 200


# ---------------------------------------------------------------------------------------------
# a session's times cover its spans'


@pytest.mark.breaks_contract("session-starts-after-child", reason="a start with no start_time, sent late")
def test_a_start_without_start_time_that_arrives_after_its_first_span_began_is_flagged(receiver: DevReceiver) -> None:
    began = time.time_ns() - 50 * MS
    assert rest(receiver, "POST", "/session/start", {"session": {"session_id": "late"}})[0] == 200
    # Dated by its start_time, a session may start up to a millisecond (rounding) after its span.
    on_time = {"session": {"session_id": "on-time", "start_time": began / MS + 0.9}}
    assert rest(receiver, "POST", "/session/start", on_time)[0] == 200
    assert export(receiver, span("handler", "late", start_ns=began), span("handler", "on-time", start_ns=began)) == 200

    [violation] = receiver.contract_report().violations
    assert (violation.kind, violation.session_id) == ("session-starts-after-child", "late")
    assert "its arrival: it has no start_time" in violation.message
    assert float(violation.message.split(" ms")[0].removeprefix("starts ")) >= 50


@pytest.mark.breaks_contract("session-ends-before-child", reason="a duration shorter than the span")
def test_a_session_that_ends_before_its_last_span_ends_is_flagged(receiver: DevReceiver) -> None:
    t0 = time.time_ns() - 1000 * MS
    for session_id in ("short", "long"):
        start = {"session": {"session_id": session_id, "start_time": t0 / MS}}
        assert rest(receiver, "POST", "/session/start", start)[0] == 200
        assert export(receiver, span("handler", session_id, start_ns=t0, end_ns=t0 + 100 * MS)) == 200
    assert rest(receiver, "PUT", "/events", {"event_id": "short", "duration": 10})[0] == 200
    assert rest(receiver, "PUT", "/events", {"event_id": "long", "duration": 100})[0] == 200

    [violation] = receiver.contract_report().violations
    assert (violation.kind, violation.session_id) == ("session-ends-before-child", "short")
    assert violation.message.startswith("ends 90.0 ms before its span 'handler'")
    assert str(violation.request) == "request #5 PUT /events"


# ---------------------------------------------------------------------------------------------
# what a developer sees


@pytest.mark.breaks_contract("orphaned-span", "span-attribute", "refused-update", reason="one of each, rendered")
def test_the_session_tree_shows_orphans_auto_created_sessions_and_findings(tmp_path: Path) -> None:
    with DevReceiver(jsonl_path=tmp_path / "live.jsonl") as rx:
        assert export(rx, span("lost", "nobody")) == 200
        assert export(rx, span("root", "made", {"honeyhive_event_type": "agent", AUTO_CREATE_KEY: True})) == 200
        assert rest(rx, "PUT", "/events", {"event_id": "ghost"})[0] == 404
        text = rx.render_sessions()

    lines = text.splitlines()
    [orphan_header] = [line for line in lines if line.startswith("session nobody")]
    assert "ORPHANED: no such session" in orphan_header
    assert any(line.startswith("  span lost") and line.endswith("ORPHANED") for line in lines)
    [made_header] = [line for line in lines if line.startswith("session made")]
    assert "(auto-created by its spans)" in made_header
    agent = lines.index(next(line for line in lines if line.startswith("  agent root")))
    assert lines[agent + 1].startswith("    ! span-attribute: honeyhive_event_type: 'agent' is not one of")
    assert lines[-2].startswith("contract findings outside the sessions above")
    assert lines[-1].startswith("  ! refused-update: no session was started or auto-created with that id")

    records = [json.loads(line) for line in (tmp_path / "live.jsonl").read_text().splitlines()]
    assert sorted(r["finding"] for r in records if r["kind"] == "contract") == [
        "orphaned-span",
        "refused-update",
        "span-attribute",
    ]


def test_dev_server_shows_orphans_and_what_breaks_the_contract() -> None:
    with DevServerProcess("--strict") as server:
        try:
            match = re.fullmatch(r"HoneyHive dev receiver on http://127\.0\.0\.1:(\d+)", server.line())
            assert match
            assert "contract (strict" in server.until("published contract")[-1]
            rx_port = int(match.group(1))

            def post(method: str, path: str, body: bytes, content_type: str) -> int:
                conn = http.client.HTTPConnection("127.0.0.1", rx_port, timeout=5)
                try:
                    conn.request(method, path, body=body, headers={"Content-Type": content_type})
                    return conn.getresponse().status
                finally:
                    conn.close()

            lost = encode_spans([span("lost", "nobody", {"honeyhive_event_type": "tool"})]).SerializeToString()
            assert post("POST", TRACES_PATH, lost, "application/x-protobuf") == 200
            tree = server.until(r"tool lost")
            assert any(line.startswith("session nobody") and "ORPHANED" in line for line in tree)
            assert tree[-1].endswith("ORPHANED")

            assert post("PUT", "/events", b'{"event_id": "ghost"}', "application/json") == 404
            assert server.until("refused-update")[-1].startswith(
                "! contract refused-update: event ghost: no session was"
            )
        finally:
            assert server.terminate(timeout=10) == 0
            assert server.until("stopped")[-1] == (
                "HoneyHive dev receiver stopped; contract: 0 violations, 1 orphaned spans, 1 refused updates"
            )


# ---------------------------------------------------------------------------------------------
# the suite's strictness (tests/receiver_contract.py), run on a test file of its own

SELF_TEST = """
import http.client

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider

from honeyhive_serverless_dev.receiver import TRACES_PATH, DevReceiver


def orphan(rx):
    span = TracerProvider().get_tracer("t").start_span("lost", attributes={"honeyhive.session_id": "nobody"})
    span.end()
    conn = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=5)
    body = encode_spans([span]).SerializeToString()
    conn.request("POST", TRACES_PATH, body=body, headers={"Content-Type": "application/x-protobuf"})
    assert conn.getresponse().status == 200
    conn.close()


def test_undeclared():
    with DevReceiver() as rx:
        assert rx.strict
        orphan(rx)


@pytest.mark.breaks_contract("orphaned-span", reason="on purpose")
def test_declared():
    with DevReceiver() as rx:
        orphan(rx)


@pytest.mark.breaks_contract("refused-update", reason="no longer true")
def test_declared_but_clean():
    DevReceiver()
"""


def test_the_suite_fails_a_test_whose_receivers_broke_the_contract_unless_it_declared_it(tmp_path: Path) -> None:
    (tmp_path / "test_self.py").write_text(SELF_TEST)
    path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "receiver_contract", "-p", "no:cacheprovider", "-q", "test_self.py"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "ERROR at teardown of test_undeclared" in out
    assert "breaks HoneyHive's published contract (orphaned-span x1)" in out
    assert "orphaned-span: span 'lost'" in out
    assert "ERROR at teardown of test_declared_but_clean" in out
    assert "declares ['refused-update'], which did not occur" in out
    assert "ERROR at teardown of test_declared " not in out
    assert re.search(r"3 passed, 2 errors", out)
    assert (
        "HoneyHive contract: 3 dev receivers checked (strict); 0 violations, 1 orphaned spans, 0 refused updates, "
        "failing 2 tests (by kind: orphaned-span 1); declared by @pytest.mark.breaks_contract: orphaned-span 1"
    ) in out
