"""HoneyHive's published contract as validators: the JSON in ``spec/``, shipped with this package.

``spec/`` holds excerpts of HoneyHive's own specs, each naming its source under ``x-source``:
``python-sdk-dataplane.json`` (the OpenAPI its Python SDK is generated from: the REST bodies),
``otlp-session-protocol.json`` (the ``honeyhive.*`` span attributes HoneyHive reads for sessions) and
``semconv.json`` (its semantic conventions: the event fields' types). Every check of a body's or an
attribute's shape is a JSON Schema taken from these files, run by ``jsonschema``; nothing here restates
what they say by hand.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any, TypeGuard

from jsonschema import Draft202012Validator

DATAPLANE = "python-sdk-dataplane.json"
OTLP_PROTOCOL = "otlp-session-protocol.json"
SEMCONV = "semconv.json"
#: The runs routes HoneyHive's ``evaluate()`` calls (``experiments``).
EXPERIMENTS = "dataplane-experiments.json"

START_SESSION = "POST /session/start"
UPDATE_EVENT = "PUT /events"
SESSION_START_RESPONSE = "PostSessionStartResponse"
SPAN_ATTRIBUTES = "span attributes"

#: The attributes HoneyHive's SDK puts on spans, by the semantic-convention field each one carries
#: (``honeyhive_event_type`` is ``honeyhive.event_type``, and so on; the SDK's duration is in ms).
SDK_ATTRIBUTE_FIELDS = {
    "honeyhive_event_type": "honeyhive.event_type",
    "honeyhive_event_name": "honeyhive.event_name",
    "honeyhive_error": "honeyhive.error",
    "honeyhive_duration_ms": "honeyhive.duration",
}

# The spec files' type names, as JSON Schema: the protocol table writes "bool", semconv "boolean",
# "int" and "double".
_TYPES = {"string": "string", "bool": "boolean", "boolean": "boolean", "int": "integer", "double": "number"}


@functools.cache
def spec_document(name: str) -> dict[str, Any]:
    """One of the spec files, parsed (read from the installed package, so it works from a wheel)."""
    text = (resources.files(__package__) / "spec" / name).read_text(encoding="utf-8")
    document = json.loads(text)
    assert isinstance(document, dict), name
    return document


def request_schema(operation: str) -> dict[str, Any]:
    """The request body schema of a dataplane operation, e.g. ``POST /session/start``."""
    schema = spec_document(DATAPLANE)["operations"][operation]["requestBody"]
    assert isinstance(schema, dict), operation
    return schema


def response_schema(name: str) -> dict[str, Any]:
    """A dataplane response schema by name, e.g. ``PostSessionStartResponse``."""
    schema = spec_document(DATAPLANE)["schemas"][name]
    assert isinstance(schema, dict), name
    return schema


def _attribute_schema(declared: Any) -> dict[str, Any]:
    if isinstance(declared, Mapping) and "enum" in declared:
        return {"enum": list(declared["enum"])}
    return {"type": _TYPES[str(declared)]}


def span_attributes_schema() -> dict[str, Any]:
    """A JSON Schema for a span's attributes: the protocol table's ``honeyhive.*`` attributes with their
    types, and the SDK's event attributes with the types of the semantic-convention fields they carry
    (``honeyhive_event_type`` one of the event types). Other attributes are free."""
    protocol = spec_document(OTLP_PROTOCOL)["protocol_attributes"]
    properties = {name: _attribute_schema(entry["type"]) for name, entry in protocol.items()}
    fields = {
        attribute["id"]: attribute
        for group in spec_document(SEMCONV)["groups"].values()
        for attribute in group["attributes"]
    }
    for attribute_name, field_id in SDK_ATTRIBUTE_FIELDS.items():
        properties[attribute_name] = _attribute_schema(fields[field_id]["type"])
    return {"type": "object", "properties": properties}


@functools.cache
def validator(what: str) -> Draft202012Validator:
    """The validator of a request body (``START_SESSION``, ``UPDATE_EVENT``), of a response schema by name
    (``SESSION_START_RESPONSE``), or of a span's attributes (``SPAN_ATTRIBUTES``). The specs are OpenAPI 3.1,
    whose schemas are JSON Schema 2020-12."""
    if what == SPAN_ATTRIBUTES:
        schema = span_attributes_schema()
    elif " " in what:
        schema = request_schema(what)
    else:
        schema = response_schema(what)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def is_number(value: Any) -> TypeGuard[int | float]:
    """Whether ``value`` is a number as the schemas mean it (JSON Schema's: a bool is not one)."""
    return bool(Draft202012Validator.TYPE_CHECKER.is_type(value, "number"))


def span_problems(attributes: Mapping[str, Any]) -> list[str]:
    """``problems`` of a span's attributes. Only the attributes the schema names are judged, and the
    result is remembered by their values (and types: ``True`` is not ``1`` here), so that the spans of a
    large export, which repeat their session's and their kind's attributes, cost little to judge."""
    judged = tuple(
        (key, type(attributes[key]).__name__, attributes[key]) for key in _span_attribute_names() if key in attributes
    )
    try:
        return list(_remembered_span_problems(judged))
    except TypeError:  # a value that cannot be remembered (a list): judged afresh
        return problems(SPAN_ATTRIBUTES, {key: value for key, _, value in judged})


@functools.cache
def _span_attribute_names() -> tuple[str, ...]:
    return tuple(span_attributes_schema()["properties"])


@functools.lru_cache(maxsize=4096)
def _remembered_span_problems(judged: tuple[tuple[str, str, Any], ...]) -> tuple[str, ...]:
    return tuple(problems(SPAN_ATTRIBUTES, {key: value for key, _, value in judged}))


def problems(what: str, document: Any) -> list[str]:
    """What is wrong with ``document`` by the schema ``what`` names, one line per error ("at.path: why"),
    in a stable order; empty when it conforms."""
    lines = []
    for error in sorted(validator(what).iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        where = ".".join(str(part) for part in error.absolute_path)
        lines.append(f"{where}: {error.message}" if where else error.message)
    return lines
