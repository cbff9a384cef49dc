"""The rule that keeps the layer's third-party packages from replacing the function's own
(``honeyhive_serverless.vendored``): on directories written here, and once in a fresh interpreter
whose ``/opt`` is laid out as the layer's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import honeyhive_serverless
from honeyhive_serverless.vendored import MANIFEST_NAME, VENDOR_DIR, resolve

LAYER_POWERTOOLS = "3.37.0"


def manifest(**requires: str) -> dict[str, Any]:
    """A layer of Powertools, the OpenTelemetry API and SDK, and instrumentation (which requires the
    semantic conventions it was released with); ``requires`` are honeyhive-serverless's own ranges."""
    return {
        "version": "0.1.0",
        "requires": requires,
        "distributions": {
            "aws-lambda-powertools": {"dir": "0", "version": LAYER_POWERTOOLS, "roots": ["aws_lambda_powertools"]},
            "opentelemetry-api": {"dir": "1", "version": "1.45.2", "roots": ["opentelemetry/trace"]},
            "opentelemetry-instrumentation": {
                "dir": "2",
                "version": "0.66b2",
                "roots": ["opentelemetry/instrumentation/utils.py"],
                "requires": {"opentelemetry-semantic-conventions": "==0.66b2"},
            },
            "opentelemetry-sdk": {
                "dir": "3",
                "version": "1.45.2",
                "roots": ["opentelemetry/sdk/trace"],
                "requires": {"opentelemetry-api": "==1.45.2", "opentelemetry-semantic-conventions": "==0.66b2"},
            },
            "opentelemetry-semantic-conventions": {"dir": "4", "version": "0.66b2", "roots": ["opentelemetry/semconv"]},
        },
    }


def install(site: Path, name: str, version: str | None, *files: str) -> None:
    """Files of a distribution in ``site``, with its dist-info when it has a version."""
    for file in files:
        path = site / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    if version is not None:
        (site / f"{name.replace('-', '_')}-{version}.dist-info").mkdir(parents=True)


def test_what_nothing_else_brings_is_appended_from_the_layer(tmp_path: Path) -> None:
    task = tmp_path / "task"
    task.mkdir()
    vendor = str(tmp_path / VENDOR_DIR)

    resolution = resolve(manifest(), vendor, [str(task)])

    assert resolution.appended == tuple(os.path.join(vendor, number) for number in "01234")
    assert resolution.shadowed == ()


def test_directories_are_appended_in_the_order_the_builder_numbered_them(tmp_path: Path) -> None:
    task = tmp_path / "task"
    task.mkdir()
    vendor = str(tmp_path / VENDOR_DIR)
    layer = manifest()
    for name, directory in (("aws-lambda-powertools", "4"), ("opentelemetry-semantic-conventions", "0")):
        layer["distributions"][name]["dir"] = directory

    resolution = resolve(layer, vendor, [str(task)])

    assert resolution.appended == tuple(os.path.join(vendor, number) for number in "01234")


def test_an_earlier_layers_powertools_is_used_and_the_layers_copy_stays_off_the_path(tmp_path: Path) -> None:
    task, earlier_layer = tmp_path / "task", tmp_path / "opt-python"
    task.mkdir()
    install(earlier_layer, "aws_lambda_powertools", "3.4.1", "aws_lambda_powertools/__init__.py")
    vendor = str(tmp_path / VENDOR_DIR)

    resolution = resolve(manifest(**{"aws-lambda-powertools": "<4,>=3.0"}), vendor, [str(task), str(earlier_layer)])

    assert os.path.join(vendor, "0") not in resolution.appended
    assert len(resolution.appended) == 4
    [shadowed] = resolution.shadowed
    assert (shadowed.name, shadowed.version, shadowed.layer_version) == ("aws-lambda-powertools", "3.4.1", "3.37.0")
    assert shadowed.location == str(earlier_layer)
    assert shadowed.unmet == ()  # within honeyhive-serverless's range: nothing to say


def test_a_version_outside_a_range_the_layers_code_declares_is_named_in_one_warning_line(tmp_path: Path) -> None:
    task = tmp_path / "task"
    install(task, "aws-lambda-powertools", "2.40.0", "aws_lambda_powertools/__init__.py")

    resolution = resolve(manifest(**{"aws-lambda-powertools": "<4,>=3.0"}), str(tmp_path / VENDOR_DIR), [str(task)])

    [shadowed] = resolution.shadowed
    assert shadowed.unmet == (("honeyhive-serverless", "0.1.0", "<4,>=3.0"),)
    warning = shadowed.warning()
    assert "\n" not in warning
    assert warning.startswith(f"honeyhive: the function's aws-lambda-powertools 2.40.0 ({task}) is used")
    assert "not the layer's 3.37.0" in warning
    assert "honeyhive-serverless 0.1.0 requires <4,>=3.0" in warning


def test_only_what_the_layer_still_uses_has_its_requirements_checked(tmp_path: Path) -> None:
    """The function's API and semantic conventions replace the layer's; the SDK's pins do not count
    (the function brings its own SDK), the instrumentation's do (the layer's is still used)."""
    task = tmp_path / "task"
    install(task, "opentelemetry-api", "1.40.0", "opentelemetry/trace/__init__.py")
    install(task, "opentelemetry-sdk", "1.40.0", "opentelemetry/sdk/trace/__init__.py")
    install(task, "opentelemetry-semantic-conventions", "0.61b0", "opentelemetry/semconv/__init__.py")
    vendor = str(tmp_path / VENDOR_DIR)

    resolution = resolve(manifest(), vendor, [str(task)])

    assert resolution.appended == (os.path.join(vendor, "0"), os.path.join(vendor, "2"))
    unmet = {shadowed.name: shadowed.unmet for shadowed in resolution.shadowed}
    assert unmet == {
        "opentelemetry-api": (),
        "opentelemetry-sdk": (),
        "opentelemetry-semantic-conventions": (("opentelemetry-instrumentation", "0.66b2", "==0.66b2"),),
    }


def test_a_shared_namespace_directory_alone_does_not_count_as_bringing_a_distribution(tmp_path: Path) -> None:
    task = tmp_path / "task"
    install(task, "opentelemetry-api", "1.45.2", "opentelemetry/trace/__init__.py", "opentelemetry/py.typed")
    vendor = str(tmp_path / VENDOR_DIR)

    resolution = resolve(manifest(), vendor, [str(task)])

    assert [shadowed.name for shadowed in resolution.shadowed] == ["opentelemetry-api"]
    assert os.path.join(vendor, "3") in resolution.appended  # the SDK: the function has none
    assert resolution.shadowed[0].unmet == ()  # the same version: nothing to compare


def test_a_copy_without_dist_info_is_used_without_a_word(tmp_path: Path) -> None:
    task = tmp_path / "task"
    install(task, "aws-lambda-powertools", None, "aws_lambda_powertools/__init__.py")

    resolution = resolve(manifest(**{"aws-lambda-powertools": "<4,>=3.0"}), str(tmp_path / VENDOR_DIR), [str(task)])

    [shadowed] = resolution.shadowed
    assert (shadowed.version, shadowed.unmet) == (None, ())


# --------------------------------------------------------------------------------------------
# In a fresh interpreter, from an /opt laid out as the layer's

PROBE = """
import json, sys
import honeyhive_serverless
import mypackage
print(json.dumps({"file": mypackage.__file__, "tail": sys.path[-1]}))
"""


def layer_opt(tmp_path: Path, requires: str) -> Path:
    """/opt with this checkout's runtime package in python/ and one vendored distribution, mypackage 3.0."""
    opt = tmp_path / "opt"
    (opt / "python").mkdir(parents=True)
    (opt / "python" / "honeyhive_serverless").symlink_to(Path(honeyhive_serverless.__file__).parent)
    install(opt / VENDOR_DIR / "0", "mypackage", "3.0", "mypackage/__init__.py")
    layer_manifest = {
        "version": "0.1.0",
        "requires": {"mypackage": requires},
        "distributions": {"mypackage": {"dir": "0", "version": "3.0", "roots": ["mypackage"]}},
    }
    (opt / VENDOR_DIR / MANIFEST_NAME).write_text(json.dumps(layer_manifest))
    return opt


def run_probe(task: Path, opt: Path) -> tuple[dict[str, str], str]:
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("HH_", "PYTHON"))},
        "PYTHONPATH": os.pathsep.join([str(task), str(opt / "python")]),
    }
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout), result.stderr


def test_importing_the_package_from_the_layer_appends_what_the_function_lacks(tmp_path: Path) -> None:
    task = tmp_path / "task"
    task.mkdir()
    opt = layer_opt(tmp_path, ">=3")

    answer, stderr = run_probe(task, opt)

    assert answer == {
        "file": str(opt / VENDOR_DIR / "0" / "mypackage" / "__init__.py"),
        "tail": str(opt / VENDOR_DIR / "0"),
    }
    assert stderr == ""


@pytest.mark.parametrize(("version", "warned"), [("3.5", False), ("2.0", True)])
def test_the_functions_own_copy_is_imported_and_warned_about_only_out_of_range(
    tmp_path: Path, version: str, warned: bool
) -> None:
    task = tmp_path / "task"
    install(task, "mypackage", version, "mypackage/__init__.py")
    opt = layer_opt(tmp_path, ">=3")

    answer, stderr = run_probe(task, opt)

    assert answer["file"] == str(task / "mypackage" / "__init__.py")
    assert VENDOR_DIR not in answer["tail"]  # the layer's copy is not on the path at all
    lines = stderr.splitlines()
    if warned:
        [line] = lines
        assert f"the function's mypackage 2.0 ({task}) is used, not the layer's 3.0" in line
    else:
        assert lines == []


def test_an_unreadable_manifest_adds_nothing_and_says_so_once(tmp_path: Path) -> None:
    task = tmp_path / "task"
    install(task, "mypackage", "1.0", "mypackage/__init__.py")
    opt = layer_opt(tmp_path, ">=3")
    (opt / VENDOR_DIR / MANIFEST_NAME).write_text("{not json")

    answer, stderr = run_probe(task, opt)

    assert answer["file"] == str(task / "mypackage" / "__init__.py")
    [line] = stderr.splitlines()
    assert f"the layer's {MANIFEST_NAME} is unreadable" in line
