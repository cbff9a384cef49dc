"""Reading payloads inside events, bounded: JSON text, base64 text, the SNS envelope SQS delivers, and
the headers of Kafka records and Amazon MQ messages.

Shared by the session lookup (``triggers``) and the context lookup (``carriers``). Each refuses input
larger than :data:`MAX_BODY_SCAN`: a body that large would cost more to parse than it could give.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from typing import Any

#: A body larger than this is not parsed for a session id or a trace context.
MAX_BODY_SCAN = 256 * 1024


def parse_json_object(text: str | None) -> object:
    """The JSON document ``text`` holds when it is an object of at most :data:`MAX_BODY_SCAN`, else None."""
    if not text or len(text) > MAX_BODY_SCAN or text.lstrip()[:1] != "{":
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def b64decode_text(text: str) -> str | None:
    """UTF-8 text from base64, or None when it is not that (or too large)."""
    if len(text) > MAX_BODY_SCAN * 4 // 3 + 4:
        return None
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def sns_envelope(document: object) -> Mapping[str, Any] | None:
    """``document`` when it is an SNS notification (as an SQS body holds it without raw delivery)."""
    if isinstance(document, Mapping) and document.get("Type") == "Notification" and "Message" in document:
        return document
    return None


def message_headers(record: Mapping[str, Any]) -> tuple[str, Iterator[tuple[object, object]]]:
    """Where a Kafka record or an Amazon MQ message keeps its headers, and their raw ``(name, value)``.

    Kafka: ``headers``, a list of ``{name: [byte, ...]}``; ActiveMQ: ``properties``, a string map;
    RabbitMQ: ``basicProperties.headers``, values as text, numbers or ``{"bytes": [byte, ...]}``.
    Read a value with :func:`header_text`.
    """
    headers = record.get("headers")
    if isinstance(headers, list):
        return "headers", (pair for header in headers if isinstance(header, Mapping) for pair in header.items())
    properties = record.get("properties")
    if isinstance(properties, Mapping):
        return "properties", iter(properties.items())
    basic = record.get("basicProperties")
    headers = basic.get("headers") if isinstance(basic, Mapping) else None
    if isinstance(headers, Mapping):
        return "basicProperties.headers", iter(headers.items())
    return "", iter(())


def header_text(raw: object, limit: int = MAX_BODY_SCAN) -> str | None:
    """A message header's value as text: itself when text, else UTF-8 from a list of byte values
    (Kafka) or ``{"bytes": [...]}`` (RabbitMQ) of at most ``limit`` bytes; None when it is none of these."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, Mapping):
        raw = raw.get("bytes")
    if not isinstance(raw, list) or len(raw) > limit:
        return None
    try:
        return bytes(raw).decode("utf-8")
    except (ValueError, TypeError):
        return None
