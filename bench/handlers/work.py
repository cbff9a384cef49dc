"""The same small piece of "LLM app" work for every benchmarked variant.

W1/W2 runs make three traced calls per invocation (a chain calling a tool and a model); scaling runs
send ``{"spans": N}`` and make N traced tool calls. The network runs' handler is ``slow``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def retrieve(question: str) -> list[str]:
    return [f"doc {n} about {question}" for n in range(2)]


def generate(question: str, documents: list[str]) -> str:
    return f"{question}: {len(documents)} documents"


def run(event: Any, step: Callable[[str], str], tool: Callable[[str], list[str]]) -> str:
    """``step`` once (three traced calls), or ``tool`` ``event["spans"]`` times."""
    spans = event.get("spans") if isinstance(event, dict) else None
    if spans is None:
        return step("q")
    for _ in range(int(spans)):
        tool("q")
    return f"{spans} spans"


SLOW_WORK_S = 0.15


def slow(event: Any, context: Any) -> dict[str, Any]:
    """A handler whose work takes 150 ms (an LLM call's wait, say); undecorated, the network runs'
    baseline (``slow_work`` decorates it)."""
    time.sleep(SLOW_WORK_S)  # the workload itself, not a wait for something
    return {"statusCode": 200}


def busy(event: Any, context: Any) -> dict[str, Any]:
    """A handler whose 150 ms are the CPU's (a parse, an embedding computed in process): undecorated, the
    CPU-bound baseline of the network runs (``busy_work`` decorates it). Work beside it competes for the
    GIL, where beside ``slow`` it fills a wait."""
    deadline = time.perf_counter() + SLOW_WORK_S
    spins = 0
    while time.perf_counter() < deadline:
        spins += 1
    return {"statusCode": 200, "spins": spins > 0}
