"""Shared fixtures: a clean environment per test and a dev receiver on an ephemeral loopback port.

The tiers are folders, and each test gets its folder's marker (``-m unit`` and so on):
``unit/`` runs in-process against loopback servers and moto in seconds (``make check``);
``integration/`` runs the real runtime client under the emulator and CDK synth;
``e2e/`` builds the layers, loads them on every Python, deploys with the real CDK CLI and runs the
bench smoke. ``harness/`` below a tier holds the dev tools' own tests (receiver, emulator).
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest
import tomllib

import receiver_contract
from honeyhive_serverless import HoneyHiveTracer
from honeyhive_serverless import config as config_module
from honeyhive_serverless._log import logger as package_logger
from honeyhive_serverless.tracer import reset_tracer
from honeyhive_serverless_dev.emulator import (
    MANAGED_INSTANCES_PYTHON,
    MANAGED_INSTANCES_RUNTIME_CLIENT,
    LambdaEmulator,
    ensure_runtime,
)
from honeyhive_serverless_dev.layer_build import PYTHON_VERSIONS, LayerInfo, buildable
from honeyhive_serverless_dev.receiver import DevReceiver

if TYPE_CHECKING:
    from installed import Distributions, Venv
    from sdk_harness import SdkCalls

TESTS = Path(__file__).parent
REPO = TESTS.parent
TIERS = ("unit", "integration", "e2e")

API_KEY = "hh-test-key-canary-7f3a9c"
#: The Pythons whose layers this machine can build and load (an interpreter of each is at hand).
LAYER_PYTHONS = tuple(python for python in PYTHON_VERSIONS if buildable(python))
LAYER_ARCHS = ("x86_64", "arm64")
#: pip-installed Lambda runtimes per Python (awslambdaric + boto3, as /var/runtime has them).
RUNTIME_CACHE = REPO / ".cache"
SANDBOX_HANDLERS = TESTS / "sandbox_handlers"
#: Lambda Managed Instances run Python 3.13 and newer, on the runtime client whose multi-concurrent mode
#: forks the workers (4.x; pinned in the emulator). It lives only in the ``managed_instances_python`` venv;
#: the project's own environment keeps the 3.x the cli extra allows for every other emulator test.
#: The layer's lock: the runtime's dependencies at the versions the layer ships.
LAYER_LOCK = REPO / "layer" / "honeyhive_serverless_dev" / "layer_files" / "layer-requirements.txt"
MakeEmulator = Callable[..., LambdaEmulator]

_PLATFORM_VARIABLES = (
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_REGION",
    "FUNCTION_TARGET",
    "K_SERVICE",
    "_HANDLER",
)


def pytest_configure(config: pytest.Config) -> None:
    """Every dev receiver made from here on is strict, and a test fails if its receivers saw traffic that
    breaks HoneyHive's contract (``receiver_contract``)."""
    config.pluginmanager.register(receiver_contract, "receiver_contract")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0]
        if tier in TIERS:
            item.add_marker(tier)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import os

    for name in list(os.environ):
        if name.startswith(("HH_", "HONEYHIVE_")) or name in _PLATFORM_VARIABLES:
            monkeypatch.delenv(name)
    from opentelemetry import context as otel_context

    # A test's top-level create_session() stays attached, as it would in a script: undo it.
    saved = otel_context.get_current()
    # ``verbose`` sets the package logger's level and handler for the process, as it would in a function.
    level, handlers = package_logger.level, list(package_logger.handlers)
    # What is warned of once per process is warned of once per test.
    monkeypatch.setattr(config_module, "_warned_once", set())
    reset_tracer()
    yield
    reset_tracer()
    otel_context.attach(saved)
    package_logger.setLevel(level)
    package_logger.handlers[:] = handlers


@pytest.fixture
def receiver() -> Iterator[DevReceiver]:
    server = DevReceiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hh_env(monkeypatch: pytest.MonkeyPatch, receiver: DevReceiver) -> DevReceiver:
    """Environment pointing ``get_tracer()`` at the receiver."""
    monkeypatch.setenv("HH_API_URL", receiver.url)
    monkeypatch.setenv("HH_API_KEY", API_KEY)
    monkeypatch.setenv("HH_PROJECT", "test-project")
    return receiver


@pytest.fixture
def lambda_env(hh_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> DevReceiver:
    """``hh_env`` on Lambda: a function named ``fn`` in us-east-1, as the in-process tests call it."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return hh_env


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process, with credentials that reach nothing else; Powertools' cached clients forgotten
    (they would outlive the mock)."""
    from aws_lambda_powertools.utilities.parameters import base
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    providers: dict[str, Any] = base.DEFAULT_PROVIDERS  # type: ignore[attr-defined]
    providers.clear()
    with mock_aws():
        yield
    providers.clear()


@pytest.fixture
def aws_calls(aws: None, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """``aws``, plus a count of the AWS API calls anything makes, by operation."""
    import botocore.client

    calls: Counter[str] = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: Any) -> Any:
        calls[operation] += 1
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    return calls


def make_tracer(receiver: DevReceiver, **overrides: object) -> HoneyHiveTracer:
    options: dict[str, object] = {
        "api_key": API_KEY,
        "project": "test-project",
        "server_url": receiver.url,
        "skip_backend_session_creation": True,
        "export_mode": "immediate",
    }
    options.update(overrides)
    return HoneyHiveTracer.init(**options)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every layer zip, built once per test session (shared by the build and the load tests)."""
    from honeyhive_serverless_dev.layer_build import build_all

    out = tmp_path_factory.mktemp("dist")
    build_all(out, LAYER_PYTHONS, LAYER_ARCHS)
    return out


@pytest.fixture(scope="session")
def one_layer(tmp_path_factory: pytest.TempPathFactory) -> LayerInfo:
    """The layer of one target, the newest Python this machine builds on x86_64, built once per session
    as ``hh-serverless build-layer`` builds it: for tests that load a layer, not every target's build."""
    from honeyhive_serverless_dev.layer_build import build_layer
    from layer_sbom import check_layer_sbom

    if not LAYER_PYTHONS:
        pytest.skip("no Python this machine can build a layer for")
    info = build_layer(LAYER_PYTHONS[-1], "x86_64", tmp_path_factory.mktemp("one-layer"))
    check_layer_sbom(info.path)
    return info


@pytest.fixture(scope="session")
def one_layer_runtime(one_layer: LayerInfo) -> Path:
    """``/var/runtime`` (the runtime client and boto3) for ``one_layer``'s Python."""
    return ensure_runtime(one_layer.python, RUNTIME_CACHE)


@pytest.fixture(scope="session")
def layer_cache(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A layer cache (``HH_LAYER_CACHE_DIR``) holding this run's build of every target, so a synth that
    builds its layer locally reuses the zips the ``dist`` fixture built instead of building them again."""
    from honeyhive_serverless import variables
    from honeyhive_serverless_dev.layer_build import cache_path, read_manifest

    root = tmp_path_factory.mktemp("layer-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(variables.LAYER_CACHE_DIR, str(root))
        for info in read_manifest(dist):
            target = cache_path(info.python, info.arch)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(info.path, target)
    return root


@pytest.fixture
def running() -> Iterator[list[LambdaEmulator]]:
    """Emulators a test started itself (it appends them); each is stopped at the end of the test."""
    started: list[LambdaEmulator] = []
    yield started
    for emulator in started:
        emulator.stop()


class StartLayered(Protocol):
    def __call__(
        self, handler: str, layers: list[Path], *, env: dict[str, str] | None = None, task_root: Path = ...
    ) -> LambdaEmulator: ...


@pytest.fixture
def start_layered(running: list[LambdaEmulator], one_layer: LayerInfo, one_layer_runtime: Path) -> StartLayered:
    """Starts a function on ``one_layer``'s Python and runtime, with ``layers`` (the handler from the
    sandbox handlers unless ``task_root`` says otherwise); each is stopped at the end of the test."""

    def start(
        handler: str, layers: list[Path], *, env: dict[str, str] | None = None, task_root: Path = SANDBOX_HANDLERS
    ) -> LambdaEmulator:
        emulator = LambdaEmulator(
            handler,
            task_root=task_root,
            layers=layers,
            python=one_layer.python,
            runtime_path=[one_layer_runtime],
            env=env or {},
            function_name="layered",
            timeout_s=60,
        )
        running.append(emulator)
        return emulator.start()

    return start


@pytest.fixture
def emulators() -> Iterator[MakeEmulator]:
    """Start emulators (task root: tests/sandbox_handlers unless given); every one is stopped, its
    sandbox killed, at the end of the test."""
    started: list[LambdaEmulator] = []

    def make(handler: str, **options: Any) -> LambdaEmulator:
        options.setdefault("task_root", SANDBOX_HANDLERS)
        emulator = LambdaEmulator(handler, **options)
        started.append(emulator)
        return emulator.start()

    try:
        yield make
    finally:
        for emulator in started:
            emulator.stop()


# --------------------------------------------------------------------------------------------
# Testing as a user would: the distributions, built once per run, and venvs outside the checkout


@pytest.fixture(scope="session")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> Distributions:
    """The sdist and the wheel of this checkout, built once per run."""
    from installed import build_distributions

    return build_distributions(tmp_path_factory.mktemp("distributions"))


@pytest.fixture(scope="session")
def runtime_venv(tmp_path_factory: pytest.TempPathFactory, distributions: Distributions) -> Venv:
    """``pip install honeyhive-serverless``: the runtime alone."""
    from installed import make_venv

    return make_venv(tmp_path_factory.mktemp("runtime-venv") / "venv", str(distributions.wheel))


@pytest.fixture(scope="session")
def user_venv(tmp_path_factory: pytest.TempPathFactory, distributions: Distributions) -> Venv:
    """``pip install 'honeyhive-serverless[cli,cdk]'`` with the oldest aws-cdk-lib the construct allows.

    The repository's own environment has the newest pinned one, so together the two ends of the range
    are synthesized and deployed.
    """
    from installed import make_venv, oldest_supported

    cdk_extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["cdk"]
    floors = [oldest_supported(requirement) for requirement in cdk_extra if requirement.startswith("aws-cdk-lib")]
    return make_venv(tmp_path_factory.mktemp("user-venv") / "venv", f"{distributions.wheel}[cli,cdk]", *floors)


@pytest.fixture(scope="session")
def managed_instances_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The interpreter of a Python 3.13 venv with awslambdaric 4.x and the runtime's dependencies (at the
    layer's locked versions), built once per run with uv (from its cache after the first). It has none of
    this project: a sandbox on it gets this checkout's ``layer/`` on its PYTHONPATH (``MANAGED_INSTANCES_PATH``)."""
    from honeyhive_serverless_dev.interpreters import resolve_python
    from installed import make_venv

    try:
        base = resolve_python(MANAGED_INSTANCES_PYTHON)
    except LookupError as exc:
        pytest.skip(f"Managed Instances need Python {MANAGED_INSTANCES_PYTHON}: {exc}")
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    root = tmp_path_factory.mktemp("managed-instances") / "venv"
    venv = make_venv(
        root, MANAGED_INSTANCES_RUNTIME_CLIENT, *dependencies, "-c", str(LAYER_LOCK), installer="uv", python=base
    )
    return str(venv.python)


#: The sandbox's PYTHONPATH on ``managed_instances_python``: this checkout's runtime package.
MANAGED_INSTANCES_PATH = str(REPO / "layer")


# --------------------------------------------------------------------------------------------
# HoneyHive's own SDK as a peer service (distributed tracing): in a venv of its own, never in this project


@pytest.fixture(scope="session")
def honeyhive_sdk(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A venv with HoneyHive's SDK, ``honeyhive==1.7.0`` (pinned here, in ``sdk_harness``, and nowhere
    else: it must never enter the layer, the runtime's dependencies or the constraints), run by
    ``tests/sdk_caller.py``. Installed with uv: pip takes several times longer for the SDK's tree."""
    from installed import make_venv
    from sdk_harness import SDK_REQUIREMENT

    return make_venv(tmp_path_factory.mktemp("honeyhive-sdk") / "venv", SDK_REQUIREMENT, installer="uv")


@pytest.fixture(scope="session")
def honeyhive_sdk_client(tmp_path_factory: pytest.TempPathFactory, distributions: Distributions) -> Venv:
    """HoneyHive's SDK with this project's wheel and boto3, as a user's experiment script has them: the
    SDK's ``evaluate()`` runs a function that invokes a deployed function (``invoke_function``). A sibling
    of ``honeyhive_sdk``, which holds nothing of this project."""
    from installed import make_venv
    from sdk_harness import SDK_REQUIREMENT

    root = tmp_path_factory.mktemp("honeyhive-sdk-client") / "venv"
    return make_venv(root, SDK_REQUIREMENT, str(distributions.wheel), "boto3", installer="uv")


@pytest.fixture(scope="session")
def sdk_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the SDK's scripts run: outside the checkout."""
    return tmp_path_factory.mktemp("sdk-cwd")


@pytest.fixture(scope="session")
def sdk_calls(honeyhive_sdk: Venv, sdk_workdir: Path) -> SdkCalls:
    """Four outgoing calls the SDK made, each in a session and a trace of its own (one run of the SDK,
    about 3 s, shared by every test that continues them: a callee's receiver is the test's own)."""
    from sdk_harness import sdk_calls

    return sdk_calls(honeyhive_sdk, 4, sdk_workdir)
