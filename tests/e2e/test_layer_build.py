"""The Lambda layer zips: contents, bytecode, native code, determinism, the SBOMs, layers.json and the size budget.

All eight targets are built once per session (about a minute here; pip downloads the wheels for the
other architecture). The zips are then read as Lambda would unpack them under /opt.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path, PurePosixPath

import jmespath
import pytest

from conftest import LAYER_ARCHS, LAYER_PYTHONS, REPO
from honeyhive_serverless.vendored import MANIFEST_NAME, VENDOR_DIR
from honeyhive_serverless.version import __version__
from honeyhive_serverless_dev.cli import main
from honeyhive_serverless_dev.elf import elf_machine
from honeyhive_serverless_dev.interpreters import find_interpreter
from honeyhive_serverless_dev.layer_build import (
    LOCK_PATH,
    NOT_RUN_SUFFIXES,
    PYTHON_VERSIONS,
    RUNTIME_PROVIDED,
    SUPPLIED_BY_INSTRUMENTED_LIBRARIES,
    UNUSED_ASSETS,
    WRAPPER_PATH,
    LayerBuildError,
    LayerInfo,
    build_layer,
    layer_zip_name,
    size_table,
)
from honeyhive_serverless_dev.sbom import Distribution, installed_distributions
from layer_sbom import check_layer_sbom, sbom_beside

# Building the layers is the first test's setup; give it room on a busy 2-core machine.
pytestmark = pytest.mark.timeout(900)

PYTHONS = LAYER_PYTHONS
TARGETS = [(python, arch) for python in PYTHONS for arch in LAYER_ARCHS]
TARGET_IDS = [f"py{python}-{arch}" for python, arch in TARGETS]
MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
MB = 1_000_000
# Distributions the Lambda runtime ships, and code that must never reach a layer.
FORBIDDEN_TOP_LEVEL = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3", "bin"}
FORBIDDEN_ANYWHERE = {"honeyhive_serverless_dev", "aws_cdk", "constructs", "tests", "pytest", "moto"}


@pytest.fixture(scope="session")
def manifest(dist: Path) -> dict[tuple[str, str], dict[str, object]]:
    entries = json.loads((dist / "layers.json").read_text())["layers"]
    return {(entry["python"], entry["arch"]): entry for entry in entries}


def open_zip(dist: Path, python: str, arch: str) -> zipfile.ZipFile:
    return zipfile.ZipFile(dist / layer_zip_name(python, arch))


def files_of(archive: zipfile.ZipFile) -> list[str]:
    return [name for name in archive.namelist() if not name.endswith("/")]


def installed_paths(names: set[str]) -> set[str]:
    """The zip's files as an install of every distribution in one site would have them: the runtime
    package's from ``python/``, each third-party distribution's from its ``hh-serverless/<n>/``."""
    paths = set()
    for name in names:
        match = re.fullmatch(rf"(?:python|{VENDOR_DIR}/\d+)/(.+)", name)
        if match is not None:
            paths.add(match.group(1))
    return paths


def extract_like_lambda(archive: zipfile.ZipFile, target: Path) -> None:
    """Unpack with the modes the zip records (zipfile.extractall drops them; Lambda keeps them)."""
    archive.extractall(target)
    for entry in archive.infolist():
        os.chmod(target / entry.filename, stat.S_IMODE(entry.external_attr >> 16))


# --------------------------------------------------------------------------------------------
# Per target


@pytest.mark.parametrize(("python", "arch"), TARGETS, ids=TARGET_IDS)
def test_zip_is_within_the_size_budget(dist: Path, python: str, arch: str) -> None:
    path = dist / layer_zip_name(python, arch)
    with open_zip(dist, python, arch) as archive:
        unzipped = sum(entry.file_size for entry in archive.infolist())
    assert path.stat().st_size <= 5 * MB
    assert unzipped <= 25 * MB


@pytest.mark.parametrize(("python", "arch"), TARGETS, ids=TARGET_IDS)
def test_zip_holds_the_runtime_and_its_dependencies_only(dist: Path, python: str, arch: str) -> None:
    with open_zip(dist, python, arch) as archive:
        names = set(archive.namelist())
        wrapper = archive.getinfo("honeyhive-wrapper")
        wrapper_text = archive.read(wrapper)
        manifest = json.loads(archive.read(f"{VENDOR_DIR}/{MANIFEST_NAME}"))
    installed = installed_paths(names)

    assert "honeyhive_serverless/__init__.py" in installed
    assert "honeyhive_serverless/handler.py" in installed
    assert "opentelemetry/sdk/trace/__init__.py" in installed
    # The OTLP encoding is the runtime's own: neither OpenTelemetry's encoder nor protobuf is shipped.
    assert "honeyhive_serverless/export/otlp_encoding.py" in installed
    assert not [
        path for path in installed if path.startswith(("google/", "opentelemetry/proto/", "opentelemetry/exporter/"))
    ]
    assert "aws_lambda_powertools/__init__.py" in installed
    assert wrapper_text == WRAPPER_PATH.read_bytes()
    assert stat.S_IMODE(wrapper.external_attr >> 16) == 0o755

    tops = {PurePosixPath(name).parts[0] for name in names}
    assert tops == {"honeyhive-wrapper", "python", VENDOR_DIR}
    # Only the runtime package where Lambda's path and every other layer's files are (issue 28); each
    # third-party distribution in a directory of its own, as its manifest entry says.
    assert {PurePosixPath(name).parts[1] for name in names if name.startswith("python/") and name != "python/"} == {
        "honeyhive_serverless",
        f"honeyhive_serverless-{__version__}.dist-info",
    }
    for name, entry in manifest["distributions"].items():
        [dist_info] = {
            n.split("/")[2] for n in names if n.startswith(f"{VENDOR_DIR}/{entry['dir']}/") and ".dist-info/" in n
        }
        assert dist_info.lower() == f"{name.replace('-', '_')}-{entry['version']}.dist-info"
        assert entry["roots"]
    # Top-level names of the install: packages, modules (six.py) and dist-info (jmespath-1.1.0.dist-info).
    top_level = {re.split(r"[-.]", path.split("/")[0])[0] for path in installed}
    assert not top_level & FORBIDDEN_TOP_LEVEL
    leaked = [name for name in names if set(PurePosixPath(name).parts) & FORBIDDEN_ANYWHERE]
    assert leaked == []
    # pip's per-install records describe the build machine, not the packages.
    assert not [name for name in names if PurePosixPath(name).name in {"RECORD", "INSTALLER", "direct_url.json"}]
    # Nothing that is never run: type stubs, C sources, assets no code of the layer serves.
    assert not [name for name in names if PurePosixPath(name).suffix in NOT_RUN_SUFFIXES or "-stubs/" in name]
    assert not set(UNUSED_ASSETS) & installed
    assert "opentelemetry/instrumentation/botocore/__init__.py" in installed  # HH_PROPAGATE_AWS_SDK's
    # HH_INSTRUMENTORS': the layer's OpenInference instrumentors, with the entry points they are found by.
    for name in ("openai", "anthropic", "bedrock", "langchain"):
        assert f"openinference/instrumentation/{name}/__init__.py" in installed
    assert any(re.fullmatch(r"openinference_instrumentation_openai-[^/]+/entry_points\.txt", n) for n in installed)
    # What an instrumented library brings itself, and what nothing in the layer imports, is left out.
    assert not top_level & {"anyio", "idna", "sniffio", "exceptiongroup"}
    assert not [path for path in installed if path.startswith("opentelemetry/sdk/metrics/")]
    assert not [path for path in installed if path.startswith("packaging/licenses/")]
    incubating = {p for p in installed if p.startswith("opentelemetry/semconv/_incubating/") and p.endswith(".py")}
    assert "opentelemetry/semconv/_incubating/attributes/gen_ai_attributes.py" in incubating  # imported
    assert 5 < len(incubating) < 40  # of some 100


@pytest.mark.parametrize(("python", "arch"), TARGETS, ids=TARGET_IDS)
def test_entries_are_sorted_with_fixed_dates_and_modes(dist: Path, python: str, arch: str) -> None:
    with open_zip(dist, python, arch) as archive:
        entries = archive.infolist()
    assert [entry.filename for entry in entries] == sorted(entry.filename for entry in entries)
    assert {entry.date_time for entry in entries} == {(1980, 1, 1, 0, 0, 0)}
    modes = {entry.filename: entry.external_attr >> 16 for entry in entries}
    assert modes.pop("honeyhive-wrapper") == stat.S_IFREG | 0o755
    assert {mode for name, mode in modes.items() if name.endswith("/")} == {stat.S_IFDIR | 0o755}
    assert {mode for name, mode in modes.items() if not name.endswith("/")} == {stat.S_IFREG | 0o644}


@pytest.mark.parametrize(("python", "arch"), TARGETS, ids=TARGET_IDS)
def test_bytecode_is_for_the_target_python_and_names_no_build_path(dist: Path, python: str, arch: str) -> None:
    tag = "cpython-" + python.replace(".", "")
    with open_zip(dist, python, arch) as archive:
        names = files_of(archive)
        pycs = {name: archive.read(name) for name in names if name.endswith(".pyc")}
        contents = [archive.read(name) for name in names]

    assert {PurePosixPath(name).suffixes[-2] for name in pycs} == {f".{tag}"}
    assert all(PurePosixPath(name).parent.name == "__pycache__" for name in pycs)
    # Unchecked hash-based pycs (flags 0b01): no timestamp inside, and never revalidated on read-only /opt.
    assert {int.from_bytes(data[4:8], "little") for data in pycs.values()} == {0b01}
    package_sources = [
        name for name in names if name.startswith("python/honeyhive_serverless/") and name.endswith(".py")
    ]
    for source in package_sources:
        path = PurePosixPath(source)
        assert str(path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc") in pycs
    assert len(pycs) == len([name for name in names if name.endswith(".py")])
    for data in contents:
        assert b"hh-layer-build-" not in data
        assert str(REPO).encode() not in data


@pytest.mark.parametrize(("python", "arch"), TARGETS, ids=TARGET_IDS)
def test_native_code_is_for_the_target_architecture(dist: Path, python: str, arch: str) -> None:
    with open_zip(dist, python, arch) as archive:
        machines = {name: elf_machine(archive.read(name)[:64]) for name in files_of(archive)}
    native = {name: machine for name, machine in machines.items() if machine is not None}
    wrapt = f"wrapt/_wrappers.cpython-{python.replace('.', '')}-{MACHINE[arch]}-linux-gnu.so"
    assert wrapt in installed_paths(set(native))  # wrapt's C extension: the check is not vacuous
    assert set(native.values()) == {MACHINE[arch]}
    assert all(name.endswith(".so") or ".so." in name for name in native)


@pytest.mark.parametrize(("python", "arch"), TARGETS, ids=TARGET_IDS)
def test_each_zip_has_an_sbom_beside_it_of_exactly_its_distributions(dist: Path, python: str, arch: str) -> None:
    zip_path = dist / layer_zip_name(python, arch)
    sbom = check_layer_sbom(zip_path)

    with open_zip(dist, python, arch) as archive:
        manifest = json.loads(archive.read(f"{VENDOR_DIR}/{MANIFEST_NAME}"))
    assert sbom["metadata"]["component"]["name"] == zip_path.name.removesuffix(".zip")
    licenses = {component["name"]: component.get("licenses") for component in sbom["components"]}
    assert licenses["honeyhive-serverless"] == [{"license": {"id": "Apache-2.0"}}]
    assert licenses["opentelemetry-sdk"] == [{"license": {"id": "Apache-2.0"}}]
    # What requires what is the layer's own distributions.json, from the zip down.
    depends = {entry["ref"]: set(entry.get("dependsOn", [])) for entry in sbom["dependencies"]}
    purls = {component["name"]: component["purl"] for component in sbom["components"]}
    assert depends[zip_path.name] == {purls["honeyhive-serverless"]}
    assert depends[purls["honeyhive-serverless"]] == {purls[name] for name in manifest["requires"]}
    for name, entry in manifest["distributions"].items():
        assert depends[purls[name]] == {purls[required] for required in entry["requires"]}


def test_layers_json_describes_every_zip(dist: Path, manifest: dict[tuple[str, str], dict[str, object]]) -> None:
    assert set(manifest) == set(TARGETS)
    for (python, arch), entry in manifest.items():
        path = dist / layer_zip_name(python, arch)
        data = path.read_bytes()
        with open_zip(dist, python, arch) as archive:
            dist_infos = {
                part
                for name in archive.namelist()
                for part in PurePosixPath(name).parts[:-1]
                if part.endswith(".dist-info")
            }
            unzipped = sum(info.file_size for info in archive.infolist())
        assert entry["file"] == path.name
        assert entry["runtime"] == f"python{python}"
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["zipped_size"] == len(data)
        assert entry["unzipped_size"] == unzipped
        versions = entry["versions"]
        assert isinstance(versions, dict)
        assert versions["honeyhive-serverless"] == __version__
        assert {"opentelemetry-sdk", "opentelemetry-api", "wrapt", "aws-lambda-powertools"} <= set(versions)
        assert not {"protobuf", "opentelemetry-proto", "opentelemetry-exporter-otlp-proto-common"} & set(versions)
        expected = {f"{name.replace('-', '_')}-{v}.dist-info" for name, v in versions.items()}
        assert {name.lower() for name in dist_infos} == {name.lower() for name in expected}
        sbom = sbom_beside(path)
        assert entry["sbom"] == sbom.name
        assert entry["sbom_sha256"] == hashlib.sha256(sbom.read_bytes()).hexdigest()


def test_third_party_versions_are_the_shipped_locks(manifest: dict[tuple[str, str], dict[str, object]]) -> None:
    pins = dict(re.findall(r"^([a-z0-9-]+)==(\S+)", LOCK_PATH.read_text(), flags=re.MULTILINE))
    expected = {
        name: version
        for name, version in pins.items()
        if name not in RUNTIME_PROVIDED | SUPPLIED_BY_INSTRUMENTED_LIBRARIES
    }
    assert len(expected) >= 8
    for entry in manifest.values():
        versions = dict(entry["versions"])  # type: ignore[call-overload]
        assert versions.pop("honeyhive-serverless") == __version__
        assert versions == expected


def test_size_table_lists_every_layer(dist: Path) -> None:
    infos = [LayerInfo.from_json(entry, dist) for entry in json.loads((dist / "layers.json").read_text())["layers"]]
    table = size_table(infos)
    for python, arch in TARGETS:
        line = next(line for line in table.splitlines() if line.startswith(layer_zip_name(python, arch)))
        assert line.endswith("ok") and "MB" in line


def test_building_again_gives_identical_bytes(dist: Path, tmp_path: Path) -> None:
    again = build_layer("3.12", "arm64", tmp_path)
    assert again.path.read_bytes() == (dist / layer_zip_name("3.12", "arm64")).read_bytes()
    assert again.sbom == sbom_beside(again.path)
    check_layer_sbom(again.path)
    assert again.sbom.read_bytes() == sbom_beside(dist / layer_zip_name("3.12", "arm64")).read_bytes()


def test_a_build_whose_sbom_would_list_what_the_zip_lacks_fails_and_leaves_no_zip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The builder holds the SBOM (from pip's report) to the zip's dist-info directories itself."""
    from honeyhive_serverless_dev import layer_build

    def one_more(report: dict[str, object]) -> list[Distribution]:
        return [*installed_distributions(report), Distribution("left-pad", "1.3.0", None, None)]

    monkeypatch.setattr(layer_build, "installed_distributions", one_more)
    python = PYTHONS[-1]

    with pytest.raises(LayerBuildError) as raised:
        build_layer(python, "x86_64", tmp_path)
    assert str(raised.value).endswith("listed but not in it: left-pad 1.3.0; in it but not listed: none")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Running what was built

HOST_ARCH = {"x86_64": "x86_64", "aarch64": "arm64"}.get(platform.machine())
PROBE = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]  # /opt/python first, then the runtime's own packages
import honeyhive_serverless, honeyhive_serverless.handler, honeyhive_serverless.export.otlp_encoding
import opentelemetry.sdk.trace
import wrapt._wrappers  # the layer's native code: wrapt's C extension, for the target Python and machine
import aws_lambda_powertools
print(wrapt._wrappers.__file__.rpartition(".")[2], honeyhive_serverless.__file__)
"""


@pytest.mark.skipif(HOST_ARCH is None, reason="the host runs neither Lambda architecture")
@pytest.mark.parametrize("python", PYTHONS)
def test_layer_imports_in_the_target_python_from_its_bytecode(dist: Path, tmp_path: Path, python: str) -> None:
    interpreter = find_interpreter(python)
    if interpreter is None:
        pytest.skip(f"no Python {python} here")
    assert HOST_ARCH is not None
    opt = tmp_path / "opt"
    with open_zip(dist, python, HOST_ARCH) as archive:
        extract_like_lambda(archive, opt)
    # jmespath comes with the Lambda runtime (boto3's dependency), so the layer leaves it out.
    var_runtime = tmp_path / "var-runtime"
    shutil.copytree(Path(jmespath.__file__).parent, var_runtime / "jmespath")

    # -v reports where each module's code object came from: a .pyc, or a .py compiled on the spot. -S: no
    # site-packages of this machine's interpreter, which Lambda's has not either (the layer's packages go
    # on sys.path only where nothing earlier brings them, so a machine's own copies would win here).
    probe = subprocess.run(
        [interpreter, "-I", "-S", "-v", "-c", PROBE, str(opt / "python"), str(var_runtime)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["so", str(opt / "python" / "honeyhive_serverless" / "__init__.py")]
    loaded = [line for line in probe.stderr.splitlines() if line.startswith(f"# code object from '{opt}")]
    assert len(loaded) > 100
    assert [line for line in loaded if not line.endswith(".pyc'")] == []

    wrapped = subprocess.run(
        [str(opt / "honeyhive-wrapper"), "/usr/bin/env"],
        env={"_HANDLER": "app.handler", "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "_HANDLER=honeyhive_serverless.handler.handler" in wrapped.stdout.splitlines()
    assert "HH_LAMBDA_HANDLER=app.handler" in wrapped.stdout.splitlines()


# --------------------------------------------------------------------------------------------
# The command, and a Python this machine does not have


def test_build_layer_for_a_python_this_machine_lacks_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Python 3.14 is a Lambda runtime this machine has no interpreter for: no zip nobody has loaded."""
    missing = next((python for python in PYTHON_VERSIONS if find_interpreter(python) is None), None)
    if missing is None:
        pytest.skip("this machine has an interpreter for every Python the layer serves")
    out = tmp_path / "out"

    code = main(["build-layer", "--python", missing, "--arch", "arm64", "--out", str(out)])

    assert code == 1
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert line.startswith(f"hh-serverless: error: no Python {missing} interpreter found (PATH or pyenv)")
    assert captured.out == ""
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("header", "machine"),
    [
        (b"\x7fELF\x02\x01\x01" + bytes(11) + (62).to_bytes(2, "little"), "x86_64"),
        (b"\x7fELF\x02\x01\x01" + bytes(11) + (183).to_bytes(2, "little"), "aarch64"),
        (b"\x7fELF\x02\x02\x01" + bytes(11) + (183).to_bytes(2, "big"), "aarch64"),
        (b"#!/bin/sh\n" + bytes(20), None),
        (b"\x7fELF", None),
    ],
    ids=["x86_64", "aarch64", "big-endian", "script", "truncated"],
)
def test_elf_machine_reads_the_header(header: bytes, machine: str | None) -> None:
    assert elf_machine(header) == machine
