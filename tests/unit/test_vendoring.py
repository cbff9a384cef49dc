"""The layer builder's vendoring step, on a ``pip install --target`` site written here: each distribution
moved to a directory of its own by its RECORD, and described for the runtime (import roots, ranges)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from honeyhive_serverless_dev.vendoring import (
    dependency_order,
    marker_environment,
    unconditional_names,
    vendor_distributions,
    vendor_manifest,
)

# name -> (version, files, Requires-Dist lines)
SITE: dict[str, tuple[str, list[str], list[str]]] = {
    "Alpha_Pkg": (
        "1.0",
        ["alpha/__init__.py", "alpha/core.py"],
        ["beta>=2", 'beta<3; python_version >= "3.10"', 'beta<1; python_version < "3.0"', "zeta; extra == 'x'"],
    ),
    # In the shared namespace package ``ns``: a package, a module beside it, and a data file that no
    # import names.
    "beta": ("2.1", ["ns/beta/__init__.py", "ns/beta/core.py", "ns/_speedups.abi3.so", "ns/py.typed"], []),
    "gamma": ("0.3b1", ["gamma.py"], ["alpha-pkg"]),
}


def write_site(site: Path) -> None:
    for name, (version, files, requires) in SITE.items():
        dist_info = f"{name}-{version}.dist-info"
        listed = [*files, f"{dist_info}/METADATA", f"{dist_info}/RECORD", "../../bin/console-script"]
        for file in files:
            (site / file).parent.mkdir(parents=True, exist_ok=True)
            (site / file).write_text(f"# {name}\n")
        (site / dist_info).mkdir(parents=True)
        metadata = [f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {line}" for line in requires)]
        (site / dist_info / "METADATA").write_text("Metadata-Version: 2.1\n" + "\n".join(metadata) + "\n")
        with (site / dist_info / "RECORD").open("w", newline="") as record:
            csv.writer(record).writerows([file, "", ""] for file in listed)


def test_each_distribution_gets_a_directory_numbered_after_those_it_requires(tmp_path: Path) -> None:
    site, vendor = tmp_path / "site", tmp_path / "vendor"
    write_site(site)
    (site / "alpha" / "core.py").unlink()  # pruned after install: skipped, not an error

    distributions = vendor_distributions(site, vendor)

    assert [(d.name, d.directory, d.version) for d in distributions] == [
        ("beta", "0", "2.1"),
        ("alpha-pkg", "1", "1.0"),
        ("gamma", "2", "0.3b1"),
    ]
    files = {path.relative_to(vendor).as_posix() for path in vendor.rglob("*") if path.is_file()}
    assert files == {
        "0/ns/beta/__init__.py",
        "0/ns/beta/core.py",
        "0/ns/_speedups.abi3.so",
        "0/ns/py.typed",
        "0/beta-2.1.dist-info/METADATA",
        "1/alpha/__init__.py",
        "1/Alpha_Pkg-1.0.dist-info/METADATA",
        "2/gamma.py",
        "2/gamma-0.3b1.dist-info/METADATA",
    }
    assert [path for path in site.rglob("*") if path.is_file()] == []
    # What a function must have on its path to count as bringing each one (never the shared ns/py.typed).
    assert [d.roots for d in distributions] == [("ns/_speedups.abi3.so", "ns/beta"), ("alpha",), ("gamma.py",)]


def test_a_file_no_record_lists_is_refused(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_site(site)
    (site / "stray.py").write_text("")

    with pytest.raises(ValueError, match=r"no distribution's RECORD lists.*stray\.py"):
        vendor_distributions(site, tmp_path / "vendor")


def test_the_manifest_holds_the_ranges_between_the_vendored_distributions_for_the_target(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_site(site)
    distributions = vendor_distributions(site, tmp_path / "vendor")
    own = ["beta>=2.0,<3", "gamma; extra == 'aws'", "alpha-pkg>=9; extra == 'cdk'", "unvendored>=1"]

    manifest = vendor_manifest(distributions, "0.1.0", own, marker_environment("3.12", "x86_64"), ["aws"])

    assert manifest["version"] == "0.1.0"
    # The package's own: with the extras the layer serves (aws), not others (cdk); only vendored names.
    assert manifest["requires"] == {"beta": "<3,>=2.0", "gamma": ""}
    alpha, beta, gamma = (manifest["distributions"][name] for name in ("alpha-pkg", "beta", "gamma"))
    assert alpha == {"dir": "1", "version": "1.0", "roots": ["alpha"], "requires": {"beta": "<3,>=2"}}
    assert beta["requires"] == {}
    assert gamma["requires"] == {"alpha-pkg": ""}


def test_what_the_package_itself_requires_comes_first_then_what_more_depend_on() -> None:
    """The tracer's own closure (the SDK, its API, typing-extensions) before an instrumentor and its
    dependencies, however many of those there are; each distribution after what it requires."""
    requires = {
        "typing-extensions": [],
        "api": ["typing-extensions>=4"],
        "sdk": ["api==1.0", "typing_extensions"],
        "wrapt": [],
        "instrumentation": ["api", "wrapt"],
        "instrumentor-a": ["instrumentation", "wrapt"],
        "instrumentor-b": ["instrumentation", "wrapt", "unvendored"],
        "powertools": ["typing-extensions; python_version >= '3.8'"],
    }
    own = ["sdk>=1", "powertools>=3; extra == 'aws'", "instrumentor-a; extra == 'llm'"]

    assert unconditional_names(own) == ["sdk"]
    assert dependency_order(requires, unconditional_names(own)) == [
        "typing-extensions",
        "api",
        "sdk",
        "wrapt",
        "instrumentation",
        "instrumentor-a",
        "instrumentor-b",
        "powertools",
    ]
