"""A function that bundles its own OpenTelemetry in its package (first on ``sys.path``), run behind the
HoneyHive layer, which ships another version: it answers which version it runs and where every loaded
OpenTelemetry module came from, so that the tests can tell one copy of each distribution was imported."""

from __future__ import annotations

import importlib.metadata
import sys
from typing import Any

import opentelemetry.sdk.trace  # noqa: F401 - the function's own, as a function using its SDK imports it


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    modules = {
        name: getattr(module, "__file__", None)
        for name, module in list(sys.modules.items())
        if name.startswith("opentelemetry.") and getattr(module, "__file__", None)
    }
    return {
        "versions": {name: importlib.metadata.version(name) for name in ("opentelemetry-api", "opentelemetry-sdk")},
        "modules": modules,
    }
