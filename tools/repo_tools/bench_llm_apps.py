"""`make bench`'s LLM apps: the cold start and warm latency of real LLM apps, without and with the layer.

The apps are the ones ``tests/e2e/test_llm_apps.py`` judges (``tests/sandbox_handlers``: boto3's
``bedrock-runtime`` Converse call, a LangChain retrieval chat over Bedrock, an ``openai`` chat), each
with only its own libraries in a layer of its own (boto3 is the runtime's), against the fake Bedrock and
OpenAI servers on loopback: ``all`` applies the instrumentors of the libraries installed, and an
instrumentor imports its library when applied. "alone" is
the app as its author deploys it; "with layer" adds the HoneyHive layer after the app's own, behind the
zero-code redirect with ``HH_INSTRUMENTORS=all``, as ``hh-serverless instrument`` sets it up. Cold is
spawn to first response (a new sandbox each time, the two interleaved); warm is the median invocation
after two.
"""

from __future__ import annotations

import importlib.metadata
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from honeyhive_serverless import variables
from honeyhive_serverless_dev.emulator import LambdaEmulator
from honeyhive_serverless_dev.fake_bedrock import FakeBedrock
from honeyhive_serverless_dev.fake_openai import FakeOpenAI
from honeyhive_serverless_dev.layer_build import build_dependency_layer
from honeyhive_serverless_dev.receiver import DevReceiver

ROOT = Path(__file__).resolve().parents[2]
#: The apps the tests judge, measured as they are (no copy for the bench).
APPS_ROOT = ROOT / "tests" / "sandbox_handlers"
#: App -> (handler, event, the distributions it brings).
APPS: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "boto3 Bedrock Converse": ("bedrock_app.handler", {"call": "converse", "prompt": "hi"}, ()),
    "LangChain RAG over Bedrock": (
        "langchain_rag.handler",
        {"body": '{"question": "What is a llama?"}'},
        ("langchain-aws",),
    ),
    "openai chat": ("llm.handler", {"prompt": "hi"}, ("openai",)),
}
#: The smoke test's (``--quick``): the LangChain app's layer (numpy and all) takes minutes to build.
QUICK_APPS = ("boto3 Bedrock Converse", "openai chat")
FORMS = ("alone", "with layer")


def llm_app_runs(
    project_layer: Path,
    python: str,
    runtime: Path,
    receiver: DevReceiver,
    cache: Path,
    runs: int,
    warm_runs: int,
    apps: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Per app (of ``apps``, else all) and form: cold samples and warm samples, in ms."""
    out: dict[str, Any] = {}
    with FakeBedrock() as bedrock, FakeOpenAI() as openai:
        providers = {**bedrock.endpoint_variables, "OPENAI_BASE_URL": openai.base_url, "OPENAI_API_KEY": "sk-bench"}
        for app in APPS if apps is None else apps:
            handler, event, distributions = APPS[app]
            app_layers = [library_layer(distributions, python, cache)] if distributions else []

            def emulator(form: str, handler: str = handler, app_layers: list[Path] = app_layers) -> LambdaEmulator:
                layers, name, env = list(app_layers), handler, dict(providers)
                if form == "with layer":
                    layers.append(project_layer)
                    name = variables.REDIRECT_HANDLER
                    env.update(
                        {
                            variables.LAMBDA_HANDLER: handler,
                            variables.API_URL: receiver.url,
                            variables.API_KEY: "bench-key",
                            variables.PROJECT: "bench",
                            "HH_INSTRUMENTORS": "all",
                        }
                    )
                return LambdaEmulator(
                    name, task_root=APPS_ROOT, layers=layers, python=python, runtime_path=[runtime], env=env
                )

            cold: dict[str, list[float]] = {form: [] for form in FORMS}
            for _ in range(runs):
                for form in FORMS:
                    running = emulator(form).start()
                    try:
                        result = running.invoke(event)
                    finally:
                        running.stop()
                    if not result.ok:
                        raise RuntimeError(f"{app} ({form}) failed its cold start: {result.error}")
                    cold[form].append((result.init_ms or 0.0) + result.duration_ms)
            warm: dict[str, list[float]] = {}
            for form in FORMS:
                running = emulator(form).start()
                try:
                    for _ in range(2):
                        running.invoke(event)
                        running.wait_frozen()
                    warm[form] = []
                    for _ in range(warm_runs):
                        result = running.invoke(event)
                        running.wait_frozen()
                        warm[form].append(result.duration_ms)
                finally:
                    running.stop()
            out[app] = {"cold": cold, "warm": warm}
    return out


def library_layer(distributions: tuple[str, ...], python: str, cache: Path) -> Path:
    """A layer of ``distributions`` at the versions this environment tests with, built once (as a
    function's package, or its own layer, would hold them)."""
    requirements = [f"{name}=={importlib.metadata.version(name)}" for name in distributions]
    path = cache / "bench-library-layers" / f"py{python}-x86_64-{'-'.join(requirements)}.zip"
    if not path.exists():
        build_dependency_layer(requirements, python, "x86_64", path, cache_dir=cache / "pip")
    return path


def report_lines(results: dict[str, Any]) -> list[str]:
    """BENCHMARKS.md's section."""
    lines = [
        "",
        "## Real LLM apps, alone and with the layer (`HH_INSTRUMENTORS=all`, zero-code redirect, RTT 0)",
        "",
        "The apps of `tests/e2e/test_llm_apps.py`, each with only its own libraries in a layer of its own, against",
        "fake Bedrock and OpenAI servers on loopback. Cold: spawn to first response (the RAG app builds its index",
        "then).",
        "",
        "| app | cold alone | cold with layer | added | warm alone | warm with layer | added |",
        "|---|---|---|---|---|---|---|",
    ]
    for app, run in results.items():
        cold = {form: statistics.median(values) for form, values in run["cold"].items()}
        warm = {form: statistics.median(values) for form, values in run["warm"].items()}
        alone, layered = FORMS
        lines.append(
            f"| {app} | {cold[alone]:.0f} ms | {cold[layered]:.0f} ms | {cold[layered] - cold[alone]:.0f} ms"
            f" | {warm[alone]:.1f} ms | {warm[layered]:.1f} ms | {warm[layered] - warm[alone]:.1f} ms |"
        )
    return lines
