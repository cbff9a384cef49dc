"""Spans as an OTLP ``ExportTraceServiceRequest`` in protobuf's wire format, encoded by hand.

Byte for byte what OpenTelemetry's ``trace_encoder.encode_spans(spans).SerializeToString()``
(opentelemetry-exporter-otlp-proto-common 1.45) gives, for every input we know of: the same grouping
by resource then instrumentation scope, the same fields left at their defaults, the same attributes
left out (with a warning line here, where it logs an error with a traceback) and an exception wherever
it raises, which is how the exporter drops only the span that cannot be encoded.
tests/unit/test_otlp_encoding.py holds it to that encoder on generated spans.

Why by hand (issue 24), measured on the 2-core machine of this change, under load, in fresh
interpreters (medians of 21): after the SDK, which the runtime imports anyway, OpenTelemetry's encoder
imports 65 more modules (opentelemetry-proto's generated ones, protobuf and its upb extension), 25 to
31 ms by ``python -X importtime``, where this module takes 1.1 to 1.4 ms (with ``struct`` and the
package's logger module); the first ``get_tracer()`` went from 126 to 107 ms. And protobuf,
opentelemetry-proto and that encoder were 0.76 MB of the 4.96 MB zipped layer, whose budget is 5 MB.
Encoding costs less as well: an invocation's 5 spans of 20 attributes take 0.25 to 0.30 ms here
against 0.55 to 0.62 ms through protobuf, and 50 spans 2.5 to 2.7 ms against 5.3 to 6.2 ms (the two
timed in the same runs).
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from .._log import logger, quote_prefix

# A field's key is (field number << 3) | wire type: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
# The numbers are those of opentelemetry-proto's trace.proto, common.proto and resource.proto.

# AnyValue: a oneof, so each member is written even at its default (an empty string, False, 0).
_STRING_VALUE = b"\x0a"  # 1
_BOOL_VALUE = b"\x10"  # 2
_INT_VALUE = b"\x18"  # 3
_DOUBLE_VALUE = b"\x21"  # 4
_ARRAY_VALUE = b"\x2a"  # 5
_KVLIST_VALUE = b"\x32"  # 6
_BYTES_VALUE = b"\x3a"  # 7
_TRUE = _BOOL_VALUE + b"\x01"
_FALSE = _BOOL_VALUE + b"\x00"
# ArrayValue.values and KeyValueList.values, both 1.
_VALUES = b"\x0a"
# KeyValue: key 1, value 2.
_KEY = b"\x0a"
_VALUE = b"\x12"

# ExportTraceServiceRequest.resource_spans 1; ResourceSpans: resource 1, scope_spans 2, schema_url 3;
# Resource.attributes 1; ScopeSpans: scope 1, spans 2, schema_url 3; InstrumentationScope: name 1,
# version 2, attributes 3.
_RESOURCE_SPANS = b"\x0a"
_RESOURCE = b"\x0a"
_SCOPE_SPANS = b"\x12"
_RESOURCE_ATTRIBUTES = b"\x0a"
_SCOPE = b"\x0a"
_SPANS = b"\x12"
_SCHEMA_URL = b"\x1a"
_SCOPE_NAME = b"\x0a"
_SCOPE_VERSION = b"\x12"
_SCOPE_ATTRIBUTES = b"\x1a"

# Span.
_TRACE_ID = b"\x0a\x10"  # 1, and the 16 bytes' length
_SPAN_ID = b"\x12\x08"  # 2, 8 bytes
_TRACE_STATE = b"\x1a"  # 3
_PARENT_SPAN_ID = b"\x22\x08"  # 4, 8 bytes
_NAME = b"\x2a"  # 5
_START_TIME = b"\x39"  # 7, fixed64
_END_TIME = b"\x41"  # 8, fixed64
_ATTRIBUTES = b"\x4a"  # 9
_DROPPED_ATTRIBUTES = b"\x50"  # 10
_EVENTS = b"\x5a"  # 11
_DROPPED_EVENTS = b"\x60"  # 12
_LINKS = b"\x6a"  # 13
_DROPPED_LINKS = b"\x70"  # 14
_STATUS = b"\x7a"  # 15
_FLAGS = b"\x85\x01"  # 16, fixed32
# Span.kind (6): OTLP's SpanKind numbers are OpenTelemetry's plus one (0 is SPAN_KIND_UNSPECIFIED).
_KINDS = {kind: bytes((0x30, kind.value + 1)) for kind in SpanKind}
# Span.flags and Link.flags: whether the parent (the linked span) is remote is known, and whether it is.
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_LOCAL = struct.pack("<I", _HAS_IS_REMOTE)
_REMOTE = struct.pack("<I", _HAS_IS_REMOTE | _IS_REMOTE)

# Span.Event: time_unix_nano 1 (fixed64), name 2, attributes 3, dropped_attributes_count 4.
_EVENT_TIME = b"\x09"
_EVENT_NAME = b"\x12"
_EVENT_ATTRIBUTES = b"\x1a"
_EVENT_DROPPED_ATTRIBUTES = b"\x20"
# Span.Link: trace_id 1, span_id 2, attributes 4, dropped_attributes_count 5, flags 6 (fixed32). Its
# trace_state (3) OpenTelemetry's encoder leaves out.
_LINK_TRACE_ID = b"\x0a\x10"
_LINK_SPAN_ID = b"\x12\x08"
_LINK_ATTRIBUTES = b"\x22"
_LINK_DROPPED_ATTRIBUTES = b"\x28"
_LINK_FLAGS = b"\x35"
# Status: message 2, code 3.
_STATUS_MESSAGE = b"\x12"
_STATUS_CODE = b"\x18"

# protobuf (upb) copies each submessage given to a message's constructor, as OpenTelemetry's encoder
# gives them, through its parser, which refuses one nested more than 100 levels below itself. So an
# attribute's value nested deeper than this, counting each message, is left out (the copy fails while
# its KeyValue is made); one that is not, but whose span or event is then too deep, fails the encoding.
_MAX_DEPTH = 101
# How many messages hold an attribute's value below the ExportTraceServiceRequest: its KeyValue, then...
_IN_RESOURCE = 3  # Resource, ResourceSpans
_IN_SCOPE = 4  # InstrumentationScope, ScopeSpans, ResourceSpans
_IN_SPAN = 4  # Span, ScopeSpans, ResourceSpans
_IN_EVENT = 5  # Span.Event or Span.Link, Span, ScopeSpans, ResourceSpans
# The values that are one message deep (an AnyValue), by exact type.
_SCALARS = frozenset({str, int, bool, float, bytes, type(None)})

#: Attribute names as a ``KeyValue``'s key field: the same few dozen recur on every span. Bounded, since
#: some names are made from data (an event's keys, flattened).
_KEY_FIELDS: dict[str, bytes] = {}
_MAX_KEY_FIELDS = 4096
_ONE_BYTE = tuple(bytes((n,)) for n in range(128))
_pack_double: Callable[[float], bytes] = struct.Struct("<d").pack
_pack_fixed64: Callable[[int], bytes] = struct.Struct("<Q").pack
_utf8 = str.encode


class _Unencodable(TypeError):
    """A value of a type protobuf would refuse for the field."""


class _TooDeep(Exception):
    """Nested past what protobuf takes."""

    def __str__(self) -> str:
        return "nested more than 100 levels deep, counting OTLP's messages"


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """``spans`` as one serialized ``ExportTraceServiceRequest``; raises where OpenTelemetry's encoder
    raises (a span whose name is not text, say)."""
    # Resources and scopes group by equality, first seen first, as OpenTelemetry's encoder groups them.
    grouped: dict[Any, dict[Any, list[bytes]]] = {}
    for span in spans:
        resource = span.resource
        scope = span.instrumentation_scope or None
        encoded = _span(span)
        grouped.setdefault(resource, {}).setdefault(scope, []).append(encoded)
    request: list[bytes] = []
    for resource, scopes in grouped.items():
        resource_spans = [
            _RESOURCE,
            *_length_delimited(_attributes(_RESOURCE_ATTRIBUTES, resource.attributes, _IN_RESOURCE)),
        ]
        for scope, encoded_spans in scopes.items():
            scope_spans = [_SCOPE, *_length_delimited(_scope(scope))]
            for encoded in encoded_spans:
                scope_spans += (_SPANS, _varint(len(encoded)), encoded)
            scope_spans.append(_string_field(_SCHEMA_URL, scope.schema_url if scope else None))
            resource_spans += (_SCOPE_SPANS, *_length_delimited(b"".join(scope_spans)))
        resource_spans.append(_string_field(_SCHEMA_URL, resource.schema_url))
        request += (_RESOURCE_SPANS, *_length_delimited(b"".join(resource_spans)))
    return b"".join(request)


def _span(span: ReadableSpan) -> bytes:
    context: Any = span.get_span_context()
    parts = [
        _TRACE_ID,
        context.trace_id.to_bytes(length=16, byteorder="big", signed=False),
        _SPAN_ID,
        context.span_id.to_bytes(length=8, byteorder="big", signed=False),
    ]
    trace_state = context.trace_state
    if trace_state is not None:
        parts.append(_string_field(_TRACE_STATE, ",".join([f"{key}={value}" for key, value in trace_state.items()])))
    parent = span.parent
    if parent:
        parts += (_PARENT_SPAN_ID, parent.span_id.to_bytes(length=8, byteorder="big", signed=False))
    parts += (
        _string_field(_NAME, span.name),
        _KINDS[span.kind],
        _fixed64_field(_START_TIME, span.start_time),
        _fixed64_field(_END_TIME, span.end_time),
        _attributes(_ATTRIBUTES, span.attributes, _IN_SPAN),
        _uint32_field(_DROPPED_ATTRIBUTES, span.dropped_attributes),
    )
    for event in span.events or ():
        parts += (_EVENTS, *_length_delimited(_event(event)))
    parts.append(_uint32_field(_DROPPED_EVENTS, span.dropped_events))
    for link in span.links or ():
        parts += (_LINKS, *_length_delimited(_link(link)))
    parts.append(_uint32_field(_DROPPED_LINKS, span.dropped_links))
    status = span.status
    if status is not None:
        parts += (
            _STATUS,
            *_length_delimited(
                _string_field(_STATUS_MESSAGE, status.description)
                + _int32_field(_STATUS_CODE, status.status_code.value)
            ),
        )
    parts += (_FLAGS, _REMOTE if parent and parent.is_remote else _LOCAL)
    return b"".join(parts)


def _event(event: Any) -> bytes:
    return b"".join(
        (
            _fixed64_field(_EVENT_TIME, event.timestamp),
            _string_field(_EVENT_NAME, event.name),
            _attributes(_EVENT_ATTRIBUTES, event.attributes, _IN_EVENT),
            _uint32_field(_EVENT_DROPPED_ATTRIBUTES, event.dropped_attributes),
        )
    )


def _link(link: Any) -> bytes:
    context = link.context
    return b"".join(
        (
            _LINK_TRACE_ID,
            context.trace_id.to_bytes(length=16, byteorder="big", signed=False),
            _LINK_SPAN_ID,
            context.span_id.to_bytes(length=8, byteorder="big", signed=False),
            _attributes(_LINK_ATTRIBUTES, link.attributes, _IN_EVENT),
            _uint32_field(_LINK_DROPPED_ATTRIBUTES, link.dropped_attributes),
            _LINK_FLAGS,
            _REMOTE if context and context.is_remote else _LOCAL,
        )
    )


def _scope(scope: Any) -> bytes:
    if scope is None:
        return b""
    return b"".join(
        (
            _string_field(_SCOPE_NAME, scope.name),
            _string_field(_SCOPE_VERSION, scope.version),
            _attributes(_SCOPE_ATTRIBUTES, scope.attributes, _IN_SCOPE),
        )
    )


def _attributes(tag: bytes, attributes: Mapping[Any, Any] | None, enclosing: int) -> bytes:
    """Each attribute as a ``KeyValue`` field ``tag``; one that cannot be encoded (a value of a type OTLP
    has no place for, an integer beyond 64 bits, a lone surrogate, lists nested past protobuf's limit)
    is left out, with a warning. ``enclosing``: how many messages hold its value below the request."""
    if not attributes:
        return b""
    parts: list[bytes] = []
    for key, value in attributes.items():
        depth = 1
        try:
            value_field = _value_field(value)
            key_field = _KEY_FIELDS.get(key) if type(key) is str else None
            if key_field is None:
                key_field = _key_field(key)
            if type(value) not in _SCALARS:
                depth = _depth(value)
                if depth > _MAX_DEPTH:
                    raise _TooDeep
        except Exception as error:  # that attribute alone is lost, as OpenTelemetry's encoder loses it
            name = quote_prefix(key) if isinstance(key, str) else f"of key type {type(key).__name__}"
            logger.warning("honeyhive: left out attribute %s, which cannot be encoded: %s", name, _why(error))
            continue
        if depth + enclosing > _MAX_DEPTH:
            raise _TooDeep  # where OpenTelemetry's encoder raises too: past the attribute, at an enclosing message
        parts += (tag, _varint(len(key_field) + len(value_field)), key_field, value_field)
    return b"".join(parts)


def _depth(value: Any) -> int:
    """How many messages deep ``value``'s ``AnyValue`` is, itself included (:data:`_MAX_DEPTH`)."""
    if isinstance(value, str | bytes):
        return 1
    if isinstance(value, Sequence):
        return 2 + max(map(_depth, value), default=0)  # AnyValue, ArrayValue, then its values
    if isinstance(value, Mapping):
        return 2 + max((1 + _depth(item) for item in value.values()), default=0)  # then KeyValues
    return 1


def _why(error: Exception) -> str:
    """What was wrong, without the value (which may be long, or secret)."""
    if isinstance(error, UnicodeError):
        return "text with a lone surrogate, or bytes that are not UTF-8"
    if isinstance(error, ValueError):
        return "an integer beyond 64 bits"
    if isinstance(error, _Unencodable | _TooDeep):
        return str(error)  # this module's own words
    return type(error).__name__


def _key_field(key: Any) -> bytes:
    field = _string_field(_KEY, key)
    if type(key) is str and len(_KEY_FIELDS) < _MAX_KEY_FIELDS:
        _KEY_FIELDS[key] = field
    return field


def _value_field(value: Any) -> bytes:
    """``KeyValue.value`` holding ``value``."""
    if type(value) is str:  # most attributes: short text, its two lengths one byte each
        text = _utf8(value)
        size = len(text)
        if size < 126:
            return b"".join((_VALUE, _ONE_BYTE[size + 2], _STRING_VALUE, _ONE_BYTE[size], text))
    encoded = _any_value(value)
    return b"".join((_VALUE, _varint(len(encoded)), encoded))


def _key_value(key: Any, value: Any) -> bytes:
    encoded = _any_value(value)
    return b"".join((_string_field(_KEY, key), _VALUE, _varint(len(encoded)), encoded))


def _any_value(value: Any) -> bytes:
    """``value`` as an ``AnyValue``, by the type tests of OpenTelemetry's encoder, in its order."""
    kind = type(value)
    if kind is str:  # the common types first, by exact type: the same answers, sooner
        text = _utf8(value)
        return b"".join((_STRING_VALUE, _varint(len(text)), text))
    if kind is int:
        return _INT_VALUE + _int64(value)
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is float:
        return _DOUBLE_VALUE + _pack_double(value)
    if value is None:
        return b""
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, str):
        text = _utf8(value)
        return b"".join((_STRING_VALUE, _varint(len(text)), text))
    if isinstance(value, int):
        return _INT_VALUE + _int64(value)
    if isinstance(value, float):
        return _DOUBLE_VALUE + _pack_double(value)
    if isinstance(value, bytes):
        return b"".join((_BYTES_VALUE, _varint(len(value)), bytes(value)))
    parts: list[bytes] = []
    if isinstance(value, Sequence):
        for item in value:
            encoded = _any_value(item)
            parts += (_VALUES, _varint(len(encoded)), encoded)
        return b"".join((_ARRAY_VALUE, *_length_delimited(b"".join(parts))))
    if isinstance(value, Mapping):
        for key, item in value.items():
            pair = _key_value(str(key), item)
            parts += (_VALUES, _varint(len(pair)), pair)
        return b"".join((_KVLIST_VALUE, *_length_delimited(b"".join(parts))))
    raise _Unencodable(f"OTLP has no value of type {type(value).__name__}")


def _length_delimited(payload: bytes) -> tuple[bytes, bytes]:
    return _varint(len(payload)), payload


def _string_field(tag: bytes, value: Any) -> bytes:
    """A string field as protobuf sets one: from text, or bytes that are UTF-8; absent when None or empty."""
    if value is None:
        return b""
    if isinstance(value, str):
        data = _utf8(value)
    elif isinstance(value, bytes):
        bytes.decode(value)  # raises unless UTF-8, as protobuf does
        data = bytes(value)
    else:
        raise _Unencodable(f"expected text, got {type(value).__name__}")
    return b"".join((tag, _varint(len(data)), data)) if data else b""


def _integer(value: Any) -> int:
    """An integer field's value as protobuf takes one: an int (not a bool) or what ``__index__`` makes one."""
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a boolean")
    return operator.index(value)


def _fixed64_field(tag: bytes, value: Any) -> bytes:
    if value is None:
        return b""
    number = _integer(value)
    return tag + _pack_fixed64(number) if number else b""  # struct refuses what is not 0 to 2**64 - 1


def _uint32_field(tag: bytes, value: Any) -> bytes:
    number = _integer(value)
    if not 0 <= number < 1 << 32:
        raise ValueError("a count beyond 32 bits")
    return tag + _varint(number) if number else b""


def _int32_field(tag: bytes, value: Any) -> bytes:
    number = _integer(value)
    if not -(1 << 31) <= number < 1 << 31:
        raise ValueError("an enum beyond 32 bits")
    return tag + _int64(number) if number else b""


def _int64(value: int) -> bytes:
    """A signed integer's varint (a negative one as its 64-bit two's complement, ten bytes)."""
    if 0 <= value < 128:
        return _ONE_BYTE[value]
    if not -(1 << 63) <= value < 1 << 63:
        raise ValueError("an integer beyond 64 bits")
    return _varint(value & 0xFFFFFFFFFFFFFFFF)


def _varint(value: int) -> bytes:
    if value < 128:
        return _ONE_BYTE[value]
    if value < 16384:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while value > 127:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
