"""`make bench-import`: what `import honeyhive_serverless` and the first `get_tracer()` cost.

Each sample is a fresh interpreter (as a cold start is), the variants interleaved so that machine
noise falls on all of them alike; medians are reported. The full side-by-side benchmark against
HoneyHive's SDK is `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from honeyhive_serverless import variables

_PROBE = """
import time, json
t0 = time.perf_counter()
{setup}
t1 = time.perf_counter()
{measured}
t2 = time.perf_counter()
import sys
print(json.dumps({{"setup_ms": (t1 - t0) * 1000, "measured_ms": (t2 - t1) * 1000, "modules": len(sys.modules)}}))
"""

#: name -> (setup, measured, extra environment)
VARIANTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "import honeyhive_serverless": ("import honeyhive_serverless", "", {}),
    "first get_tracer() (after import)": ("import honeyhive_serverless", "honeyhive_serverless.get_tracer()", {}),
    "OpenTelemetry SDK + OTLP HTTP exporter (reference)": (
        "",
        "import opentelemetry.sdk.trace, opentelemetry.exporter.otlp.proto.http.trace_exporter",
        {},
    ),
    "import openinference.instrumentation.openai (after openai)": (
        "import openai",
        "import openinference.instrumentation.openai",
        {},
    ),
    "first get_tracer() with HH_INSTRUMENTORS=openai (after openai, honeyhive_serverless)": (
        "import openai, honeyhive_serverless",
        "honeyhive_serverless.get_tracer()",
        {variables.INSTRUMENTORS: "openai"},
    ),
    "first get_tracer() with HH_INSTRUMENTORS=all (the same)": (
        "import openai, honeyhive_serverless",
        "honeyhive_serverless.get_tracer()",
        {variables.INSTRUMENTORS: "all"},
    ),
}


def _sample(setup: str, measured: str, env: dict[str, str]) -> dict[str, float]:
    code = _PROBE.format(setup=setup or "pass", measured=measured or "pass")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure_imports(runs: int) -> dict[str, float]:
    """Median milliseconds of each variant over ``runs`` fresh interpreters, interleaved."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HH_")}
    env.update(
        {variables.LAMBDA_FUNCTION_NAME: "bench", variables.API_KEY: "bench", variables.API_URL: "http://127.0.0.1:9"}
    )
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(runs):
        for name, (setup, measured, extra) in VARIANTS.items():
            sample = _sample(setup, measured, {**env, **extra})
            samples[name].append(sample["measured_ms"] if measured else sample["setup_ms"])
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=15)
    args = parser.parse_args(argv)
    print(f"{'what':<52} {'median ms':>10}  (n={args.runs}, fresh process each)")
    for name, median in measure_imports(args.runs).items():
        print(f"{name:<52} {median:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
