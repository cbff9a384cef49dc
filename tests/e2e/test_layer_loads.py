"""The built layer loads where Lambda loads it: for each Python, only the unzipped layer (as /opt), the
task root and the runtime client on the path, not the project's venv; cold and warm invocations
through the real runtime client; the spans arrive. Also through the zero-code redirect and the exec
wrapper; and an LLM function traced by the layer's own OpenInference instrumentor, its ``openai`` in a
layer of its own (as the function's package would hold it)."""

from __future__ import annotations

import importlib.metadata
import uuid
from pathlib import Path

import pytest

from conftest import API_KEY, LAYER_PYTHONS, REPO, RUNTIME_CACHE, SANDBOX_HANDLERS
from honeyhive_serverless.variables import REDIRECT_HANDLER
from honeyhive_serverless_dev.emulator import LambdaEmulator, ensure_runtime
from honeyhive_serverless_dev.fake_openai import REPLY, FakeOpenAI
from honeyhive_serverless_dev.layer_build import build_dependency_layer, layer_zip_name
from honeyhive_serverless_dev.receiver import DevReceiver

HANDLERS = REPO / "handlers"
#: The oldest and the newest Python: each needs an openai layer of its own (pydantic-core is native).
LLM_PYTHONS = sorted({LAYER_PYTHONS[0], LAYER_PYTHONS[-1]})


@pytest.fixture
def sandbox_env(receiver: DevReceiver) -> dict[str, str]:
    return {"HH_API_URL": receiver.url, "HH_API_KEY": API_KEY, "HH_PROJECT": "layer-test"}


def emulate(
    python: str,
    dist: Path,
    handler: str,
    env: dict[str, str],
    *,
    task_root: Path = HANDLERS,
    more_layers: tuple[Path, ...] = (),
    **options: object,
) -> LambdaEmulator:
    return LambdaEmulator(
        handler,
        task_root=task_root,
        layers=[*more_layers, dist / layer_zip_name(python, "x86_64")],
        python=python,
        runtime_path=[ensure_runtime(python, RUNTIME_CACHE)],
        env=env,
        function_name="layer-test",
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("python", LAYER_PYTHONS)
def test_decorated_handler_cold_and_warm_from_the_layer_alone(
    python: str, dist: Path, receiver: DevReceiver, sandbox_env: dict[str, str], running: list[LambdaEmulator]
) -> None:
    emulator = emulate(python, dist, "chat.handler", sandbox_env).start()
    running.append(emulator)
    linked = str(uuid.uuid4())
    cold = emulator.invoke({"question": "cold?"})
    warm = emulator.invoke({"question": "warm?", "session_id": linked})
    assert cold.ok and warm.ok, (cold.error, warm.error, emulator.logs)
    assert (cold.cold, warm.cold) == (True, False)
    assert cold.sandbox_pid == warm.sandbox_pid
    assert cold.payload["statusCode"] == 200
    [started] = receiver.session_starts
    # Four spans per invocation (the invocation, answer, retrieve, generate), sent before each response.
    assert {s.session_id for s in receiver.spans_for_session(started["session_id"])} == {started["session_id"]}
    assert len(receiver.spans_for_session(started["session_id"])) == 4
    assert len(receiver.spans_for_session(linked)) == 4
    assert all(r.received_at < warm.response_at for r in receiver.otlp_requests())
    coldstarts = [s.attributes["faas.coldstart"] for s in receiver.spans if "faas.coldstart" in s.attributes]
    assert coldstarts == [True, False]
    assert emulator.python_version.startswith(python)  # a pyenv base interpreter: no project venv


@pytest.mark.parametrize("python", LAYER_PYTHONS)
def test_undecorated_handler_through_the_redirect_and_the_exec_wrapper(
    python: str, dist: Path, receiver: DevReceiver, sandbox_env: dict[str, str], running: list[LambdaEmulator]
) -> None:
    redirect = emulate(
        python,
        dist,
        "honeyhive_serverless.handler.handler",
        {**sandbox_env, "HH_LAMBDA_HANDLER": "plain.handler"},
    ).start()
    wrapped = emulate(python, dist, "plain.handler", sandbox_env, exec_wrapper="/opt/honeyhive-wrapper").start()
    running.extend([redirect, wrapped])
    for emulator, marker in ((redirect, "redirect"), (wrapped, "exec-wrapper")):
        result = emulator.invoke({"via": marker})
        assert result.ok, (result.error, emulator.logs)
        assert result.payload == {"echo": {"via": marker}}
    invocation_spans = [s for s in receiver.spans if "faas.invocation_id" in s.attributes]
    assert sorted(s.attributes["honeyhive_inputs.event.via"] for s in invocation_spans) == ["exec-wrapper", "redirect"]
    assert len(receiver.session_starts) == 2
    assert {s.session_id for s in invocation_spans} == {s["session_id"] for s in receiver.session_starts}


@pytest.mark.parametrize("python", LLM_PYTHONS)
def test_the_layers_instrumentors_trace_the_functions_own_openai_with_no_code_change(
    python: str,
    dist: Path,
    receiver: DevReceiver,
    sandbox_env: dict[str, str],
    running: list[LambdaEmulator],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # exceptiongroup: anyio's backport for 3.10, behind a marker pip judges by its own interpreter, not the
    # target's; a function's package built on 3.10 has it.
    requirements = [f"openai=={importlib.metadata.version('openai')}", "exceptiongroup"]
    openai_layer = tmp_path_factory.mktemp("openai-layer") / f"openai-py{python}.zip"
    build_dependency_layer(requirements, python, "x86_64", openai_layer, cache_dir=RUNTIME_CACHE / "pip")
    with FakeOpenAI() as api:
        env = {
            **sandbox_env,
            "HH_LAMBDA_HANDLER": "llm.handler",
            "HH_INSTRUMENTORS": "all",  # found through the entry points of the layer's own dist-info
            "OPENAI_BASE_URL": api.base_url,
            "OPENAI_API_KEY": "sk-fake",
        }
        emulator = emulate(
            python, dist, REDIRECT_HANDLER, env, task_root=SANDBOX_HANDLERS, more_layers=(openai_layer,)
        ).start()
        running.append(emulator)
        results = [emulator.invoke({"prompt": f"call {n}"}) for n in range(2)]
    assert all(result.ok for result in results), (results[0].error, emulator.logs)
    assert [result.payload for result in results] == [{"reply": REPLY}] * 2
    llm = [s for s in receiver.spans if s.attributes.get("openinference.span.kind") == "LLM"]
    invocations = [s for s in receiver.spans if "faas.invocation_id" in s.attributes]
    assert len(llm) == len(invocations) == 2
    assert [s.session_id for s in llm] == [s.session_id for s in invocations]
    assert len({s.session_id for s in llm}) == 2
    assert all(s.attributes["honeyhive_event_type"] == "model" for s in llm)
    assert "WARNING" not in emulator.logs, emulator.logs
