"""Build the Lambda layer zips: ``honeyhive-serverless-layer-py<X.Y>-<arch>.zip`` plus ``layers.json``.

A layer holds the runtime package and its runtime dependencies under ``python/`` (Lambda puts
``/opt/python`` on ``sys.path``) and the exec wrapper at its root (``/opt/honeyhive-wrapper``).
Dependencies are installed by pip as platform wheels for the target, never built here, so nothing
compiled on the build machine can end up in the zip. What the Lambda runtime already ships (boto3
and its dependencies) is removed: a second copy costs size and would shadow the runtime's own.

``/opt`` is read-only in Lambda, so a layer without ``.pyc`` files for the runtime's exact Python
recompiles every module on every cold start. The bytecode is therefore compiled here with an
interpreter of the target version (pyenv provides 3.10 to 3.13), as unchecked-hash pycs: they
embed no timestamp, so building twice gives the same bytes, and the runtime trusts them without
stat-ing sources.

Zips are deterministic (``deterministic_zip``) so that a CDK asset hash changes only when the layer's
content does, and native code for the wrong machine is refused (``elf``) before it reaches one.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath
from typing import Any

from .interpreters import find_interpreter

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the dev environment runs 3.11+; tomli is the same parser
    import tomli as tomllib

from .deterministic_zip import write_zip
from .elf import foreign_binaries

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROJECT_NAME = "honeyhive-serverless"
PACKAGE_NAME = "honeyhive_serverless"
WRAPPER_NAME = "honeyhive-wrapper"
MANIFEST_NAME = "layers.json"

PYTHON_VERSIONS = ("3.10", "3.11", "3.12", "3.13")
# Lambda's architecture names, mapped to the wheel platform tags Lambda's Amazon Linux can load.
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
# The ELF machine each Lambda architecture runs.
ELF_MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}
# Extras of the project the layer ships: the runtime imports powertools lazily for secret keys.
LAYER_EXTRAS = ("aws",)
# Distributions every Python Lambda runtime already has on sys.path (boto3 and its dependencies).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"})
# pip's bookkeeping: describes the build machine's install, not the package, and RECORD would list
# files that were pruned and miss the compiled ones.
INSTALL_RECORDS = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})

MAX_ZIPPED_BYTES = 5_000_000
MAX_UNZIPPED_BYTES = 25_000_000

# Where the layer's python/ directory is in Lambda: compiled into the pycs for tracebacks.
RUNTIME_SITE = "/opt/python"
TEMP_PREFIX = "hh-layer-build-"
# The only executable in a layer: Lambda runs it as AWS_LAMBDA_EXEC_WRAPPER.
EXECUTABLES = frozenset({WRAPPER_NAME})


class LayerBuildError(RuntimeError):
    """The layer cannot be built as asked (bad target, pip failure, a wheel for the wrong machine)."""


@dataclass(frozen=True)
class LayerInfo:
    """One built zip, as recorded in ``layers.json``."""

    path: Path
    python: str
    arch: str
    sha256: str
    zipped_size: int
    unzipped_size: int
    precompiled: bool
    versions: dict[str, str]  # normalised distribution name -> version

    @property
    def runtime(self) -> str:
        """The Lambda runtime identifier the layer is for, e.g. ``python3.12``."""
        return f"python{self.python}"

    @property
    def package_version(self) -> str:
        """The honeyhive-serverless version inside the zip."""
        return self.versions[PROJECT_NAME]

    def budget_problems(self) -> list[str]:
        """Why this zip is over the size budget; empty when it is within it."""
        problems = []
        if self.zipped_size > MAX_ZIPPED_BYTES:
            problems.append(f"{self.path.name}: {_mb(self.zipped_size)} zipped > {_mb(MAX_ZIPPED_BYTES)}")
        if self.unzipped_size > MAX_UNZIPPED_BYTES:
            problems.append(f"{self.path.name}: {_mb(self.unzipped_size)} unzipped > {_mb(MAX_UNZIPPED_BYTES)}")
        return problems

    def to_json(self) -> dict[str, Any]:
        """The manifest entry; the zip is named relative to the manifest's directory."""
        return {
            "file": self.path.name,
            "python": self.python,
            "arch": self.arch,
            "runtime": self.runtime,
            "sha256": self.sha256,
            "zipped_size": self.zipped_size,
            "unzipped_size": self.unzipped_size,
            "precompiled": self.precompiled,
            "versions": dict(sorted(self.versions.items())),
        }

    @classmethod
    def from_json(cls, entry: Mapping[str, Any], directory: Path) -> LayerInfo:
        """Read back a manifest entry written by :meth:`to_json`."""
        return cls(
            path=directory / entry["file"],
            python=entry["python"],
            arch=entry["arch"],
            sha256=entry["sha256"],
            zipped_size=entry["zipped_size"],
            unzipped_size=entry["unzipped_size"],
            precompiled=entry["precompiled"],
            versions=dict(entry["versions"]),
        )


def _read_project(root: Path) -> dict[str, Any]:
    with (root / "pyproject.toml").open("rb") as file:
        project: dict[str, Any] = tomllib.load(file)
    return project


def layer_zip_name(python: str, arch: str) -> str:
    """The zip's file name for a Python version (``3.12``) and a Lambda architecture."""
    return f"honeyhive-serverless-layer-py{python}-{arch}.zip"


def runtime_requirements(root: Path = PROJECT_ROOT) -> list[str]:
    """The requirement strings the layer installs: ``[project].dependencies`` plus :data:`LAYER_EXTRAS`.

    Read from pyproject.toml so the layer cannot drift from what the package declares.
    """
    project = _read_project(root)["project"]
    requirements = list(project.get("dependencies", []))
    extras = project.get("optional-dependencies", {})
    for extra in LAYER_EXTRAS:
        if extra not in extras:
            raise LayerBuildError(f"pyproject.toml has no [project.optional-dependencies] {extra!r}")
        requirements.extend(extras[extra])
    return requirements


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file: how a layer zip is identified in ``layers.json`` and in published layers."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_machines(site: Path, arch: str) -> None:
    """Refuse native code for another machine: it would fail to load only once deployed."""
    expected = ELF_MACHINES[arch]
    if wrong := foreign_binaries(site, expected):
        raise LayerBuildError(f"native code not built for {expected} in the {arch} layer: {', '.join(wrong)}")


def build_layer(
    python: str,
    arch: str,
    out_dir: Path,
    *,
    root: Path = PROJECT_ROOT,
    cache_dir: Path | None = None,
) -> LayerInfo:
    """Build ``out_dir/honeyhive-serverless-layer-py<python>-<arch>.zip`` and describe it.

    ``cache_dir`` is pip's cache (default ``<root>/.cache/pip``), kept so rebuilds do not download again.
    Does not touch ``layers.json``; :func:`build_all` does.
    """
    _check_target(python, arch)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:
        stage = Path(tmp) / "layer"
        site = stage / "python"
        _install_dependencies(site, python, arch, runtime_requirements(root), cache_dir or root / ".cache" / "pip")
        _copy_package(root, site)
        _check_machines(site, arch)
        precompiled = _compile(site, python)
        shutil.copyfile(root / "layer" / WRAPPER_NAME, stage / WRAPPER_NAME)
        zip_path = out_dir / layer_zip_name(python, arch)
        write_zip(stage, zip_path, executables=EXECUTABLES)
    info = layer_info(zip_path, python, arch, precompiled=precompiled)
    log.info("built %s (%s zipped, %s unzipped)", zip_path.name, _mb(info.zipped_size), _mb(info.unzipped_size))
    return info


def build_dependency_layer(
    requirements: list[str], python: str, arch: str, zip_path: Path, *, cache_dir: Path
) -> LayerInfo:
    """A layer of ``requirements`` alone, made the way this project's layer is (the same exclusions,
    bytecode and zip): how ``make bench`` weighs HoneyHive's SDK as a layer, like for like."""
    _check_target(python, arch)
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:
        stage = Path(tmp) / "layer"
        site = stage / "python"
        _install_dependencies(site, python, arch, requirements, cache_dir)
        _check_machines(site, arch)
        precompiled = _compile(site, python)
        zip_path.parent.mkdir(parents=True, exist_ok=True)
        write_zip(stage, zip_path, executables=EXECUTABLES)
    return layer_info(zip_path, python, arch, precompiled=precompiled)


def build_all(
    out_dir: Path,
    pythons: Iterable[str] = PYTHON_VERSIONS,
    archs: Iterable[str] = tuple(PLATFORMS),
    *,
    root: Path = PROJECT_ROOT,
    cache_dir: Path | None = None,
) -> list[LayerInfo]:
    """Build every (python, arch) combination and record them in ``out_dir/layers.json``.

    Entries of the manifest for zips not rebuilt now are kept while their zip is still there unchanged.
    """
    targets = list(itertools.product(pythons, archs))
    for python, arch in targets:
        _check_target(python, arch)  # fail before spending minutes on the valid ones
    infos = [build_layer(python, arch, out_dir, root=root, cache_dir=cache_dir) for python, arch in targets]
    write_manifest(out_dir, infos)
    return infos


def layer_info(path: Path, python: str, arch: str, *, precompiled: bool) -> LayerInfo:
    """Describe a layer zip: its hash, sizes and the distribution versions its ``*.dist-info`` declare."""
    data = path.read_bytes()
    versions: dict[str, str] = {}
    with zipfile.ZipFile(path) as archive:
        unzipped = sum(entry.file_size for entry in archive.infolist())
        for name in archive.namelist():
            parts = PurePosixPath(name).parts
            if len(parts) == 3 and parts[0] == "python" and parts[1].endswith(".dist-info") and parts[2] == "METADATA":
                headers = HeaderParser().parsestr(archive.read(name).decode("utf-8"))
                versions[_normalize(headers["Name"])] = headers["Version"]
    return LayerInfo(
        path=path,
        python=python,
        arch=arch,
        sha256=hashlib.sha256(data).hexdigest(),
        zipped_size=len(data),
        unzipped_size=unzipped,
        precompiled=precompiled,
        versions=versions,
    )


def write_manifest(out_dir: Path, infos: Iterable[LayerInfo]) -> Path:
    """Write ``layers.json`` with ``infos`` plus the still-valid entries already there."""
    entries = {(info.python, info.arch): info for info in read_manifest(out_dir, missing_ok=True)}
    entries.update({(info.python, info.arch): info for info in infos})
    ordered = sorted(entries.values(), key=lambda info: (_version_key(info.python), info.arch))
    manifest = out_dir / MANIFEST_NAME
    manifest.write_text(json.dumps({"layers": [info.to_json() for info in ordered]}, indent=2) + "\n")
    return manifest


def read_manifest(out_dir: Path, *, missing_ok: bool = False) -> list[LayerInfo]:
    """The layers ``out_dir/layers.json`` records whose zip is still there with the recorded sha256.

    A zip replaced or deleted since is dropped: the manifest never vouches for bytes it has not hashed.
    """
    manifest = out_dir / MANIFEST_NAME
    if not manifest.exists():
        if missing_ok:
            return []
        raise LayerBuildError(f"{manifest} not found: build the layers first (hh-serverless build-layer)")
    infos = [LayerInfo.from_json(entry, out_dir) for entry in json.loads(manifest.read_text())["layers"]]
    return [info for info in infos if info.path.is_file() and file_sha256(info.path) == info.sha256]


def size_table(infos: Iterable[LayerInfo]) -> str:
    """A plain-text table of the layers' sizes against the budget, for ``make layer``."""
    infos = list(infos)
    width = max([len("layer"), *(len(info.path.name) for info in infos)])
    lines = [f"{'layer':<{width}}  {'zipped':>9}  {'unzipped':>9}  pyc  budget"]
    for info in infos:
        pyc = "yes" if info.precompiled else "NO"
        status = "OVER" if info.budget_problems() else "ok"
        lines.append(
            f"{info.path.name:<{width}}  {_mb(info.zipped_size):>9}  {_mb(info.unzipped_size):>9}  {pyc:<3}  {status}"
        )
    lines.append(f"budget per layer: {_mb(MAX_ZIPPED_BYTES)} zipped, {_mb(MAX_UNZIPPED_BYTES)} unzipped")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Steps of build_layer


def _check_target(python: str, arch: str) -> None:
    if python not in PYTHON_VERSIONS:
        raise LayerBuildError(f"unsupported Python {python!r}: choose from {', '.join(PYTHON_VERSIONS)}")
    if arch not in PLATFORMS:
        raise LayerBuildError(f"unsupported architecture {arch!r}: choose from {', '.join(PLATFORMS)}")


def _pip_install(site: Path, python: str, arch: str, requirements: list[str], cache_dir: Path) -> None:
    """Install wheels for the target only: pip refuses sdists, so nothing is compiled on this machine."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-input",
        "--disable-pip-version-check",
        "--target",
        str(site),
        "--platform",
        PLATFORMS[arch],
        "--implementation",
        "cp",
        "--python-version",
        python,
        "--only-binary=:all:",
        "--no-compile",
        "--cache-dir",
        str(cache_dir),
        *requirements,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LayerBuildError(f"pip could not install the layer for Python {python} {arch}:\n{result.stderr.strip()}")


def _install_dependencies(site: Path, python: str, arch: str, requirements: list[str], cache_dir: Path) -> None:
    _pip_install(site, python, arch, requirements, cache_dir)
    _remove_runtime_provided(site)
    _remove_build_leftovers(site)


def _remove_runtime_provided(site: Path) -> None:
    """Delete the files of distributions the Lambda runtime ships, as listed by their RECORD."""
    for dist_info in sorted(site.glob("*.dist-info")):
        name = _dist_info_name(dist_info)
        if name not in RUNTIME_PROVIDED:
            continue
        with (dist_info / "RECORD").open(newline="") as record:
            for row in csv.reader(record):
                target = (site / row[0]).resolve()
                # Entries such as ../../bin/jp.py point outside site/; bin/ goes as a whole later.
                if target.is_relative_to(site.resolve()) and target.is_file():
                    target.unlink()
        shutil.rmtree(dist_info)
        log.debug("removed %s: the Lambda runtime provides it", name)
    _remove_empty_dirs(site)


def _remove_build_leftovers(site: Path) -> None:
    """Delete console scripts, bytecode and pip's install records: none of them are the packages' content."""
    shutil.rmtree(site / "bin", ignore_errors=True)
    for path in sorted(site.rglob("*"), reverse=True):
        if path.name == "__pycache__" and path.is_dir():
            shutil.rmtree(path)
        elif path.suffix == ".pyc" or (path.parent.suffix == ".dist-info" and path.name in INSTALL_RECORDS):
            path.unlink()


def _copy_package(root: Path, site: Path) -> None:
    """Copy the runtime package's sources and declared data, and a METADATA naming its version.

    Copied rather than pip-installed so only ``honeyhive_serverless`` comes along: the dev package and
    its tools share the project but must never reach the layer.
    """
    pyproject = _read_project(root)
    project = pyproject["project"]
    patterns = ["*.py", *pyproject.get("tool", {}).get("setuptools", {}).get("package-data", {}).get(PACKAGE_NAME, [])]
    source = root / "layer" / PACKAGE_NAME
    for pattern in patterns:
        for path in source.rglob(pattern):
            if "__pycache__" in path.relative_to(source).parts or not path.is_file():
                continue
            target = site / PACKAGE_NAME / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    dist_info = site / f"{_normalize(project['name']).replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\n"
        f"Name: {project['name']}\n"
        f"Version: {project['version']}\n"
        f"Summary: {project.get('description', '')}\n"
        f"Requires-Python: {project.get('requires-python', '')}\n"
    )


def _compile(site: Path, python: str) -> bool:
    """Precompile with the target interpreter; returns False (and warns) when there is none here.

    Serial on purpose, with a fixed hash seed: marshal's output depends on set ordering and on which
    objects are shared in the compiling process, so parallel workers could make the bytes vary.
    """
    interpreter = find_interpreter(python)
    if interpreter is None:
        log.warning(
            "no Python %s interpreter found (PATH or pyenv): the %s layer ships without bytecode, "
            "so every cold start compiles its modules",
            python,
            python,
        )
        return False
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    command = [
        interpreter,
        "-s",
        "-m",
        "compileall",
        "-q",
        "-d",
        RUNTIME_SITE,
        "--invalidation-mode",
        "unchecked-hash",
        str(site),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise LayerBuildError(f"compiling the layer with Python {python} failed:\n{result.stdout}{result.stderr}")
    return True


# --------------------------------------------------------------------------------------------
# Small helpers


def _remove_empty_dirs(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _dist_info_name(dist_info: Path) -> str:
    headers = HeaderParser().parsestr((dist_info / "METADATA").read_text(encoding="utf-8"))
    return _normalize(headers["Name"])


def _normalize(name: str) -> str:
    """PEP 503 normalisation, so ``aws_lambda_powertools`` and ``aws-lambda-powertools`` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_key(python: str) -> tuple[int, ...]:
    return tuple(int(part) for part in python.split("."))


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.2f} MB"
