"""Baseline: the work with no tracing at all."""

from __future__ import annotations

from typing import Any

from work import generate, retrieve, run


def step(question: str) -> str:
    return generate(question, retrieve(question))


def handler(event: Any, context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": run(event, step, retrieve)}
