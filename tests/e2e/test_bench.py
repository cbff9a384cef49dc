"""`make bench` keeps working: its harness, run once with one iteration of everything (the figures in
BENCHMARKS.md come from the full run, never from here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import RUNTIME_CACHE
from honeyhive_serverless import variables
from repo_tools import bench, bench_llm_apps


# Every layer the bench compares, built from scratch on a fresh machine, then each section once.
@pytest.mark.timeout(600)
@pytest.mark.breaks_contract(
    "orphaned-span",
    "refused-update",
    "span-without-session",
    reason="the bench's baselines: honeyhive 1.7.0 joins sessions without asking for them, plain OpenTelemetry "
    "sends no session, and the round-trip probe updates an event that does not exist",
)
def test_the_benchmark_harness_runs_end_to_end(
    tmp_path: Path, layer_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variables.LAYER_CACHE_DIR, str(layer_cache))  # this run's build, not the home cache
    report = tmp_path / "BENCHMARKS.md"
    assert bench.main(["--quick", "--out", str(tmp_path), "--report", str(report), "--cache", str(RUNTIME_CACHE)]) == 0

    results = json.loads((tmp_path / "results.json").read_text())
    warm = results["warm"]
    # Requests are counts, not timings: they hold on any machine.
    assert warm["project:invocation|W1|20"]["requests"] == 3  # session start, spans, session enrichment
    assert warm["project:invocation|W2|20"]["requests"] == 1  # spans only
    assert warm["project:after_response|W1|20"]["requests"] == 3
    assert warm["sdk|W1|20"]["requests"] > warm["project:invocation|W1|20"]["requests"]
    assert {results["scaling"][f"project:invocation|{spans}"]["requests"] for spans in bench.SPAN_COUNTS} == {1}
    assert results["scaling"]["sdk|100"]["requests"] >= 100  # one request per span
    assert set(results["cold"]) == {"bare", "opentelemetry", "project:invocation", "project:redirect", "sdk"}
    assert set(results["cold_https"]) == {"bare", "opentelemetry", "project:invocation", "project:redirect"}
    assert set(results["llm_apps"]) == set(bench_llm_apps.QUICK_APPS)
    assert results["sizes"]["sdk"]["unzipped"] > max(size["unzipped"] for size in results["sizes"]["project"].values())
    assert results["memory"]["project:invocation"] > results["memory"]["bare"] > 0
    network = results["network"]
    assert network["back-to-back"]["requests"] == 1  # spans only (linked sessions), on the open connection
    assert network["back-to-back"]["new_connections"] == 0
    firsts = network["first invocations"]
    # The first invocation opens what its export needs beside the handler: one connection, two for a new
    # session (its start, then spans and enrichment side by side).
    assert {key: run["first after cold start"]["new_connections"] for key, run in firsts.items()} == {
        "slow|linked": 1,
        "slow|new": 2,
        "busy|linked": 1,
        "busy|new": 2,
    }
    managed = results["managed"]
    assert set(managed) == {"bare", "opentelemetry", "sdk", "project:invocation"}
    assert managed["project:invocation"]["spans"] == managed["project:invocation"]["spans_expected"]  # none lost
    assert {kind: len(run["done_ms"]) for kind, run in network["after_response"].items()} == {
        "handed off": 1,
        "nothing handed off": 1,
    }

    # The traced web request waits for its export, a round trip, before its body ends.
    assert results["web"]["middleware|/chat|20"]["done_ms"] > results["web"]["bare|/chat|20"]["done_ms"] + 15
    text = report.read_text()
    assert "## Web requests" in text
    assert "| target | measured | met |" in text
    assert (
        "## Cold start" in text
        and "## Scaling" in text
        and "## Memory" in text
        and "## Network" in text
        and "## Web requests" in text
    )
    assert (tmp_path / "benchmarks.png").read_bytes().startswith(b"\x89PNG")
