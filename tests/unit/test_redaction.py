"""Nothing secret leaves: credentials by name and by shape, an authorizer's identity unless asked for,
in what the wrapper captures and in every span attribute, checked in every request the dev receiver
records (session starts, event updates, the raw OTLP bytes).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from honeyhive_serverless import enrich_span, trace, with_honeyhive_session
from honeyhive_serverless.config import resolve_config
from honeyhive_serverless.export.span_exporter import redacted
from honeyhive_serverless.faas.http_event import http_request
from honeyhive_serverless.redaction import (
    DEFAULT_REDACTION,
    IDENTITY_MARKER,
    SECRET_VALUES,
    Redaction,
    without_identity,
)
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver

EVENTS = Path(__file__).parent.parent / "events" / "powertools"


def b64url(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def make_jwt(claims: dict[str, Any]) -> str:
    return f"{b64url({'alg': 'RS256', 'kid': 'k1'})}.{b64url(claims)}.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"


USER_JWT = make_jwt({"sub": "user-7", "email": "ann@example.com", "token_use": "id"})
BODY_JWT = make_jwt({"sub": "service-2", "scope": "orders:write"})
SESSION_COOKIE = "sid=s3cr3t-cookie-value-41"
OUTBOUND_KEY = "Zm9vYmFyYmF6cXV4MTIzNDU2"  # an upstream's credential the handler echoes


def ctx() -> LambdaContext:
    return LambdaContext(function_name="fn")


def every_body(receiver: DevReceiver) -> list[bytes]:
    """Every request's body as the receiver got it: session starts, event updates, OTLP protobuf."""
    return [request.body for request in receiver.requests]


def leaked(receiver: DevReceiver, *secrets: str) -> list[str]:
    bodies = every_body(receiver)
    assert bodies, "nothing was sent"
    return [secret for secret in secrets if any(secret.encode() in body for body in bodies)]


def rest_api_event() -> dict[str, Any]:
    """An API Gateway REST API (v1) request as the frontend sends it: a Cognito id token, a session
    cookie, and a JSON body carrying a service token."""
    headers = {
        "Authorization": f"Bearer {USER_JWT}",
        "Cookie": SESSION_COOKIE,
        "Content-Type": "application/json",
        "User-Agent": "app/1.0",
    }
    return {
        "resource": "/chat",
        "path": "/chat",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {"lang": "en"},
        "multiValueQueryStringParameters": {"lang": ["en"]},
        "requestContext": {
            "resourcePath": "/chat",
            "httpMethod": "POST",
            "stage": "prod",
            "authorizer": {"claims": {"sub": "user-7", "email": "ann@example.com", "cognito:username": "ann"}},
            "identity": {"sourceIp": "203.0.113.9", "userAgent": "app/1.0"},
        },
        "body": json.dumps({"question": "what is honeyhive", "note": BODY_JWT}),
        "isBase64Encoded": False,
    }


# -- through the wrapper, to the receiver ---------------------------------------------------------------


def test_an_api_gateway_requests_credentials_never_reach_honeyhive(lambda_env: DevReceiver) -> None:
    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": json.dumps({"answer": "ok", "upstream": f"Bearer {OUTBOUND_KEY}"})}

    handler(rest_api_event(), ctx())

    assert leaked(lambda_env, USER_JWT, BODY_JWT, SESSION_COOKIE, "s3cr3t", OUTBOUND_KEY) == []
    assert not any(b"multiValueHeaders" in body for body in every_body(lambda_env))
    [start] = lambda_env.session_starts
    request = start["inputs"]["event"]
    # The request, once: its headers lower-case, the JSON body parsed.
    assert request["method"] == "POST"
    assert request["path"] == "/chat"
    assert request["query"] == {"lang": "en"}
    assert request["headers"] == {
        "authorization": "[redacted: authorization]",
        "cookie": "[redacted: cookie]",
        "content-type": "application/json",
        "user-agent": "app/1.0",
    }
    assert request["body"] == {"question": "what is honeyhive", "note": "[redacted: jwt]"}
    [span] = [span for span in lambda_env.spans if span.name == "fn"]
    assert span.attributes["honeyhive_inputs.event.headers.authorization"] == "[redacted: authorization]"
    assert span.attributes["honeyhive_inputs.event.headers.cookie"] == "[redacted: cookie]"
    assert span.attributes["honeyhive_inputs.event.body.note"] == "[redacted: jwt]"
    assert not [name for name in span.attributes if "multiValue" in name]
    [update] = lambda_env.event_updates
    assert json.loads(update["outputs"]["response"]["body"])["upstream"] == "[redacted: bearer]"


def test_a_capture_is_redacted_before_it_is_cut(lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    # Cut, the event is JSON text no longer parseable: only the capture itself still knows the names.
    monkeypatch.setenv("HH_MAX_PAYLOAD_BYTES", "120")

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> str:
        return "ok"

    handler({"user": "ann", "password": "hunter2-correct-horse", "padding": "x" * 1000}, ctx())

    captured = lambda_env.session_starts[0]["inputs"]["event"]
    assert isinstance(captured, str)
    assert "[truncated" in captured
    assert '"password": "[redacted: password]"' in captured
    assert leaked(lambda_env, "hunter2-correct-horse") == []


@pytest.mark.parametrize("opted_in", [False, True])
def test_identity_is_captured_only_when_asked_for(
    lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch, opted_in: bool
) -> None:
    if opted_in:
        monkeypatch.setenv("HH_CAPTURE_IDENTITY", "true")

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> str:
        return "ok"

    claims = {"sub": "0b7e-user", "email": "ann@example.com", "cognito:username": "ann", "phone_number": "+15550100"}
    handler(
        {
            "version": "2.0",
            "routeKey": "POST /chat",
            "rawPath": "/chat",
            "rawQueryString": "",
            "headers": {"authorization": f"Bearer {USER_JWT}"},
            "requestContext": {"http": {"method": "POST", "path": "/chat"}, "authorizer": {"jwt": {"claims": claims}}},
        },
        ctx(),
    )

    identity = lambda_env.session_starts[0]["inputs"]["event"]["identity"]
    if opted_in:
        assert identity == {"authorizer": {"jwt": {"claims": claims}}}
    else:
        assert identity == IDENTITY_MARKER
        assert leaked(lambda_env, "ann@example.com", "0b7e-user", "+15550100") == []
    assert leaked(lambda_env, USER_JWT) == []  # the credential is no identity: it never leaves


def test_more_secret_names_and_patterns_come_from_the_environment(
    lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HH_REDACT_KEYS", "X-Tenant-Secret, account_pin")
    monkeypatch.setenv("HH_REDACT_PATTERNS", r"ORD-\d{6},cust_[a-z]{3}\d+")

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> str:
        return "refunded ORD-654321"

    handler(
        {"headers": {"x-tenant-secret": "tenant-77"}, "accountPin": "pin-9876", "note": "ORD-123456 cust_abc42"}, ctx()
    )

    assert leaked(lambda_env, "tenant-77", "pin-9876", "ORD-123456", "ORD-654321", "cust_abc42") == []
    event = lambda_env.session_starts[0]["inputs"]["event"]
    assert event == {
        "headers": {"x-tenant-secret": "[redacted: x-tenant-secret]"},
        "accountPin": "[redacted: accountpin]",
        "note": "[redacted: pattern] [redacted: pattern]",
    }
    assert lambda_env.event_updates[0]["outputs"]["response"] == "refunded [redacted: pattern]"


def test_redaction_off_is_explicit_and_said_at_debug_only(
    lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HH_REDACT", "false")
    caplog.set_level(logging.DEBUG, logger="honeyhive_serverless")

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> str:
        return "ok"

    handler(rest_api_event(), ctx())

    assert leaked(lambda_env, USER_JWT, SESSION_COOKIE, BODY_JWT) == [USER_JWT, SESSION_COOKIE, BODY_JWT]
    said = [record for record in caplog.records if "HH_REDACT" in record.getMessage()]
    assert said
    assert {record.levelno for record in said} == {logging.DEBUG}
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


def test_a_bad_pattern_warns_once_naming_it_and_the_others_apply(caplog: pytest.LogCaptureFixture) -> None:
    config = resolve_config(env={"HH_REDACT_PATTERNS": r"[z-a],ORD-\d{3,6}"})
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "HH_REDACT_PATTERNS" in warnings[0]
    assert "'[z-a]'" in warnings[0]
    assert config.redaction.text("order ORD-1234") == "order [redacted: pattern]"
    assert config.redaction.text("Bearer abcDEF123456") == "[redacted: bearer]"  # the built-in ones too
    assert not config.export_disabled


def test_a_bad_switch_value_warns_and_redaction_stays_on(caplog: pytest.LogCaptureFixture) -> None:
    config = resolve_config(env={"HH_REDACT": "nope"})
    assert config.redaction.enabled
    assert not config.export_disabled
    assert [record.getMessage() for record in caplog.records if "HH_REDACT" in record.getMessage()] != []


def test_span_attributes_an_app_sets_are_redacted_before_export(lambda_env: DevReceiver) -> None:
    @trace
    def sign_in(user: str, password: str) -> str:
        return "signed in"

    @with_honeyhive_session
    def handler(event: dict[str, Any], context: Any) -> str:
        enrich_span(metadata={"upstream_auth": f"Bearer {OUTBOUND_KEY}"}, inputs={"X-Api-Key": "plain-key-1729"})
        sign_in("ann", "hunter2-correct-horse")
        raise RuntimeError(f"upstream refused {BODY_JWT}")

    with pytest.raises(RuntimeError):
        handler({"n": 1}, ctx())

    assert leaked(lambda_env, OUTBOUND_KEY, "plain-key-1729", "hunter2-correct-horse", BODY_JWT) == []
    spans = {span.name: span for span in lambda_env.spans}
    assert spans["fn"].attributes["honeyhive_metadata.upstream_auth"] == "[redacted: bearer]"
    assert spans["fn"].attributes["honeyhive_inputs.X-Api-Key"] == "[redacted: x-api-key]"
    assert spans["fn"].attributes["honeyhive_error"] == "RuntimeError: upstream refused [redacted: jwt]"
    assert spans["sign_in"].attributes["honeyhive_inputs.password"] == "[redacted: password]"
    assert spans["sign_in"].attributes["honeyhive_inputs.user"] == "ann"
    assert lambda_env.event_updates[0]["metadata"]["error"] == "RuntimeError: upstream refused [redacted: jwt]"


# -- the rules ----------------------------------------------------------------------------------------

#: One example of each kind of secret value.
SECRET_VALUE_EXAMPLES = {
    "bearer": "Bearer abcDEF123456",
    "basic": "Basic dXNlcjpwYXNzd29yZA==",
    "jwt": USER_JWT,
    "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
    "honeyhive_key": "hh_ingst_" + "a" * 24 + "_" + "b" * 64,
    "api_key": "sk-proj-abcdefghijklmnopqrstuvwx",
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAr7x\n-----END RSA PRIVATE KEY-----",
}


def test_every_kind_of_secret_value_has_an_example() -> None:
    assert set(SECRET_VALUE_EXAMPLES) == set(SECRET_VALUES)


@pytest.mark.parametrize(("kind", "example"), SECRET_VALUE_EXAMPLES.items())
def test_a_secret_value_is_found_inside_any_text(kind: str, example: str) -> None:
    assert DEFAULT_REDACTION.text(f"got {example} here") == f"got [redacted: {kind}] here"
    assert DEFAULT_REDACTION.value({"items": [f"{example}"]}) == {"items": [f"[redacted: {kind}]"]}


def test_a_jwt_cut_short_is_still_found() -> None:
    assert DEFAULT_REDACTION.text(USER_JWT[: USER_JWT.index(".") + 8]) == "[redacted: jwt]"


@pytest.mark.parametrize(
    "prose",
    [
        "Bearer tokens are described in RFC 6750",
        "Basic setup takes a minute",
        "Basic Information",
        "a base64 body eyJ0ZXN0IjogImV2ZW50In0=",  # JSON in base64, no JWT
        "task-12345678901234567890",
        "6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e10",
    ],
)
def test_prose_ids_and_base64_are_no_secret_values(prose: str) -> None:
    assert DEFAULT_REDACTION.text(prose) is prose


SECRET_NAME_SPELLINGS = (
    *("Authorization", "PROXY-AUTHORIZATION", "set_cookie", "X-API-KEY", "apiKey", "api_key"),
    *("x-amz-security-token", "AWS_SECRET_ACCESS_KEY", "secretAccessKey", "sessionToken", "client_secret"),
    *("Password", "credentials"),
)


@pytest.mark.parametrize("name", SECRET_NAME_SPELLINGS)
def test_secret_names_match_in_any_case_and_spelling(name: str) -> None:
    assert DEFAULT_REDACTION.value({"a": {name: {"nested": "value"}}}) == {"a": {name: f"[redacted: {name.lower()}]"}}
    assert DEFAULT_REDACTION.attributes({f"honeyhive_inputs.{name}.0": "value"}) == {
        f"honeyhive_inputs.{name}.0": f"[redacted: {name.lower()}]"
    }


@pytest.mark.parametrize(
    "name", ["gen_ai.usage.input_tokens", "gen_ai.token.type", "llm.usage.total_tokens", "key", "session_id", "author"]
)
def test_names_that_only_look_like_secrets_pass(name: str) -> None:
    assert DEFAULT_REDACTION.attributes({name: "value"}) is None
    assert DEFAULT_REDACTION.value({name: "value"}) == {name: "value"}


def test_json_text_is_searched_as_json() -> None:
    body = json.dumps({"user": {"password": "pw-1"}, "n": 1})
    assert json.loads(DEFAULT_REDACTION.value(body)) == {"user": {"password": "[redacted: password]"}, "n": 1}
    untouched = json.dumps({"n": 1})
    assert DEFAULT_REDACTION.value(untouched) is untouched


def test_urls_and_queries_lose_their_credentials_by_name() -> None:
    presigned = (
        "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240101"
        "&X-Amz-Security-Token=FwoGZXIvYXdz&X-Amz-Signature=9f2c&x-id=GetObject"
    )
    assert DEFAULT_REDACTION.attributes({"url.full": presigned, "url.query": "token=t1&q=paris"}) == {
        "url.full": "https://b.s3.amazonaws.com/k?X-Amz-Credential=[redacted: aws_access_key]%2F20240101"
        "&X-Amz-Security-Token=[redacted: x-amz-security-token]&X-Amz-Signature=[redacted: x-amz-signature]"
        "&x-id=GetObject",
        "url.query": "token=[redacted: token]&q=paris",
    }
    assert DEFAULT_REDACTION.url("https://me:pw@example.com/") == "https://[redacted: userinfo]@example.com/"
    assert DEFAULT_REDACTION.attributes({"url.full": "https://example.com/a?q=1", "http.target": "/a"}) is None
    assert DEFAULT_REDACTION.parameters({"key": "AIza1", "q": "x"}) == {"key": "[redacted: key]", "q": "x"}


def test_identity_is_dropped_where_the_platforms_put_it() -> None:
    event: dict[str, Any] = {"requestContext": {"authorizer": {"claims": {}}, "stage": "prod"}, "claims": "kept"}
    assert without_identity(event) == {
        "requestContext": {"authorizer": IDENTITY_MARKER, "stage": "prod"},
        "claims": "kept",
    }
    assert event["requestContext"]["authorizer"] == {"claims": {}}  # the event itself is untouched
    batch = [{"identity": {"sub": "u"}, "arguments": {}}, "x"]
    assert without_identity(batch) == [{"identity": IDENTITY_MARKER, "arguments": {}}, "x"]
    cognito = {"request": {"userAttributes": {"email": "a@b"}}, "userPoolId": "p"}
    assert without_identity(cognito) == {"request": {"userAttributes": IDENTITY_MARKER}, "userPoolId": "p"}


def test_nothing_is_redacted_when_turned_off() -> None:
    off = Redaction(enabled=False)
    event = {"Authorization": f"Bearer {USER_JWT}"}
    assert off.value(event) is event
    assert off.attributes({"authorization": "x"}) is None


def test_a_span_without_secrets_leaves_as_it_is_and_one_with_them_as_a_copy() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("clean", attributes={"gen_ai.prompt.0.content": "hello " * 100}):
        pass
    with tracer.start_as_current_span("secret") as span:
        span.add_event("exception", {"exception.message": f"refused {BODY_JWT}"})
    clean, secret = exporter.get_finished_spans()
    assert redacted(clean, DEFAULT_REDACTION) is clean
    copy = redacted(secret, DEFAULT_REDACTION)
    assert copy.events[0].attributes == {"exception.message": "refused [redacted: jwt]"}
    assert secret.events[0].attributes == {"exception.message": f"refused {BODY_JWT}"}


# -- HTTP events as requests -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "method", "path"),
    [
        ("apiGatewayProxyEvent", "GET", "/my/path"),
        ("apiGatewayProxyV2Event", "POST", "/my/path"),
        ("albMultiValueHeadersEvent", "GET", "/todos"),
        ("lambdaFunctionUrlEvent", "GET", "/"),
        ("vpcLatticeEvent", "GET", "/testpath"),
        ("vpcLatticeV2EventWithHeaders", "GET", "/newpath"),
    ],
)
def test_an_http_event_is_captured_as_its_request(fixture: str, method: str, path: str) -> None:
    request = request_of(json.loads((EVENTS / f"{fixture}.json").read_text()))
    assert (request["method"], request["path"]) == (method, path)
    assert set(request) <= {"method", "path", "route", "query", "headers", "body", "body_encoding", "identity"}
    assert all(name == name.lower() for name in request.get("headers", {}))


def request_of(event: dict[str, Any]) -> dict[str, Any]:
    request = http_request(event)
    assert request is not None
    return request


def test_a_request_body_is_decoded_and_parsed_where_it_can_be() -> None:
    lattice = json.loads((EVENTS / "vpcLatticeEvent.json").read_text())
    assert request_of(lattice)["body"] == {"test": "event"}  # base64 of JSON
    v2 = json.loads((EVENTS / "apiGatewayProxyV2Event.json").read_text())
    request = request_of(v2)
    assert request["body"] == {"message": "hello world", "username": "tom"}
    assert request["headers"]["cookie"] == "; ".join(v2["cookies"])  # v2's cookies, as the header
    form = {"httpMethod": "POST", "path": "/login", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    assert request_of({**form, "body": "user=ann&password=pw"})["body"] == {"user": "ann", "password": "pw"}
    binary = base64.b64encode(b"\x89PNG\x00\xff").decode()
    assert request_of({**form, "body": binary, "isBase64Encoded": True}) == {  # not text: as sent
        "method": "POST",
        "path": "/login",
        "headers": {"content-type": "application/x-www-form-urlencoded"},
        "body": binary,
        "body_encoding": "base64",
    }
    assert http_request({"type": "TOKEN", "authorizationToken": "x", "methodArn": "arn"}) is None


# -- properties -------------------------------------------------------------------------------------------

_SECRETS = [*SECRET_VALUE_EXAMPLES.values(), f"Bearer {USER_JWT}"]
#: What of each secret shows it leaked, however often it was JSON-encoded: its longest run of letters
#: and digits.
_SECRET_CORES = [max(re.findall(r"[A-Za-z0-9]+", secret), key=len) for secret in _SECRETS]
_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(_SECRETS),
    st.builds(
        lambda a, secret, b: f"{a} {secret} {b}", st.text(max_size=10), st.sampled_from(_SECRETS), st.text(max_size=10)
    ),
)
_KEYS = st.one_of(st.text(max_size=12), st.sampled_from(["Authorization", "cookie", "x-api-key", "password", "n"]))
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _TEXT),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(_KEYS, inner, max_size=4),
        inner.map(json.dumps),  # JSON inside text, as a body is
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(_JSON)
def test_redaction_never_raises_changes_nothing_twice_and_leaves_no_secret(value: Any) -> None:
    once = DEFAULT_REDACTION.value(value)
    assert DEFAULT_REDACTION.value(once) == once
    sent = json.dumps(once)
    assert [core for core in _SECRET_CORES if core in sent] == []
