"""`make bench-import`: what `import honeyhive_serverless` and the first `get_tracer()` cost.

Each sample is a fresh interpreter (as a cold start is), the variants interleaved so that machine
noise falls on all of them alike; medians are reported. The full side-by-side benchmark against
HoneyHive's SDK is `make bench`.

With ``--layer`` (zips or directories, in the function's order, the built layer among them) the variants
that need nothing but the layer run from those layers laid out as one ``/opt`` the way Lambda extracts
them, on a base interpreter of ``--python``: what a cold start from the layer pays, beside any other.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from honeyhive_serverless import variables
from honeyhive_serverless_dev.emulator.layers import lay_out
from honeyhive_serverless_dev.interpreters import resolve_python

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
#: The variants that need nothing but the layer (``--layer``).
LAYER_VARIANTS = ("import honeyhive_serverless", "first get_tracer() (after import)")


def _sample(interpreter: str, setup: str, measured: str, env: dict[str, str]) -> dict[str, float]:
    code = _PROBE.format(setup=setup or "pass", measured=measured or "pass")
    out = subprocess.run([interpreter, "-c", code], capture_output=True, text=True, env=env, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@contextmanager
def _from_layers(layers: list[Path], python: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The interpreter and environment of a sandbox whose ``/opt`` is ``layers``: the task root (empty)
    first on the path, then the layers' two directories, as on Lambda; no user site-packages."""
    tempdirs: list[Path] = []
    try:
        opt = lay_out(layers, tempdirs)
        assert opt is not None
        task_root = Path(tempfile.mkdtemp(prefix="hh-bench-task-"))
        tempdirs.append(task_root)
        path = [task_root, opt / "python" / "lib" / f"python{python}" / "site-packages", opt / "python"]
        env = {"PYTHONPATH": os.pathsep.join(map(str, path)), "PYTHONNOUSERSITE": "1"}
        yield resolve_python(python), env
    finally:
        for directory in tempdirs:
            shutil.rmtree(directory, ignore_errors=True)


def measure_imports(runs: int, layers: list[Path] | None = None, python: str = "3.12") -> dict[str, float]:
    """Median milliseconds of each variant over ``runs`` fresh interpreters, interleaved; from ``layers``
    on ``python`` when given, else in this environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "PYTHON"))}
    env.update(
        {variables.LAMBDA_FUNCTION_NAME: "bench", variables.API_KEY: "bench", variables.API_URL: "http://127.0.0.1:9"}
    )
    variants = {name: VARIANTS[name] for name in LAYER_VARIANTS} if layers else VARIANTS
    samples: dict[str, list[float]] = {name: [] for name in variants}
    with _from_layers(layers, python) if layers else _here() as (interpreter, extra_env):
        for _ in range(runs):
            for name, (setup, measured, extra) in variants.items():
                sample = _sample(interpreter, setup, measured, {**env, **extra_env, **extra})
                samples[name].append(sample["measured_ms"] if measured else sample["setup_ms"])
    return {name: statistics.median(values) for name, values in samples.items()}


@contextmanager
def _here() -> Iterator[tuple[str, dict[str, str]]]:
    """This interpreter, with its own path (the PYTHONPATH it was started with)."""
    yield sys.executable, {name: value for name, value in os.environ.items() if name == "PYTHONPATH"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=15)
    parser.add_argument(
        "--layer",
        action="append",
        type=Path,
        default=[],
        help="a layer zip or directory, in the function's order (repeat): measure from them as /opt",
    )
    parser.add_argument("--python", default="3.12", help="the layers' Python (with --layer)")
    args = parser.parse_args(argv)
    where = f", from {len(args.layer)} layer(s) on Python {args.python}" if args.layer else ""
    print(f"{'what':<52} {'median ms':>10}  (n={args.runs}, fresh process each{where})")
    for name, median in measure_imports(args.runs, args.layer, args.python).items():
        print(f"{name:<52} {median:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
