"""The HoneyHive layer never replaces the function's own packages (issue 28).

Lambda extracts a function's layers into one ``/opt`` in order, a later layer's file replacing an
earlier one's, and puts ``/opt/python`` after the function's ``/var/task`` on ``sys.path``; the emulator
lays layers out the same way. The layer ``hh-serverless build-layer`` builds (one target: ``one_layer``)
runs here after a layer holding the app's own, older Powertools (as ``hh-serverless instrument``
attaches it: last), and beside a function that bundles its own, older OpenTelemetry. The function keeps
its versions and its logger's output, is still traced, and is told in one warning line when its version
is outside what the layer's code declares it needs.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from conftest import API_KEY, RUNTIME_CACHE, SANDBOX_HANDLERS, StartLayered
from honeyhive_serverless import variables
from honeyhive_serverless.vendored import MANIFEST_NAME, VENDOR_DIR
from honeyhive_serverless_dev.layer_build import LayerInfo, build_dependency_layer
from honeyhive_serverless_dev.receiver import DevReceiver

pytestmark = pytest.mark.timeout(900)

#: The app's Powertools, older than the layer's: what the function must keep.
APP_POWERTOOLS = "3.4.1"
#: The function's own OpenTelemetry, older than the layer's. Its semantic conventions (0.61b0) are not
#: the version the layer's instrumentations pin, which is what the one warning line is for.
OWN_OPENTELEMETRY = "1.40.0"
OWN_SEMANTIC_CONVENTIONS = "0.61b0"
#: The distributions ``opentelemetry-sdk==1.40.0`` brings that the layer ships too.
OWN_DISTRIBUTIONS = ("opentelemetry-api", "opentelemetry-sdk", "opentelemetry-semantic-conventions")
#: What the warning about a version the layer's code does not declare it works with says.
SHADOW_WARNING = "is used, not the layer's"
#: Powertools' JSON log keys that differ from one run to the next whatever the versions.
VOLATILE_LOG_KEYS = ("timestamp", "xray_trace_id")


@pytest.fixture(scope="module")
def powertools_layer(one_layer: LayerInfo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app's layer of Powertools 3.4.1 (with its typing-extensions), laid out as such layers are."""
    path = tmp_path_factory.mktemp("app-layer") / "powertools.zip"
    requirements = [f"aws-lambda-powertools=={APP_POWERTOOLS}"]
    build_dependency_layer(requirements, one_layer.python, "x86_64", path, cache_dir=RUNTIME_CACHE / "pip")
    return path


@pytest.fixture(scope="module")
def own_opentelemetry_root(one_layer: LayerInfo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A function's package with its own OpenTelemetry SDK 1.40.0 (and what it depends on) installed
    in it, as ``pip install -t`` would, beside its handler module."""
    built = tmp_path_factory.mktemp("own-otel") / "packages.zip"
    requirements = [f"opentelemetry-sdk=={OWN_OPENTELEMETRY}"]
    build_dependency_layer(requirements, one_layer.python, "x86_64", built, cache_dir=RUNTIME_CACHE / "pip")
    root = tmp_path_factory.mktemp("task-root")
    with zipfile.ZipFile(built) as archive:
        for entry in archive.infolist():
            if entry.filename.startswith("python/") and not entry.is_dir():
                target = root / entry.filename.removeprefix("python/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(entry))
    shutil.copyfile(SANDBOX_HANDLERS / "own_opentelemetry.py", root / "own_opentelemetry.py")
    return root


def traced(handler: str, receiver: DevReceiver) -> dict[str, str]:
    """The zero-code redirect ``instrument`` sets up, exporting to ``receiver``."""
    return {
        variables.LAMBDA_HANDLER: handler,
        variables.API_URL: receiver.url,
        variables.API_KEY: API_KEY,
        variables.PROJECT: "shadowing",
    }


def logged_lines(logs: str, service: str) -> list[dict[str, Any]]:
    """The Powertools Logger's JSON lines of ``service``, without what varies between any two runs."""
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{") and f'"{service}"' in line]
    return [{key: value for key, value in line.items() if key not in VOLATILE_LOG_KEYS} for line in lines]


def invocation_spans(receiver: DevReceiver) -> list[Any]:
    return [span for span in receiver.spans if "faas.invocation_id" in span.attributes]


def test_an_earlier_layers_powertools_is_kept_and_logs_as_without_the_honeyhive_layer(
    one_layer: LayerInfo, powertools_layer: Path, receiver: DevReceiver, start_layered: StartLayered
) -> None:
    assert one_layer.versions["aws-lambda-powertools"] != APP_POWERTOOLS  # the layer does ship another
    alone = start_layered("own_powertools.handler", [powertools_layer])
    instrumented = start_layered(
        variables.REDIRECT_HANDLER,
        [powertools_layer, one_layer.path],
        env=traced("own_powertools.handler", receiver),
    )

    before = alone.invoke({"question": "which Powertools?"})
    after = instrumented.invoke({"question": "which Powertools?"})

    assert before.ok and after.ok, (before.error, after.error, instrumented.logs)
    assert before.payload["powertools"] == after.payload["powertools"] == APP_POWERTOOLS
    assert instrumented.opt_dir is not None
    assert Path(after.payload["file"]).is_relative_to(instrumented.opt_dir / "python")  # the app layer's place
    [line] = logged_lines(instrumented.logs, "own-powertools")
    assert [line] == logged_lines(alone.logs, "own-powertools")
    assert line["message"] == "answering"
    assert SHADOW_WARNING not in instrumented.logs  # 3.4.1 is within the range the layer's code declares
    assert len(invocation_spans(receiver)) == 1  # and the function is traced


def test_a_function_bundling_its_own_opentelemetry_runs_it_and_is_still_traced(
    one_layer: LayerInfo, own_opentelemetry_root: Path, receiver: DevReceiver, start_layered: StartLayered
) -> None:
    emulator = start_layered(
        variables.REDIRECT_HANDLER,
        [one_layer.path],
        task_root=own_opentelemetry_root,
        env=traced("own_opentelemetry.handler", receiver),
    )

    result = emulator.invoke({"question": "which OpenTelemetry?"})

    assert result.ok, (result.error, emulator.logs)
    assert result.payload["versions"] == dict.fromkeys(("opentelemetry-api", "opentelemetry-sdk"), OWN_OPENTELEMETRY)
    assert emulator.opt_dir is not None
    vendored = emulator.opt_dir / VENDOR_DIR
    manifest = json.loads((vendored / MANIFEST_NAME).read_text())["distributions"]
    from_layer = {
        module: Path(path).relative_to(vendored).parts[0]
        for module, path in result.payload["modules"].items()
        if Path(path).is_relative_to(vendored)
    }
    from_function = {
        module
        for module, path in result.payload["modules"].items()
        if Path(path).is_relative_to(own_opentelemetry_root)
    }
    assert set(result.payload["modules"]) == set(from_layer) | from_function
    # One copy of each distribution: none of what the function brings is also loaded from the layer...
    assert not set(from_layer.values()) & {manifest[name]["dir"] for name in OWN_DISTRIBUTIONS}
    assert {"opentelemetry.sdk.trace", "opentelemetry.trace", "opentelemetry.semconv.attributes"} <= from_function
    # ...and the tracer encodes the function's SDK's spans itself: no OpenTelemetry OTLP encoder or
    # generated OTLP module is loaded from either.
    assert not [m for m in result.payload["modules"] if m.startswith(("opentelemetry.exporter", "opentelemetry.proto"))]
    assert len(invocation_spans(receiver)) == 1
    [warning] = [line for line in emulator.logs.splitlines() if SHADOW_WARNING in line]
    layer_semantic_conventions = one_layer.versions["opentelemetry-semantic-conventions"]
    assert f"opentelemetry-semantic-conventions {OWN_SEMANTIC_CONVENTIONS} ({own_opentelemetry_root})" in warning
    assert f"the layer's {layer_semantic_conventions}" in warning
    assert f"opentelemetry-instrumentation {one_layer.versions['opentelemetry-instrumentation']} requires" in warning
