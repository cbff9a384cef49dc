"""`make bench`'s Lambda Managed Instances: per-invocation latency where nothing freezes.

Each variant runs on awslambdaric 4.x under ``AWS_LAMBDA_MAX_CONCURRENCY`` (its workers forked, Python
3.13, each variant's libraries in a layer), at RTT 20 ms: rounds of as many invocations at once as there
are workers, each naming its session (W2: the project sends only its spans). The figure is the median
invocation latency (event handed over to response posted) per variant, and, for this project, how many of
the spans it made reached the receiver (none may be lost: its exports leave after the invocations).
"""

from __future__ import annotations

import statistics
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from honeyhive_serverless import variables
from honeyhive_serverless_dev.emulator import LambdaEmulator
from honeyhive_serverless_dev.receiver import DevReceiver

WORKERS = 4
RTT_MS = 20
#: Spans of the project's handler per invocation: the invocation's, and its three traced calls.
PROJECT_SPANS = 4
#: How long the receiver may take to get a project's last exports after the last response.
EXPORT_WAIT_S = 30.0


def managed_runs(
    variants: dict[str, tuple[str, list[Path]]],
    python: str,
    runtime: Path,
    handlers: Path,
    receiver: DevReceiver,
    rounds: int,
) -> dict[str, Any]:
    """Per variant (name -> handler, layers): invocation latencies in ms, and what reached the receiver."""
    receiver.delay_ms = RTT_MS
    try:
        return {
            name: _variant_run(name, handler, layers, python, runtime, handlers, receiver, rounds)
            for name, (handler, layers) in variants.items()
        }
    finally:
        receiver.delay_ms = 0


def _variant_run(
    name: str,
    handler: str,
    layers: list[Path],
    python: str,
    runtime: Path,
    handlers: Path,
    receiver: DevReceiver,
    rounds: int,
) -> dict[str, Any]:
    env = {variables.API_URL: receiver.url, variables.API_KEY: "bench-key", variables.PROJECT: "bench"}
    emulator = LambdaEmulator(
        handler,
        task_root=handlers,
        layers=layers,
        python=python,
        runtime_path=[runtime],
        env=env,
        function_name="bench-managed",
        max_concurrency=WORKERS,
    ).start()
    spans_before = len(receiver.spans)
    try:
        _round(emulator, name)  # each worker's cold start
        durations: list[float] = []
        for _ in range(rounds):
            durations += _round(emulator, name)
        out: dict[str, Any] = {"durations_ms": durations, "median_ms": statistics.median(durations)}
        if name.startswith("project"):
            expected = out["spans_expected"] = (rounds + 1) * WORKERS * PROJECT_SPANS
            receiver.wait_for(lambda r: len(r.spans) - spans_before >= expected, timeout=EXPORT_WAIT_S)
        out["spans"] = len(receiver.spans) - spans_before
    finally:
        emulator.stop()
    return out


def _round(emulator: LambdaEmulator, name: str) -> list[float]:
    """WORKERS invocations at once, each naming a session of its own; their latencies."""
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda _: emulator.invoke({"session_id": str(uuid.uuid4())}), range(WORKERS)))
    failed = [result.error for result in results if not result.ok]
    if failed:
        raise RuntimeError(f"{name} failed on Managed Instances: {failed[0]}")
    return [result.duration_ms for result in results]


def report_lines(results: dict[str, Any]) -> list[str]:
    """BENCHMARKS.md's section."""
    bare = results["bare"]["median_ms"]
    lines = [
        "",
        f"## Lambda Managed Instances ({WORKERS} workers, awslambdaric 4.x, Python 3.13, RTT {RTT_MS} ms, W2)",
        "",
        f"Rounds of {WORKERS} invocations at once, each naming its session; invocation latency (event handed"
        " over to response posted).",
        "",
        "| variant | median ms | added over bare | spans received |",
        "|---|---|---|---|",
    ]
    for name, run in results.items():
        received = f"{run['spans']} of {run['spans_expected']}" if "spans_expected" in run else ""
        lines.append(f"| {name} | {run['median_ms']:.1f} | {run['median_ms'] - bare:.1f} | {received} |")
    return lines
