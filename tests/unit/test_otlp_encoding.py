"""The runtime's own OTLP encoding, held byte for byte to OpenTelemetry's (protobuf's) encoder.

Generated spans, built with the SDK's own ``ReadableSpan`` constructor, cover what a span can carry:
every attribute value type the reference encoder takes (and some it refuses), keys that are not text,
events, links, statuses, kinds, trace state, local and remote parents, dropped counts, resources and
scopes shared by several spans, missing and out-of-range times. For each batch, either both encoders
raise or both give the same bytes.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as reference_encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PB2Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState
from opentelemetry.util.types import Attributes

from conftest import make_tracer
from honeyhive_serverless.export.otlp_encoding import encode_spans
from honeyhive_serverless_dev.receiver import DevReceiver

EXAMPLES = 300
RAISED = "raised"


def reference(spans: list[ReadableSpan]) -> bytes | str:
    try:
        encoded: bytes = reference_encode_spans(spans).SerializeToString()
    except Exception:
        return RAISED
    return encoded


def ours(spans: list[ReadableSpan]) -> bytes | str:
    try:
        return encode_spans(spans)
    except Exception:
        return RAISED


@pytest.fixture(autouse=True, scope="module")
def quiet_encoders() -> Iterator[None]:
    """Both encoders log each attribute they leave out (the reference with a traceback): not shown."""
    names = ("opentelemetry", "honeyhive_serverless")
    levels = [logging.getLogger(name).level for name in names]
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    yield
    for name, level in zip(names, levels, strict=True):
        logging.getLogger(name).setLevel(level)


# -- generated spans ------------------------------------------------------------------------------------


class Colour(enum.IntEnum):
    RED = 7


SURROGATE = "\ud800"
text = st.text(alphabet=st.one_of(st.characters(), st.sampled_from([SURROGATE, "\udcff", "é", "€", "😀"])), max_size=12)
valid_text = st.text(max_size=12)
integers = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, 127, 128, 16383, 16384, -1, 2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**64]),
    st.just(Colour.RED),
)
floats = st.one_of(st.floats(), st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan]))
flat_values = st.one_of(
    st.none(),
    st.booleans(),
    integers,
    floats,
    text,
    st.binary(max_size=8),
    st.builds(bytearray, st.binary(max_size=4)),  # a Sequence to the reference: an array of ints
    st.builds(object),  # no OTLP value: that attribute is left out
)
values = st.recursive(
    flat_values,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.one_of(text, st.integers(-3, 3)), inner, max_size=3),
        st.builds(range, st.integers(0, 3)),
    ),
    max_leaves=8,
)
# Keys: text mostly; bytes (taken as text when they are UTF-8), None (no key) or a number (refused).
keys = st.one_of(text, text, text, st.sampled_from([b"as-bytes", b"\xff", None, 5, ""]))
raw_attributes = st.one_of(st.none(), st.dictionaries(keys, values, max_size=5))
# What the SDK's span, event and link attributes are: cleaned of what OTLP has no value for, bounded.
clean_values = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), valid_text, st.lists(valid_text, max_size=3)
)
bounded_attributes = st.builds(
    lambda limit, items: BoundedAttributes(maxlen=limit, attributes=items),
    st.integers(0, 3),
    st.dictionaries(valid_text, clean_values, max_size=5),
)
attributes: st.SearchStrategy[Attributes] = st.one_of(raw_attributes, bounded_attributes)
# An event's or a link's, in a batch: fewer, flat (test_any_attributes_... nests them there).
few_attributes: st.SearchStrategy[Attributes] = st.one_of(
    st.none(), st.dictionaries(keys, flat_values, max_size=2), bounded_attributes
)

# W3C trace state: a key of lower-case letters, digits and _-*/, a value of printable ASCII but , and =.
trace_state_keys = st.from_regex(r"[a-z][a-z0-9_\-*/]{0,6}", fullmatch=True)
trace_state_values = st.from_regex(r"[!-+\--<>-~]{1,6}", fullmatch=True)
trace_states = st.builds(TraceState, st.lists(st.tuples(trace_state_keys, trace_state_values), max_size=3))
contexts = st.builds(
    SpanContext,
    trace_id=st.one_of(st.integers(0, 2**128 - 1), st.sampled_from([0, 2**128 - 1])),
    span_id=st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 2**64 - 1])),
    is_remote=st.booleans(),
    trace_flags=st.sampled_from([TraceFlags(0), TraceFlags(1)]),
    trace_state=st.one_of(st.none(), trace_states),
)
times = st.one_of(st.none(), st.integers(0, 2**64 - 1), st.sampled_from([0, 1, 2**64 - 1, Colour.RED]))
# Names as protobuf takes them: text, UTF-8 bytes, or None (no name).
names = st.one_of(valid_text, valid_text, valid_text, st.sampled_from([b"bytes-name", None]))
events = st.builds(Event, name=names, attributes=few_attributes, timestamp=st.integers(0, 2**64 - 1))
links = st.builds(Link, context=contexts, attributes=few_attributes)


def bounded(limit: int, items: list[Any]) -> BoundedList[Any]:
    """A span's events or links as the SDK keeps them: the ones past ``limit`` dropped and counted."""
    kept: BoundedList[Any] = BoundedList(limit)
    kept.extend(items)
    return kept


event_lists = st.one_of(
    st.lists(events, max_size=2), st.builds(bounded, st.integers(0, 1), st.lists(events, max_size=2))
)
link_lists = st.one_of(st.lists(links, max_size=2), st.builds(bounded, st.integers(0, 1), st.lists(links, max_size=2)))
statuses = st.one_of(st.none(), st.builds(Status, st.sampled_from(list(StatusCode)), st.one_of(st.none(), valid_text)))
# A few resources and scopes, built anew for each span: equal ones group together, as in the reference.
resource_choices = [
    lambda: Resource.create({"service.name": "fn"}),
    lambda: Resource({"service.name": "fn", "faas.name": "fn", "cloud.region": "eu-west-1"}, "https://schema/1"),
    lambda: Resource({"n": 1, "flag": True, "ratio": 0.5, "tags": ("a", "b")}),
    lambda: Resource({}),
]
scope_choices = [
    lambda: None,
    lambda: InstrumentationScope("honeyhive_serverless", "0.1.0"),
    lambda: InstrumentationScope("openinference.instrumentation.openai", "0.1.66", "https://schema/2", {"k": "v"}),
    lambda: InstrumentationScope("bare"),
]

# One field a span can carry that the reference refuses, each with values it raises for.
bad_span_ids = st.builds(SpanContext, st.integers(0, 9), st.sampled_from([2**64, -1]), st.booleans())
bad_contexts = st.one_of(
    st.builds(SpanContext, st.sampled_from([2**128, -1]), st.integers(0, 9), st.booleans()), bad_span_ids
)
bad_text = st.sampled_from([7, 1.5, SURROGATE, f"a{SURROGATE}b", b"\xff"])
bad_times = st.sampled_from([-1, 2**64, True, 1.5, "1"])
corruptions: dict[str, st.SearchStrategy[Any]] = {
    "name": bad_text,
    "context": bad_contexts,
    "parent": bad_span_ids,  # of a parent, only the span id is encoded
    "kind": st.sampled_from([0, 1, None, "SERVER"]),
    "start_time": bad_times,
    "end_time": bad_times,
    "events": st.one_of(
        st.builds(lambda name: [Event(name, None, 1)], bad_text),
        st.builds(lambda time: [Event("event", None, time)], st.sampled_from([-1, 2**64, 2.5])),
    ),
    "links": st.one_of(
        st.builds(lambda context: [Link(context)], bad_contexts),
        st.just([Link(None)]),  # type: ignore[arg-type]
    ),
    "status": st.builds(Status, st.just(StatusCode.ERROR), st.sampled_from([SURROGATE, f"x{SURROGATE}"])),
    "resource": st.builds(lambda url: Resource({}, url), st.sampled_from([SURROGATE, b"\xff"])),
    "instrumentation_scope": st.one_of(
        st.builds(InstrumentationScope, bad_text),
        st.builds(lambda version: InstrumentationScope("scope", version), bad_text),
        st.builds(lambda url: InstrumentationScope("scope", "1", url), st.sampled_from([SURROGATE, b"\xff"])),
    ),
}


@st.composite
def spans(draw: st.DrawFn, corrupt: str | None = None) -> ReadableSpan:
    """A span the reference encodes; with ``corrupt``, that field one it refuses."""
    make_resource: Callable[[], Resource] = draw(st.sampled_from(resource_choices))
    make_scope: Callable[[], InstrumentationScope | None] = draw(st.sampled_from(scope_choices))
    fields: dict[str, Any] = {
        "name": draw(names),
        "context": draw(contexts),
        "parent": draw(st.one_of(st.none(), contexts)),
        "resource": make_resource(),
        "attributes": draw(attributes),
        "events": draw(event_lists),
        "links": draw(link_lists),
        "kind": draw(st.sampled_from(list(SpanKind))),
        "status": draw(statuses),
        "start_time": draw(times),
        "end_time": draw(times),
        "instrumentation_scope": make_scope(),
    }
    if corrupt is not None:
        fields[corrupt] = draw(corruptions[corrupt])
    return ReadableSpan(**fields)


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(st.lists(spans(), max_size=4))
def test_any_batch_encodes_to_the_reference_bytes(batch: list[ReadableSpan]) -> None:
    expected = reference(batch)
    assert expected != RAISED  # every field is one the reference takes (attributes it leaves out aside)
    assert ours(batch) == expected


@settings(max_examples=EXAMPLES // 2, deadline=None, database=None)
@given(st.data(), st.sampled_from(sorted(corruptions)))
def test_a_batch_with_a_field_the_reference_refuses_raises_as_it_does(data: st.DataObject, field: str) -> None:
    batch = [*data.draw(st.lists(spans(), max_size=2)), data.draw(spans(corrupt=field))]
    batch = data.draw(st.permutations(batch))
    assert reference(batch) == RAISED
    assert ours(batch) == RAISED


@settings(max_examples=EXAMPLES * 2 // 3, deadline=None, database=None)
@given(st.dictionaries(keys, values, max_size=4), st.sampled_from(["span", "event", "link"]))
def test_any_attributes_encode_to_the_reference_bytes(items: dict[Any, Any], where: str) -> None:
    """Attributes alone, where each can sit (a clean span around them, so that only they can differ)."""
    context = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False)
    span = ReadableSpan(
        "attributes",
        context,
        attributes=items if where == "span" else None,
        events=[Event("event", items, 1)] if where == "event" else (),
        links=[Link(context, items)] if where == "link" else (),
        start_time=1,
        end_time=2,
    )
    assert ours([span]) == reference([span])


# -- edge cases, named -----------------------------------------------------------------------------------

START = 1_700_000_000_000_000_000
END = 1_700_000_000_500_000_000
CONTEXT = SpanContext(0x5B8EFFF798038103D269B633813FC60C, 0xEEE19B7EC3C1B174, False, TraceFlags(1))
LOCAL_PARENT = SpanContext(CONTEXT.trace_id, 0x1111111111111111, False)
REMOTE_PARENT = SpanContext(CONTEXT.trace_id, 0x2222222222222222, True)


def span(name: Any = "span", **fields: Any) -> ReadableSpan:
    options: dict[str, Any] = {"context": CONTEXT, "start_time": START, "end_time": END}
    options.update(fields)
    return ReadableSpan(name, **options)


EDGE_ATTRIBUTES: dict[str, Any] = {
    "text": "héllo €😀",
    "empty": "",
    "long": "x" * 20_000,  # lengths of three varint bytes
    "true": True,
    "false": False,
    "zero": 0,
    "negative": -1,
    "int64.max": 2**63 - 1,
    "int64.min": -(2**63),
    "enum": Colour.RED,
    "minus.zero": -0.0,
    "inf": math.inf,
    "nan": math.nan,
    "bytes": b"\x00\xff",
    "strings": ("a", "b"),
    "ints": [1, -2, 3],
    "empty.tuple": (),
    "empty.list": [],
    "mixed": [1, "a", None, 2.5, [True]],
    "mapping": {"inner": {"deeper": [1, 2]}, 3: "number key", "": None},
    "none": None,
    "bytearray": bytearray(b"ab"),
    "range": range(3),
}


@pytest.mark.parametrize(
    "batch",
    [
        pytest.param([], id="no spans"),
        pytest.param([span(attributes=EDGE_ATTRIBUTES)], id="every value type"),
        pytest.param([span(parent=LOCAL_PARENT), span(parent=REMOTE_PARENT), span(parent=None)], id="parents"),
        pytest.param([span(kind=kind) for kind in SpanKind], id="kinds"),
        pytest.param(
            [
                span(status=Status(StatusCode.UNSET)),
                span(status=Status(StatusCode.OK)),
                span(status=Status(StatusCode.ERROR, "boom é")),
                span(status=None),
            ],
            id="statuses",
        ),
        pytest.param([span(end_time=None), span(start_time=None, end_time=None), span(start_time=0)], id="times"),
        pytest.param(
            [span(context=SpanContext(1, 2, False, trace_state=TraceState([("vendor", "v1"), ("hh", "x:y")])))],
            id="trace state",
        ),
        pytest.param([span(context=SpanContext(0, 0, False))], id="zero ids"),
        pytest.param(
            [
                span(
                    events=bounded(1, [Event("first", {"a": 1}, 5), Event("second", {}, 6)]),
                    links=bounded(1, [Link(REMOTE_PARENT, {"l": "x"}), Link(LOCAL_PARENT)]),
                    attributes=BoundedAttributes(maxlen=1, attributes={"kept": 1, "dropped": 2}),
                )
            ],
            id="dropped counts",
        ),
        pytest.param(
            [
                span(
                    events=[
                        Event("e", BoundedAttributes(maxlen=1, attributes={"a": 1, "b": 2}), 9),
                        Event("", None, 0),
                    ],
                    links=[Link(REMOTE_PARENT, BoundedAttributes(maxlen=0, attributes={"a": 1}))],
                )
            ],
            id="events and links with attributes and dropped counts",
        ),
        pytest.param(
            [
                span("a1", resource=Resource({"r": "A"}), instrumentation_scope=InstrumentationScope("s1")),
                span("b1", resource=Resource({"r": "B"}, "https://b"), instrumentation_scope=None),
                span("a2", resource=Resource({"r": "A"}), instrumentation_scope=InstrumentationScope("s2", "2")),
                span("a3", resource=Resource({"r": "A"}), instrumentation_scope=InstrumentationScope("s1")),
                span(
                    "b2",
                    resource=Resource({"r": "B"}, "https://b"),
                    instrumentation_scope=InstrumentationScope("s3", "3", "https://s3", {"k": ["v"]}),
                ),
            ],
            id="grouped by resource then scope, first seen first",
        ),
        pytest.param(
            [span(attributes={"over": 2**63, "under": -(2**63) - 1, "object": object(), SURROGATE: 1, "s": SURROGATE})],
            id="attributes left out",
        ),
        pytest.param([span(attributes={b"bytes key": 1, None: 2, "": 3, 4: 4, b"\xff": 5})], id="keys"),
        pytest.param([span(attributes={"deep": [[[[[[[[[[1]]]]]]]]]]})], id="nested lists"),
        pytest.param([span(b"bytes name"), span(None)], id="names as protobuf takes them"),
    ],
)
def test_edge_cases_encode_to_the_reference_bytes(batch: list[ReadableSpan]) -> None:
    encoded = encode_spans(batch)
    assert encoded == reference_encode_spans(batch).SerializeToString()


NOT_UTF8: Any = b"\xff"


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "batch",
    [
        pytest.param([span(7)], id="a name that is not text"),
        pytest.param([span(SURROGATE)], id="a name with a lone surrogate"),
        pytest.param([span(kind=1)], id="a kind that is not a SpanKind"),
        pytest.param([span(context=SpanContext(2**128, 1, False))], id="a trace id beyond 128 bits"),
        pytest.param([span(parent=SpanContext(1, -1, True))], id="a negative parent span id"),
        pytest.param([span(start_time=-1)], id="a negative start time"),
        pytest.param([span(end_time=2**64)], id="an end time beyond 64 bits"),
        pytest.param([span(start_time=True)], id="a start time that is a boolean"),
        pytest.param([span(end_time=1.5)], id="an end time that is a float"),
        pytest.param([span(events=[Event(NOT_UTF8, None, 1)])], id="an event name that is not UTF-8"),
        pytest.param([span(events=[Event("e", None, -5)])], id="a negative event time"),
        pytest.param([span(links=[Link(None)])], id="a link without a context"),  # type: ignore[arg-type]
        pytest.param([span(attributes={"deep": nested(49)})], id="an attribute nested past protobuf's limit"),
        pytest.param([span(events=[Event("e", {"deep": nested(48)}, 1)])], id="an event attribute nested past it"),
    ],
)
def test_what_the_reference_refuses_raises(batch: list[ReadableSpan]) -> None:
    with pytest.raises(Exception):
        reference_encode_spans(batch).SerializeToString()
    with pytest.raises(Exception):
        encode_spans(batch)


@pytest.mark.parametrize("depth", [45, 47, 48, 50, 51, 60, 3000])
def test_lists_nested_around_protobufs_limit_encode_as_the_reference(depth: int) -> None:
    batch = [span(attributes={"deep": nested(depth), "kept": 1}), span(links=[Link(CONTEXT, {"deep": nested(depth)})])]
    assert ours(batch) == reference(batch)


def test_each_attribute_left_out_is_one_warning_line_naming_it(caplog: pytest.LogCaptureFixture) -> None:
    batch = [span(attributes={"fine": 1, "huge": 2**64, "thing": object(), "odd\ud800": "x", 5: "number key"})]
    with caplog.at_level(logging.WARNING, "honeyhive_serverless"):
        encoded = encode_spans(batch)
    assert encoded == reference_encode_spans(batch).SerializeToString()
    lines = [record.getMessage() for record in caplog.records if record.name == "honeyhive_serverless"]
    assert lines == [
        "honeyhive: left out attribute 'huge', which cannot be encoded: an integer beyond 64 bits",
        "honeyhive: left out attribute 'thing', which cannot be encoded: OTLP has no value of type object",
        "honeyhive: left out attribute 'odd?', which cannot be encoded: "
        "text with a lone surrogate, or bytes that are not UTF-8",
        "honeyhive: left out attribute of key type int, which cannot be encoded: expected text, got int",
    ]


# -- decoded by protobuf ---------------------------------------------------------------------------------


def test_a_realistic_batch_decodes_to_what_was_encoded() -> None:
    resource = Resource.create({"service.name": "orders", "cloud.provider": "aws", "faas.name": "orders"})
    scope = InstrumentationScope("honeyhive_serverless", "0.1.0")
    root = span(
        "orders",
        kind=SpanKind.SERVER,
        parent=REMOTE_PARENT,
        resource=resource,
        instrumentation_scope=scope,
        attributes={"honeyhive_event_type": "chain", "honeyhive_inputs.event.n": 3, "tags": ("a", "b")},
        status=Status(StatusCode.ERROR, "bad order"),
        events=[Event("exception", {"exception.message": "bad order"}, 1_700_000_000_000_000_001)],
    )
    child_context = SpanContext(CONTEXT.trace_id, 0x3333333333333333, False)
    child = span(
        "model call",
        context=child_context,
        kind=SpanKind.CLIENT,
        parent=CONTEXT,
        resource=resource,
        instrumentation_scope=scope,
        attributes={"llm.token_count.total": 408, "llm.temperature": 0.2, "stream": False},
        links=[Link(REMOTE_PARENT, {"why": "caller"})],
    )

    request = ExportTraceServiceRequest.FromString(encode_spans([root, child]))

    assert request == reference_encode_spans([root, child])
    [resource_spans] = request.resource_spans
    assert {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}["service.name"] == "orders"
    [scope_spans] = resource_spans.scope_spans
    assert (scope_spans.scope.name, scope_spans.scope.version) == ("honeyhive_serverless", "0.1.0")
    first, second = scope_spans.spans
    assert first.name == "orders" and first.kind == PB2Span.SPAN_KIND_SERVER
    assert first.trace_id == CONTEXT.trace_id.to_bytes(16, "big")
    assert first.span_id == CONTEXT.span_id.to_bytes(8, "big")
    assert first.parent_span_id == REMOTE_PARENT.span_id.to_bytes(8, "big")
    assert first.flags == 0x300  # the parent's remoteness is known, and it is remote
    assert (first.start_time_unix_nano, first.end_time_unix_nano) == (START, END)
    values = {kv.key: kv.value for kv in first.attributes}
    assert values["honeyhive_event_type"].string_value == "chain"
    assert values["honeyhive_inputs.event.n"].int_value == 3
    assert [v.string_value for v in values["tags"].array_value.values] == ["a", "b"]
    assert (first.status.code, first.status.message) == (2, "bad order")
    [event] = first.events
    assert (event.name, event.time_unix_nano) == ("exception", 1_700_000_000_000_000_001)
    assert event.attributes[0].value.string_value == "bad order"
    assert second.flags == 0x100 and second.parent_span_id == CONTEXT.span_id.to_bytes(8, "big")
    assert {kv.key: kv.value.double_value for kv in second.attributes}["llm.temperature"] == 0.2
    [link] = second.links
    assert link.span_id == REMOTE_PARENT.span_id.to_bytes(8, "big") and link.flags == 0x300


# -- through the exporter --------------------------------------------------------------------------------


def test_the_exporter_drops_only_the_span_that_cannot_be_encoded(
    receiver: DevReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    tracer = make_tracer(receiver, export_mode="invocation")
    with caplog.at_level(logging.WARNING, "honeyhive_serverless"), tracer.session_scope():
        tracer.create_session(session_id="0b0f1d4e-4b4f-4c3e-9c53-2b0a8f7f0a11", skip_api_call=True)
        for name in ("before", f"unencodable {SURROGATE}", 7, "after"):  # 7: a name that is not text at all
            with tracer.otel_tracer.start_as_current_span(name):  # type: ignore[arg-type]
                pass

    assert sorted(s.name for s in receiver.spans) == ["after", "before"]
    assert "honeyhive: dropped 2 span(s) that cannot be encoded" in caplog.messages
