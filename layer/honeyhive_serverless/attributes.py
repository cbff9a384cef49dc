"""Values made safe to send: span attributes flattened the way HoneyHive's SDK does, and the one
JSON-safety rule for everything else (captured events, responses, request bodies).

A dict becomes ``prefix.key``, a list item ``prefix.0``, scalars keep their type (an integer OTLP's
64 bits cannot hold becomes its text), anything else is JSON text, and ``None`` is skipped. Depth and
count are capped so a hostile payload cannot make a span unbounded. Every size limit here counts
bytes, as ``HH_MAX_PAYLOAD_BYTES`` says: of the JSON a request carries for a captured value, of the
UTF-8 text for anything cut.
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
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

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


def truncate(text: str, limit: int) -> str:
    """``text`` as valid UTF-8 of at most ``limit`` bytes, with a visible marker when cut.

    Lone surrogates (``"\\udcff"`` from a JSON escape) are replaced: the OTLP encoder refuses them,
    and one such attribute would otherwise lose the whole export.
    """
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "replace")
        text = data.decode("utf-8")
    if len(data) <= limit:
        return text
    # Room for the longest marker this cut can need; a cut inside a character drops its partial bytes.
    kept = data[: max(0, limit - len(f"...[truncated {len(data)} bytes]"))].decode("utf-8", "ignore")
    return f"{kept}...[truncated {len(data) - len(kept.encode('utf-8'))} bytes]"


def record_error(span: Any, error: BaseException) -> str:
    """Mark ``span`` (if it is one still recording) failed with ``error``: ``record_exception``'s event,
    made safe by :func:`describe_error`, the error status and ``honeyhive_error``. Returns the error's
    message."""
    message, exception_attributes = describe_error(error)
    if span is None or not span.is_recording():
        return message
    from opentelemetry.trace import Status, StatusCode  # loaded by the span's start already

    span.add_event("exception", exception_attributes)
    span.set_status(Status(StatusCode.ERROR, message))
    span.set_attribute("honeyhive_error", message)
    return message


def describe_error(error: BaseException) -> tuple[str, dict[str, AttributeValue]]:
    """An exception as ``"Type: message"`` and the attributes of OpenTelemetry's ``exception`` span event,
    made safe: an ``__str__`` that raises (``Span.record_exception`` would raise too), or text with a lone
    surrogate (which the OTLP encoder refuses, dropping the attribute), cannot lose the error or the span.

    >>> describe_error(ValueError("bad \\ud800"))[0]
    'ValueError: bad \\ud800'
    """
    name = type(error).__name__
    try:
        text = str(error)
    except Exception:
        text = f"<{name} whose str() failed>"
    try:
        import traceback  # loaded by logging already; only errors come here

        stacktrace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    except Exception:
        stacktrace = f"{name}: {text}"
    message = truncate(f"{name}: {text}" if text else name, MAX_STRING)
    return message, {
        "exception.type": name,
        "exception.message": truncate(text, MAX_STRING),
        "exception.stacktrace": truncate(stacktrace, MAX_STRING),
    }


def to_json(value: Any, limit: int = MAX_STRING) -> str:
    """JSON text of anything, as valid UTF-8 cut to ``limit`` bytes; never raises.

    What JSON cannot hold becomes its ``str()``; a value too deep or circular for JSON (or whose
    ``str()`` fails) becomes its ``repr``, or a short placeholder when even that fails.
    """
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except Exception:  # RecursionError, a circular value, a __str__ that raises: never the caller's problem
        try:
            text = repr(value)
        except Exception:
            text = f"<unserializable {type(value).__name__}>"
    return truncate(text, limit)


def capture(value: Any, limit: int) -> Any:
    """``value`` itself when its JSON, as a request carries it, fits in ``limit`` bytes; else that JSON
    cut to ``limit`` bytes, with the marker (:func:`to_json`'s text when JSON cannot encode it).

    What the wrapper records of an event or a response, and ``process_records`` of a record.
    """
    sent = _request_json(value)
    if sent is None:
        return to_json(value, limit)
    return value if len(sent) <= limit else truncate(sent, limit)


def json_safe(value: Any) -> Any:
    """``value`` when a request body can carry it as JSON, else its :func:`to_json` text."""
    return value if _request_json(value) is not None else to_json(value)


def _request_json(value: Any) -> str | None:
    """The JSON a request body carries for ``value`` (ASCII, so its length counts bytes), or None
    when JSON cannot encode it."""
    try:
        return json.dumps(value, default=str)
    except Exception:
        return None


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
        # A name is the value's keys joined: as valid UTF-8 as the values (the OTLP encoder drops an
        # attribute whose name has a lone surrogate, logging an error with a traceback), and as bounded.
        out[truncate(key, MAX_STRING)] = item
    return out


def _walk(key: str, value: Any, depth: int) -> Iterator[tuple[str, AttributeValue]]:
    if value is None:
        return
    if isinstance(value, bool | float) or (isinstance(value, int) and _INT64_MIN <= value <= _INT64_MAX):
        yield key, value
    elif isinstance(value, int):  # OTLP's integers are 64-bit: the encoder drops a larger one, logging an error
        yield key, to_json(value)
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
