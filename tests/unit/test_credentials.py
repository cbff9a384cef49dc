"""The API key from Secrets Manager or SSM (moto): fetched once, re-fetched once on 401, never logged."""

from __future__ import annotations

import json
import logging
from collections import Counter

import boto3
import pytest

from honeyhive_serverless import get_tracer
from honeyhive_serverless_dev.receiver import DevReceiver

OLD_KEY = "hh-old-secret-key-1a2b3c"
NEW_KEY = "hh-new-secret-key-4d5e6f"


def _point_at(receiver: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HH_API_URL", receiver.url)
    monkeypatch.setenv("HH_PROJECT", "p")
    monkeypatch.setenv("HH_SKIP_BACKEND_SESSION_CREATION", "true")
    monkeypatch.setenv("HH_EXPORT_MODE", "immediate")


def test_secret_is_fetched_once_and_refetched_once_on_401(
    aws_calls: Counter[str],
    receiver: DevReceiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secrets = boto3.client("secretsmanager")
    arn = secrets.create_secret(Name="hh", SecretString=json.dumps({"api_key": OLD_KEY}))["ARN"]
    aws_calls.clear()
    _point_at(receiver, monkeypatch)
    monkeypatch.setenv("HH_API_KEY_SECRET_ARN", arn)
    receiver.api_keys = {OLD_KEY}

    # Everything this package logs, at every level (botocore's own DEBUG output echoes responses).
    with caplog.at_level(logging.DEBUG, logger="honeyhive_serverless"):
        for n in range(20):
            tracer = get_tracer()
            tracer.create_session(session_name=f"s{n}")
        assert aws_calls["GetSecretValue"] == 1
        assert len(receiver.session_starts) == 20

        secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"api_key": NEW_KEY}))
        receiver.api_keys = {NEW_KEY}
        aws_calls.clear()
        for n in range(10):
            get_tracer().create_session(session_name=f"rotated{n}")
            with get_tracer().otel_tracer.start_as_current_span("after-rotation"):
                pass
    assert aws_calls["GetSecretValue"] == 1  # exactly one re-fetch, on the first 401
    assert len(receiver.session_starts) == 30
    assert len(receiver.spans) == 10
    statuses = [r.status for r in receiver.requests]
    assert statuses.count(401) == 1
    assert OLD_KEY not in caplog.text
    assert NEW_KEY not in caplog.text


def test_plain_string_secret_and_ssm_parameter(
    aws_calls: Counter[str], receiver: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("ssm").put_parameter(Name="/hh/key", Value=NEW_KEY, Type="SecureString")
    aws_calls.clear()
    _point_at(receiver, monkeypatch)
    monkeypatch.setenv("HH_API_KEY_SSM_PARAMETER", "/hh/key")
    receiver.api_keys = {NEW_KEY}
    for n in range(20):
        get_tracer().create_session(session_name=f"s{n}")
    assert aws_calls["GetParameter"] == 1
    assert len(receiver.session_starts) == 20


def test_unreadable_secret_warns_and_the_function_still_runs(
    aws_calls: Counter[str],
    receiver: DevReceiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _point_at(receiver, monkeypatch)
    monkeypatch.setenv("HH_API_KEY_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing")
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        for _ in range(3):
            assert get_tracer().create_session(session_name="x")
    assert receiver.requests == []
    assert aws_calls["GetSecretValue"] == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("HH_API_KEY_SECRET_ARN" in m for m in messages)


def test_a_refused_key_is_one_warning_line_saying_where_the_key_came_from(
    aws_calls: Counter[str],
    receiver: DevReceiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every endpoint refuses it (session start, spans, event updates), the secret is read again once, and
    the user reads one line: HoneyHive refused the key, where it was sent, and which secret it came from."""
    arn = boto3.client("secretsmanager").create_secret(Name="hh", SecretString=OLD_KEY)["ARN"]
    _point_at(receiver, monkeypatch)
    monkeypatch.setenv("HH_SKIP_BACKEND_SESSION_CREATION", "false")
    monkeypatch.setenv("HH_API_KEY_SECRET_ARN", arn)
    receiver.api_keys = {NEW_KEY}

    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        for n in range(5):
            tracer = get_tracer()
            tracer.create_session(session_name=f"s{n}")
            with tracer.otel_tracer.start_as_current_span("refused"):
                pass
            tracer.enrich_session(metadata={"n": n})

    assert {request.path for request in receiver.requests if request.status == 401} >= {
        "/session/start",
        "/opentelemetry/v1/traces",
    }
    [line] = [record.getMessage() for record in caplog.records]
    assert line.startswith("honeyhive: HoneyHive refused the API key (HTTP 401 to ")
    assert "it came from the Secrets Manager secret named by HH_API_KEY_SECRET_ARN" in line
    assert line.endswith(f"check that it is a valid key for {receiver.url}")
    assert OLD_KEY not in caplog.text
