"""Importing the package is free of heavy modules; building the tracer pulls only what it needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("opentelemetry", "requests", "boto3", "botocore", "aws_lambda_powertools", "google.protobuf")


def _loaded_after(code: str, env: dict[str, str] | None = None) -> list[str]:
    script = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("HH_")}
    run_env.update(env or {})
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=run_env, check=True)
    modules: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return modules


def test_import_pulls_in_nothing_heavy() -> None:
    modules = _loaded_after("import honeyhive_serverless")
    assert [m for m in modules if m.startswith(HEAVY)] == []


def test_decorating_with_trace_imports_no_opentelemetry() -> None:
    modules = _loaded_after("from honeyhive_serverless import trace\n@trace\ndef f():\n    return 1")
    assert [m for m in modules if m.startswith(HEAVY)] == []


def test_first_get_tracer_loads_neither_requests_nor_boto3_nor_powertools() -> None:
    modules = _loaded_after(
        "from honeyhive_serverless import get_tracer, trace\nget_tracer()",
        {"HH_API_KEY": "k", "HH_API_URL": "http://127.0.0.1:9", "AWS_LAMBDA_FUNCTION_NAME": "fn"},
    )
    assert "opentelemetry.sdk.trace" in modules
    assert [m for m in modules if m.startswith(("requests", "boto3", "botocore", "aws_lambda_powertools"))] == []
    assert "opentelemetry.exporter.otlp.proto.http" not in modules
    # The exporter's OTLP encoding is the package's own: no protobuf, no generated OTLP modules.
    assert "honeyhive_serverless.export.otlp_encoding" in modules
    assert [m for m in modules if m.startswith(("google.protobuf", "google._upb", "opentelemetry.proto"))] == []
    assert [m for m in modules if m.startswith("opentelemetry.exporter")] == []


def test_ids_do_not_repeat_when_random_is_seeded() -> None:
    code = (
        "import random\nrandom.seed(1234)\n"
        "from honeyhive_serverless import HoneyHiveTracer\n"
        "t = HoneyHiveTracer.init(test_mode=True, skip_backend_session_creation=True)\n"
        "s = t.otel_tracer.start_span('x')\n"
        "print(format(s.get_span_context().trace_id, '032x'), t.create_session(skip_api_call=True))"
    )
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert len(runs) == 2


def test_difflib_is_imported_only_for_an_unknown_variable() -> None:
    code = "from honeyhive_serverless import get_tracer\nget_tracer()"
    assert "difflib" not in _loaded_after(code, {"HH_PROJECT": "p", "HH_API_KEY": "k"})
    assert "difflib" in _loaded_after(code, {"HH_PROJET": "p", "HH_API_KEY": "k"})
