"""Property-based fuzzing: generated events thrown at trigger detection, the session and context
lookups, and ``@with_honeyhive_session``.

Two kinds of input. Random JSON (dicts, lists, text with lone surrogates, numbers, None), its keys
biased to the names the lookups read. And structured fuzz: every fixture of ``tests/events/`` and
``tests/events/powertools/``, with the value at a few of the key paths the lookups read (headers,
body, ``Records[*].messageAttributes``, Kafka's header lists, ...) or at any path of the fixture
replaced by a hostile one: the wrong type, 1 MB of text, lists and dicts nested 3,000 deep (beyond
the interpreter's recursion limit), bad base64, non-UTF-8 bytes (``bytes``, and latin-1 text),
lone surrogates, 100 KB trace context and session headers, a thousand baggage members.

Nested values that deep cannot be deep-copied or compared with ``==`` (both recurse), so "not
mutated" compares :func:`snapshot`s, an iterative walk.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conftest import API_KEY, make_tracer
from honeyhive_serverless import HoneyHiveTracer, with_honeyhive_session
from honeyhive_serverless.carriers import (
    RECORD_CARRIER_TRIGGERS,
    CarrierLookup,
    client_context_carrier,
    event_carrier,
    record_carrier,
)
from honeyhive_serverless.export.otlp_encoding import encode_spans
from honeyhive_serverless.propagation import incoming
from honeyhive_serverless.sessions import Candidate, choose_session, value_at
from honeyhive_serverless.triggers import (
    FAAS_TRIGGER,
    TRIGGERS,
    SessionLookup,
    detect_trigger,
    find_record_session_id,
    find_session_id,
    record_list,
    validate_session_id,
)
from honeyhive_serverless.wire import CONTEXT_KEYS, SESSION_HEADER
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver
from trigger_shapes import CORPUS, EVENTS, FUNCTION, load_corpus_event, load_event, new_id

#: The key the wrapper's tracer is given. Nothing generated contains it (the events carry conftest's
#: API_KEY instead, a secret of the caller's), so wherever it shows up, tracing put it there.
TRACER_KEY = "hh-fuzz-tracer-key-5d21e8b04c"
#: Examples per property: the file runs in about 16 s on the project's 2-core machine.
LOOKUP_EXAMPLES = 1_500
WRAPPER_EXAMPLES = 700
RECEIVER_EXAMPLES = 300
DEEP = 3_000
BIG = 1024 * 1024

# Each example is independent (the wrapper restores everything per invocation, the receiver and the
# exporter are cleared per example), so the fixtures below are shared by the examples on purpose.
SHARED_FIXTURES = [HealthCheck.function_scoped_fixture]
# An event holding 1 MB of text is a large example by design.
LARGE = [HealthCheck.data_too_large, HealthCheck.too_slow, HealthCheck.large_base_example]


def _nested(depth: int, make: Callable[[Any], Any], leaf: Any) -> Any:
    node = leaf
    for _ in range(depth):
        node = make(node)
    return node


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data).decode()


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
SESSION = "6f1c2a52-3f8e-4a0e-9a55-0c4b7f5d2e10"
DEEP_LIST = _nested(DEEP, lambda node: [node], "bottom")
DEEP_DICT = _nested(DEEP, lambda node: {"session_id": node}, "bottom")
DEEP_JSON_TEXT = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT_TEXT = '{"a":' * 50_000 + "1" + "}" * 50_000
HUGE_TEXT = "x" * BIG
HUGE_HEADER = "h" * 100_000
MANY_BAGGAGE = ",".join(f"k{index}=v{index}" for index in range(1_000))
LATIN1 = b"\xff\xfe\x80session_id\xc3".decode("latin-1")
SURROGATES = ["\ud800", "a\udcffb", "\udfff" * 10, f"{SESSION}\ud800"]

#: Values with which the fuzz replaces what the lookups read.
HOSTILE: list[Any] = [
    None,
    True,
    0,
    -1,
    2**70,
    10**5000,  # str() of it raises (Python's 4,300-digit limit)
    1.5,
    math.nan,
    math.inf,
    "",
    " ",
    "\x00\x1f",
    *SURROGATES,
    b"\xff\xfe\x00",
    bytearray(b"\x80"),
    LATIN1,
    [],
    [None],
    [[]],
    [256, -1],  # no byte values
    [0xFF, 0xFE],  # bytes that are no UTF-8
    [True, 1.5],
    list(b"\xed\xa0\x80"),  # a surrogate as UTF-8 bytes
    {"bytes": [0xFF]},
    {"bytes": "text"},
    {},
    {"session_id": {}},
    {"stringValue": ["list"]},
    {"Value": {"nested": {}}},
    {"a": {"b": {"c": []}}},
    DEEP_LIST,
    DEEP_DICT,
    [DEEP_LIST, DEEP_LIST],
    HUGE_TEXT,
    HUGE_HEADER,
    MANY_BAGGAGE,
    DEEP_JSON_TEXT,
    DEEP_OBJECT_TEXT,
    "!!not base64!!",
    "YWJj",  # base64 of "abc": no JSON
    "/w==",  # base64 of b"\xff": no UTF-8
    "e30",  # "{}" without its padding
    _b64('{"session_id": "\ud800"}'),
    _b64(b'{"session_id": "\xff"}'),
    _b64("[" * 10_000),
    _b64(f'{{"session_id": "{API_KEY}"}}'),
    "{",
    '{"session_id": 5}',
    '{"session_id": "\\ud800"}',
    '{"session_id": ' + "1" * 5_000 + "}",  # an integer json.loads refuses
    '{"Type": "Notification", "Message": 5, "MessageAttributes": []}',
    '{"Type": "Notification", "Message": "{\\"session_id\\": []}", "MessageAttributes": {"traceparent": 1}}',
    "00-00000000000000000000000000000000-0000000000000000-01",
    "00-" + "a" * 32 + "-" + "b" * 16,
    TRACEPARENT + "\ud800",
    TRACEPARENT + "," + TRACEPARENT,
    "session_id=\ud800",
    "session_id=not-a-uuid,honeyhive_session_id=also-not",
    f"session_id={SESSION}",
    "=,=;;,%ff%fe=1",
    "k=v;" + "p" * 9_000,
    "x" * 64 + SESSION,
    SESSION.upper(),
    # The caller's secrets: the event may carry them anywhere.
    API_KEY,
    f"Bearer {API_KEY}",
    f"session_id={API_KEY}",
    f"00-{API_KEY}-01",
]

#: Keys the lookups read, so that random JSON reaches them.
LOOKUP_KEYS = [
    "Records",
    "eventSource",
    "EventSource",
    "requestContext",
    "elb",
    "http",
    "domainName",
    "version",
    "routeArn",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "body",
    "isBase64Encoded",
    "X-Session-ID",
    "traceparent",
    "tracestate",
    "baggage",
    "session_id",
    "messageAttributes",
    "stringValue",
    "Sns",
    "MessageAttributes",
    "Value",
    "Message",
    "Type",
    "kinesis",
    "data",
    "detail",
    "detail-type",
    "source",
    "records",
    "messages",
    "properties",
    "rmqMessagesByQueue",
    "basicProperties",
    "bytes",
    "specversion",
    "type",
    "sessionid",
    "sessionId",
    "sessionAttributes",
    "promptSessionAttributes",
    "sessionState",
    "agent",
    "actionGroup",
    "messageVersion",
    "bot",
    "Name",
    "Details",
    "ContactData",
    "Attributes",
    "InitialContactId",
    "ContactId",
    "request",
    "info",
    "fieldName",
    "arguments",
]
SOURCES = ["aws:sqs", "aws:sns", "aws:kinesis", "aws:kafka", "SelfManagedKafka", "aws:amq", "aws:rmq", "aws:s3"]

#: Key paths the lookups read; ``*`` is every child of a list or dict. The last key is added when absent.
LOOKUP_PATHS: list[tuple[str, ...]] = [
    ("headers",),
    ("headers", "X-Session-ID"),
    ("headers", "x-session-id"),
    ("headers", "traceparent"),
    ("headers", "Traceparent"),
    ("headers", "tracestate"),
    ("headers", "baggage"),
    ("headers", "*"),
    ("multiValueHeaders",),
    ("multiValueHeaders", "X-Session-ID"),
    ("multiValueHeaders", "traceparent"),
    ("multiValueHeaders", "baggage"),
    ("multiValueHeaders", "*"),
    ("multiValueHeaders", "*", "*"),
    ("body",),
    ("isBase64Encoded",),
    ("requestContext",),
    ("requestContext", "http"),
    ("requestContext", "domainName"),
    ("requestContext", "elb"),
    ("version",),
    ("session_id",),
    ("traceparent",),
    ("tracestate",),
    ("baggage",),
    ("eventSource",),
    ("Records",),
    ("Records", "*"),
    ("Records", "*", "eventSource"),
    ("Records", "*", "messageAttributes"),
    ("Records", "*", "messageAttributes", "session_id"),
    ("Records", "*", "messageAttributes", "session_id", "stringValue"),
    ("Records", "*", "messageAttributes", "traceparent"),
    ("Records", "*", "messageAttributes", "traceparent", "stringValue"),
    ("Records", "*", "messageAttributes", "baggage", "stringValue"),
    ("Records", "*", "body"),
    ("Records", "*", "Sns"),
    ("Records", "*", "Sns", "MessageAttributes"),
    ("Records", "*", "Sns", "MessageAttributes", "session_id", "Value"),
    ("Records", "*", "Sns", "MessageAttributes", "traceparent", "Value"),
    ("Records", "*", "Sns", "MessageAttributes", "baggage", "Value"),
    ("Records", "*", "Sns", "Message"),
    ("Records", "*", "kinesis"),
    ("Records", "*", "kinesis", "data"),
    ("detail",),
    ("detail", "session_id"),
    ("detail", "traceparent"),
    ("detail", "baggage"),
    ("specversion",),
    ("sessionid",),
    ("data",),
    ("data", "session_id"),
    ("sessionId",),
    ("sessionAttributes",),
    ("sessionAttributes", "session_id"),
    ("promptSessionAttributes", "session_id"),
    ("sessionState",),
    ("sessionState", "sessionAttributes"),
    ("sessionState", "sessionAttributes", "session_id"),
    ("Details",),
    ("Details", "ContactData"),
    ("Details", "ContactData", "Attributes"),
    ("Details", "ContactData", "Attributes", "session_id"),
    ("Details", "ContactData", "InitialContactId"),
    ("Details", "ContactData", "ContactId"),
    ("request",),
    ("request", "headers"),
    ("request", "headers", "x-session-id"),
    ("request", "headers", "traceparent"),
    ("*", "request", "headers"),
    ("*", "request", "headers", "x-session-id"),
    ("*", "request", "headers", "baggage"),
    ("records",),
    ("records", "*"),
    ("records", "*", "*"),
    ("records", "*", "*", "headers"),
    ("records", "*", "*", "headers", "*"),
    ("records", "*", "*", "headers", "*", "session_id"),
    ("records", "*", "*", "headers", "*", "traceparent"),
    ("messages",),
    ("messages", "*"),
    ("messages", "*", "properties"),
    ("messages", "*", "properties", "session_id"),
    ("messages", "*", "properties", "traceparent"),
    ("messages", "*", "properties", "baggage"),
    ("rmqMessagesByQueue",),
    ("rmqMessagesByQueue", "*"),
    ("rmqMessagesByQueue", "*", "*", "basicProperties"),
    ("rmqMessagesByQueue", "*", "*", "basicProperties", "headers"),
    ("rmqMessagesByQueue", "*", "*", "basicProperties", "headers", "session_id"),
    ("rmqMessagesByQueue", "*", "*", "basicProperties", "headers", "traceparent"),
]


def _load_shapes() -> dict[str, Any]:
    shapes: dict[str, Any] = {}
    for path in sorted(EVENTS.glob("*.json")):
        shapes[path.stem] = load_event(path.stem, new_id())
    for path in sorted(CORPUS.glob("*.json")):
        shapes[f"powertools/{path.stem}"] = load_corpus_event(path.stem)
    return shapes


SHAPES = _load_shapes()


# ------------------------------------------------------------------------------------------------
# Walking values too deep to recurse over


def snapshot(value: Any) -> list[Any]:
    """A structural fingerprint of ``value``, taken without recursion: equal fingerprints, equal
    values (floats by ``repr``, so NaN equals NaN; the containers' identities too, so a container
    swapped for an equal copy counts as a change)."""
    tokens: list[Any] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            tokens.append(("dict", id(node), len(node), tuple(node)))
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            tokens.append(("list", id(node), len(node)))
            stack.extend(reversed(node))
        elif isinstance(node, float):
            tokens.append(("float", repr(node)))
        elif isinstance(node, bytearray):
            tokens.append(("bytearray", bytes(node)))
        else:
            tokens.append((type(node).__name__, node))
    return tokens


def texts(value: Any) -> Iterator[str]:
    """Every text in ``value`` (keys, strings, bytes as latin-1), without recursion."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
            stack.extend(node)
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            yield node
        elif isinstance(node, bytes | bytearray):
            yield bytes(node).decode("latin-1")


def contains(value: Any, needle: str) -> bool:
    return any(needle in text for text in texts(value))


def decoded_body(event: Any) -> str:
    """An HTTP event's base64 body as text ("" when there is none): the capture decodes it, so what it
    carries is the event's too."""
    body = event.get("body") if isinstance(event, dict) else None
    if not isinstance(body, str) or not event.get("isBase64Encoded"):
        return ""
    try:
        return base64.b64decode(body).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


def _expand(node: Any, template: tuple[str, ...], prefix: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    """The concrete paths a template names in ``node`` (the last step may be a key to add)."""
    head, rest = template[0], template[1:]
    if head == "*":
        children: list[tuple[Any, Any]] = (
            list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
        )
    elif isinstance(node, dict):
        children = [(head, node.get(head))]
    else:
        children = []
    for key, child in children:
        if not rest:
            yield (*prefix, key)
        elif isinstance(child, dict | list):
            yield from _expand(child, rest, (*prefix, key))


def _all_paths(value: Any) -> list[tuple[Any, ...]]:
    paths: list[tuple[Any, ...]] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            paths.append((*path, key))
            stack.append((child, (*path, key)))
    return paths


def _set_at(event: Any, path: tuple[Any, ...], value: Any, inserted: set[int]) -> None:
    """Put ``value`` at ``path``, unless the path is gone or runs through a value put there before
    (the hostile values are shared constants: never changed)."""
    node = event
    for key in path[:-1]:
        if not _has(node, key):
            return  # an earlier replacement took this path away
        node = node[key]
        if id(node) in inserted:
            return
    inserted.add(id(value))
    last = path[-1]
    if isinstance(node, dict) or _has(node, last):
        node[last] = value


def _has(node: Any, key: Any) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(node, list) and isinstance(key, int) and key < len(node)


# ------------------------------------------------------------------------------------------------
# Strategies

_CHARACTERS = st.characters(exclude_categories=()) | st.sampled_from(["\ud800", "\udcff", "\x00", "\n", "\u2028"])
_TEXT = st.text(_CHARACTERS, max_size=12)
_KEYS = st.sampled_from(LOOKUP_KEYS) | _TEXT
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | _TEXT
    | st.sampled_from(SOURCES)
    | st.sampled_from([SESSION, TRACEPARENT, "2.0", "Notification", API_KEY])
)
random_json = st.recursive(
    _LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=5),
    max_leaves=30,
)
hostile = st.sampled_from(HOSTILE) | random_json


#: Where a session id or a context key is, the value is mostly text (alone, in a list as multi-value
#: headers have it, as a message attribute, or as Kafka's byte values), else anything hostile.
_NAMED_KEYS = frozenset({*CONTEXT_KEYS, "Traceparent", "X-Session-ID", "x-session-id", "session_id", "sessionid"})
_HOSTILE_TEXT = st.sampled_from([value for value in HOSTILE if isinstance(value, str)])
_SMALL_TEXT = st.sampled_from([value for value in HOSTILE if isinstance(value, str) and len(value) < 20_000])
named_value = st.one_of(
    _HOSTILE_TEXT,
    _HOSTILE_TEXT.map(lambda text: [text]),
    _HOSTILE_TEXT.map(lambda text: {"stringValue": text, "Value": text, "DataType": "String"}),
    _SMALL_TEXT.map(lambda text: list(text.encode("utf-8", "surrogatepass"))),
    hostile,
)


@st.composite
def fuzzed_shapes(draw: st.DrawFn) -> Any:
    """A real event with the values at 1-4 of the paths the lookups read (or any of its paths) hostile."""
    event = copy.deepcopy(SHAPES[draw(st.sampled_from(sorted(SHAPES)))])
    lookup_paths = [path for template in LOOKUP_PATHS for path in _expand(event, template, ())]
    found = [st.sampled_from(lookup_paths)] * 3 if lookup_paths else []  # the lookups' paths 3 times in 4
    paths = st.one_of(*found, st.sampled_from(_all_paths(event) or [("session_id",)]))
    inserted: set[int] = set()
    for _ in range(draw(st.integers(1, 4))):
        path = draw(paths)
        _set_at(event, path, draw(named_value if path[-1] in _NAMED_KEYS else hostile), inserted)
    return event


events = fuzzed_shapes() | random_json | st.sampled_from(HOSTILE)


# ------------------------------------------------------------------------------------------------
# 1. The lookups never raise


def check_lookups(event: Any) -> None:
    """Every lookup of an event, with what each promises about its answer (and no change to the event)."""
    before = snapshot(event)

    trigger = detect_trigger(event)
    assert trigger in TRIGGERS
    lookup = find_session_id(event)
    assert isinstance(lookup, SessionLookup) and lookup.trigger == trigger
    assert lookup.where is not None or lookup.candidate is None  # (a None found is absent, not found)
    records = record_list(event)
    assert isinstance(records, list)

    carriers = [event_carrier(name, event) for name in TRIGGERS]
    for record in records[:50]:
        for name in ("sqs", "sns", "kinesis", "kafka", "mq", "appsync-batch"):
            found = find_record_session_id(name, record)
            assert found.trigger == name or found.trigger in ("sqs", "sns")
        carriers.extend(record_carrier(name, record) for name in RECORD_CARRIER_TRIGGERS)
    carriers.append(client_context_carrier(SimpleNamespace(client_context=SimpleNamespace(custom=event))))
    carriers.append(client_context_carrier(SimpleNamespace(client_context={"custom": event})))
    for carrier in carriers:
        assert isinstance(carrier, CarrierLookup)
        assert set(carrier.carrier) <= set(CONTEXT_KEYS)
        assert all(isinstance(value, str) and value for value in carrier.carrier.values())

    for batch in (False, True):
        caller = incoming(carriers, batch=batch)
        assert caller.session is None or isinstance(caller.session, str)
        assert all(isinstance(problem, str) and "\n" not in problem for problem in caller.problems)

    candidates = [
        Candidate(lookup.candidate, lookup.where or "event", lookup.conversation),
        Candidate(lookup.candidate, "as a conversation key", conversation=True),
        Candidate(caller.session, "baggage"),
    ]
    choice = choose_session(candidates, "fuzz")
    if choice.session_id is not None:
        assert validate_session_id(choice.session_id) == (choice.session_id, None)
    assert all(rejected.reason for rejected in choice.rejected)
    for path in ("headers.x-session-id", "Records.0.body", "detail.conversation.id", "0.request.headers"):
        value_at(event, path)

    assert snapshot(event) == before, "a lookup changed the event"


@settings(max_examples=LOOKUP_EXAMPLES, deadline=None, database=None, suppress_health_check=LARGE)
@given(random_json)
def test_lookups_never_raise_on_random_json(event: Any) -> None:
    check_lookups(event)


@settings(max_examples=LOOKUP_EXAMPLES, deadline=None, database=None, suppress_health_check=LARGE)
@given(fuzzed_shapes())
def test_lookups_never_raise_on_fuzzed_real_shapes(event: Any) -> None:
    check_lookups(event)


@pytest.mark.parametrize("value", HOSTILE, ids=lambda value: type(value).__name__)
def test_lookups_never_raise_on_a_hostile_value_as_the_event(value: Any) -> None:
    check_lookups(value)
    check_lookups([value])
    check_lookups({"Records": [value]})


@settings(max_examples=LOOKUP_EXAMPLES, deadline=None, database=None, suppress_health_check=LARGE)
@given(hostile, st.text(_CHARACTERS, max_size=30) | st.sampled_from(["0", "²", "٣", "9" * 5_000, "a..b", "."]))
def test_value_at_validate_and_choose_session_never_raise(value: Any, path: str) -> None:
    event = {"a": [value], "detail": {"id": value}, path: value}
    before = snapshot(event)
    for where in (path, f"a.{path}", "detail.id", "a.0"):
        found = value_at(event, where)
        for conversation in (False, True):
            choice = choose_session([Candidate(found, where, conversation)], "fuzz")
            assert choice.session_id is None or validate_session_id(choice.session_id)[0] == choice.session_id
    session_id, reason = validate_session_id(value)
    assert (session_id is None) != (reason is None)
    assert snapshot(event) == before


# ------------------------------------------------------------------------------------------------
# 2-4. The wrapper: everything passes through, nothing from tracing reaches the caller


class Boom(Exception):
    """The handler's own exception."""


@dataclass
class Handler:
    """A wrapped handler whose behaviour each example sets: return ``result``, or raise ``error``."""

    result: Any = None
    error: BaseException | None = None
    seen: list[tuple[Any, list[Any]]] = field(default_factory=list)

    def __call__(self, event: Any, context: Any) -> Any:
        self.seen.append((event, snapshot(event)))
        if self.error is not None:
            raise self.error
        return self.result


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def captured_logs() -> Iterator[list[logging.LogRecord]]:
    """Every record at DEBUG and up, of the package and of OpenTelemetry, during the block."""
    handler = Records()
    loggers = [logging.getLogger(name) for name in ("honeyhive_serverless", "opentelemetry")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def log_text(record: logging.LogRecord) -> str:
    """The record as a handler would print it: its message, and its traceback when it has one."""
    if record.exc_info is None:
        return record.getMessage()
    return f"{record.getMessage()}\n{logging.Formatter().formatException(record.exc_info)}"


def http_response(kind: str) -> dict[str, Any]:
    if kind == "multi":
        return {"statusCode": 200, "multiValueHeaders": {"Content-Type": ["text/plain"]}, "body": "ok"}
    return {"statusCode": 201, "headers": {"Content-Type": "text/plain"}, "body": "ok"}


@dataclass
class Outcome:
    result: Any = None
    raised: BaseException | None = None
    logs: list[logging.LogRecord] = field(default_factory=list)


def invoke(wrapped: Callable[..., Any], handler: Handler, event: Any, behaviour: str) -> Outcome:
    """Call the wrapped handler once and check what passes through; returns what came back, and the logs."""
    before = snapshot(event)
    sentinel = object()
    response = http_response(behaviour)
    response_before = snapshot(response)
    boom = Boom("the handler's own error")  # with a lone surrogate, see the xfail below
    handler.seen.clear()
    handler.error = boom if behaviour == "raise" else None
    handler.result = sentinel if behaviour == "sentinel" else response
    outcome = Outcome()
    with captured_logs() as outcome.logs:
        try:
            outcome.result = wrapped(event, LambdaContext(FUNCTION))
        except BaseException as error:  # whatever comes out is checked below
            outcome.raised = error

    (received, as_received), *others = handler.seen
    assert not others, "the handler was called more than once"
    assert received is event, "the handler got another object than the event"
    assert as_received == before, "the event changed before the handler saw it"
    assert snapshot(event) == before, "the event changed"
    if behaviour == "raise":
        assert outcome.raised is boom
    else:
        assert outcome.raised is None, repr(outcome.raised)
    if behaviour == "sentinel":
        assert outcome.result is sentinel
    elif behaviour != "raise":
        assert snapshot(response) == response_before, "the handler's response changed"
        if FAAS_TRIGGER[detect_trigger(event)] != "http":
            assert outcome.result is response
        else:  # the one change: X-Session-ID, a session id, on the HTTP response
            headers = "multiValueHeaders" if behaviour == "multi" else "headers"
            added = outcome.result[headers][SESSION_HEADER]
            session_id = added[0] if behaviour == "multi" else added
            assert validate_session_id(session_id) == (session_id, None)
            assert outcome.result == {**response, headers: {**response[headers], SESSION_HEADER: added}}

    for record in outcome.logs:
        message = log_text(record)
        assert record.levelno < logging.ERROR and record.exc_info is None, message
        assert TRACER_KEY not in message
        if record.levelno == logging.WARNING:
            assert "\n" not in message, message
            assert "cannot be encoded" not in message, message
    warnings = [r.getMessage() for r in outcome.logs if r.levelno == logging.WARNING]
    # One line per problem: the trace context, then at most the event's and the baggage's session ids.
    assert sum("trace context" in line for line in warnings) <= 1, warnings
    assert len(warnings) <= 3, warnings
    return outcome


@pytest.fixture
def recording_tracer() -> Iterator[tuple[HoneyHiveTracer, InMemorySpanExporter]]:
    """A test-mode tracer (nothing leaves the process) whose finished spans are also kept here."""
    tracer = HoneyHiveTracer.init(
        api_key=TRACER_KEY, project="fuzz", test_mode=True, export_mode="invocation", verbose=True
    )
    exporter = InMemorySpanExporter()
    tracer.provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield tracer, exporter
    tracer.shutdown()


def assert_exportable(spans: tuple[ReadableSpan, ...]) -> None:
    """Each span encodes for OTLP whole: the encoder neither refuses it nor leaves out an attribute of it
    (which it does with a warning)."""
    for span in spans:
        with captured_logs() as logs:
            try:
                encode_spans([span])
            except Exception as error:
                raise AssertionError(f"span {span.name} cannot be exported: {error!r}") from error
        dropped = [record.getMessage() for record in logs if record.levelno >= logging.WARNING]
        assert not dropped, f"span {span.name} loses attributes at export: {dropped}"


@settings(
    max_examples=WRAPPER_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[*SHARED_FIXTURES, *LARGE],
)
@given(events, st.sampled_from(["sentinel", "http", "multi", "raise"]))
def test_the_wrapper_passes_the_event_result_and_error_through(
    recording_tracer: tuple[HoneyHiveTracer, InMemorySpanExporter],
    capsys: pytest.CaptureFixture[str],
    event: Any,
    behaviour: str,
) -> None:
    """For any event: the handler gets the very event, unchanged, once; its result (a sentinel by
    identity; an HTTP response with only ``X-Session-ID`` added when the trigger is HTTP) or its
    exception (by identity) comes back; tracing logs no error or traceback, at most one warning line
    per problem, never the tracer's key; and every span it makes can be exported."""
    tracer, exporter = recording_tracer
    exporter.clear()
    capsys.readouterr()
    handler = Handler()
    invoke(with_honeyhive_session(tracer=tracer)(handler), handler, event, behaviour)

    printed = capsys.readouterr()
    assert TRACER_KEY not in printed.out + printed.err
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == [FUNCTION]
    assert_exportable(spans)
    assert spans[0].status.is_ok == (behaviour != "raise")


@settings(
    max_examples=RECEIVER_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[*SHARED_FIXTURES, *LARGE],
)
@given(events, st.sampled_from(["sentinel", "http", "raise"]))
def test_the_tracer_key_reaches_only_the_authorization_header(
    receiver: DevReceiver, capsys: pytest.CaptureFixture[str], event: Any, behaviour: str
) -> None:
    """What leaves for HoneyHive, for any event. The property, and why it is this one:

    * the tracer's key (``TRACER_KEY``, which nothing generated contains) is in the Authorization
      header of each request and nowhere else: no request body (session start, enrichment, the OTLP
      spans, in which every attribute is), no other header, no log line, nothing printed;
    * the caller's secret (conftest's ``API_KEY``, which the fuzz puts in headers, bodies, baggage)
      may be in what is sent when the event carries it: the captured event is the session's input by
      design (``HH_CAPTURE_EVENT``). When the event does not carry it, nothing sent does;
    * in logs, the event's values appear only as the short prefixes the warnings quote (24
      characters of a session id, 60 of a traceparent), so the caller's 25-character key can be
      whole in a log line only as a quoted traceparent.
    """
    receiver.clear()
    capsys.readouterr()
    tracer = make_tracer(receiver, api_key=TRACER_KEY, export_mode="invocation")
    handler = Handler()
    try:
        outcome = invoke(with_honeyhive_session(tracer=tracer)(handler), handler, event, behaviour)
    finally:
        tracer.shutdown()

    assert receiver.otlp_requests(), "the invocation's spans were not sent"
    carried = contains(event, API_KEY) or API_KEY in decoded_body(event)
    for request in receiver.requests:
        headers = {name.lower(): value for name, value in request.headers.items()}
        assert headers.pop("authorization") == f"Bearer {TRACER_KEY}"
        others = headers
        assert TRACER_KEY not in json.dumps(others)
        assert TRACER_KEY.encode() not in request.body
        if not carried:
            assert API_KEY.encode() not in request.body, request.path
    for record in outcome.logs:
        message = log_text(record)
        assert API_KEY not in message or "traceparent is not W3C Trace Context" in message, message
    printed = capsys.readouterr()
    assert TRACER_KEY not in printed.out + printed.err


# ------------------------------------------------------------------------------------------------
# Regressions: what the properties found, each as a plain test


def test_a_record_source_nested_too_deep_for_str_is_no_source() -> None:
    # detect_trigger did str(eventSource): RecursionError for a list nested beyond the recursion limit.
    assert detect_trigger({"Records": [{"eventSource": DEEP_LIST}]}) == "unknown"
    assert detect_trigger({"Records": [{"eventSource": ["aws:sqs"]}]}) == "unknown"


def test_records_naming_candidates_too_deep_to_compare_name_no_one_session() -> None:
    # The records' candidates were compared with ==: RecursionError for two equal deep lists.
    def record(candidate: Any) -> dict[str, Any]:
        return {"eventSource": "aws:sqs", "messageAttributes": {"session_id": {"stringValue": candidate}}}

    first = _nested(DEEP, lambda node: [node], "bottom")
    second = _nested(DEEP, lambda node: [node], "bottom")
    assert find_session_id({"Records": [record(first), record(second)]}) == SessionLookup("sqs")
    same = find_session_id({"Records": [record(SESSION), record(SESSION)]})
    assert same == SessionLookup("sqs", SESSION, "messageAttributes.session_id")


@pytest.mark.parametrize(
    ("key", "value"), [("traceparent", TRACEPARENT), ("baggage", f"session_id={SESSION}"), ("tracestate", "a=b")]
)
def test_trace_context_with_a_lone_surrogate_is_left_out_with_one_problem(key: str, value: str) -> None:
    # The baggage propagator measures the header with str.encode(): UnicodeEncodeError escaped extract().
    caller = incoming([event_carrier("direct", {key: value + "\ud800"})], batch=False)
    assert caller.session is None
    assert caller.problems == (f"{key} is not valid Unicode text (a lone surrogate)",)


def test_a_lone_surrogate_in_baggage_is_one_warning_and_the_handler_runs_traced(
    recording_tracer: tuple[HoneyHiveTracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = recording_tracer
    handler = Handler(result="ok")
    outcome = invoke(
        with_honeyhive_session(tracer=tracer)(handler), handler, {"baggage": "session_id=\ud800"}, "sentinel"
    )
    (warning,) = [record.getMessage() for record in outcome.logs if record.levelno >= logging.WARNING]
    assert "baggage is not valid Unicode text" in warning
    assert [span.name for span in exporter.get_finished_spans()] == [FUNCTION]


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("conversation-\ud800", "not valid Unicode text (a lone surrogate)"),
        (10**5000, "too long (an integer of 16610 bits)"),
        (10**300, "too long (301 characters, at most 256)"),
    ],
    ids=["lone-surrogate", "int-beyond-str", "long-int"],
)
def test_a_conversation_key_uuid5_or_str_cannot_take_is_rejected_with_its_reason(key: object, reason: str) -> None:
    # uuid5() encodes the key as UTF-8 (UnicodeEncodeError), and str() refuses ints over 4,300 digits.
    choice = choose_session([Candidate(key, "sessionId", conversation=True)], "fuzz")
    assert choice.session_id is None
    assert [rejected.reason for rejected in choice.rejected] == [reason]


@pytest.mark.parametrize("part", ["²", "٣", "9" * 5_000])
def test_value_at_takes_only_ascii_digits_an_int_can_read_as_an_index(part: str) -> None:
    # "²".isdigit() is true and int("²") raises; so does int() of more than 4,300 digits.
    assert value_at({"a": ["x"] * 10}, f"a.{part}") is None
    assert value_at({"a": ["x"] * 10}, "a.9") == "x"


def test_many_repeated_baggage_headers_are_joined_in_linear_time() -> None:
    # Joined by appending to the text per header, 200,000 of them took 10 s (quadratic); now 0.05 s.
    started = time.perf_counter()
    carrier = event_carrier("alb", {"multiValueHeaders": {"baggage": ["a=b"] * 200_000}})
    assert time.perf_counter() - started < 2.0
    assert carrier.carrier["baggage"] == ",".join(["a=b"] * 200_000)


def test_an_event_key_with_a_lone_surrogate_keeps_the_invocation_span_exportable(
    recording_tracer: tuple[HoneyHiveTracer, InMemorySpanExporter],
) -> None:
    # Flattened into an attribute name as it was, the OTLP encoder left the attribute out, with a warning.
    tracer, exporter = recording_tracer
    handler = Handler()
    invoke(with_honeyhive_session(tracer=tracer)(handler), handler, {"q\ud800": {"\udcff": 1}}, "sentinel")
    (span,) = exporter.get_finished_spans()
    assert_exportable((span,))
    assert span.attributes is not None
    assert span.attributes["honeyhive_inputs.event.q?.?"] == 1


def test_a_handler_error_with_a_lone_surrogate_keeps_the_span_exportable(
    recording_tracer: tuple[HoneyHiveTracer, InMemorySpanExporter],
) -> None:
    # The wrapper sets honeyhive_error, the status and record_exception() from str(error): with a lone
    # surrogate, the OTLP encoder leaves out honeyhive_error, exception.message and exception.stacktrace,
    # with a warning for each.
    tracer, exporter = recording_tracer

    @with_honeyhive_session(tracer=tracer)
    def handler(event: Any, context: Any) -> None:
        raise Boom("\ud800")

    with pytest.raises(Boom):
        handler({}, LambdaContext(FUNCTION))
    assert_exportable(exporter.get_finished_spans())


def test_a_response_whose_headers_are_not_a_mapping_is_returned_as_it_is_and_the_span_exported(
    recording_tracer: tuple[HoneyHiveTracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = recording_tracer
    response = {"statusCode": 200, "headers": ["not", "a", "map"]}

    @with_honeyhive_session(tracer=tracer)
    def handler(event: Any, context: Any) -> Any:
        return response

    event = {"version": "2.0", "requestContext": {"http": {"method": "GET"}}, "headers": {}}
    assert handler(event, LambdaContext(FUNCTION)) is response
    assert len(exporter.get_finished_spans()) == 1


def test_an_error_whose_str_raises_is_recorded_and_the_span_exported(
    recording_tracer: tuple[HoneyHiveTracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = recording_tracer

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    @with_honeyhive_session(tracer=tracer)
    def handler(event: Any, context: Any) -> None:
        raise Unprintable

    with pytest.raises(Unprintable):
        handler({}, LambdaContext(FUNCTION))
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert str(span.attributes["honeyhive_error"]).startswith("Unprintable: <Unprintable whose str() failed>")
