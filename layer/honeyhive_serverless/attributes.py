"""Flattening enrichment into span attributes the way HoneyHive's SDK does.

A dict becomes ``prefix.key``, a list item ``prefix.0``, scalars keep their type, anything else is
JSON text, and ``None`` is skipped. Depth and count are capped so a hostile payload cannot make a span
unbounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

AttributeValue = str | bool | int | float

MAX_DEPTH = 8
MAX_ATTRIBUTES = 256
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


def to_json(value: Any, limit: int = MAX_STRING) -> str:
    """JSON text of anything (``str()`` for what JSON cannot hold), cut to ``limit`` characters.

    Never raises: a value too deep for JSON or ``repr`` becomes a short placeholder.
    """
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(value)
        except Exception:
            text = f"<unserializable {type(value).__name__}>"
    return truncate(text, limit)


def truncate(text: str, limit: int) -> str:
    """``text`` as valid UTF-8, cut to ``limit`` characters with a visible marker when cut.

    Lone surrogates (``"\\udcff"`` from a JSON escape) are replaced: protobuf refuses to encode them,
    and one such attribute would otherwise lose the whole export.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    if len(text) <= limit:
        return text
    marker = f"...[truncated {len(text) - limit} chars]"
    return text[: max(0, limit - len(marker))] + marker


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
