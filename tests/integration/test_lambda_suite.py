"""The end-to-end Lambda suite: traced handlers run by the real ``awslambdaric`` in the local emulator,
with freezes on, against the dev receiver (and a moto server for Secrets Manager).

What it shows, each through what the receiver got and what the caller got:

* warm starts: one sandbox serves 1 cold + 50 warm invocations with one tracer and one secret fetch;
  each invocation's spans are at the receiver before its response is posted, and no span ever
  carries another invocation's session (new sessions, alternating new/linked, after exceptions);
* no export mode loses a span across the freeze, and the emulator does catch the loss of a
  background ``BatchSpanProcessor`` nobody flushes;
* linking from every trigger shape; zero code change (handler redirect, exec wrapper);
* receiver faults never change the handler's result or its deadline, and a breaker stops paying the
  export budget; a timeout leaves its partial spans behind; init types; the API key never leaks.

Sandboxes are shared where a test allows it (module-scoped fixtures); the file runs in about 45 s on
2 cores. Findings that are bugs are ``xfail(strict=True)`` tests whose reason starts with ``BUG:``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from conftest import SANDBOX_HANDLERS, MakeEmulator
from honeyhive_serverless_dev.emulator import InvocationResult, LambdaEmulator
from honeyhive_serverless_dev.layer_build import LAYER_FILES
from honeyhive_serverless_dev.receiver import DevReceiver, ReceivedRequest, ReceivedSpan
from trigger_shapes import SHAPES, Shape, load_event

# The exec wrapper at /opt/honeyhive-wrapper; the runtime package comes from the editable install.
LAYER = LAYER_FILES
PROJECT = "lambda-suite"
FUNCTION = "suite-fn"
#: The spans ``suite.handler`` makes per invocation without ``spans``: the invocation span, step, inner.
BASE_SPANS = 3
WARM_INVOCATIONS = 50
GET_SECRET_VALUE = "secretsmanager.GetSecretValue"
TIMEOUT_PREFIX = "timeout"


# ------------------------------------------------------------------------------------------------
# Servers: the dev receiver and a moto server that counts Secrets Manager calls


class _QuietMotoHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class CountingMoto:
    """A moto server on an ephemeral loopback port that counts the AWS operations it serves."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        app = DomainDispatcherApplication(create_backend_app)

        def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            operation = environ.get("HTTP_X_AMZ_TARGET")
            if operation:
                with self._lock:
                    self.calls[operation] += 1
            return app(environ, start_response)

        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, counting, threaded=True, request_handler=_QuietMotoHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def count(self, operation: str) -> int:
        with self._lock:
            return self.calls[operation]

    def create_secret(self, value: str) -> str:
        client = boto3.client(
            "secretsmanager",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="suite",
            aws_secret_access_key="suite",
        )
        answer = client.create_secret(
            Name=f"hh-suite-{uuid.uuid4().hex[:8]}", SecretString=json.dumps({"api_key": value})
        )
        return str(answer["ARN"])

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture(scope="module")
def moto_server() -> Iterator[CountingMoto]:
    server = CountingMoto()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def suite_emulators(emulators: MakeEmulator) -> MakeEmulator:
    """Emulators running the suite's handlers (``suite.handler`` unless named) as function FUNCTION."""

    def make(handler: str = "suite.handler", **options: Any) -> LambdaEmulator:
        options.setdefault("function_name", FUNCTION)
        return emulators(handler, **options)

    return make


def hh_env(receiver: DevReceiver, **extra: str) -> dict[str, str]:
    """The function's variables pointing the tracer at ``receiver`` with a plain API key."""
    env = {"HH_API_URL": receiver.url, "HH_API_KEY": "hh-suite-key", "HH_PROJECT": PROJECT}
    env.update(extra)
    return env


# ------------------------------------------------------------------------------------------------
# Reading the receiver


def root_span(receiver: DevReceiver, invocation: InvocationResult) -> ReceivedSpan:
    """The invocation span the wrapper made for ``invocation`` (it carries the request id)."""
    roots = [s for s in receiver.spans if s.attributes.get("faas.invocation_id") == invocation.request_id]
    assert len(roots) == 1, f"{len(roots)} invocation spans for {invocation.request_id}"
    return roots[0]


def trace_spans(receiver: DevReceiver, invocation: InvocationResult) -> list[ReceivedSpan]:
    """Every span in ``invocation``'s trace (the wrapper's invocation span is its root)."""
    trace_id = root_span(receiver, invocation).trace_id
    return [s for s in receiver.spans if s.trace_id == trace_id]


def arrival(receiver: DevReceiver, span: ReceivedSpan) -> ReceivedRequest:
    """The OTLP request that delivered ``span``."""
    return receiver.otlp_requests()[span.request_index]


def has_root(invocation: InvocationResult) -> Callable[[DevReceiver], bool]:
    return lambda rx: any(s.attributes.get("faas.invocation_id") == invocation.request_id for s in rx.spans)


# ================================================================================================
# Warm starts: 1 cold + 50 warm invocations in one sandbox


@dataclass
class Step:
    """One planned invocation: a new session, a linked one, or one that raises."""

    kind: str  # "new" | "linked" | "raise"
    linked_id: str | None = None

    def event(self, n: int) -> dict[str, Any]:
        event: dict[str, Any] = {"n": n, "report": True}
        if self.linked_id is not None:
            event["session_id"] = self.linked_id
        if self.kind == "raise":
            event["raise"] = f"planned failure {n}"
        return event


def _plan(name: str) -> list[Step]:
    steps: list[Step] = []
    for n in range(1 + WARM_INVOCATIONS):
        if name == "alternating" and n % 2 == 1:
            steps.append(Step("linked", str(uuid.uuid4())))
        elif name == "after-raise" and n % 4 == 1:
            steps.append(Step("raise"))
        elif name == "after-raise" and n % 4 == 2:
            steps.append(Step("linked", str(uuid.uuid4())))  # right after an invocation that raised
        else:
            steps.append(Step("new"))
    return steps


@dataclass
class WarmRun:
    plan: list[Step]
    invocations: list[InvocationResult]
    receiver: DevReceiver
    secret_fetches: int
    cold_starts: int
    sessions: list[str] = field(default_factory=list)


@pytest.fixture(scope="module", params=["new", "alternating", "after-raise"])
def warm_run(request: pytest.FixtureRequest, moto_server: CountingMoto) -> Iterator[WarmRun]:
    """One sandbox, 51 invocations following a plan; the API key comes from Secrets Manager (moto)."""
    secret_key = f"hh-secret-{uuid.uuid4().hex}"
    arn = moto_server.create_secret(secret_key)
    receiver = DevReceiver(api_keys={secret_key}).start()
    env = {
        "HH_API_URL": receiver.url,
        "HH_API_KEY_SECRET_ARN": arn,
        "HH_PROJECT": PROJECT,
        "AWS_ENDPOINT_URL": moto_server.url,
    }
    emulator = LambdaEmulator("suite.handler", task_root=SANDBOX_HANDLERS, env=env, function_name=FUNCTION)
    try:
        emulator.start()
        plan = _plan(str(request.param))
        fetches_before = moto_server.count(GET_SECRET_VALUE)
        invocations = [emulator.invoke(step.event(n)) for n, step in enumerate(plan)]
        fetches = moto_server.count(GET_SECRET_VALUE) - fetches_before
        run = WarmRun(plan, invocations, receiver, fetches, emulator.cold_starts)
        run.sessions = [str(root_span(receiver, invocation).session_id) for invocation in invocations]
        yield run
    finally:
        emulator.stop()
        receiver.stop()


def test_warm_run_is_one_cold_start_then_warm_invocations_of_one_sandbox(warm_run: WarmRun) -> None:
    invocations = warm_run.invocations
    assert [inv.cold for inv in invocations] == [True] + [False] * WARM_INVOCATIONS
    assert warm_run.cold_starts == 1
    assert len({inv.sandbox_pid for inv in invocations}) == 1
    for step, invocation in zip(warm_run.plan, invocations, strict=True):
        if step.kind == "raise":
            assert invocation.error is not None
            assert invocation.error["errorType"] == "RuntimeError"
            assert invocation.error["errorMessage"].startswith("planned failure")
            root = root_span(warm_run.receiver, invocation)
            assert root.status_code == "ERROR"
            assert str(root.attributes["honeyhive_error"]).startswith("RuntimeError: planned failure")
        else:
            assert invocation.ok, invocation.error
    # The caller's view of cold starts matches the tracer's.
    coldstart = [root_span(warm_run.receiver, inv).attributes["faas.coldstart"] for inv in invocations]
    assert coldstart == [True] + [False] * WARM_INVOCATIONS


def test_warm_run_builds_the_tracer_once(warm_run: WarmRun) -> None:
    payloads = [inv.payload for inv in warm_run.invocations if inv.ok]
    assert {p["builds"] for p in payloads} == {1}
    assert len({p["tracer_id"] for p in payloads}) == 1
    assert len({p["pid"] for p in payloads}) == 1
    assert [p["invocations"] for p in payloads] == [n + 1 for n, inv in enumerate(warm_run.invocations) if inv.ok]


def test_warm_run_fetches_the_secret_once(warm_run: WarmRun) -> None:
    assert warm_run.secret_fetches == 1  # GetSecretValue calls the moto server served
    assert {inv.payload["key_fetches"] for inv in warm_run.invocations if inv.ok} == {1}
    # The receiver accepts only the secret's key: every request carried it.
    assert warm_run.receiver.requests
    assert {r.status for r in warm_run.receiver.requests} == {200}


def test_warm_run_spans_reach_the_receiver_before_each_response(warm_run: WarmRun) -> None:
    receiver = warm_run.receiver
    total = 0
    for invocation in warm_run.invocations:
        spans = trace_spans(receiver, invocation)
        assert sorted(s.name for s in spans) == sorted([FUNCTION, "step", "inner"])
        for span in spans:
            assert arrival(receiver, span).received_at < invocation.response_at
        total += len(spans)
    assert total == len(receiver.spans) == BASE_SPANS * len(warm_run.invocations)


def test_warm_run_sessions_are_distinct_and_never_leak_into_another_invocation(warm_run: WarmRun) -> None:
    receiver = warm_run.receiver
    sessions = warm_run.sessions
    assert len(set(sessions)) == len(sessions)
    started = [start["session_id"] for start in receiver.session_starts]
    for step, invocation, session in zip(warm_run.plan, warm_run.invocations, sessions, strict=True):
        # Every span of the invocation carries its session, and only that one.
        assert {s.session_id for s in trace_spans(receiver, invocation)} == {session}
        if step.kind == "linked":
            assert session == step.linked_id
        else:
            assert session in started  # a new session HoneyHive started
        if invocation.ok:
            assert invocation.payload["session"] == session  # current when the handler began
    # A session start per new session, none for a linked one; one enrichment per invocation, in order.
    assert started == [s for step, s in zip(warm_run.plan, sessions, strict=True) if step.kind != "linked"]
    assert [update["event_id"] for update in receiver.event_updates] == sessions
    # No span anywhere carries a session other than its own invocation's.
    owner = {root_span(receiver, inv).trace_id: s for inv, s in zip(warm_run.invocations, sessions, strict=True)}
    assert [s for s in receiver.spans if s.session_id != owner[s.trace_id]] == []


# ================================================================================================
# Export modes across the freeze

EXPORT_INVOCATIONS = 5
EXTRA_SPANS = 2


@pytest.mark.parametrize("mode", ["immediate", "invocation", "after_response", "batch"])
def test_export_mode_loses_no_span_across_the_freeze(
    suite_emulators: MakeEmulator, receiver: DevReceiver, mode: str
) -> None:
    emulator = suite_emulators(env=hh_env(receiver, HH_EXPORT_MODE=mode))
    per_invocation = BASE_SPANS + EXTRA_SPANS
    invocations: list[InvocationResult] = []
    for n in range(EXPORT_INVOCATIONS):
        invocation = emulator.invoke({"n": n, "spans": EXTRA_SPANS, "report": True})
        assert invocation.ok, invocation.error
        assert invocation.payload["export_mode"] == mode  # no fallback to another mode
        assert emulator.wait_frozen(5.0)
        assert invocation.frozen_at is not None
        # Everything the invocation produced was at the receiver by the time the sandbox froze.
        arrived = [s for s in receiver.spans if s.trace_id == invocation.payload["trace_id"]]
        assert len(arrived) == per_invocation
        for span in arrived:
            received_at = arrival(receiver, span).received_at
            assert received_at <= invocation.frozen_at
            if mode != "after_response":  # sent before returning; after_response sends after it
                assert received_at < invocation.response_at
        invocations.append(invocation)

    emulator.kill_sandbox()  # Lambda reclaims a frozen sandbox: no shutdown hook runs
    assert len(receiver.spans) == per_invocation * EXPORT_INVOCATIONS
    assert [u["event_id"] for u in receiver.event_updates] == [inv.payload["session"] for inv in invocations]


def test_after_response_the_caller_does_not_wait_for_the_export(
    suite_emulators: MakeEmulator, receiver: DevReceiver
) -> None:
    slow_s = 0.3
    emulator = suite_emulators(env=hh_env(receiver, HH_EXPORT_MODE="after_response"))
    warm_up = emulator.invoke({"n": 0})
    assert warm_up.ok
    assert emulator.wait_frozen(5.0)
    receiver.set_fault("slow", delay_s=slow_s, path_prefix="/opentelemetry")

    invocation = emulator.invoke({"n": 1, "report": True})

    assert invocation.ok and invocation.payload["export_mode"] == "after_response"
    assert invocation.duration_ms < slow_s * 1000  # the response went out before the export finished
    assert emulator.wait_frozen(5.0)
    assert invocation.frozen_at is not None
    # The sandbox stayed thawed until the slow export was answered.
    assert invocation.frozen_at - invocation.response_at >= slow_s * 0.9
    spans = trace_spans(receiver, invocation)
    assert len(spans) == BASE_SPANS
    assert all(arrival(receiver, span).status == 200 for span in spans)


FLUSH_TIMEOUT_MS = 100
#: Well below the export timeout (1 s here): an invocation that overran the flush budget shows.
FLUSH_SLACK_MS = 150


@pytest.mark.parametrize(
    "mode",
    [
        "invocation",
        "after_response",
        "batch",
    ],
)
def test_the_end_of_an_invocation_spends_at_most_the_flush_timeout_exporting(
    suite_emulators: MakeEmulator, receiver: DevReceiver, mode: str
) -> None:
    env = hh_env(receiver, HH_EXPORT_MODE=mode, HH_FLUSH_TIMEOUT_MS=str(FLUSH_TIMEOUT_MS), HH_EXPORT_TIMEOUT_MS="1000")
    emulator = suite_emulators(env=env, timeout_s=5.0)
    receiver.set_fault("hang", path_prefix="/opentelemetry")  # session start and enrichment still answer

    invocation = emulator.invoke({"n": 1})

    assert invocation.ok, invocation.error
    assert emulator.wait_frozen(5.0)
    assert invocation.frozen_at is not None
    if mode == "after_response":  # the caller has its answer at once; the export runs until the freeze
        spent_ms = (invocation.frozen_at - invocation.response_at) * 1000
    else:
        spent_ms = invocation.duration_ms
    assert spent_ms < FLUSH_TIMEOUT_MS + FLUSH_SLACK_MS


#: The processor's schedule delay: longer than the three invocations take, so no timer fires between them.
UNFLUSHED_DELAY_MS = 500
UNFLUSHED_SPANS = 2
UNFLUSHED_INVOCATIONS = 3


@pytest.mark.parametrize("freeze", [True, False], ids=["frozen", "never-frozen"])
def test_an_unflushed_background_batch_processor_loses_spans_only_when_frozen(
    suite_emulators: MakeEmulator, receiver: DevReceiver, freeze: bool
) -> None:
    """The emulator catches the loss: the same handler loses spans with freezes and none without."""
    env = {
        "UNFLUSHED_ENDPOINT": f"{receiver.url}/opentelemetry/v1/traces",
        "UNFLUSHED_DELAY_MS": str(UNFLUSHED_DELAY_MS),
    }
    emulator = suite_emulators("suite_unflushed.handler", env=env, freeze=freeze)
    produced = UNFLUSHED_SPANS * UNFLUSHED_INVOCATIONS
    for _ in range(UNFLUSHED_INVOCATIONS):
        invocation = emulator.invoke({"spans": UNFLUSHED_SPANS})
        assert invocation.ok, invocation.error
        if freeze:
            assert emulator.wait_frozen(5.0)

    # Two schedule delays: a running worker thread sends everything in that time, a frozen one nothing.
    all_arrived = receiver.wait_for(lambda rx: len(rx.spans) >= produced, timeout=2 * UNFLUSHED_DELAY_MS / 1000)
    if not freeze:
        assert all_arrived
        assert len(receiver.spans) == produced
        return
    assert not all_arrived
    emulator.kill_sandbox()  # reclaimed while frozen: what was queued is gone
    assert len(receiver.spans) < produced


# ================================================================================================
# Timeout


@pytest.mark.parametrize(
    "mode",
    [
        "immediate",
        "invocation",
        "after_response",
        "batch",
    ],
)
def test_timeout_leaves_partial_spans_marked_timeout_then_the_next_invocation_is_cold(
    suite_emulators: MakeEmulator, receiver: DevReceiver, mode: str
) -> None:
    # The last gasp fires HH_TIMEOUT_MARGIN_MS (250 ms) before the deadline.
    emulator = suite_emulators(env=hh_env(receiver, HH_EXPORT_MODE=mode), timeout_s=1.5)
    warm_up = emulator.invoke({"n": 0, "report": True})
    assert warm_up.ok

    timed_out = emulator.invoke({"n": 1, "sleep_s": 30, "report": True})

    assert timed_out.error is not None and timed_out.error["errorType"] == "Sandbox.Timedout"
    assert not timed_out.cold and timed_out.sandbox_pid == warm_up.sandbox_pid
    # The session was marked timed out...
    [enrichment] = [u for u in receiver.event_updates if u.get("metadata", {}).get("timeout") is True]
    session = enrichment["event_id"]
    # ...and the spans, sent before the sandbox was killed (invoke returned right after the kill).
    receiver.wait_for(has_root(timed_out), timeout=2.0)
    spans = {s.name: s for s in receiver.spans if s.session_id == session}
    assert set(spans) == {FUNCTION, "step", "inner"}
    for name in (FUNCTION, "inner"):  # open at the deadline: ended by the last gasp
        span = spans[name]
        assert span.status_code == "ERROR"
        assert str(span.attributes["honeyhive_error"]).startswith(TIMEOUT_PREFIX)
        assert span.attributes["honeyhive.timeout"] is True
    assert spans["step"].status_code == "UNSET"  # it had ended normally before
    assert spans[FUNCTION].attributes["faas.invocation_id"] == timed_out.request_id
    for span in spans.values():
        assert arrival(receiver, span).received_at < timed_out.response_at

    after = emulator.invoke({"n": 2, "report": True})

    assert after.ok and after.cold
    assert after.payload["pid"] != warm_up.payload["pid"]
    assert emulator.wait_frozen(5.0)  # after_response sends once the response is out, before the freeze
    after_spans = trace_spans(receiver, after)
    assert len(after_spans) == BASE_SPANS
    assert {s.status_code for s in after_spans} == {"UNSET"}
    assert {s.session_id for s in after_spans} == {after.payload["session"]} != {session}
    assert root_span(receiver, after).attributes["faas.coldstart"] is True


# ================================================================================================
# Linking from each trigger shape


@pytest.fixture(scope="module")
def trigger_sandbox() -> Iterator[tuple[LambdaEmulator, DevReceiver]]:
    """One sandbox (``suite.http_handler``) for every trigger shape."""
    receiver = DevReceiver().start()
    emulator = LambdaEmulator(
        "suite.http_handler", task_root=SANDBOX_HANDLERS, env=hh_env(receiver), function_name=FUNCTION
    )
    try:
        emulator.start()
        yield emulator, receiver
    finally:
        emulator.stop()
        receiver.stop()


@pytest.mark.parametrize("shape", SHAPES, ids=[shape.fixture for shape in SHAPES])
def test_trigger_shape_links_or_starts_its_session_end_to_end(
    trigger_sandbox: tuple[LambdaEmulator, DevReceiver], shape: Shape
) -> None:
    emulator, receiver = trigger_sandbox
    linked_id = str(uuid.uuid4())
    starts_before = len(receiver.session_starts)

    invocation = emulator.invoke(load_event(shape.fixture, linked_id if shape.carries_id else None))

    assert invocation.ok, invocation.error
    root = root_span(receiver, invocation)
    new_starts = receiver.session_starts[starts_before:]
    if shape.carries_id:
        assert root.session_id == linked_id
        assert new_starts == []  # linking makes no request
    else:
        [start] = new_starts
        assert root.session_id == start["session_id"] != linked_id
    assert root.attributes["faas.trigger"] == shape.faas_trigger
    assert root.attributes["honeyhive_metadata.trigger"] == shape.trigger
    assert {s.session_id for s in trace_spans(receiver, invocation)} == {root.session_id}
    headers = invocation.payload.get("headers") or {}
    if shape.is_http:
        assert headers == {"X-Session-ID": root.session_id}
    else:
        assert invocation.payload == {"statusCode": 200, "body": "ok"}


# ================================================================================================
# Zero code change


def _zero_code_emulator(suite_emulators: MakeEmulator, how: str, target: str, env: dict[str, str]) -> LambdaEmulator:
    if how == "handler-redirect":
        return suite_emulators("honeyhive_serverless.handler.handler", env={**env, "HH_LAMBDA_HANDLER": target})
    # The layer directory as /opt: the wrapper runs as /opt/honeyhive-wrapper, as on Lambda.
    return suite_emulators(target, env=env, layers=[LAYER], exec_wrapper="/opt/honeyhive-wrapper")


@pytest.mark.parametrize("how", ["handler-redirect", "exec-wrapper"])
def test_zero_code_change_traces_an_undecorated_handler(
    suite_emulators: MakeEmulator, receiver: DevReceiver, how: str
) -> None:
    emulator = _zero_code_emulator(suite_emulators, how, "suite_plain.handler", hh_env(receiver))
    events = [{"question": "cold"}, {"question": "warm", "session_id": str(uuid.uuid4())}]

    invocations = [emulator.invoke(event) for event in events]

    for invocation, event in zip(invocations, events, strict=True):
        assert invocation.ok, (invocation.error, emulator.logs)
        assert invocation.payload["echo"] == event  # the handler's own result, unchanged
        spans = {s.name: s for s in trace_spans(receiver, invocation)}
        # The invocation span, and the handler's own OpenTelemetry span under it.
        assert set(spans) == {FUNCTION, "plain-work"}
        assert spans["plain-work"].trace_id == invocation.payload["trace_id"]
        assert spans["plain-work"].parent_span_id == spans[FUNCTION].span_id
        assert spans[FUNCTION].span_kind == "SERVER"
        assert spans[FUNCTION].attributes["honeyhive_inputs.event.question"] == event["question"]
    cold, warm = invocations
    assert (cold.cold, warm.cold) == (True, False)
    cold_root, warm_root = root_span(receiver, cold), root_span(receiver, warm)
    [start] = receiver.session_starts
    assert cold_root.session_id == start["session_id"]
    assert start["session_name"] == f"lambda-{FUNCTION}"
    assert warm_root.session_id == events[1]["session_id"]  # linked, not the cold one's session
    assert {s.session_id for s in trace_spans(receiver, warm)} == {warm_root.session_id}


@pytest.mark.parametrize("how", ["handler-redirect", "exec-wrapper"])
def test_zero_code_change_surfaces_the_users_import_error_as_its_own(
    suite_emulators: MakeEmulator, receiver: DevReceiver, how: str
) -> None:
    emulator = _zero_code_emulator(suite_emulators, how, "broken_import.handler", hh_env(receiver))

    result = emulator.invoke({})

    assert result.error is not None and result.cold
    assert (result.error["errorType"], result.error["errorMessage"]) == ("RuntimeError", "broken at import")
    assert receiver.requests == []


# ================================================================================================
# Faults at the receiver

FAULT_INVOCATIONS = 20
FAULT_EXPORT_TIMEOUT_MS = 300
FAULT_DEADLINE_S = 3.0
#: Once the breakers are open an invocation pays no export wait; a generous bound per invocation.
OPEN_BREAKER_MS = 50
#: Invocations after which every breaker is open (3 failures per endpoint, one request each per invocation).
BREAKER_AFTER = 5


@pytest.mark.parametrize("kind", ["refuse", "hang", "500", "429", "slow", "401_once"])
def test_receiver_fault_never_changes_the_result_or_the_deadline(
    suite_emulators: MakeEmulator, receiver: DevReceiver, moto_server: CountingMoto, kind: str
) -> None:
    env = hh_env(receiver, HH_EXPORT_TIMEOUT_MS=str(FAULT_EXPORT_TIMEOUT_MS))
    if kind == "401_once":
        # The key from Secrets Manager: a 401 fetches it once more (key rotation), then carries on.
        del env["HH_API_KEY"]
        env.update(HH_API_KEY_SECRET_ARN=moto_server.create_secret("hh-suite-key"), AWS_ENDPOINT_URL=moto_server.url)
    emulator = suite_emulators(env=env, timeout_s=FAULT_DEADLINE_S)
    receiver.set_fault(kind, delay_s=1.0)  # "slow" answers after the export timeout
    fetches_before = moto_server.count(GET_SECRET_VALUE)

    invocations = [emulator.invoke({"n": n}) for n in range(FAULT_INVOCATIONS)]

    for n, invocation in enumerate(invocations):
        assert invocation.ok, invocation.error
        assert invocation.payload == {"answer": 2 * n}
        assert invocation.duration_ms <= FAULT_DEADLINE_S * 1000
    assert len({inv.sandbox_pid for inv in invocations}) == 1
    durations = [inv.duration_ms for inv in invocations]
    if kind == "401_once":
        assert moto_server.count(GET_SECRET_VALUE) - fetches_before == 2
        assert all(receiver.wait_for(has_root(inv), timeout=5.0) for inv in invocations)  # traced throughout
        return
    if kind in ("hang", "slow"):
        assert durations[0] >= FAULT_EXPORT_TIMEOUT_MS  # the first invocations paid the export budget...
    # ...then the breakers opened and the rest pay nothing.
    assert sum(durations[BREAKER_AFTER:]) < (FAULT_INVOCATIONS - BREAKER_AFTER) * OPEN_BREAKER_MS, durations
    if kind in ("hang", "500", "429"):  # recorded as they arrive: at most 3 tries per endpoint
        assert max(Counter(r.path for r in receiver.requests).values()) <= 3


# ================================================================================================
# Init types


@pytest.mark.parametrize(
    ("init_type", "handler", "start", "coldstart"),
    [
        ("provisioned-concurrency", "suite.handler", "provisioned", False),
        ("on-demand", "suite_proactive.handler", "proactive", False),
        ("snap-start", "suite.handler", "restored", True),
    ],
    ids=["provisioned-concurrency", "proactive-init", "snap-start"],
)
def test_init_type_is_reported_as_the_caller_saw_the_start(
    suite_emulators: MakeEmulator, receiver: DevReceiver, init_type: str, handler: str, start: str, coldstart: bool
) -> None:
    emulator = suite_emulators(handler, env=hh_env(receiver), init_type=init_type)

    first = emulator.invoke({"n": 1})
    second = emulator.invoke({"n": 2})

    assert first.ok and second.ok, (first.error, second.error, emulator.logs)
    if handler == "suite_proactive.handler":
        assert first.init_ms is not None and first.init_ms >= 1500  # initialised well before the event
    first_root, second_root = root_span(receiver, first), root_span(receiver, second)
    assert first_root.attributes["honeyhive_metadata.init_type"] == init_type
    # SnapStart: "restored" is only set by the after-restore hook the wrapper registered.
    assert first_root.attributes["honeyhive_metadata.start"] == start
    assert first_root.attributes["faas.coldstart"] is coldstart
    assert second_root.attributes["honeyhive_metadata.start"] == "warm"
    assert second_root.attributes["faas.coldstart"] is False
    [first_start, _] = receiver.session_starts
    assert first_start["metadata"]["start"] == start
    assert first_start["metadata"]["cold_start"] is coldstart


def test_a_slow_on_demand_init_is_still_a_cold_start(suite_emulators: MakeEmulator, receiver: DevReceiver) -> None:
    emulator = suite_emulators("suite_slow_init.handler", env=hh_env(receiver))

    first = emulator.invoke({"n": 1})

    assert first.ok and first.cold, first.error
    root = root_span(receiver, first)
    # The caller waited for the whole init: the event came the moment init was over.
    assert root.attributes["honeyhive_metadata.start"] == "cold"
    assert root.attributes["faas.coldstart"] is True


# ================================================================================================
# The API key never leaks


def _values(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _values(value)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _values(item)
    else:
        yield str(node)


def test_the_api_key_appears_nowhere_but_the_authorization_header(suite_emulators: MakeEmulator) -> None:
    canary = f"hh-canary-{uuid.uuid4().hex}"
    receiver = DevReceiver(api_keys={canary}).start()
    try:
        env = hh_env(receiver, HH_API_KEY=canary, AWS_LAMBDA_LOG_LEVEL="DEBUG", AWS_LAMBDA_LOG_FORMAT="JSON")
        emulator = suite_emulators(env=env, timeout_s=2.0)
        outcomes = [
            emulator.invoke({"n": 1}),
            emulator.invoke({"n": 2, "session_id": str(uuid.uuid4())}),
            emulator.invoke({"n": 3, "raise": "handler failure"}),
        ]
        receiver.set_fault("500")
        outcomes.append(emulator.invoke({"n": 4}))
        receiver.set_fault("401_once")
        outcomes.append(emulator.invoke({"n": 5}))
        receiver.clear_fault()
        outcomes.append(emulator.invoke({"n": 6, "sleep_s": 30}))  # timeout: the last gasp sends, then a kill
        outcomes.append(emulator.invoke({"n": 7}))  # a new sandbox
        emulator.stop()  # the sandbox output is complete once it is gone

        assert [inv.ok for inv in outcomes] == [True, True, False, True, True, False, True]
        logs = emulator.logs
        assert "honeyhive" in logs and "handler failure" in logs  # the output was captured
        assert canary not in logs
        # The key did go out, in the Authorization header only.
        assert receiver.requests
        assert all(r.headers["authorization"] == f"Bearer {canary}" for r in receiver.requests if r.status == 200)
        for request in receiver.requests:
            assert canary.encode() not in request.body
            assert canary not in "".join(v for k, v in request.headers.items() if k != "authorization")
        for span in receiver.spans:
            texts = [span.name, span.status_message, *_values(span.attributes), *_values(span.resource_attributes)]
            texts += [text for name, attributes in span.events for text in (name, *_values(attributes))]
            assert not [text for text in texts if canary in text], span.name
        assert canary not in "".join(_values([receiver.session_starts, receiver.event_updates]))
        assert canary not in receiver.render_sessions()
    finally:
        receiver.stop()
