"""HoneyHive's SDK surface beyond the seed: every ``HoneyHiveTracer.init`` keyword of honeyhive 1.7.0, the
settings that act here (ingestion key, span filters, kill switch, verbose, limits, timeouts, OTLP
switches), the SDK's tracer methods and its module-level names."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import logging
import subprocess
import sys
import time
import uuid
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, TraceFlags

import honeyhive_serverless.handler as entry
from conftest import API_KEY, make_tracer
from honeyhive_serverless import (
    HoneyHiveTracer,
    TracerConfig,
    atrace,
    enrich_session,
    get_tracer,
    set_default_tracer,
    trace,
    trace_class,
    with_honeyhive_session,
)
from honeyhive_serverless.config import resolve_config
from honeyhive_serverless.sdk_init import OWN_INIT_ARGUMENTS, SDK_INIT_ARGUMENTS
from honeyhive_serverless.tracer import cached_tracer
from honeyhive_serverless.wire import SESSION_HEADER
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver
from trigger_shapes import load_event

#: ``HoneyHiveTracer.init``'s keywords in honeyhive 1.7.0: the fields of its TracerConfig, SessionConfig
#: and EvaluationConfig. (A test with the real SDK installed checks this list against it.)
HONEYHIVE_1_7_0_INIT_KEYWORDS = frozenset(
    {
        "api_key",
        "ingestion_api_key",
        "server_url",
        "project",
        "source",
        "session_name",
        "session_id",
        "inputs",
        "link_carrier",
        "skip_backend_session_creation",
        "disable_batch",
        "disable_tracing",
        "disable_http_tracing",
        "test_mode",
        "verbose",
        "span_name_filters",
        "max_attributes",
        "max_events",
        "max_links",
        "max_span_size",
        "preserve_core_attributes",
        "cache_enabled",
        "cache_max_size",
        "cache_ttl",
        "cache_cleanup_interval",
        "requests_session",
        "is_evaluation",
        "run_id",
        "dataset_id",
        "datapoint_id",
    }
)
INGESTION_KEY = "hh_ingst_" + "i" * 24 + "_" + ("ingest-canary_" * 5)[:64]
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def bearers(receiver: DevReceiver) -> set[str]:
    return {request.headers["authorization"] for request in receiver.requests}


def spans_named(receiver: DevReceiver, name: str) -> list[Any]:
    return [span for span in receiver.spans if span.name == name]


# -- init accepts the SDK's whole surface --------------------------------------------------------------


def test_the_sdk_init_keywords_are_the_ones_listed_and_all_are_taken() -> None:
    assert frozenset(SDK_INIT_ARGUMENTS) == HONEYHIVE_1_7_0_INIT_KEYWORDS
    assert len(SDK_INIT_ARGUMENTS) == len(HONEYHIVE_1_7_0_INIT_KEYWORDS)
    parameters = inspect.signature(HoneyHiveTracer.init).parameters
    assert HONEYHIVE_1_7_0_INIT_KEYWORDS | {"config", "session_config", "evaluation_config"} <= set(parameters)
    own = set(OWN_INIT_ARGUMENTS)
    assert {field.name for field in dataclasses.fields(TracerConfig)} == HONEYHIVE_1_7_0_INIT_KEYWORDS | own
    # The seed's positional order still holds for existing callers.
    assert list(parameters)[:10] == [
        "api_key",
        "project",
        "source",
        "server_url",
        "session_name",
        "session_id",
        "disable_batch",
        "test_mode",
        "skip_backend_session_creation",
        "export_mode",
    ]


SAMPLE_VALUES: dict[str, Any] = {
    "api_key": API_KEY,
    "ingestion_api_key": INGESTION_KEY,
    "server_url": "http://127.0.0.1:9",
    "project": "p",
    "source": "s",
    "session_name": "n",
    "session_id": str(uuid.uuid4()),
    "inputs": {"q": 1},
    "link_carrier": {"traceparent": TRACEPARENT},
    "skip_backend_session_creation": True,
    "disable_batch": True,
    "disable_tracing": True,
    "disable_http_tracing": True,
    "test_mode": True,
    "verbose": False,
    "span_name_filters": {"exclude": [{"type": "prefix", "value": "noise."}]},
    "max_attributes": 64,
    "max_events": 64,
    "max_links": 8,
    "max_span_size": 100_000,
    "preserve_core_attributes": True,
    "cache_enabled": True,
    "cache_max_size": 100,
    "cache_ttl": 60.0,
    "cache_cleanup_interval": 30.0,
    "requests_session": object(),
    "is_evaluation": False,
    "run_id": "run",
    "dataset_id": "dataset",
    "datapoint_id": "datapoint",
}


@pytest.mark.parametrize("keyword", sorted(HONEYHIVE_1_7_0_INIT_KEYWORDS))
def test_each_sdk_init_keyword_is_accepted(keyword: str) -> None:
    options: dict[str, Any] = {"test_mode": True, keyword: SAMPLE_VALUES[keyword]}
    tracer = HoneyHiveTracer.init(**options)
    with tracer.start_span("x"):
        pass
    assert tracer.is_initialized


def test_arguments_with_no_effect_warn_once_in_one_line_and_defaults_are_silent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        HoneyHiveTracer.init(
            test_mode=True,
            cache_ttl=5.0,
            requests_session=object(),
            disable_http_tracing=False,
            run_id="r",
            preserve_core_attributes=True,
            cache_enabled=True,
            is_evaluation=False,
        )
    [line] = [record.getMessage() for record in caplog.records]
    assert line == (
        "honeyhive: HoneyHiveTracer.init arguments with no effect here: "
        "disable_http_tracing, cache_ttl, requests_session, run_id"
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        HoneyHiveTracer.init(
            test_mode=True, disable_http_tracing=True, preserve_core_attributes=True, cache_enabled=True, project="p"
        )
    assert caplog.records == []


def test_config_objects_give_their_fields_and_keywords_win(
    receiver: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HH_SOURCE", "env-source")

    class SdkModel:
        """As the SDK's pydantic models are: every field has a value, only some were set."""

        model_fields_set = frozenset({"session_name"})
        source = "dev"  # the SDK's default, not set: this package's own source rule applies
        session_name = "from-session-config"

    tracer = HoneyHiveTracer.init(
        config=TracerConfig(
            api_key=API_KEY,
            server_url=receiver.url,
            project="from-config",
            session_name="from-config",
            export_mode="immediate",
            skip_backend_session_creation=False,
        ),
        session_config=SdkModel(),
        evaluation_config={"project": "from-evaluation-config"},
        project="from-keyword",
    )
    [start] = receiver.session_starts
    assert start["session_name"] == "from-session-config"
    assert start["project"] == "from-keyword"
    assert start["source"] == "env-source"
    assert tracer.project_name == "from-keyword"
    assert tracer.source_environment == "env-source"
    with pytest.raises(ValueError, match="no field 'projekt'"):
        HoneyHiveTracer.init(test_mode=True, config={"projekt": "typo"})


def test_a_config_object_may_come_first_as_in_the_sdk() -> None:
    sdk_style: Any = TracerConfig(test_mode=True, project="positional", source="s")
    tracer = HoneyHiveTracer.init(sdk_style)
    assert (tracer.is_test_mode, tracer.project_name, tracer.source_environment) == (True, "positional", "s")
    assert tracer.api_keys.source_kind == "none"


def test_inputs_go_to_the_start_up_session(receiver: DevReceiver) -> None:
    make_tracer(receiver, skip_backend_session_creation=False, session_name="job", inputs={"query": "q"})
    [start] = receiver.session_starts
    assert start["session_name"] == "job"
    assert start["inputs"] == {"query": "q"}


# -- the ingestion key -----------------------------------------------------------------------------------


def test_the_ingestion_key_is_the_bearer_of_session_start_event_writes_and_otlp(receiver: DevReceiver) -> None:
    receiver.api_keys = {INGESTION_KEY}
    tracer = make_tracer(receiver, ingestion_api_key=INGESTION_KEY)
    with tracer.with_session("s"):
        enrich_session(metadata={"a": 1})
        with tracer.start_span("step"):
            pass
    assert [r.status for r in receiver.requests] == [200, 200, 200]
    assert {r.path for r in receiver.requests} == {"/session/start", "/events", "/opentelemetry/v1/traces"}
    assert bearers(receiver) == {f"Bearer {INGESTION_KEY}"}


@pytest.mark.parametrize(
    ("environment", "arguments", "bearer"),
    [
        ({"HH_INGESTION_API_KEY": INGESTION_KEY, "HH_API_KEY": "env-key"}, {"api_key": "arg-key"}, INGESTION_KEY),
        ({"HH_API_KEY": "env-key"}, {"api_key": "arg-key"}, "arg-key"),
        ({"HONEYHIVE_API_KEY": "env-key"}, {}, "env-key"),
        ({"HH_API_KEY": "env-key"}, {"ingestion_api_key": INGESTION_KEY}, INGESTION_KEY),
    ],
    ids=["ingestion-variable-over-key-argument", "key-argument-over-variable", "sdk-alias", "ingestion-argument"],
)
def test_which_key_is_sent(
    environment: dict[str, str],
    arguments: dict[str, Any],
    bearer: str,
    receiver: DevReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    tracer = HoneyHiveTracer.init(
        server_url=receiver.url, skip_backend_session_creation=True, export_mode="immediate", **arguments
    )
    tracer.create_session(session_name="s")
    assert bearers(receiver) == {f"Bearer {bearer}"}


def test_a_malformed_ingestion_key_is_refused_and_never_echoed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ValueError, match="ingestion_api_key") as raised:
        HoneyHiveTracer.init(test_mode=True, ingestion_api_key="hh_ingst_short-secret-canary")
    assert "short-secret-canary" not in str(raised.value)
    monkeypatch.setenv("HH_INGESTION_API_KEY", "hh_ingst_short-secret-canary")
    monkeypatch.setenv("HH_TEST_MODE", "true")  # nothing sent: no other line
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        tracer = get_tracer()
    [line] = [record.getMessage() for record in caplog.records]
    assert "HH_INGESTION_API_KEY" in line
    assert "short-secret-canary" not in caplog.text
    assert tracer.config.ingestion_api_key is None


@pytest.mark.usefixtures("aws")
def test_an_ingestion_key_in_a_json_secret_comes_before_its_api_key(
    receiver: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = {"api_key": API_KEY, "ingestion_api_key": INGESTION_KEY}
    arn = boto3.client("secretsmanager").create_secret(Name="hh", SecretString=json.dumps(document))["ARN"]
    monkeypatch.setenv("HH_API_URL", receiver.url)
    monkeypatch.setenv("HH_API_KEY_SECRET_ARN", arn)
    monkeypatch.setenv("HH_EXPORT_MODE", "immediate")
    monkeypatch.setenv("HH_SKIP_BACKEND_SESSION_CREATION", "true")
    receiver.api_keys = {INGESTION_KEY}
    tracer = get_tracer()
    tracer.create_session(session_name="s")
    with tracer.start_span("x"):
        pass
    assert [r.status for r in receiver.requests] == [200, 200]
    assert bearers(receiver) == {f"Bearer {INGESTION_KEY}"}


def test_the_no_key_warning_names_the_ingestion_key_variable(
    receiver: DevReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        tracer = HoneyHiveTracer.init(server_url=receiver.url, skip_backend_session_creation=True)
        tracer.create_session(session_name="s")
    assert receiver.requests == []
    assert any("HH_INGESTION_API_KEY" in record.getMessage() for record in caplog.records)


# -- span name filters -----------------------------------------------------------------------------------


def test_span_name_filters_drop_the_spans_they_name_and_keep_the_others(receiver: DevReceiver) -> None:
    tracer = make_tracer(
        receiver,
        span_name_filters={
            "include": [{"type": "prefix", "value": "app."}],
            "exclude": [{"type": "prefix", "value": "app.debug"}],
        },
    )
    for name in ("app.work", "app.debug.dump", "other"):
        with tracer.start_span(name) as span, tracer.start_span(f"app.child-of-{name}") as child:
            assert span.is_recording() is (name == "app.work")
            assert child.is_recording()
    assert sorted(span.name for span in receiver.spans) == [
        "app.child-of-app.debug.dump",
        "app.child-of-app.work",
        "app.child-of-other",
        "app.work",
    ]


def test_span_name_filters_as_objects_and_other_types_warn_once(
    receiver: DevReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    filters = SimpleNamespace(
        include=None,
        exclude=[SimpleNamespace(type="prefix", value="noise"), SimpleNamespace(type="regex", value=".*")],
    )
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        tracer = make_tracer(receiver, span_name_filters=filters)
    [line] = [record.getMessage() for record in caplog.records]
    assert "'regex'" in line and "prefix" in line
    for name in ("noise.x", "kept"):
        with tracer.start_span(name):
            pass
    assert [span.name for span in receiver.spans] == ["kept"]


@pytest.mark.parametrize(
    "filters",
    [
        ["prefix"],
        {"exclude": "noise"},
        {"exclude": [{"type": "prefix"}]},
        {"exclude": [{"type": "prefix", "value": ""}]},
        {"excludes": [{"type": "prefix", "value": "x"}]},
        {"include": [{"type": 1, "value": "x"}]},
    ],
)
def test_span_name_filters_of_another_shape_raise(filters: object) -> None:
    with pytest.raises(ValueError, match="span_name_filters"):
        HoneyHiveTracer.init(test_mode=True, span_name_filters=filters)


def test_a_caller_that_did_not_sample_does_not_stop_the_recording(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)
    unsampled = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, True, TraceFlags(0))
    token = otel_context.attach(otel_trace.set_span_in_context(NonRecordingSpan(unsampled)))
    try:
        with tracer.start_span("child-of-unsampled"):
            pass
    finally:
        otel_context.detach(token)
    [child] = spans_named(receiver, "child-of-unsampled")
    assert child.parent_span_id == "00f067aa0ba902b7"


# -- the kill switch --------------------------------------------------------------------------------------


def test_the_kill_switch_sends_nothing_and_the_handler_result_is_untouched(
    lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HH_DISABLE_TRACING", "true")
    returned = {"statusCode": 200, "headers": {"a": "b"}, "body": "ok"}
    calls: list[tuple[Any, Any]] = []

    @trace
    def step() -> int:
        return 1

    def plain_handler(event: Any, context: Any) -> dict[str, Any]:
        calls.append((event, context))
        step()
        enrich_session(metadata={"x": 1})
        return returned

    handler = with_honeyhive_session(plain_handler)
    event, context = load_event("apigw_rest_v1_no_session"), LambdaContext(function_name="fn")
    result = handler(event, context)

    assert result is returned
    assert SESSION_HEADER not in result["headers"]
    assert calls == [(event, context)]
    assert calls[0][0] is event and calls[0][1] is context
    with pytest.raises(ZeroDivisionError):
        with_honeyhive_session(lambda event, context: 1 / 0)(event, context)
    get_tracer().force_flush()
    assert lambda_env.requests == []
    assert lambda_env.connection_count == 0


def test_the_kill_switch_passes_through_the_zero_code_redirect(
    lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HH_DISABLE_TRACING", "true")
    monkeypatch.setenv("HH_LAMBDA_HANDLER", "plain.handler")
    monkeypatch.setattr(entry, "_wrapped", None)
    event = {"n": 1}
    assert entry.handler(event, LambdaContext(function_name="fn")) == {"echo": event}
    assert lambda_env.requests == []
    assert lambda_env.connection_count == 0


def test_the_kill_switch_fetches_no_secret_and_records_no_span(
    receiver: DevReceiver, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    aws_calls = request.getfixturevalue("aws_calls")
    monkeypatch.setenv("HH_API_KEY_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:hh")
    tracer = HoneyHiveTracer.init(server_url=receiver.url, disable_tracing=True, skip_backend_session_creation=False)
    with tracer.with_session("s") as session_id:
        with tracer.start_span("x") as span:
            assert not span.is_recording()
        tracer.enrich_session(metadata={"a": 1})
    assert session_id
    assert tracer.flush()
    assert sum(aws_calls.values()) == 0
    assert tracer.api_keys.fetch_count == 0
    assert receiver.requests == []
    assert receiver.connection_count == 0


# -- verbose ---------------------------------------------------------------------------------------------


def test_verbose_logs_what_tracing_does_and_never_a_key(
    lambda_env: DevReceiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HH_VERBOSE", "true")
    monkeypatch.setenv("HH_INGESTION_API_KEY", INGESTION_KEY)
    lambda_env.api_keys = {INGESTION_KEY}

    with caplog.at_level(logging.DEBUG):

        @with_honeyhive_session
        def handler(event: Any, context: Any) -> str:
            with get_tracer().start_span("inner"):
                pass
            return "ok"

        assert handler({"session_id": str(uuid.uuid4())}, LambdaContext(function_name="fn")) == "ok"
        assert handler({}, LambdaContext(function_name="fn")) == "ok"

    lines = [record.getMessage() for record in caplog.records if record.name.startswith("honeyhive_serverless")]
    assert any("tracer ready" in line and "key from ingestion key" in line for line in lines)
    assert any("linked" in line for line in lines)
    assert any("started" in line for line in lines)
    assert any("exported 2 span(s)" in line for line in lines)
    captured = capfd.readouterr()
    for secret in (API_KEY, INGESTION_KEY):
        assert secret not in caplog.text
        assert secret not in captured.out + captured.err
        assert all(secret not in str(value) for span in lambda_env.spans for value in span.attributes.values())


def test_verbose_prints_debug_lines_where_no_handler_would() -> None:
    code = (
        "from honeyhive_serverless import HoneyHiveTracer\n"
        f"HoneyHiveTracer.init(api_key={API_KEY!r}, verbose=True, test_mode=True, skip_backend_session_creation=True)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert "tracer ready" in result.stderr
    assert "key from API key" in result.stderr
    assert API_KEY not in result.stderr + result.stdout


# -- limits, timeouts, OTLP switches ---------------------------------------------------------------------


def test_span_limits_apply(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, max_attributes=12, max_events=2, max_links=1)
    links = [Link(SpanContext(n + 1, n + 1, True)) for n in range(3)]
    with tracer.start_span("limited", links=links) as span:
        span.set_attributes({f"a{n}": n for n in range(30)})
        for n in range(5):
            span.add_event(f"e{n}")
    [received] = receiver.spans
    # The session's attributes, which the limit evicted first, are put back: the span keeps its session.
    session = {key for key in received.attributes if key.startswith(("honeyhive.", "traceloop."))}
    assert received.attributes["honeyhive.session_id"] == tracer.startup_session_id
    assert len(received.attributes) - len(session) <= 12
    assert len(received.events) == 2
    assert len(received.links) == 1


def test_span_limits_from_the_environment(hh_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HH_MAX_ATTRIBUTES", "15")
    monkeypatch.setenv("HH_MAX_EVENTS", "1")
    monkeypatch.setenv("HH_EXPORT_MODE", "immediate")
    with get_tracer().start_span("limited") as span:
        span.set_attributes({f"a{n}": n for n in range(30)})
        span.add_event("e1")
        span.add_event("e2")
    [received] = hh_env.spans
    session = {key for key in received.attributes if key.startswith(("honeyhive.", "traceloop."))}
    assert "honeyhive.session_id" in session
    assert len(received.attributes) - len(session) <= 15
    assert len(received.events) == 1


@pytest.mark.parametrize("keyword", ["max_attributes", "max_events", "max_links", "max_span_size"])
@pytest.mark.parametrize("value", [0, -1, True, "5", 1.5])
def test_a_bad_limit_argument_raises(keyword: str, value: object) -> None:
    with pytest.raises(ValueError, match=keyword):
        HoneyHiveTracer.init(test_mode=True, **{keyword: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("variable", "value"),
    [("HH_MAX_SPAN_SIZE", "0"), ("HH_MAX_LINKS", "x"), ("HH_API_TIMEOUT", "-1"), ("HH_DISABLE_TRACING", "maybe")],
)
def test_a_bad_variable_warns_once_naming_it_and_its_default_applies(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("HH_TEST_MODE", "true")  # nothing sent: no other line
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        tracer = get_tracer()
    [line] = [record.getMessage() for record in caplog.records]
    assert variable in line
    assert "using the default" in line
    assert not tracer.config.export_disabled


def test_an_over_size_span_leaves_with_its_largest_strings_cut(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, max_span_size=3000)
    with tracer.start_span("big") as span:
        span.set_attributes({"big": "x" * 20_000, "medium": "m" * 1500, "small": "s" * 100, "n": 7})
    with tracer.start_span("fits") as span:
        span.set_attribute("text", "t" * 1000)
    [big] = spans_named(receiver, "big")
    assert big.attributes["small"] == "s" * 100
    assert big.attributes["medium"] == "m" * 1500
    assert big.attributes["n"] == 7
    assert big.attributes["big"].startswith("x" * 100)
    assert "[truncated" in big.attributes["big"]
    assert sum(len(key) + len(str(value)) for key, value in big.attributes.items()) < 3000
    [fits] = spans_named(receiver, "fits")
    assert fits.attributes["text"] == "t" * 1000


def test_hh_api_timeout_bounds_each_request_unless_hh_export_timeout_ms_is_set(
    receiver: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HH_API_TIMEOUT", "0.2")
    receiver.set_fault("hang")
    tracer = make_tracer(receiver)
    started = time.monotonic()
    assert tracer.create_session(session_name="slow")
    assert 0.15 < time.monotonic() - started < 1.5
    monkeypatch.setenv("HH_EXPORT_TIMEOUT_MS", "900")
    assert resolve_config().export_timeout_ms == 900
    receiver.clear_fault()


def test_otlp_disabled_sends_sessions_and_no_spans(receiver: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HH_OTLP_ENABLED", "false")
    for mode in ("immediate", "invocation", "batch"):
        tracer = make_tracer(receiver, export_mode=mode)
        with tracer.with_session("s"), tracer.start_span("x"):
            pass
        tracer.force_flush()
    assert len(receiver.session_starts) == 3
    assert receiver.otlp_requests() == []


def test_an_otlp_protocol_other_than_protobuf_warns_and_protobuf_is_sent(
    receiver: DevReceiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HH_OTLP_PROTOCOL", "http/json")
    monkeypatch.setenv("HH_DISABLE_HTTP_TRACING", "false")
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        tracer = make_tracer(receiver)
    [line] = [record.getMessage() for record in caplog.records]
    assert "HH_OTLP_PROTOCOL" in line and "http/protobuf" in line
    with tracer.start_span("x"):
        pass
    [request] = receiver.otlp_requests()
    assert request.headers["content-type"] == "application/x-protobuf"
    assert [span.name for span in receiver.spans] == ["x"]


def test_propagate_aws_sdk_is_read_and_off_by_default() -> None:
    assert resolve_config(env={}).propagate_aws_sdk is False
    assert resolve_config(env={"HH_PROPAGATE_AWS_SDK": "true"}).propagate_aws_sdk is True


# -- the SDK's tracer methods ----------------------------------------------------------------------------


def test_start_span_carries_the_session_and_records_an_exception(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)

    class Refused(Exception):
        pass

    with tracer.with_session("s") as session_id:
        with tracer.start_span("work", kind=otel_trace.SpanKind.CLIENT, attributes={"a": 1}) as span:
            span.set_attribute("b", 2)
            assert otel_trace.get_current_span() is span
        with pytest.raises(Refused, match="no"), tracer.start_span("fails"):
            raise Refused("no")
    [work] = spans_named(receiver, "work")
    assert work.session_id == session_id
    assert work.span_kind == "CLIENT"
    assert (work.attributes["a"], work.attributes["b"]) == (1, 2)
    [fails] = spans_named(receiver, "fails")
    assert fails.status_code == "ERROR"
    assert [name for name, _ in fails.events] == ["exception"]


def test_trace_method_makes_a_honeyhive_event(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)
    with tracer.trace("lookup", event_type="model", inputs={"q": "x"}, metadata={"m": 1}, custom=[1, 2]) as span:
        span.set_attribute("later", True)
    with tracer.trace("plain"):
        pass
    [lookup] = spans_named(receiver, "lookup")
    assert lookup.attributes["honeyhive_event_type"] == "model"
    assert lookup.attributes["honeyhive_event_name"] == "lookup"
    assert lookup.attributes["honeyhive_inputs.q"] == "x"
    assert lookup.attributes["honeyhive_metadata.m"] == 1
    assert lookup.attributes["custom"] == "[1, 2]"
    assert lookup.attributes["later"] is True
    [plain_span] = spans_named(receiver, "plain")
    assert plain_span.attributes["honeyhive_event_type"] == "tool"


def test_session_start_is_deprecated_and_starts_the_tracers_session(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, session_name="nightly", inputs={"batch": 3})
    with pytest.warns(DeprecationWarning, match="create_session"):
        session_id = tracer.session_start()
    assert session_id == tracer.startup_session_id == tracer.session_id
    [start] = receiver.session_starts
    assert start == {**start, "session_id": session_id, "session_name": "nightly", "inputs": {"batch": 3}}
    with tracer.start_span("outside-any-session"):
        pass
    assert receiver.spans[0].session_id == session_id


def test_properties(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, source="staging")
    assert (tracer.is_initialized, tracer.is_test_mode) == (True, False)
    assert (tracer.project_name, tracer.source_environment) == ("test-project", "staging")
    assert HoneyHiveTracer.init(test_mode=True).is_test_mode
    tracer.shutdown()
    assert tracer.is_initialized is False


def test_get_and_set_baggage_use_the_current_context(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)
    assert tracer.get_baggage("user.id") is None
    tracer.set_baggage("user.id", "u1")
    tracer.set_baggage("", "ignored")
    assert tracer.get_baggage("user.id") == tracer.get_baggage("user_id") == "u1"
    with tracer.start_span("x"):
        pass
    assert receiver.spans[0].attributes["baggage.user_id"] == "u1"


def test_reset_and_flush_all(hh_env: DevReceiver) -> None:
    assert HoneyHiveTracer.flush_all() is True
    assert cached_tracer() is None  # flush_all builds nothing
    first = get_tracer()  # batch mode: spans wait for a flush
    with first.start_span("batched"):
        pass
    assert hh_env.spans == []
    assert HoneyHiveTracer.flush_all(timeout_millis=5000) is True
    assert [span.name for span in hh_env.spans] == ["batched"]
    HoneyHiveTracer.reset()
    assert cached_tracer() is None
    assert first.is_initialized is False
    assert get_tracer() is not first


# -- module-level names ----------------------------------------------------------------------------------


def test_set_default_tracer_is_what_get_tracer_and_trace_use(receiver: DevReceiver) -> None:
    mine = make_tracer(receiver)
    set_default_tracer(mine)
    assert get_tracer() is mine

    @trace
    def step() -> int:
        return 1

    assert step() == 1
    assert [span.name for span in receiver.spans] == ["step"]
    set_default_tracer(None)
    assert cached_tracer() is None
    assert mine.is_initialized  # not shut down: it is the caller's


def test_atrace_is_trace(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)
    set_default_tracer(tracer)

    @atrace
    async def bare() -> str:
        return "a"

    @atrace("model", "named")
    async def with_arguments() -> str:
        return "b"

    @atrace(event_type="chain", tracer=tracer)
    def sync_too() -> str:
        return "c"

    async def main() -> list[str]:
        return [await bare(), await with_arguments()]

    assert asyncio.run(main()) == ["a", "b"]
    assert sync_too() == "c"
    kinds = {span.name: span.attributes["honeyhive_event_type"] for span in receiver.spans}
    assert kinds == {"bare": "tool", "named": "model", "sync_too": "chain"}


def test_trace_class_traces_every_public_method_once(receiver: DevReceiver) -> None:
    set_default_tracer(make_tracer(receiver))

    @trace_class
    class Service:
        def __init__(self, factor: int) -> None:
            self.factor = factor

        def scale(self, n: int) -> int:
            return self._helper(n) * self.factor

        async def ascale(self, n: int) -> int:
            return n * self.factor

        def _helper(self, n: int) -> int:
            return n

        @staticmethod
        def unit() -> int:
            return 1

        @classmethod
        def make(cls) -> Service:
            return cls(2)

        @property
        def double(self) -> int:
            return self.factor * 2

    @trace_class
    class Child(Service):
        def extra(self) -> str:
            return "e"

    service = Service.make()
    assert (service.scale(3), asyncio.run(service.ascale(4)), Service.unit(), service.double) == (6, 8, 1, 4)
    assert (Child(1).scale(5), Child(1).extra()) == (5, "e")
    names = sorted(span.name for span in receiver.spans)
    assert names == ["Child.extra", "Service.ascale", "Service.scale", "Service.scale"]
    [first_scale] = [span for span in receiver.spans if span.attributes.get("honeyhive_inputs.n") == 3]
    assert first_scale.attributes["honeyhive_event_type"] == "tool"
    assert "honeyhive_inputs.self" not in first_scale.attributes


def test_the_sdk_trace_decorator_forms(hh_env: DevReceiver, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):

        @trace("model", metadata={"provider": "local"}, session_id="ignored", event_id="e1")
        def generate(prompt: str) -> str:
            return prompt.upper()

    [warning] = caplog.records
    assert warning.getMessage().endswith("on generate: event_id, session_id")
    assert generate("hi") == "HI"
    assert get_tracer().force_flush()
    [span] = hh_env.spans
    assert span.attributes["honeyhive_event_type"] == "model"
    assert span.attributes["honeyhive_metadata.provider"] == "local"
    assert span.attributes["honeyhive_inputs.prompt"] == "hi"
