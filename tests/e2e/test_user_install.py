"""The distributions installed into fresh venvs outside the checkout, used from there as a user would.

Runtime only: nothing but the runtime and its OpenTelemetry dependencies; the CLI answers ``--help``
and says in one line what a command needs. With the ``cli`` extra, every command works from any directory, and
``build-layer`` makes the same bytes as the repository's own build of that target.
"""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

import pytest

from conftest import LAYER_PYTHONS
from honeyhive_serverless_dev.cli.parser import build_parser
from honeyhive_serverless_dev.layer_build import layer_zip_name
from installed import Distributions, Venv
from layer_sbom import check_layer_sbom, sbom_beside

# Never in a runtime-only install: the layer must not carry them, and Lambda has boto3 already.
NOT_IN_THE_RUNTIME = {"boto3", "botocore", "aws-cdk-lib", "constructs", "moto", "pytest", "awslambdaric"}
LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m, json; print(json.dumps(sorted(d.name for d in m.distributions())))"
)
TARGET = ("3.12", "x86_64")


def test_the_wheel_holds_the_three_packages_and_the_layer_files_but_no_repository_code(
    distributions: Distributions,
) -> None:
    with zipfile.ZipFile(distributions.wheel) as wheel:
        names = set(wheel.namelist())
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}

    assert tops == {"honeyhive_serverless", "honeyhive_serverless_dev", "honeyhive_serverless_cdk"}
    assert {
        "honeyhive_serverless/py.typed",
        "honeyhive_serverless_cdk/py.typed",
        "honeyhive_serverless_cdk/instrumentation.py",
        "honeyhive_serverless_dev/layer_files/honeyhive-wrapper",
        "honeyhive_serverless_dev/layer_files/layer-requirements.txt",
        "honeyhive_serverless_dev/receiver/spec/dataplane-experiments.json",
        "honeyhive_serverless_dev/receiver/spec/python-sdk-dataplane.json",
        "honeyhive_serverless_dev/receiver/spec/otlp-session-protocol.json",
        "honeyhive_serverless_dev/receiver/spec/semconv.json",
    } <= names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    # The demo and the benchmarks read the checkout: they stay in tools/, out of the distribution.
    assert not [name for name in names if "repo_tools" in name or name.endswith(("/demo.py", "/bench.py"))]


def test_runtime_only_has_no_aws_sdk_cdk_or_test_tools_and_imports(runtime_venv: Venv, tmp_path: Path) -> None:
    listed = runtime_venv.run("python", "-c", LIST_DISTRIBUTIONS, cwd=tmp_path)
    imported = runtime_venv.run(
        "python",
        "-c",
        "import honeyhive_serverless.handler; from honeyhive_serverless import with_honeyhive_session",
        cwd=tmp_path,
    )

    assert listed.returncode == 0, listed.stderr
    installed = {name.lower() for name in json.loads(listed.stdout)}
    assert "honeyhive-serverless" in installed
    assert "opentelemetry-sdk" in installed
    assert not installed & NOT_IN_THE_RUNTIME
    assert imported.returncode == 0, imported.stderr


def test_the_cli_without_its_extra_answers_help_and_names_what_a_command_needs(
    runtime_venv: Venv, tmp_path: Path
) -> None:
    helped = runtime_venv.run("hh-serverless", "instrument", "--help", cwd=tmp_path)
    result = runtime_venv.run("hh-serverless", "instrument", "--function", "fn", "--no-key", cwd=tmp_path)

    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: hh-serverless instrument")
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("hh-serverless instrument: needs boto3")
    assert line.endswith("pip install 'honeyhive-serverless[cli]'")


# A session start whose start_time is a string, sent to a DevReceiver of the installed package.
BREAK_THE_CONTRACT = """
import json, urllib.request
from honeyhive_serverless_dev.receiver import DevReceiver
with DevReceiver() as rx:
    body = json.dumps({"session": {"start_time": "now"}}).encode()
    request = urllib.request.Request(rx.url + "/session/start", body, {"Content-Type": "application/json"})
    assert urllib.request.urlopen(request).status == 200
    print(*[finding.kind for finding in rx.contract_report().findings])
"""


def test_the_dev_receiver_holds_traffic_to_the_contract_the_wheel_ships(user_venv: Venv, tmp_path: Path) -> None:
    result = user_venv.run("python", "-c", BREAK_THE_CONTRACT, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["request-schema"]


def test_every_command_answers_help_with_the_extra(user_venv: Venv, tmp_path: Path) -> None:
    [subparsers] = [action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)]
    commands = list(subparsers.choices)
    assert {"build-layer", "publish-layer", "instrument", "uninstrument", "invoke", "dev-server"} <= set(commands)

    for command in ["", *commands]:
        result = user_venv.run("hh-serverless", *([command] if command else []), "--help", cwd=tmp_path)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.startswith(f"usage: hh-serverless {command}".rstrip()), command


@pytest.mark.skipif(TARGET[0] not in LAYER_PYTHONS, reason=f"no Python {TARGET[0]} here")
def test_build_layer_from_the_venv_is_byte_identical_to_the_repositorys(
    user_venv: Venv, dist: Path, tmp_path: Path
) -> None:
    python, arch = TARGET
    result = user_venv.run(
        "hh-serverless", "build-layer", "--python", python, "--arch", arch, "--out", "out", cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    name = layer_zip_name(python, arch)
    assert (tmp_path / "out" / name).read_bytes() == (dist / name).read_bytes()
    [entry] = json.loads((tmp_path / "out" / "layers.json").read_text())["layers"]
    assert entry["file"] == name
    # Its SBOM lists the same components (its tools entry names the venv's own cyclonedx-python-lib).
    built = check_layer_sbom(tmp_path / "out" / name)
    assert entry["sbom"] == sbom_beside(tmp_path / "out" / name).name
    assert built["components"] == check_layer_sbom(dist / name)["components"]
