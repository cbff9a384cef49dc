"""Module-level helpers that act on the current tracer (the active scope's, else ``get_tracer()``)."""

from __future__ import annotations

from typing import Any

from .tracer import current_tracer


def enrich_span(**fields: Any) -> None:
    """``HoneyHiveTracer.enrich_span`` on the current tracer."""
    current_tracer().enrich_span(**fields)


def enrich_session(**fields: Any) -> None:
    """``HoneyHiveTracer.enrich_session`` on the current tracer."""
    current_tracer().enrich_session(**fields)


def flush(timeout_millis: int = 30000) -> bool:
    """``HoneyHiveTracer.force_flush`` on the current tracer."""
    return current_tracer().force_flush(timeout_millis)
