"""Settings: explicit argument > HH_* variable > default; bad input is named, and never fatal from env."""

from __future__ import annotations

import logging
import re

import pytest

from conftest import make_tracer
from honeyhive_serverless import HoneyHiveTracer, get_tracer
from honeyhive_serverless.config import DEFAULT_SERVER_URL, resolve_config, resolve_wrapper_options
from honeyhive_serverless_dev.receiver import DevReceiver


def test_explicit_beats_environment_beats_default() -> None:
    env = {"HH_PROJECT": "from-env", "HH_API_URL": "http://127.0.0.1:9/", "HH_SOURCE": "env-source"}
    assert resolve_config(project="explicit", env=env).project == "explicit"
    assert resolve_config(env=env).project == "from-env"
    assert resolve_config(env=env).server_url == "http://127.0.0.1:9"
    assert resolve_config(env={}).server_url == DEFAULT_SERVER_URL
    assert resolve_config(env=env).source == "env-source"
    assert resolve_config(source="mine", env=env).source == "mine"


def test_source_and_export_mode_follow_the_platform() -> None:
    assert resolve_config(env={}).source == "dev"
    assert resolve_config(env={}).export_mode == "batch"
    on_lambda = resolve_config(env={"AWS_LAMBDA_FUNCTION_NAME": "fn"})
    assert on_lambda.source == "lambda"
    assert on_lambda.export_mode == "invocation"
    assert on_lambda.skip_backend_session_creation is True
    on_gcf = resolve_config(env={"K_SERVICE": "svc", "FUNCTION_TARGET": "main"})
    assert on_gcf.source == "cloud-function"
    assert on_gcf.export_mode == "invocation"


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"server_url": "ftp://x"}, "server_url"),
        ({"server_url": "http://host name"}, "server_url"),
        ({"server_url": "http:///path-without-host"}, "server_url"),
        ({"export_mode": "sometimes"}, "export_mode"),
    ],
)
def test_bad_explicit_argument_raises_value_error_naming_it(arguments: dict[str, str], parameter: str) -> None:
    with pytest.raises(ValueError, match=parameter):
        HoneyHiveTracer.init(test_mode=True, **arguments)  # type: ignore[arg-type]


#: ``honeyhive: <VARIABLE>=<value> is not <expected>; using the default (<default>) instead``
ONE_RULE = re.compile(r"honeyhive: (HH_[A-Z_]+)=(\S+) is not (.+); using the default \((.+)\) instead")


@pytest.mark.parametrize(
    ("variable", "value", "attribute", "default", "stated"),
    [
        ("HH_EXPORT_MODE", "bogus", "export_mode", "invocation", "invocation"),
        ("HH_DISABLE_BATCH", "perhaps", "export_mode", "invocation", "false"),
        ("HH_TEST_MODE", "maybe", "test_mode", False, "false"),
        ("HH_DISABLE_TRACING", "maybe", "disable_tracing", False, "false"),
        ("HH_OTLP_ENABLED", "nah", "otlp_enabled", True, "true"),
        ("HH_EXPORT_TIMEOUT_MS", "-5", "export_timeout_ms", 2000, "2000"),
        ("HH_API_TIMEOUT", "soon", "export_timeout_ms", 2000, "2000 ms"),
        ("HH_MAX_LINKS", "x", "max_links", 128, "128"),
        ("HH_OTLP_PROTOCOL", "grpc", "export_disabled", False, "http/protobuf"),
    ],
)
def test_a_bad_value_gets_one_line_naming_it_and_its_default_applies(
    variable: str,
    value: str,
    attribute: str,
    default: object,
    stated: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name, setting in {
        variable: value,
        "HH_API_KEY": "k",
        "HH_PROJECT": "p",
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
    }.items():
        monkeypatch.setenv(name, setting)
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        tracer = get_tracer()
        assert get_tracer() is tracer
    [line] = [r.getMessage() for r in caplog.records]
    match = ONE_RULE.fullmatch(line)
    assert match is not None, line
    assert match.group(1, 2, 4) == (variable, repr(value), stated)
    assert getattr(tracer.config, attribute) == default
    # Still tracing, and still exporting: sessions get ids, nothing raises.
    assert not tracer.config.export_disabled
    assert tracer.create_session(session_name="x")


def test_a_bad_wrapper_option_follows_the_same_rule(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        assert resolve_wrapper_options(env={"HH_CAPTURE_EVENT": "sometimes"}).capture_event is True
    assert [r.getMessage() for r in caplog.records] == [
        "honeyhive: HH_CAPTURE_EVENT='sometimes' is not true or false; using the default (true) instead"
    ]


def test_a_bad_key_is_named_by_its_variable_and_length_only(caplog: pytest.LogCaptureFixture) -> None:
    canary = "hh_ingst_short-secret-canary"
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        config = resolve_config(env={"HH_INGESTION_API_KEY": canary, "HH_API_KEY": "k", "HH_PROJECT": "p"})
    assert [r.getMessage() for r in caplog.records] == [
        f"honeyhive: HH_INGESTION_API_KEY=[redacted, {len(canary)} characters] is not an ingestion API key "
        "(hh_ingst_<id>_<secret>); using the default (none: the API key is sent) instead"
    ]
    assert config.ingestion_api_key is None and config.api_key == "k"
    assert not config.export_disabled


def test_a_bad_server_url_exports_nothing_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        config = resolve_config(env={"HH_API_URL": "api.eu.honeyhive.ai", "HH_API_KEY": "k", "HH_PROJECT": "p"})
    assert [r.getMessage() for r in caplog.records] == [
        "honeyhive: HH_API_URL='api.eu.honeyhive.ai' is not an http:// or https:// URL; nothing is exported "
        "(the default server is not assumed for one meant to be another)"
    ]
    assert config.export_disabled


def test_an_unknown_name_is_warned_once_with_what_it_may_mean(caplog: pytest.LogCaptureFixture) -> None:
    env = {"HH_PROJET": "demo", "HH_XYZZY": "1", "HH_API_KEY": "k", "HH_PROJECT": "p", "HONEYHIVE_OTHER": "x"}
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        for _ in range(3):
            resolve_config(env=env)
    assert [r.getMessage() for r in caplog.records] == [
        "honeyhive: HH_PROJET is not a variable honeyhive-serverless reads; it is ignored (did you mean HH_PROJECT?)",
        "honeyhive: HH_XYZZY is not a variable honeyhive-serverless reads; it is ignored "
        "(see docs/configuration.md for the names)",
    ]


def test_the_construct_and_the_tools_names_are_known(caplog: pytest.LogCaptureFixture) -> None:
    env = {name: "x" for name in ("HH_LAMBDA_HANDLER", "HH_LAYER_CACHE_DIR", "HH_INSTRUMENTED", "HH_LAYER_ARCH")}
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        resolve_config(env=env)
    assert caplog.records == []


def test_a_missing_project_is_warned_once_with_where_spans_go(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        resolve_config(env={"HH_TEST_MODE": "true", "HH_API_KEY": "k"})  # nothing sent: nothing to say
        resolve_config(project="p", env={"HH_API_KEY": "k"})
        assert caplog.records == []
        for _ in range(3):
            resolve_config(env={"HH_API_KEY": "k"})
    assert [r.getMessage() for r in caplog.records] == [
        "honeyhive: no project set (HH_PROJECT or project=); "
        "HoneyHive files the spans under the project the API key belongs to"
    ]


@pytest.mark.parametrize(
    ("env", "arguments", "origin"),
    [
        ({"HH_API_KEY": "k"}, {}, "HH_API_KEY"),
        ({"HONEYHIVE_API_KEY": "k"}, {}, "HONEYHIVE_API_KEY"),
        ({"HH_API_KEY": "k"}, {"api_key": "k2"}, "the api_key argument"),
        ({"HH_API_KEY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:hh"}, {}, "HH_API_KEY_SECRET_ARN"),
        ({"HH_API_KEY_SSM_PARAMETER": "/hh/key"}, {}, "HH_API_KEY_SSM_PARAMETER"),
        ({}, {}, "none"),
    ],
)
def test_where_the_key_comes_from_is_known(env: dict[str, str], arguments: dict[str, str], origin: str) -> None:
    assert origin in resolve_config(project="p", env=env, **arguments).key_origin  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "origin"), [(401, "HH_API_KEY"), (403, "the api_key argument")])
def test_a_refused_key_gets_one_line_naming_where_it_came_from(
    status: int, origin: str, receiver: DevReceiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.api_keys = {"the-right-key"}
    wrong = "wrong-key-canary"
    options: dict[str, object] = {"api_key": wrong} if origin.startswith("the") else {"api_key": None}
    monkeypatch.setenv("HH_API_KEY", wrong)
    if status == 403:
        receiver.set_fault("403")
    with caplog.at_level(logging.DEBUG, logger="honeyhive_serverless"):
        tracer = make_tracer(receiver, **options)
        for n in range(5):
            with tracer.otel_tracer.start_as_current_span(f"span{n}"):
                pass
            tracer.create_session(session_name=f"s{n}")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        f"honeyhive: HoneyHive refused the API key (HTTP {status} to POST /opentelemetry/v1/traces); it came from "
        f"{origin}: check that it is a valid key for {receiver.url}"
    ]
    assert wrong not in caplog.text


def test_identity_capture_is_opt_in_argument_before_variable(caplog: pytest.LogCaptureFixture) -> None:
    assert resolve_wrapper_options(env={}).capture_identity is False
    assert resolve_wrapper_options(env={"HH_CAPTURE_IDENTITY": "true"}).capture_identity is True
    assert (
        resolve_wrapper_options(capture_identity=False, env={"HH_CAPTURE_IDENTITY": "true"}).capture_identity is False
    )
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        assert resolve_wrapper_options(env={"HH_CAPTURE_IDENTITY": "perhaps"}).capture_identity is False
    assert [record.getMessage() for record in caplog.records] == [
        "honeyhive: HH_CAPTURE_IDENTITY='perhaps' is not true or false; using the default (false) instead"
    ]


def test_get_tracer_is_cached_and_thread_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.setenv("HH_TEST_MODE", "true")
    seen: list[HoneyHiveTracer] = []
    barrier = threading.Barrier(16)

    def build() -> None:
        barrier.wait()
        seen.append(get_tracer())

    threads = [threading.Thread(target=build) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(t) for t in seen}) == 1
