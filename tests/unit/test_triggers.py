"""Session ids from every Lambda trigger: the pure lookup, and ``@with_honeyhive_session`` end to end.

Event fixtures live in ``tests/events/*.json``, in the shapes AWS documents. Two conventions keep
them readable:

* ``{{SESSION_ID}}`` is replaced, as text, by the session id a test chooses (a fresh ``uuid4``), or
  by a bad id for the malformed cases (only JSON-safe characters, so nested JSON stays valid);
* ``{"$base64json": {...}}`` stands for the base64 of that object's JSON (a base64 API Gateway body,
  Kinesis ``data``), so the fixture shows what is encoded.

The end-to-end tests run the decorated handler in-process against the dev receiver and assert what
the receiver got: the session start (or its absence, for a linked session), the spans' session id and
FaaS attributes, and the response the caller gets.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from honeyhive_serverless import trace, with_honeyhive_session
from honeyhive_serverless.triggers import (
    detect_trigger,
    find_record_session_id,
    find_session_id,
    record_list,
    validate_session_id,
)
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver
from trigger_shapes import EVENTS, FUNCTION, SHAPES, Shape, invocation_span, load_event, new_id

LOGGER = "honeyhive_serverless"
SESSION_START = "/session/start"
#: quote_prefix keeps 24 characters, plus "..." and the quotes; "about 30" is the contract.
MAX_QUOTED = 32
_WARNING = re.compile(r"value (?P<quoted>.*); new session$")


SHAPE_IDS = [shape.fixture for shape in SHAPES]
LINKED_SHAPES = [shape for shape in SHAPES if shape.carries_id]
BATCH_TRIGGERS = ("sqs", "sns", "kinesis")


def test_every_fixture_file_is_covered() -> None:
    on_disk = {path.stem for path in EVENTS.glob("*.json")}
    assert on_disk == set(SHAPE_IDS)


# ------------------------------------------------------------------------------------------------
# Pure lookup: detect_trigger / find_session_id / find_record_session_id / validate_session_id


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_fixture_trigger_and_session_id(shape: Shape) -> None:
    session_id = new_id()
    event = load_event(shape.fixture, session_id)
    pristine = copy.deepcopy(event)

    lookup = find_session_id(event)

    assert detect_trigger(event) == shape.trigger
    assert lookup.trigger == shape.trigger
    if shape.carries_id:
        assert lookup.candidate == session_id
        assert lookup.where
        assert validate_session_id(lookup.candidate) == (session_id, None)
    else:
        assert lookup.candidate is None
    assert event == pristine, "the lookup must not modify the event"
    assert find_session_id(event) == lookup, "the lookup is a pure function of the event"


@pytest.mark.parametrize("shape", [s for s in SHAPES if s.trigger in BATCH_TRIGGERS], ids=lambda s: s.fixture)
def test_each_record_names_the_session(shape: Shape) -> None:
    session_id = new_id()
    records = record_list(load_event(shape.fixture, session_id))
    assert records
    for record in records:
        lookup = find_record_session_id(shape.trigger, record)
        assert lookup.candidate == (session_id if shape.carries_id else None)


@pytest.mark.parametrize("record", [None, "text", 7, [], {}], ids=repr)
@pytest.mark.parametrize("trigger", BATCH_TRIGGERS)
def test_a_record_that_is_not_a_record_names_nothing(trigger: str, record: object) -> None:
    assert find_record_session_id(trigger, record).candidate is None


HEADER_SPELLINGS = ["X-Session-ID", "x-session-id", "X-SESSION-ID", "x-Session-Id"]


@pytest.mark.parametrize("where", ["headers", "multiValueHeaders"])
@pytest.mark.parametrize("name", HEADER_SPELLINGS)
@pytest.mark.parametrize("fixture", ["apigw_rest_v1_no_session", "alb"])
def test_session_header_in_any_case(fixture: str, name: str, where: str) -> None:
    session_id = new_id()
    event = load_event(fixture, "unused")
    for key in ("headers", "multiValueHeaders"):
        if isinstance(event.get(key), dict):
            event[key] = {k: v for k, v in event[key].items() if k.lower() != "x-session-id"}
    if where == "headers":
        event.setdefault("headers", {})[name] = session_id
    else:
        event.setdefault("multiValueHeaders", {})[name] = [session_id]

    lookup = find_session_id(event)

    assert lookup.trigger == ("alb" if fixture == "alb" else "api-gateway-rest")
    assert lookup.candidate == session_id


def test_multi_value_header_without_a_headers_map() -> None:
    session_id = new_id()
    event = load_event("apigw_rest_v1_multivalue_only", session_id)
    event["headers"] = None
    assert find_session_id(event).candidate == session_id


def test_http_api_v2_header_names_are_any_case() -> None:
    session_id = new_id()
    event = load_event("http_api_v2", "unused")
    del event["headers"]["x-session-id"]
    event["headers"]["X-SESSION-ID"] = session_id
    assert find_session_id(event).candidate == session_id


def test_header_wins_over_body() -> None:
    in_header, in_body = new_id(), new_id()
    event = load_event("apigw_rest_v1", in_header)
    event["body"] = json.dumps({"session_id": in_body})
    assert find_session_id(event).candidate == in_header


def test_sqs_attribute_wins_over_body() -> None:
    in_attribute, in_body = new_id(), new_id()
    event = load_event("sqs_attribute", in_attribute)
    event["Records"][0]["body"] = json.dumps({"session_id": in_body})
    assert find_session_id(event).candidate == in_attribute


def test_sns_attribute_wins_over_message() -> None:
    in_attribute, in_message = new_id(), new_id()
    event = load_event("sns_attribute", in_attribute)
    event["Records"][0]["Sns"]["Message"] = json.dumps({"session_id": in_message})
    assert find_session_id(event).candidate == in_attribute


def test_base64_body_is_read_only_when_flagged() -> None:
    session_id = new_id()
    event = load_event("apigw_rest_v1_base64_body", session_id)
    assert find_session_id(event).candidate == session_id
    event["isBase64Encoded"] = False
    assert find_session_id(event).candidate is None


def test_plain_body_flagged_base64_is_not_read_as_json() -> None:
    event = load_event("apigw_rest_v1_json_body", new_id())
    event["isBase64Encoded"] = True
    assert find_session_id(event).candidate is None


def test_records_naming_different_sessions_name_none() -> None:
    event = load_event("sqs_json_body", new_id())
    event["Records"][1]["body"] = json.dumps({"session_id": new_id()})
    assert find_session_id(event).candidate is None


def test_function_url_and_http_api_are_told_apart_by_domain() -> None:
    event = load_event("function_url", new_id())
    assert detect_trigger(event) == "function-url"
    event["requestContext"]["domainName"] = "f6g7h8i9j0.execute-api.us-east-1.amazonaws.com"
    assert detect_trigger(event) == "http-api"


@pytest.mark.parametrize("event", [None, 3, "session_id", b"x", [], [{"session_id": "x"}], {1, 2}], ids=repr)
def test_events_that_are_not_mappings_are_direct_without_id(event: object) -> None:
    lookup = find_session_id(event)
    assert (lookup.trigger, lookup.candidate) == ("direct", None)


CANONICAL = "6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e10"


@pytest.mark.parametrize(
    "value",
    [
        CANONICAL,
        CANONICAL.upper(),
        "{" + CANONICAL + "}",
        "urn:uuid:" + CANONICAL,
        CANONICAL.replace("-", ""),
        "00000000-0000-0000-0000-000000000000",
    ],
)
def test_validate_accepts_uuids_and_returns_the_canonical_form(value: str) -> None:
    expected = CANONICAL if "0000-0000" not in value else value
    assert validate_session_id(value) == (expected, None)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (12345, "not a string (int)"),
        (1.5, "not a string (float)"),
        (True, "not a string (bool)"),
        (None, "not a string (NoneType)"),
        ([CANONICAL], "not a string (list)"),
        ({"id": CANONICAL}, "not a string (dict)"),
        (CANONICAL.encode(), "not a string (bytes)"),
        ("x" * 10_000, "too long"),
        (CANONICAL + "," + CANONICAL, "too long"),
        ("0" * 65, "too long"),
        (CANONICAL + "\x00", "control characters"),
        (CANONICAL + "\nforged log line", "control characters"),
        ("\x1b[31m" + CANONICAL, "control characters"),
        (CANONICAL[:-1] + "\x7f", "control characters"),
        ("", "not a UUID"),
        ("not-a-uuid", "not a UUID"),
        (CANONICAL[:-1], "not a UUID"),
        (CANONICAL + "0", "not a UUID"),
        ("0" * 64, "not a UUID"),
        ("'; DROP TABLE sessions; --", "not a UUID"),
        ("セッション-🙂", "not a UUID"),
        ("\udcff" * 8, "not a UUID"),
    ],
    ids=lambda v: repr(v)[:30],
)
def test_validate_rejects_with_a_reason(value: object, reason: str) -> None:
    session_id, problem = validate_session_id(value)
    assert session_id is None
    assert problem is not None
    assert reason in problem


NON_UUID_SPELLINGS = [
    pytest.param("0x" + CANONICAL.replace("-", "")[:30], id="0x-prefix"),
    pytest.param("+" + CANONICAL.replace("-", "")[:31], id="plus-sign"),
    pytest.param("6f1c2a52_3f8e_4a0e_9a55_0c4b7f5d", id="underscores"),
    pytest.param("\uff16" + CANONICAL[1:], id="fullwidth-digit"),
    pytest.param("-".join(CANONICAL.replace("-", "")), id="hyphen-between-every-digit"),
    pytest.param("uuid:urn:" + CANONICAL, id="reversed-urn-prefix"),
]


@pytest.mark.parametrize("value", NON_UUID_SPELLINGS)
def test_validate_rejects_strings_that_only_uuid_parsing_tolerates(value: str) -> None:
    assert validate_session_id(value) == (None, "not a UUID")


# ------------------------------------------------------------------------------------------------
# End to end: @with_honeyhive_session in-process, asserted at the dev receiver


@pytest.fixture
def warning_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING)
    return caplog


def make_handler(response: Any) -> Callable[[Any, Any], Any]:
    """A wrapped handler that calls one traced function and returns ``response``."""

    @trace
    def retrieve(query: str) -> list[str]:
        return [f"doc about {query}"]

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> Any:
        retrieve("lambdas")
        return response

    return handler


def http_response() -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps({"answer": "Paris"}),
        "isBase64Encoded": False,
    }


def session_start_requests(receiver: DevReceiver) -> list[str]:
    return [request.path for request in receiver.requests if request.path.startswith(SESSION_START)]


def served_session(receiver: DevReceiver) -> str:
    """The one session every received span belongs to (the invocation span and the traced one)."""
    assert receiver.wait_for(lambda rx: len(rx.spans) >= 2, timeout=5.0), receiver.spans
    assert sorted(span.name for span in receiver.spans) == sorted([FUNCTION, "retrieve"])
    ids = {span.attributes.get("honeyhive.session_id") for span in receiver.spans}
    assert len(ids) == 1, ids
    (session_id,) = ids
    assert isinstance(session_id, str)
    return session_id


def honeyhive_log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every line the invocation logged at WARNING or above, from any logger, tracebacks included."""
    lines: list[str] = []
    for record in caplog.records:
        if record.levelno < logging.WARNING:
            continue
        lines.extend(record.getMessage().splitlines() or [""])
        if record.exc_info is not None:
            lines.append(f"<traceback from {record.name}>")
    return lines


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_trigger_end_to_end(shape: Shape, lambda_env: DevReceiver, warning_log: pytest.LogCaptureFixture) -> None:
    receiver = lambda_env
    event_id = new_id()
    event = load_event(shape.fixture, event_id)
    returned: dict[str, Any] = http_response() if shape.is_http else {"batchItemFailures": [], "processed": 1}
    original = copy.deepcopy(returned)
    context = LambdaContext(function_name=FUNCTION)

    result = make_handler(returned)(event, context)

    session_id = served_session(receiver)
    if shape.carries_id:
        assert session_id == event_id
        assert receiver.session_starts == []
        assert session_start_requests(receiver) == []
    else:
        assert len(receiver.session_starts) == 1
        start = receiver.session_starts[0]
        assert start["session_id"] == session_id
        assert validate_session_id(session_id) == (session_id, None)
        assert start["metadata"]["trigger"] == shape.trigger
        assert start["metadata"]["request_id"] == context.aws_request_id
    if shape.carries_id:
        assert receiver.event_updates == []  # a linked session's outputs and duration are not this invocation's
    else:
        assert any(update.get("event_id") == session_id for update in receiver.event_updates)

    span = invocation_span(receiver)
    assert span.span_kind == "SERVER"
    assert span.attributes["faas.trigger"] == shape.faas_trigger
    assert span.attributes["faas.invocation_id"] == context.aws_request_id
    assert span.attributes["cloud.region"] == "us-east-1"
    (child,) = [s for s in receiver.spans if s.name == "retrieve"]
    assert child.parent_span_id == span.span_id
    assert child.trace_id == span.trace_id

    if shape.is_http:
        assert result == {**original, "headers": {**original["headers"], "X-Session-ID": session_id}}
    else:
        assert result is returned
    assert returned == original, "the handler's own response object must not be modified"
    assert honeyhive_log_lines(warning_log) == []


def test_alb_multi_value_response_gets_a_multi_value_header(lambda_env: DevReceiver) -> None:
    session_id = new_id()
    returned: dict[str, Any] = {
        "statusCode": 200,
        "statusDescription": "200 OK",
        "multiValueHeaders": {"Content-Type": ["application/json"], "Set-Cookie": ["a=1", "b=2"]},
        "body": "{}",
        "isBase64Encoded": False,
    }
    result = make_handler(returned)(load_event("alb_multivalue", session_id), LambdaContext(FUNCTION))
    assert served_session(lambda_env) == session_id
    assert result == {
        **returned,
        "multiValueHeaders": {**returned["multiValueHeaders"], "X-Session-ID": [session_id]},
    }
    assert "headers" not in result


@pytest.mark.parametrize("returned", ["plain text", {"answer": 42}, None, ["a", "b"]], ids=repr)
def test_http_response_that_is_not_a_proxy_response_is_untouched(returned: Any, lambda_env: DevReceiver) -> None:
    session_id = new_id()
    result = make_handler(returned)(load_event("http_api_v2", session_id), LambdaContext(FUNCTION))
    assert served_session(lambda_env) == session_id
    assert result is returned


def test_response_headers_none_still_get_the_session_header(lambda_env: DevReceiver) -> None:
    session_id = new_id()
    returned = {"statusCode": 204, "headers": None, "body": ""}
    result = make_handler(returned)(load_event("function_url", session_id), LambdaContext(FUNCTION))
    assert result == {"statusCode": 204, "headers": {"X-Session-ID": session_id}, "body": ""}


def test_braced_uuid_links_the_canonical_session(lambda_env: DevReceiver) -> None:
    session_id = new_id()
    make_handler({"ok": True})({"session_id": "{" + session_id.upper() + "}"}, LambdaContext(FUNCTION))
    assert served_session(lambda_env) == session_id
    assert lambda_env.session_starts == []


def test_warm_invocations_each_get_their_own_session(lambda_env: DevReceiver) -> None:
    handler = make_handler({"ok": True})
    first, second = new_id(), new_id()
    handler(load_event("sqs_attribute", first), LambdaContext(FUNCTION))
    handler(load_event("eventbridge", second), LambdaContext(FUNCTION))
    handler(load_event("direct_no_session"), LambdaContext(FUNCTION))
    assert lambda_env.wait_for(lambda rx: len(rx.spans) >= 6, timeout=5.0)
    assert len(lambda_env.session_starts) == 1
    created = lambda_env.session_starts[0]["session_id"]
    by_session = {sid: len(lambda_env.spans_for_session(sid)) for sid in (first, second, created)}
    assert by_session == {first: 2, second: 2, created: 2}
    assert len({first, second, created}) == 3


BAD_IDS = [
    pytest.param("not-a-session-id", "not a UUID", id="not-a-uuid"),
    pytest.param("f" * 200, "too long", id="too-long"),
]


def assert_one_bad_id_warning(caplog: pytest.LogCaptureFixture, trigger: str, reason: str, bad_value: object) -> None:
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in records] == [LOGGER], [r.getMessage() for r in records]
    (record,) = records
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    message = record.getMessage()
    assert "\n" not in message and "\r" not in message
    assert f"the {trigger} event" in message
    assert reason in message
    match = _WARNING.search(message)
    assert match is not None, message
    assert len(match["quoted"]) <= MAX_QUOTED
    if isinstance(bad_value, str) and len(bad_value) > MAX_QUOTED:
        assert bad_value[MAX_QUOTED:] not in message


@pytest.mark.parametrize(("bad_value", "reason"), BAD_IDS)
@pytest.mark.parametrize("shape", LINKED_SHAPES, ids=lambda s: s.fixture)
def test_bad_id_in_each_trigger_warns_once_and_starts_a_new_session(
    shape: Shape,
    bad_value: str,
    reason: str,
    lambda_env: DevReceiver,
    warning_log: pytest.LogCaptureFixture,
) -> None:
    returned: dict[str, Any] = http_response() if shape.is_http else {"ok": True}
    context = LambdaContext(FUNCTION)

    result = make_handler(returned)(load_event(shape.fixture, bad_value), context)

    assert_one_bad_id_warning(warning_log, shape.trigger, reason, bad_value)
    session_id = served_session(lambda_env)
    assert len(lambda_env.session_starts) == 1
    assert lambda_env.session_starts[0]["session_id"] == session_id
    assert session_id != bad_value
    assert invocation_span(lambda_env).attributes["faas.trigger"] == shape.faas_trigger
    if shape.is_http:
        assert result["headers"]["X-Session-ID"] == session_id
        assert {k: v for k, v in result.items() if k != "headers"} == {
            k: v for k, v in returned.items() if k != "headers"
        }
    else:
        assert result is returned


def test_hex_prefixed_id_is_not_linked_to_an_unrelated_session(
    lambda_env: DevReceiver, warning_log: pytest.LogCaptureFixture
) -> None:
    bad_value = "0x" + new_id().replace("-", "")[:30]
    make_handler({"ok": True})({"session_id": bad_value}, LambdaContext(FUNCTION))
    served_session(lambda_env)
    assert len(lambda_env.session_starts) == 1
    assert_one_bad_id_warning(warning_log, "direct", "not a UUID", bad_value)


# ------------------------------------------------------------------------------------------------
# Malformed events: the handler's own result, a new session, and at most one warning line


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode("utf-8") if isinstance(data, str) else data).decode("ascii")


def _nested_dict(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": True}
    for _ in range(depth):
        node = {"a": node}
    return node


def rest(**changes: Any) -> dict[str, Any]:
    event = load_event("apigw_rest_v1_no_session")
    event.update(changes)
    return event


def rest_header(value: Any) -> dict[str, Any]:
    event = rest()
    event["headers"]["X-Session-ID"] = value
    event["multiValueHeaders"]["X-Session-ID"] = [value]
    return event


def http_api(**changes: Any) -> dict[str, Any]:
    event = load_event("http_api_v2", "unused")
    del event["headers"]["x-session-id"]
    event.update(changes)
    return event


def function_url(**changes: Any) -> dict[str, Any]:
    event = load_event("function_url", "unused")
    del event["headers"]["X-Session-Id"]
    event.update(changes)
    return event


def alb(**changes: Any) -> dict[str, Any]:
    event = load_event("alb", "unused")
    del event["headers"]["x-session-id"]
    event.update(changes)
    return event


def sqs(**record_changes: Any) -> dict[str, Any]:
    event = load_event("sqs_no_session")
    event["Records"][0].update(record_changes)
    return event


def sns(**sns_changes: Any) -> dict[str, Any]:
    event = load_event("sns_attribute", "unused")
    event["Records"][0]["Sns"]["MessageAttributes"] = {}
    event["Records"][0]["Sns"].update(sns_changes)
    return event


def kinesis(**kinesis_changes: Any) -> dict[str, Any]:
    event = load_event("kinesis", "unused")
    event["Records"][0]["kinesis"].update(kinesis_changes)
    return event


def eventbridge(detail: Any) -> dict[str, Any]:
    event = load_event("eventbridge", "unused")
    event["detail"] = detail
    return event


@dataclass(frozen=True)
class Warns:
    """The one warning a bad session id must produce."""

    trigger: str
    reason: str
    value: object


U = CANONICAL
SNS_NOTIFICATION_NOT_JSON = json.dumps({"Type": "Notification", "MessageId": "m-1", "Message": "plain text"})
MALFORMED: list[Any] = [
    # events that are not JSON objects at all
    pytest.param(3, None, id="int"),
    pytest.param(3.5, None, id="float"),
    pytest.param("str", None, id="str"),
    pytest.param(None, None, id="null"),
    pytest.param([], None, id="empty-list"),
    pytest.param([{"session_id": U}], None, id="list-of-dict-with-id"),
    pytest.param(("session_id", U), None, id="tuple"),
    pytest.param(b"bytes", None, id="bytes"),
    pytest.param(bytearray(b"\x00\xff\xfe"), None, id="bytearray"),
    pytest.param({1, 2, 3}, None, id="set"),
    pytest.param({}, None, id="empty-dict"),
    # direct events whose session id is not a session id
    pytest.param({"session_id": 12345}, Warns("direct", "not a string", 12345), id="id-int"),
    pytest.param({"session_id": [U]}, Warns("direct", "not a string", [U]), id="id-list"),
    pytest.param({"session_id": {"id": U}}, Warns("direct", "not a string", {"id": U}), id="id-dict"),
    pytest.param({"session_id": 1.5}, Warns("direct", "not a string", 1.5), id="id-float"),
    pytest.param({"session_id": float("nan")}, Warns("direct", "not a string", float("nan")), id="id-nan"),
    pytest.param({"session_id": True}, Warns("direct", "not a string", True), id="id-bool"),
    pytest.param({"session_id": U.encode()}, Warns("direct", "not a string", U.encode()), id="id-bytes"),
    pytest.param({"session_id": None}, None, id="id-null"),
    pytest.param({"session_id": "not-a-uuid"}, Warns("direct", "not a UUID", "not-a-uuid"), id="id-text"),
    pytest.param({"session_id": ""}, Warns("direct", "not a UUID", ""), id="id-empty"),
    pytest.param({"session_id": "x" * 10_000}, Warns("direct", "too long", "x" * 10_000), id="id-10kB"),
    pytest.param({"session_id": "0" * 65}, Warns("direct", "too long", "0" * 65), id="id-65-zeros"),
    pytest.param({"session_id": U[:-1]}, Warns("direct", "not a UUID", U[:-1]), id="id-truncated"),
    pytest.param({"session_id": U + "a"}, Warns("direct", "not a UUID", U + "a"), id="id-one-extra"),
    pytest.param({"session_id": f"{U},{U}"}, Warns("direct", "too long", f"{U},{U}"), id="id-two-comma-joined"),
    pytest.param({"session_id": U + "\x00"}, Warns("direct", "control characters", U + "\x00"), id="id-nul"),
    pytest.param(
        {"session_id": "\nINFO forged"},
        Warns("direct", "control characters", "\nINFO forged"),
        id="id-newline",
    ),
    pytest.param(
        {"session_id": "\x1b[2J\x1b[31m" + U[:20]},
        Warns("direct", "control characters", "\x1b[2J\x1b[31m" + U[:20]),
        id="id-ansi-escape",
    ),
    pytest.param({"session_id": "セッション-🙂-ü"}, Warns("direct", "not a UUID", "セッション-🙂-ü"), id="id-unicode"),
    pytest.param(
        {"session_id": "'; DROP TABLE sessions; --"},
        Warns("direct", "not a UUID", "'; DROP TABLE sessions; --"),
        id="id-sql",
    ),
    pytest.param({"session_id": "../../etc/passwd"}, Warns("direct", "not a UUID", "../../etc/passwd"), id="id-path"),
    pytest.param(
        {"session_id": "\u202e" + U[:30]}, Warns("direct", "not a UUID", "\u202e" + U[:30]), id="id-bidi-override"
    ),
    pytest.param(
        {"session_id": "\udcff\udcfe"},
        Warns("direct", "not a UUID", "\udcff\udcfe"),
        id="id-lone-surrogates",
    ),
    pytest.param(
        {"prompt": "caf\udce9", "temperature": 0.2},
        None,
        id="surrogate-in-payload",
    ),
    # API Gateway REST
    pytest.param(rest(body="!!not base64!!", isBase64Encoded=True), None, id="rest-bad-base64"),
    pytest.param(rest(body=_b64(b"\xff\xfe{\x00"), isBase64Encoded=True), None, id="rest-base64-binary"),
    pytest.param(rest(body=json.dumps({"session_id": U, "pad": "x" * 1_048_576})), None, id="rest-1MB-json-body"),
    pytest.param(rest(body='{"a":' * 5000 + "1" + "}" * 5000), None, id="rest-body-depth-5000"),
    pytest.param(rest(body="[" * 5000 + "]" * 5000), None, id="rest-body-array-depth-5000"),
    pytest.param(rest(body=json.dumps([{"session_id": U}])), None, id="rest-body-json-array"),
    pytest.param(rest(body={"session_id": U}), None, id="rest-body-not-a-string"),
    pytest.param(rest(body="\x00\x01\xfe\xff{binary"), None, id="rest-body-binary-ish"),
    pytest.param(
        rest(body=json.dumps({"session_id": "\x1b]0;pwn\x07"})),
        Warns("api-gateway-rest", "control characters", "\x1b]0;pwn\x07"),
        id="rest-body-bad-id",
    ),
    pytest.param(
        rest_header("not-a-uuid"), Warns("api-gateway-rest", "not a UUID", "not-a-uuid"), id="rest-header-text"
    ),
    pytest.param(rest_header(["a", U]), Warns("api-gateway-rest", "not a string", ["a", U]), id="rest-header-list"),
    pytest.param(rest(headers=[["X-Session-ID", U]], multiValueHeaders=None), None, id="rest-headers-list"),
    pytest.param(rest(headers=None, multiValueHeaders={"X-Session-ID": []}), None, id="rest-mv-empty-list"),
    pytest.param(rest(headers=None, multiValueHeaders={"X-Session-ID": U}), None, id="rest-mv-not-list"),
    pytest.param(rest(headers=None, multiValueHeaders=None, body=None), None, id="rest-all-null"),
    pytest.param(rest(requestContext="not a dict"), None, id="rest-context-not-dict"),
    # HTTP API v2, function URL, ALB
    pytest.param(
        http_api(headers={"x-session-id": f"{U},{U}"}),
        Warns("http-api", "too long", f"{U},{U}"),
        id="http-api-two-ids",
    ),
    pytest.param(http_api(cookies="not-a-list", headers="x"), None, id="http-api-junk-fields"),
    pytest.param(
        function_url(body=json.dumps({"session_id": 42})),
        Warns("function-url", "not a string", 42),
        id="function-url-id-int",
    ),
    pytest.param(alb(body="{oops"), None, id="alb-body-not-json"),
    pytest.param(alb(headers={"x-session-id": ""}), Warns("alb", "not a UUID", ""), id="alb-empty-header"),
    # SQS
    pytest.param(sqs(body="<xml>not json</xml>"), None, id="sqs-body-not-json"),
    pytest.param(sqs(body='{"session_id": "'), None, id="sqs-body-truncated-json"),
    pytest.param(sqs(messageAttributes={"session_id": U}), None, id="sqs-attribute-wrong-shape"),
    pytest.param(sqs(messageAttributes=[{"session_id": U}]), None, id="sqs-attributes-list"),
    pytest.param(
        sqs(messageAttributes={"session_id": {"stringValue": 7, "dataType": "Number"}}),
        Warns("sqs", "not a string", 7),
        id="sqs-attribute-int",
    ),
    pytest.param(
        sqs(body=json.dumps({"session_id": "sess-42"})), Warns("sqs", "not a UUID", "sess-42"), id="sqs-body-bad"
    ),
    pytest.param(sqs(body=SNS_NOTIFICATION_NOT_JSON), None, id="sns-via-sqs-message-not-json"),
    pytest.param({"Records": "oops"}, None, id="records-not-a-list"),
    pytest.param({"Records": ["x", 3, None]}, None, id="records-not-dicts"),
    pytest.param({"Records": []}, None, id="records-empty"),
    # SNS
    pytest.param(sns(Message="plain text, not JSON"), None, id="sns-message-not-json"),
    pytest.param({"Records": [{"EventSource": "aws:sns", "Sns": "string"}]}, None, id="sns-not-a-dict"),
    pytest.param(
        sns(MessageAttributes={"session_id": {"Type": "Binary", "Value": "AAEC/w=="}}),
        Warns("sns", "not a UUID", "AAEC/w=="),
        id="sns-binary-attribute",
    ),
    # Kinesis
    pytest.param(kinesis(data="%%% not base64 %%%"), None, id="kinesis-not-base64"),
    pytest.param(kinesis(data=_b64(gzip.compress(b'{"session_id": "x"}'))), None, id="kinesis-gzip"),
    pytest.param(kinesis(data=None), None, id="kinesis-data-null"),
    pytest.param(
        kinesis(data=_b64(json.dumps({"session_id": "user-42"}))),
        Warns("kinesis", "not a UUID", "user-42"),
        id="kinesis-bad-id",
    ),
    # EventBridge and CloudEvents
    pytest.param(eventbridge(json.dumps({"session_id": U})), None, id="eventbridge-detail-string"),
    pytest.param(eventbridge({"session_id": [U]}), Warns("eventbridge", "not a string", [U]), id="eventbridge-id-list"),
    pytest.param(
        {"specversion": "1.0", "type": "t", "source": "s", "id": "1", "sessionid": 123},
        Warns("cloudevent", "not a string", 123),
        id="cloudevent-id-int",
    ),
    # odd payloads around no session id at all
    pytest.param(_nested_dict(200), None, id="nested-dict-depth-200"),
    pytest.param({(1, 2): "tuple key", 3: "int key", None: "null key"}, None, id="non-string-keys"),
    pytest.param({"blob": b"\x00" * 4096, "obj": object()}, None, id="unserialisable-values"),
]


def test_there_are_at_least_forty_malformed_events() -> None:
    assert len(MALFORMED) >= 40


def assert_served_with_a_new_session(receiver: DevReceiver, caplog: pytest.LogCaptureFixture) -> None:
    lines = honeyhive_log_lines(caplog)
    assert len(lines) <= 1, lines
    assert all(record.name == LOGGER for record in caplog.records if record.levelno >= logging.WARNING)
    session_id = served_session(receiver)
    assert len(receiver.session_starts) == 1
    assert receiver.session_starts[0]["session_id"] == session_id


@pytest.mark.parametrize(("event", "warns"), MALFORMED)
def test_malformed_event_is_served(
    event: Any, warns: Warns | None, lambda_env: DevReceiver, warning_log: pytest.LogCaptureFixture
) -> None:
    returned = {"handler": "result", "items": [1, 2, 3]}
    original = copy.deepcopy(returned)

    result = make_handler(returned)(event, LambdaContext(FUNCTION))

    assert result is returned
    assert result == original
    assert_served_with_a_new_session(lambda_env, warning_log)
    if warns is not None:
        assert_one_bad_id_warning(warning_log, warns.trigger, warns.reason, warns.value)


def _deepest_parseable_json() -> int:
    """The deepest ``{"a": ...}`` document ``json.loads`` parses from this stack depth."""
    low, high = 1, sys.getrecursionlimit()
    while low < high:
        middle = (low + high + 1) // 2
        try:
            json.loads('{"a":' * middle + "1" + "}" * middle)
        except RecursionError:
            high = middle - 1
        else:
            low = middle
    return low


def test_event_as_deep_as_the_runtime_can_parse_is_served(
    lambda_env: DevReceiver, warning_log: pytest.LogCaptureFixture
) -> None:
    depth = _deepest_parseable_json()
    event = json.loads('{"a":' * depth + "1" + "}" * depth)
    returned = {"ok": True}
    assert make_handler(returned)(event, LambdaContext(FUNCTION)) is returned
    assert_served_with_a_new_session(lambda_env, warning_log)
