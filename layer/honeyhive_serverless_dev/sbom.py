"""The CycloneDX SBOM of a layer zip, written beside it: ``honeyhive-serverless-layer-py<X.Y>-<arch>.cdx.json``.

It lists what the zip holds, one component per distribution: honeyhive-serverless itself and each
third-party distribution as pip installed it (name, version, ``pkg:pypi`` purl, the sha256 of the very
wheel pip installed, which the lock's hashes vouch for, and the license the wheel declares), what
requires what (the layer's ``distributions.json``), and, as the BOM's subject, the zip with its sha256.

Beside the zip rather than in it: an SBOM inside could not name the zip's own hash, a change of SBOM
format would change the layer's bytes (and so its CDK asset hash and published version) though no
code changed, and the zip's 5 MB budget is for code; a publisher uploads it next to the zip, and a
scanner reading ``/opt`` finds every distribution's ``.dist-info`` there anyway.

Deterministic: no serial number and no timestamp (both optional in CycloneDX), every bom-ref given
(a purl, the zip's name), components sorted by the library: the same zip gives the same bytes.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honeyhive_serverless.vendored import normalize

#: CycloneDX's registered suffix for a JSON BOM.
SBOM_SUFFIX = ".cdx.json"
#: The library that writes the SBOM, named in it as its tool.
CYCLONEDX_LIBRARY = "cyclonedx-python-lib"
# A distribution's ``<name>-<version>.dist-info`` directory, wherever it lies in a zip (wheel names escape
# ``-`` in names as ``_``, so the first ``-`` ends the name).
_DIST_INFO = re.compile(r"(?:.*/)?([^/-]+)-([^/-]+)\.dist-info/.*")


@dataclass(frozen=True)
class Distribution:
    """One distribution of a layer, as its SBOM component says it."""

    name: str  # normalised
    version: str
    wheel_sha256: str | None  # of the wheel it was installed from; None for what was not installed from one
    license: str | None  # an SPDX expression or identifier where the metadata has one, else the license's name


def sbom_path(zip_path: Path) -> Path:
    """Where a layer zip's SBOM goes: beside it, ``<zip name without .zip>.cdx.json``."""
    return zip_path.with_name(zip_path.name.removesuffix(".zip") + SBOM_SUFFIX)


def installed_distributions(report: Mapping[str, Any]) -> list[Distribution]:
    """The distributions pip installed, from its ``--report`` (its install report, version 1)."""
    found = []
    for item in report["install"]:
        metadata = item["metadata"]
        hashes = item["download_info"].get("archive_info", {}).get("hashes", {})
        found.append(
            Distribution(
                name=normalize(metadata["name"]),
                version=metadata["version"],
                wheel_sha256=hashes.get("sha256"),
                license=declared_license(metadata.get("license_expression"), metadata.get("license")),
            )
        )
    return found


def declared_license(expression: str | None, text: str | None) -> str | None:
    """What a distribution's metadata says of its license: the SPDX ``License-Expression`` (PEP 639), else
    a one-line ``License`` field; None when neither (a multi-line field is the license's whole text)."""
    if expression:
        return expression.strip()
    if text and text.strip() and "\n" not in text.strip():
        return text.strip()
    return None


def layer_sbom(
    zip_name: str,
    zip_sha256: str,
    package: Distribution,
    dependencies: Iterable[Distribution],
    requires: Mapping[str, Iterable[str]],
) -> bytes:
    """The SBOM (CycloneDX 1.6 JSON) of the zip ``zip_name``: ``package``, the distribution the layer is
    made for, and its ``dependencies`` in the layer; ``requires``: name -> the names in the layer it requires."""
    # Imported here: about 0.2 s that a build pays, not a CDK synth whose layer is cached or prebuilt.
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    licenses = LicenseFactory()
    components = {}
    for distribution in (package, *dependencies):
        purl = PackageURL(type="pypi", name=distribution.name, version=distribution.version)
        components[distribution.name] = Component(
            type=ComponentType.LIBRARY,
            name=distribution.name,
            version=distribution.version,
            purl=purl,
            bom_ref=purl.to_string(),
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=distribution.wheel_sha256)]
            if distribution.wheel_sha256
            else [],
            licenses=[licenses.make_from_string(distribution.license)] if distribution.license else [],
        )
    layer = Component(
        type=ComponentType.LIBRARY,
        name=zip_name.removesuffix(".zip"),
        version=package.version,
        bom_ref=zip_name,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=zip_sha256)],
    )
    metadata = BomMetaData(component=layer)
    # The tools that made it: this package's builder, and the library that writes CycloneDX.
    for tool, version in (
        (package.name, package.version),
        (CYCLONEDX_LIBRARY, importlib.metadata.version(CYCLONEDX_LIBRARY)),
    ):
        metadata.tools.components.add(
            Component(type=ComponentType.APPLICATION, name=tool, version=version, bom_ref=f"tool:{tool}")
        )
    bom = Bom(components=components.values(), metadata=metadata)
    # Left out, as two builds of one zip would differ by them: both are optional in CycloneDX (not in the
    # library's typing).
    bom.serial_number = None  # type: ignore[assignment]
    bom.metadata.timestamp = None  # type: ignore[assignment]
    bom.register_dependency(layer, [components[package.name]])
    for name, component in components.items():
        bom.register_dependency(
            component, [components[other] for other in requires.get(name, ()) if other in components]
        )
    return (JsonV1Dot6(bom).output_as_string(indent=1) + "\n").encode()


def sbom_mismatch(sbom: bytes, zip_names: Iterable[str]) -> str | None:
    """Why ``sbom`` does not list exactly the distributions whose ``.dist-info`` directories are among a
    zip's entry ``zip_names`` (by name and version); None when it does."""
    listed = {normalize(component["name"]): component["version"] for component in json.loads(sbom)["components"]}
    held = dist_info_versions(zip_names)
    if listed == held:
        return None
    only_listed = sorted(f"{name} {version}" for name, version in set(listed.items()) - set(held.items()))
    only_held = sorted(f"{name} {version}" for name, version in set(held.items()) - set(listed.items()))
    return (
        f"its SBOM does not list what it holds: listed but not in it: {', '.join(only_listed) or 'none'}; "
        f"in it but not listed: {', '.join(only_held) or 'none'}"
    )


def dist_info_versions(names: Iterable[str]) -> dict[str, str]:
    """The distributions whose ``.dist-info`` directories are among a zip's entry ``names``, wherever in
    it: normalised name -> version."""
    found = {}
    for name in names:
        match = _DIST_INFO.fullmatch(name)
        if match is not None:
            found[normalize(match.group(1))] = match.group(2)
    return found
