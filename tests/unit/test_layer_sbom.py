"""A layer's CycloneDX SBOM, from pip's install report and a zip written here: each distribution with its
purl, wheel hash and license, what requires what, the same bytes from the same inputs, the check that
holds it to the zip's dist-info directories, and how layers.json records it.

The SBOMs of real builds are held to their zips by tests/e2e/test_layer_build.py (``layer_sbom``).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from honeyhive_serverless_dev.layer_build import layer_info, read_manifest, write_manifest
from honeyhive_serverless_dev.sbom import (
    Distribution,
    installed_distributions,
    layer_sbom,
    sbom_mismatch,
    sbom_path,
)

ZIP_NAME = "honeyhive-serverless-layer-py3.12-arm64.zip"
ZIP_SHA256 = "ab" * 32
PACKAGE = Distribution("honeyhive-serverless", "0.4.0", None, "Apache-2.0")


def installed(name: str, version: str, sha256: str, **metadata: str) -> dict[str, Any]:
    """One entry of pip's install report (format 1), as ``pip install --report`` writes it."""
    return {
        "download_info": {
            "url": f"https://files.example/{name}-{version}-py3-none-any.whl",
            "archive_info": {"hash": f"sha256={sha256}", "hashes": {"sha256": sha256}},
        },
        "is_direct": False,
        "requested": True,
        "metadata": {"metadata_version": "2.4", "name": name, "version": version, **metadata},
    }


REPORT = {
    "version": "1",
    "install": [
        installed("opentelemetry-sdk", "1.45.2", "11" * 32, license_expression="Apache-2.0"),
        installed("Typing_Extensions", "4.16.0", "22" * 32, license_expression="PSF-2.0"),
        installed("protobuf", "7.36.2", "33" * 32, license="3-Clause BSD License"),
        # A License field that is the license's whole text, and a distribution that declares none.
        installed("wrapt", "2.5.2", "44" * 32, license="Copyright (c) 2013\nAll rights reserved.\n"),
        installed("dacite", "1.9.2", "55" * 32),
    ],
}
REQUIRES = {
    "honeyhive-serverless": ["opentelemetry-sdk", "protobuf"],
    "opentelemetry-sdk": ["typing-extensions", "wrapt"],
}


def sbom_bytes() -> bytes:
    return layer_sbom(ZIP_NAME, ZIP_SHA256, PACKAGE, installed_distributions(REPORT), REQUIRES)


def test_each_distribution_is_a_component_with_its_purl_wheel_hash_and_declared_license() -> None:
    text = sbom_bytes().decode()

    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    sbom = json.loads(text)
    components = {component["name"]: component for component in sbom["components"]}
    assert set(components) == {
        "honeyhive-serverless",
        "opentelemetry-sdk",
        "typing-extensions",
        "protobuf",
        "wrapt",
        "dacite",
    }
    sdk = components["opentelemetry-sdk"]
    assert sdk["purl"] == sdk["bom-ref"] == "pkg:pypi/opentelemetry-sdk@1.45.2"
    assert sdk["version"] == "1.45.2"
    assert sdk["hashes"] == [{"alg": "SHA-256", "content": "11" * 32}]
    assert sdk["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert components["typing-extensions"]["purl"] == "pkg:pypi/typing-extensions@4.16.0"
    assert components["protobuf"]["licenses"] == [{"license": {"name": "3-Clause BSD License"}}]
    assert "licenses" not in components["wrapt"]
    assert "licenses" not in components["dacite"]
    assert "hashes" not in components["honeyhive-serverless"]
    # The report's download URL says where this machine's pip found the wheel: not part of what was shipped.
    assert "files.example" not in text


def test_the_zip_is_the_subject_and_requires_come_down_from_it() -> None:
    sbom = json.loads(sbom_bytes())

    subject = sbom["metadata"]["component"]
    assert subject["name"] == "honeyhive-serverless-layer-py3.12-arm64"
    assert subject["version"] == "0.4.0"
    assert subject["hashes"] == [{"alg": "SHA-256", "content": ZIP_SHA256}]
    tools = {tool["name"]: tool["version"] for tool in sbom["metadata"]["tools"]["components"]}
    assert tools.keys() == {"honeyhive-serverless", "cyclonedx-python-lib"}
    depends = {entry["ref"]: entry.get("dependsOn", []) for entry in sbom["dependencies"]}
    assert depends[ZIP_NAME] == ["pkg:pypi/honeyhive-serverless@0.4.0"]
    assert depends["pkg:pypi/honeyhive-serverless@0.4.0"] == [
        "pkg:pypi/opentelemetry-sdk@1.45.2",
        "pkg:pypi/protobuf@7.36.2",
    ]
    assert depends["pkg:pypi/opentelemetry-sdk@1.45.2"] == [
        "pkg:pypi/typing-extensions@4.16.0",
        "pkg:pypi/wrapt@2.5.2",
    ]
    assert depends["pkg:pypi/dacite@1.9.2"] == []


def test_the_same_inputs_give_the_same_bytes_with_no_serial_number_or_timestamp() -> None:
    first, second = sbom_bytes(), sbom_bytes()

    assert first == second
    sbom = json.loads(first)
    assert "serialNumber" not in sbom
    assert "timestamp" not in sbom["metadata"]


def zip_names(*dist_infos: str) -> list[str]:
    """A layer zip's entries with these dist-info directories, in python/ and in vendored directories."""
    names = ["honeyhive-wrapper", "python/", "python/honeyhive_serverless/__init__.py"]
    for number, dist_info in enumerate(dist_infos):
        root = "python" if dist_info.startswith("honeyhive_serverless-") else f"hh-serverless/{number}"
        names += [f"{root}/{dist_info}/", f"{root}/{dist_info}/METADATA"]
    return names


HELD = [
    "honeyhive_serverless-0.4.0.dist-info",
    "opentelemetry_sdk-1.45.2.dist-info",
    "typing_extensions-4.16.0.dist-info",
    "protobuf-7.36.2.dist-info",
    "wrapt-2.5.2.dist-info",
    "dacite-1.9.2.dist-info",
]


def test_an_sbom_of_exactly_the_zips_distributions_matches() -> None:
    assert sbom_mismatch(sbom_bytes(), zip_names(*HELD)) is None


def test_an_sbom_that_differs_from_the_zip_says_what_each_side_has_alone() -> None:
    held = [name for name in HELD if not name.startswith("wrapt")]
    held[held.index("dacite-1.9.2.dist-info")] = "dacite-1.9.3.dist-info"

    problem = sbom_mismatch(sbom_bytes(), zip_names(*held, "left_pad-1.3.0.dist-info"))

    assert problem == (
        "its SBOM does not list what it holds: listed but not in it: dacite 1.9.2, wrapt 2.5.2; "
        "in it but not listed: dacite 1.9.3, left-pad 1.3.0"
    )


def test_layers_json_records_the_sbom_and_drops_it_once_its_bytes_change(tmp_path: Path) -> None:
    zip_path = tmp_path / ZIP_NAME
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("python/honeyhive_serverless-0.4.0.dist-info/METADATA", "Name: honeyhive-serverless\n")
    sbom = sbom_path(zip_path)
    sbom.write_bytes(sbom_bytes())
    digest = hashlib.sha256(sbom.read_bytes()).hexdigest()
    write_manifest(tmp_path, [replace(layer_info(zip_path, "3.12", "arm64"), sbom=sbom, sbom_sha256=digest)])

    [entry] = json.loads((tmp_path / "layers.json").read_text())["layers"]
    [read] = read_manifest(tmp_path)
    sbom.write_bytes(sbom.read_bytes() + b" ")
    [after_change] = read_manifest(tmp_path)

    assert sbom.name == "honeyhive-serverless-layer-py3.12-arm64.cdx.json"
    assert (entry["sbom"], entry["sbom_sha256"]) == (sbom.name, digest)
    assert (read.sbom, read.sbom_sha256) == (sbom, digest)
    assert (after_change.sbom, after_change.sbom_sha256) == (None, None)
    assert after_change.path == zip_path  # the zip itself is still vouched for
