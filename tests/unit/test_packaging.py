"""What the distribution declares: the layer's lock, the extras, the version and the license.

The lock (``layer_files/layer-requirements.txt``) is what makes one honeyhive-serverless version build
the same layer any day; these tests keep it exact and in step with pyproject.toml.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

from conftest import REPO
from honeyhive_serverless.vendored import PROJECT_NAME
from honeyhive_serverless.version import __version__
from honeyhive_serverless_dev.cli import missing_requirements
from honeyhive_serverless_dev.cli.program import EXTRA
from honeyhive_serverless_dev.layer_build import LOCK_PATH

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# The extra the layer ships besides the runtime's own dependencies (Powertools, for keys in secrets).
LAYER_EXTRA = "aws"


def lock_entries() -> dict[str, tuple[str, list[str]]]:
    """name -> (the whole requirement line, its hashes), one entry per locked distribution."""
    text = LOCK_PATH.read_text().replace("\\\n", " ")
    entries = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            requirement, *hashes = line.split(" --hash=")
            entries[Requirement(requirement.strip()).name] = (requirement.strip(), hashes)
    return entries


def test_every_locked_distribution_is_pinned_exactly_with_hashes_and_no_markers() -> None:
    entries = lock_entries()
    assert len(entries) >= 8
    for name, (line, hashes) in entries.items():
        requirement = Requirement(line)
        assert re.fullmatch(r"==[^,*]+", str(requirement.specifier)), line
        # pip evaluates markers against the interpreter running it, not the layer's target Python.
        assert requirement.marker is None, line
        assert hashes and all(value.startswith("sha256:") for value in hashes), name


def test_the_lock_satisfies_the_runtime_dependencies_and_the_layer_extra() -> None:
    pins = {name: Requirement(line).specifier for name, (line, _) in lock_entries().items()}
    declared = [*PYPROJECT["dependencies"], *PYPROJECT["optional-dependencies"][LAYER_EXTRA]]
    for text in declared:
        requirement = Requirement(text)
        [pin] = list(pins[requirement.name])
        assert requirement.specifier.contains(pin.version), f"{pin} does not satisfy {requirement}"


# The lock's minimum age (the Makefile's LOCK_MIN_AGE): a release younger than this cannot reach it.
LOCK_MIN_AGE_DAYS = 7
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"


def test_make_lock_takes_only_releases_a_week_old_as_contributing_says() -> None:
    listed = subprocess.run(
        ["make", "--no-print-directory", "-n", "lock"], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    ).stdout.replace("\\\n", " ")
    [compile_line] = [line for line in listed.splitlines() if " pip compile " in line]
    arguments = shlex.split(compile_line)
    age = arguments[arguments.index("--exclude-newer") + 1]

    # A relative age (uv resolves it against now on each run), not a date that would freeze the lock.
    assert re.fullmatch(r"(\d+) days", age), age
    assert int(age.split()[0]) >= LOCK_MIN_AGE_DAYS
    assert f"`LOCK_MIN_AGE` ({age})" in (REPO / "CONTRIBUTING.md").read_text()
    # The dev extra's uv understands it (uv before 0.9.17 takes a date only).
    parsed = subprocess.run(
        [UV, "pip", "compile", "--offline", "--quiet", "--no-header", "--exclude-newer", age, "-"],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert parsed.returncode == 0, parsed.stderr


def test_installed_metadata_has_one_version_an_spdx_license_and_the_readme() -> None:
    metadata = importlib.metadata.metadata(PROJECT_NAME)
    assert metadata["Version"] == __version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert set(metadata.get_all("Provides-Extra") or []) >= {"aws", "cli", "cdk"}


def test_the_runtime_install_pulls_no_aws_sdk_cdk_or_test_tools() -> None:
    runtime = [Requirement(text).name for text in PYPROJECT["dependencies"]]
    assert not set(runtime) & {"boto3", "botocore", "aws-cdk-lib", "constructs", "moto", "pytest"}


def test_the_construct_takes_cdk_by_ranges_below_3() -> None:
    for text in PYPROJECT["optional-dependencies"]["cdk"]:
        requirement = Requirement(text)
        assert not any(spec.operator == "==" for spec in requirement.specifier), text
        if requirement.name not in ("pip", "packaging"):  # the layer builder's tools: any version since
            assert {spec.operator for spec in requirement.specifier} == {">=", "<"}, text


def test_the_dev_environment_has_everything_the_cli_needs() -> None:
    assert EXTRA in PYPROJECT["optional-dependencies"]
    assert missing_requirements() == []


# An interpreter without the cdk extra's jsii (aws-cdk-lib's bridge to the CDK's JavaScript), importing the construct.
IMPORT_WITHOUT_JSII = """
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "jsii":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Hide())
try:
    import honeyhive_serverless_cdk
except ImportError as error:
    print(type(error).__name__, error.name, error, sep="|")
"""


def test_the_construct_without_its_extra_says_which_extra_to_install() -> None:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT_JSII],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": os.pathsep.join([str(REPO / "cdk"), str(REPO / "layer"), *sys.path]), "PATH": "/usr/bin"},
        check=False,
    )

    assert result.returncode == 0, result.stderr
    kind, name, message = result.stdout.strip().split("|")
    assert (kind, name) == ("ImportError", "jsii")
    assert message.endswith("(jsii is not installed): pip install 'honeyhive-serverless[cdk]'")
