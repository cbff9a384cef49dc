"""OTLP decoding: an ``ExportTraceServiceRequest`` body, protobuf or OTLP/JSON, as plain Python spans.

The only module of the receiver that knows protobuf: the others see :class:`ReceivedSpan`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

PROTOBUF_TYPES = frozenset({"application/x-protobuf", "application/protobuf", ""})
JSON_TYPES = frozenset({"application/json"})

_STATUS_NAMES = {0: "UNSET", 1: "OK", 2: "ERROR"}
_KIND_NAMES = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
#: Where HoneyHive finds a span's session, first found wins (its OTLP protocol table, spec/
#: otlp-session-protocol.json: ``honeyhive.session_id`` "falls back to
#: ``traceloop.association.properties.session_id`` -> ``session.id``").
SESSION_ID_ATTRIBUTES = ("honeyhive.session_id", "traceloop.association.properties.session_id", "session.id")


@dataclass
class ReceivedSpan:
    """One decoded OTLP span, with attribute values as plain Python values."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    start_ns: int
    end_ns: int
    status_code: str
    status_message: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    resource_attributes: dict[str, Any]
    request_index: int
    span_kind: str = "INTERNAL"
    scope_name: str = ""
    #: The span's links, as (trace id, span id) in hex.
    links: list[tuple[str, str]] = field(default_factory=list)

    @property
    def session_id(self) -> str | None:
        """The HoneyHive session this span belongs to, if it carries one (by HoneyHive's chain: the first of
        ``SESSION_ID_ATTRIBUTES`` that is a non-empty string)."""
        for key in SESSION_ID_ATTRIBUTES:
            value = self.attributes.get(key)
            if isinstance(value, str) and value:
                return value
        return None

    @property
    def duration_ms(self) -> float:
        """End minus start, in milliseconds."""
        return (self.end_ns - self.start_ns) / 1e6


def media_type(content_type: str) -> str:
    """``application/json`` for ``application/json; charset=utf-8``: the part that picks the decoder."""
    return content_type.split(";", 1)[0].strip().lower()


def decode_trace_request(body: bytes, content_type: str = "application/x-protobuf") -> list[ReceivedSpan]:
    """Decode an OTLP ``ExportTraceServiceRequest`` (protobuf or OTLP/JSON) into spans.

    ``request_index`` of the returned spans is -1; the receiver fills it in. Raises ValueError for a
    body that does not decode, or a content type that is neither protobuf nor JSON.
    """
    media = media_type(content_type)
    message = ExportTraceServiceRequest()
    if media in JSON_TYPES:
        try:
            document = json.loads(body) if body.strip() else {}
            if not isinstance(document, dict):
                raise ValueError("top level must be an object")
            json_format.ParseDict(_hex_ids_to_base64(document), message, ignore_unknown_fields=True)
        except (ValueError, TypeError, json_format.ParseError) as exc:
            raise ValueError(f"invalid OTLP/JSON body: {exc}") from exc
    elif media in PROTOBUF_TYPES:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise ValueError(f"invalid OTLP protobuf body: {exc}") from exc
    else:
        raise ValueError(f"unsupported content type {content_type!r}")

    spans: list[ReceivedSpan] = []
    for resource_spans in message.resource_spans:
        resource = _kv_dict(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_code=_STATUS_NAMES.get(span.status.code, str(span.status.code)),
                        status_message=span.status.message,
                        attributes=_kv_dict(span.attributes),
                        events=[(event.name, _kv_dict(event.attributes)) for event in span.events],
                        resource_attributes=dict(resource),
                        request_index=-1,
                        span_kind=_KIND_NAMES.get(span.kind, str(span.kind)),
                        scope_name=scope_spans.scope.name,
                        links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                    )
                )
    return spans


def export_response(media: str) -> tuple[bytes, str]:
    """The body and content type that answer a successful export, in the encoding of its request."""
    if media in JSON_TYPES:
        return b"{}", "application/json"
    return ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf"


def _any_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_any_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return _kv_dict(value.kvlist_value.values)
    # string_value, bool_value, int_value, double_value, bytes_value map to str/bool/int/float/bytes.
    return getattr(value, which)


def _kv_dict(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in pairs}


def _hex_ids_to_base64(node: Any) -> Any:
    """Rewrite hex trace/span ids to base64.

    OTLP/JSON carries ids as hex, while protobuf's JSON mapping reads bytes fields as base64. A hex id
    (16 or 32 digits) cannot be mistaken for the base64 of a valid id (12 or 24 characters), so
    bodies written either way are accepted.
    """
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str) and len(value) in (16, 32) and set(value) <= _HEX_DIGITS:
                out[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            else:
                out[key] = _hex_ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node
