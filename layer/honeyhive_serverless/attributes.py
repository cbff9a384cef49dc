"""Values made safe to send: span attributes flattened the way HoneyHive's SDK does, and the one
JSON-safety rule for everything else (captured events, responses, request bodies).

A dict becomes ``prefix.key``, a list item ``prefix.0``, scalars keep their type, anything else is
JSON text, and ``None`` is skipped. Depth and count are capped so a hostile payload cannot make a span
unbounded. Every size limit here counts UTF-8 bytes, as ``HH_MAX_PAYLOAD_BYTES`` says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

AttributeValue = str | bool | int | float

MAX_DEPTH = 8
MAX_ATTRIBUTES = 256
#: Longest string attribute, in UTF-8 bytes.
MAX_STRING = 16_384

#: The SDK's enrichment namespaces, keyed by the keyword users pass.
NAMESPACES = {
    "inputs": "honeyhive_inputs",
    "outputs": "honeyhive_outputs",
    "metadata": "honeyhive_metadata",
    "metrics": "honeyhive_metrics",
    "feedback": "honeyhive_feedback",
    "config": "honeyhive_config",
    "user_properties": "honeyhive_user_properties",
}


def json_text(value: Any) -> str:
    """JSON text of anything, as valid UTF-8; never raises.

    What JSON cannot hold becomes its ``str()``; a value too deep or circular for JSON becomes its
    ``repr``, or a short placeholder when even that fails.
    """
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(value)
        except Exception:
            text = f"<unserializable {type(value).__name__}>"
    return _valid_utf8(text)


def truncate(text: str, limit: int) -> str:
    """``text`` as valid UTF-8 of at most ``limit`` bytes, with a visible marker when cut.

    Lone surrogates (``"\\udcff"`` from a JSON escape) are replaced: protobuf refuses to encode them,
    and one such attribute would otherwise lose the whole export.
    """
    text = _valid_utf8(text)
    if len(text) * 4 <= limit:  # fits whatever it holds: no need to encode it to know
        return text
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    marker = f"...[truncated {len(data) - limit} bytes]"
    # A cut inside a character drops that character's partial bytes.
    return data[: max(0, limit - len(marker))].decode("utf-8", "ignore") + marker


def to_json(value: Any, limit: int = MAX_STRING) -> str:
    """:func:`json_text` of ``value``, cut to ``limit`` bytes."""
    return truncate(json_text(value), limit)


def capture(value: Any, limit: int) -> Any:
    """``value`` itself when its JSON fits in ``limit`` bytes, else that JSON cut, with the marker.

    What the wrapper records of an event or a response, and ``process_records`` of a record.
    """
    text = json_text(value)
    if len(text) * 4 <= limit or len(text.encode("utf-8")) <= limit:
        return value
    return truncate(text, limit)


def json_safe(value: Any) -> Any:
    """``value`` when JSON can encode it, else its :func:`json_text`: for a request body's fields."""
    try:
        json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):
        return json_text(value)
    return value


def _valid_utf8(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def flatten(prefix: str, value: Any, limit: int = MAX_ATTRIBUTES) -> dict[str, AttributeValue]:
    """Flatten ``value`` under ``prefix``.

    >>> flatten("honeyhive_metadata", {"model": "x", "nested": {"a": 1}, "tags": ["a"], "none": None})
    {'honeyhive_metadata.model': 'x', 'honeyhive_metadata.nested.a': 1, 'honeyhive_metadata.tags.0': 'a'}
    """
    out: dict[str, AttributeValue] = {}
    for key, item in _walk(prefix, value, 0):
        if len(out) >= limit:
            out[f"{prefix}._truncated"] = True
            break
        out[key] = item
    return out


def _walk(key: str, value: Any, depth: int) -> Iterator[tuple[str, AttributeValue]]:
    if value is None:
        return
    if isinstance(value, bool | int | float):
        yield key, value
    elif isinstance(value, str):
        yield key, truncate(value, MAX_STRING)
    elif depth >= MAX_DEPTH:
        yield key, to_json(value)
    elif isinstance(value, Mapping):
        for sub_key, sub_value in value.items():
            yield from _walk(f"{key}.{sub_key}", sub_value, depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(f"{key}.{index}", item, depth + 1)
    else:
        yield key, to_json(value)


def enrichment_attributes(**fields: Any) -> dict[str, AttributeValue]:
    """Attributes for ``enrich_span``-style keywords (``inputs=``, ``metadata=``, ...)."""
    out: dict[str, AttributeValue] = {}
    for name, value in fields.items():
        if value is not None:
            out.update(flatten(NAMESPACES[name], value))
    return out
