"""A layer zip's SBOM read as a consumer reads it: the CycloneDX JSON beside the zip, held to the zip.

Parsed here with nothing of the builder's SBOM code, so a test that uses it fails whenever the builder's
own check would pass a wrong SBOM.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from honeyhive_serverless_dev.layer_build import LOCK_PATH


def sbom_beside(zip_path: Path) -> Path:
    """``honeyhive-serverless-layer-py3.12-x86_64.zip`` -> ``honeyhive-serverless-layer-py3.12-x86_64.cdx.json``."""
    return zip_path.with_name(zip_path.name.removesuffix(".zip") + ".cdx.json")


def lock_hashes() -> dict[str, set[str]]:
    """The sha256 hashes the lock allows for each distribution (name as locked: PEP 503 normal form)."""
    text = LOCK_PATH.read_text().replace("\\\n", " ")
    return {
        match.group(1): set(re.findall(r"--hash=sha256:([0-9a-f]{64})", match.group(0)))
        for match in re.finditer(r"^([a-z0-9-]+)==\S+.*$", text, flags=re.MULTILINE)
    }


def check_layer_sbom(zip_path: Path) -> dict[str, Any]:
    """Assert that the SBOM beside ``zip_path`` is valid CycloneDX 1.6 naming the zip by its sha256 and
    lists exactly the distributions whose ``.dist-info`` the zip holds, each with its purl and, but for
    honeyhive-serverless itself, the sha256 of a wheel the lock allows. Returns the parsed SBOM."""
    text = sbom_beside(zip_path).read_text()
    invalid = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert invalid is None, str(invalid)[:500]
    sbom: dict[str, Any] = json.loads(text)
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    dist_infos = {part.lower() for name in names for part in PurePosixPath(name).parts if part.endswith(".dist-info")}
    components = sbom["components"]
    listed = {
        f"{component['name'].replace('-', '_')}-{component['version']}.dist-info".lower() for component in components
    }
    assert len(listed) == len(components)
    assert listed == dist_infos, (
        f"only in the SBOM: {sorted(listed - dist_infos)}; only in the zip: {sorted(dist_infos - listed)}"
    )

    assert sbom["metadata"]["component"]["hashes"] == [
        {"alg": "SHA-256", "content": hashlib.sha256(zip_path.read_bytes()).hexdigest()}
    ]
    allowed = lock_hashes()
    for component in components:
        assert component["purl"] == f"pkg:pypi/{component['name']}@{component['version']}"
        if component["name"] == "honeyhive-serverless":
            assert "hashes" not in component  # copied from the installed package, not from a wheel
        else:
            [digest] = component["hashes"]
            assert digest["alg"] == "SHA-256"
            assert digest["content"] in allowed[component["name"]], component["name"]
    # Nothing that changes from one build to the next.
    assert "serialNumber" not in sbom
    assert "timestamp" not in sbom["metadata"]
    return sbom
