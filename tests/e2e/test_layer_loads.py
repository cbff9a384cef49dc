"""The built layer loads where Lambda loads it: for each Python, only the unzipped layer (as /opt), the
task root and the runtime client on the path, not the project's venv; cold and warm invocations
through the real runtime client; the spans arrive. Also through the zero-code redirect and the exec
wrapper."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import API_KEY, LAYER_PYTHONS, REPO, RUNTIME_CACHE
from honeyhive_serverless_dev.emulator import LambdaEmulator, ensure_runtime
from honeyhive_serverless_dev.layer_build import layer_zip_name
from honeyhive_serverless_dev.receiver import DevReceiver

HANDLERS = REPO / "handlers"


@pytest.fixture
def sandbox_env(receiver: DevReceiver) -> dict[str, str]:
    return {"HH_API_URL": receiver.url, "HH_API_KEY": API_KEY, "HH_PROJECT": "layer-test"}


def emulate(python: str, dist: Path, handler: str, env: dict[str, str], **options: object) -> LambdaEmulator:
    return LambdaEmulator(
        handler,
        task_root=HANDLERS,
        layers=[dist / layer_zip_name(python, "x86_64")],
        python=python,
        runtime_path=[ensure_runtime(python, RUNTIME_CACHE)],
        env=env,
        function_name="layer-test",
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def running() -> Iterator[list[LambdaEmulator]]:
    started: list[LambdaEmulator] = []
    yield started
    for emulator in started:
        emulator.stop()


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
