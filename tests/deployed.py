"""Running what was deployed to moto: moto stores functions and layers but cannot run them (that needs
Docker), so their code and layers, checked against the hashes Lambda reports, go through the local
Lambda emulator with the deployed configuration, and "AWS" inside the sandbox is the same moto."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from conftest import RUNTIME_CACHE
from deploy_local import REGION, LocalAws, lambda_code_sha256
from honeyhive_serverless_dev.emulator import InvocationResult, LambdaEmulator, ensure_runtime
from honeyhive_serverless_dev.receiver import DevReceiver
from installed import Venv


def local_copy_of_layer(lambda_client: Any, arn: str, candidates: Iterable[Path]) -> Path:
    """The zip among ``candidates`` that the layer version ``arn`` holds, by the CodeSha256 Lambda reports.

    (moto gives a layer version no downloadable location, so its bytes are matched instead.)
    """
    unversioned, version = arn.rsplit(":", 1)
    reported = lambda_client.get_layer_version(LayerName=unversioned, VersionNumber=int(version))["Content"]
    for path in candidates:
        if lambda_code_sha256(path.read_bytes()) == reported["CodeSha256"]:
            return path
    raise AssertionError(f"none of the local zips is the content of {arn}")


def invoke_deployed(
    config: dict[str, Any], task_root: Path, layers: list[Path], aws_endpoint: str, event: Any
) -> tuple[InvocationResult, str]:
    """Invoke the function ``config`` describes once, cold; its result and the sandbox's output."""
    python = config["Runtime"].removeprefix("python")
    emulator = LambdaEmulator(
        config["Handler"],
        task_root=task_root,
        layers=layers,
        python=python,
        runtime_path=[ensure_runtime(python, RUNTIME_CACHE)],
        # The deployed variables, plus where this sandbox's AWS SDK finds "AWS": moto.
        env={**config.get("Environment", {}).get("Variables", {}), "AWS_ENDPOINT_URL": aws_endpoint},
        function_name=config["FunctionName"],
        timeout_s=config["Timeout"],
        memory_mb=config["MemorySize"],
    ).start()
    try:
        invocation = emulator.invoke(event)
    finally:
        emulator.stop()
    return invocation, emulator.logs


def publish_with_cli(venv: Venv, aws: LocalAws, dist: Path, python: str, arch: str, cwd: Path) -> dict[str, Any]:
    """``hh-serverless publish-layer`` of one built zip, from ``venv``, to moto; its manifest entry."""
    published = venv.run(
        "hh-serverless",
        "publish-layer",
        "--region",
        REGION,
        "--dist",
        dist,
        "--python",
        python,
        "--arch",
        arch,
        cwd=cwd,
        env=aws.env(),
    )
    assert published.returncode == 0, published.stderr
    [layer] = json.loads(published.stdout)["layers"]
    return dict(layer)


def has_session_named(name: str, receiver: DevReceiver) -> bool:
    """Whether a session of that name has started (for ``receiver.wait_for``)."""
    return any(start["session_name"] == name for start in receiver.session_starts)
