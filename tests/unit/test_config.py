"""Settings: explicit argument > HH_* variable > default; bad input is named, and never fatal from env."""

from __future__ import annotations

import logging

import pytest

from honeyhive_serverless import HoneyHiveTracer, get_tracer
from honeyhive_serverless.config import DEFAULT_SERVER_URL, resolve_config, resolve_wrapper_options


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


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HH_API_URL", "not-a-url"),
        ("HH_EXPORT_MODE", "sometimes"),
        ("HH_TEST_MODE", "maybe"),
        ("HH_EXPORT_TIMEOUT_MS", "-5"),
    ],
)
def test_bad_environment_variable_warns_once_and_disables_export(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("HH_API_KEY", "k")
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        tracer = get_tracer()
        assert get_tracer() is tracer
    assert tracer.config.export_disabled
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert variable in lines[0]
    assert "\n" not in lines[0]
    # Still usable: sessions get ids, nothing raises.
    assert tracer.create_session(session_name="x")


def test_identity_capture_is_opt_in_argument_before_variable(caplog: pytest.LogCaptureFixture) -> None:
    assert resolve_wrapper_options(env={}).capture_identity is False
    assert resolve_wrapper_options(env={"HH_CAPTURE_IDENTITY": "true"}).capture_identity is True
    assert (
        resolve_wrapper_options(capture_identity=False, env={"HH_CAPTURE_IDENTITY": "true"}).capture_identity is False
    )
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        assert resolve_wrapper_options(env={"HH_CAPTURE_IDENTITY": "perhaps"}).capture_identity is False
    assert [record.getMessage() for record in caplog.records] == [
        "honeyhive: ignoring HH_CAPTURE_IDENTITY: expected true or false; using its default"
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
