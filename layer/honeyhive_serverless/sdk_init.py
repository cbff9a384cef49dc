"""HoneyHive SDK's ``HoneyHiveTracer.init`` surface mapped onto this package's settings.

Every keyword of honeyhive 1.7.0's ``init`` is taken, as keywords or in its config objects; those that
mean nothing here warn once, in one line, and those done once at init (``inputs``, ``link_carrier``)
are handed back to the tracer. What remains is resolved by ``config`` like any setting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

from ._log import logger
from .config import Config, resolve_config


@dataclass(frozen=True, kw_only=True)
class TracerConfig:
    """``HoneyHiveTracer.init(config=TracerConfig(...))``, as with the SDK's ``TracerConfig``.

    Its fields are every keyword ``HoneyHiveTracer.init`` of honeyhive 1.7.0 takes (the fields of the
    SDK's ``TracerConfig``, ``SessionConfig`` and ``EvaluationConfig``), then this package's own
    ``export_mode`` and ``instrumentors``. A field left ``None`` is not given: its ``HH_*`` variable,
    else its default, applies.
    """

    api_key: str | None = None
    ingestion_api_key: str | None = None
    server_url: str | None = None
    project: str | None = None
    source: str | None = None
    session_name: str | None = None
    session_id: str | None = None
    inputs: dict[str, Any] | None = None
    link_carrier: Mapping[str, Any] | None = None
    skip_backend_session_creation: bool | None = None
    disable_batch: bool | None = None
    disable_tracing: bool | None = None
    disable_http_tracing: bool | None = None
    test_mode: bool | None = None
    verbose: bool | None = None
    span_name_filters: Any = None
    max_attributes: int | None = None
    max_events: int | None = None
    max_links: int | None = None
    max_span_size: int | None = None
    preserve_core_attributes: bool | None = None
    cache_enabled: bool | None = None
    cache_max_size: int | None = None
    cache_ttl: float | None = None
    cache_cleanup_interval: float | None = None
    requests_session: Any = None
    is_evaluation: bool | None = None
    run_id: str | None = None
    dataset_id: str | None = None
    datapoint_id: str | None = None
    export_mode: str | None = None
    instrumentors: str | Sequence[str] | None = None


#: What a config object may carry: the names ``HoneyHiveTracer.init`` takes.
_INIT_FIELDS = frozenset(field.name for field in fields(TracerConfig))
#: Every keyword ``HoneyHiveTracer.init`` of honeyhive 1.7.0 takes (``HoneyHiveTracer.init`` takes them too).
#: This package's own init keywords, beside the SDK's.
OWN_INIT_ARGUMENTS = ("export_mode", "instrumentors")
SDK_INIT_ARGUMENTS = tuple(field.name for field in fields(TracerConfig) if field.name not in OWN_INIT_ARGUMENTS)
#: SDK init arguments that mean nothing here -> the value at which they are silent, because it is what
#: this package does anyway (or the SDK's default). Any other value warns once, naming the argument.
NO_EFFECT_ARGUMENTS: Mapping[str, object] = MappingProxyType(
    {
        "disable_http_tracing": True,  # nothing here traces HTTP clients
        "preserve_core_attributes": True,
        "cache_enabled": True,
        "cache_max_size": None,
        "cache_ttl": None,
        "cache_cleanup_interval": None,
        "requests_session": None,  # requests go over this package's own pooled connection
        "is_evaluation": False,  # experiments are out of scope
        "run_id": None,
        "dataset_id": None,
        "datapoint_id": None,
    }
)
#: Init arguments that are what the tracer does once, at init, rather than settings it keeps.
STARTUP_ARGUMENTS = ("inputs", "link_carrier")


def resolve_init(
    explicit: Mapping[str, Any], config_objects: Sequence[object] = (), env: Mapping[str, str] | None = None
) -> tuple[Config, dict[str, Any]]:
    """``HoneyHiveTracer.init``'s arguments resolved: the config, and the start-up arguments given
    (``inputs``, ``link_carrier``).

    A config object (``config=``, ``session_config=``, ``evaluation_config=``: the SDK's models, a
    :class:`TracerConfig`, a mapping, any object with those attributes) gives its fields as if they
    were arguments, a later object over an earlier one, and explicit keywords win over them all, as in
    the SDK. ``None`` is never given. Arguments that mean nothing here warn once, in one line.
    """
    given: dict[str, Any] = {}
    for source in config_objects:
        given.update(_config_fields(source))
    given.update({name: value for name, value in explicit.items() if value is not None})
    no_effect = []
    for name, silent in NO_EFFECT_ARGUMENTS.items():
        if name in given and given.pop(name) != silent:
            no_effect.append(name)
    if no_effect:
        logger.warning("honeyhive: HoneyHiveTracer.init arguments with no effect here: %s", ", ".join(no_effect))
    startup = {name: given.pop(name) for name in STARTUP_ARGUMENTS if name in given}
    return resolve_config(**given, env=env), startup


def _config_fields(source: object) -> dict[str, Any]:
    """The fields a config object gives: for the SDK's pydantic models only those set, not their defaults
    (which would beat this package's variables and platform defaults)."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        unknown = sorted(str(name) for name in source if name not in _INIT_FIELDS)
        if unknown:
            raise ValueError(f"config has no field {unknown[0]!r}")
        return {str(name): value for name, value in source.items() if value is not None}
    names = getattr(source, "model_fields_set", None)
    candidates = _INIT_FIELDS & names if isinstance(names, set | frozenset) else _INIT_FIELDS
    return {name: value for name in candidates if (value := getattr(source, name, None)) is not None}
