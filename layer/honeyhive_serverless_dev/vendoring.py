"""The layer's third-party distributions, each moved into a directory of its own and described for the
runtime: how the layer builder keeps them from replacing or half-shadowing a function's own packages.

Lambda extracts every layer into one ``/opt``, so a distribution in the layer's ``python/`` would lie at
the same paths as the same distribution in another layer, and one would replace the other file by
file. ``vendor_distributions`` moves each distribution pip installed into ``hh-serverless/<n>/`` (what
its RECORD lists, its dist-info with it), and ``vendor_manifest`` describes them for
``honeyhive_serverless.vendored``, which puts on ``sys.path`` only those the function does not bring:

* ``dir`` and ``version``;
* ``roots``, its shortest importable paths: a package directory (with ``__init__.py``) or a module file,
  below the namespace packages distributions share (``opentelemetry/sdk/trace``, ``typing_extensions.py``):
  the function brings a distribution when one of them is on its ``sys.path``;
* ``requires``, the range it requires of each of the others, markers evaluated for the target, and the
  ranges ``honeyhive-serverless`` itself requires (with the extras the layer serves): when the function's
  own copy is outside one, the runtime says so.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from honeyhive_serverless.vendored import normalize

#: pip's list of a distribution's files: who owns what, until the layer's bytecode makes it wrong.
RECORD = "RECORD"
#: Files that make a module importable where they lie.
MODULE_SUFFIXES = frozenset({".py", ".so", ".pyd"})


@dataclass(frozen=True)
class VendoredDistribution:
    """One distribution, as :func:`vendor_distributions` moved it into its own directory."""

    name: str  # normalised
    directory: str  # its directory's name in the vendor directory
    version: str
    roots: tuple[str, ...]  # see import_roots
    requires: tuple[str, ...]  # its METADATA's Requires-Dist lines, markers and all


def dist_info_name(dist_info: Path) -> str:
    """The normalised name of the distribution a ``.dist-info`` directory describes."""
    headers = HeaderParser().parsestr((dist_info / "METADATA").read_text(encoding="utf-8"))
    return normalize(headers["Name"])


def vendor_distributions(site: Path, vendor: Path, first: Iterable[str] = ()) -> list[VendoredDistribution]:
    """Move each distribution installed in ``site`` (``pip install --target``) to ``vendor/<n>/``, by its
    RECORD. Numbered (short: paths are stored twice in a zip and in every ``.pyc``) in
    :func:`dependency_order` (``first`` as it takes them), the order the runtime appends them to
    ``sys.path`` in.

    A file two RECORDs list (a namespace package's ``__init__.py``) goes to both; what a RECORD lists that
    is gone (pruned since) is skipped; RECORD itself is deleted, as the compiled files would make it wrong.
    ValueError when a file is left that no RECORD lists: no directory would own it.
    """
    moved: dict[str, Path] = {}
    distributions = []
    metadata = {
        dist_info: HeaderParser().parsestr((dist_info / "METADATA").read_text(encoding="utf-8"))
        for dist_info in site.glob("*.dist-info")
    }
    by_name = {normalize(headers["Name"]): (dist_info, headers) for dist_info, headers in metadata.items()}
    requires = {name: headers.get_all("Requires-Dist") or [] for name, (_, headers) in by_name.items()}
    for number, name in enumerate(dependency_order(requires, first)):
        dist_info, headers = by_name[name]
        target = vendor / str(number)
        with (dist_info / RECORD).open(newline="") as record:
            listed = [row[0] for row in csv.reader(record) if row]
        files = []
        for relative in listed:
            source, destination = site / relative, target / relative
            if PurePosixPath(relative).name == RECORD or not source.resolve().is_relative_to(site.resolve()):
                continue  # RECORD itself; a console script in ../../bin
            if source.is_file():
                destination.parent.mkdir(parents=True, exist_ok=True)
                source.rename(destination)
            elif relative in moved:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(moved[relative], destination)
            else:
                continue
            moved.setdefault(relative, destination)
            files.append(PurePosixPath(relative))
        (dist_info / RECORD).unlink()
        roots = import_roots(target, files)
        distributions.append(VendoredDistribution(name, target.name, headers["Version"], roots, tuple(requires[name])))
    unowned = sorted(path.relative_to(site).as_posix() for path in site.rglob("*") if path.is_file())
    if unowned:
        raise ValueError(f"files no distribution's RECORD lists, so no vendored directory owns them: {unowned[:5]}")
    return distributions


def dependency_order(requires: Mapping[str, Iterable[str]], first: Iterable[str] = ()) -> list[str]:
    """The names of ``requires`` (name -> its Requires-Dist lines), each after those it requires; among
    those ready, ``first`` and what they require before the rest, then the one more others depend on,
    then by name. So what the tracer imports at every cold start (``first``: the package's own
    dependencies) comes first on ``sys.path``, and an import reaching the layer's directories finds it at
    the first it asks; what only an opt-in feature imports (Powertools, the instrumentors) comes last."""
    needs = {
        name: {normalize(Requirement(line).name) for line in lines} & set(requires) - {name}
        for name, lines in requires.items()
    }

    def below(names: Iterable[str]) -> set[str]:
        found: set[str] = set()
        pending = [name for name in names if name in needs]
        while pending:
            name = pending.pop()
            if name not in found:
                found.add(name)
                pending.extend(needs[name])
        return found

    early = below(normalize(name) for name in first)
    dependents = {name: sum(name in below(needs[other]) for other in needs) for name in needs}
    ordered: list[str] = []
    while len(ordered) < len(needs):
        pending = [name for name in needs if name not in ordered]
        # A cycle (none in practice) is broken rather than left out: then any pending name will do.
        ready = [name for name in pending if needs[name] <= set(ordered)] or pending
        ordered.append(min(ready, key=lambda name: (name not in early, -dependents[name], name)))
    return ordered


def unconditional_names(requires: Iterable[str]) -> list[str]:
    """The names ``requires`` (Requires-Dist lines) require with no marker: a package's own dependencies,
    not its extras'."""
    return [normalize(requirement.name) for requirement in map(Requirement, requires) if requirement.marker is None]


def import_roots(root: Path, files: Iterable[PurePosixPath]) -> tuple[str, ...]:
    """The shortest paths among ``files`` (relative to ``root``) that import as the distribution's own.

    A directory without ``__init__.py`` is a namespace package others share (``opentelemetry``, ``google``):
    the roots are below it. A data file at that level is nobody's import, so it is no root: a function
    that has some other ``opentelemetry`` distribution must not count as having this one.
    """
    roots = set()
    for file in files:
        if file.parts[0].endswith(".dist-info"):
            continue
        for depth in range(1, len(file.parts)):
            directory = PurePosixPath(*file.parts[:depth])
            if (root / directory / "__init__.py").is_file():
                roots.add(directory.as_posix())
                break
        else:
            if file.suffix in MODULE_SUFFIXES:
                roots.add(file.as_posix())
    return tuple(sorted(roots))


def marker_environment(python: str, machine: str) -> dict[str, str]:
    """PEP 508's marker variables for CPython ``python`` on Lambda's Linux on ``machine`` (``x86_64``,
    ``aarch64``): pip's own would describe the build machine. Lambda's kernel release is not known here."""
    return {
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_version": python,
        "python_full_version": f"{python}.0",
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "extra": "",
    }


def vendor_manifest(
    distributions: Iterable[VendoredDistribution],
    package_version: str,
    package_requires: Iterable[str],
    environment: Mapping[str, str],
    extras: Iterable[str],
) -> dict[str, Any]:
    """What ``distributions.json`` holds (see the module's docstring). ``package_requires`` are
    honeyhive-serverless's own ``Requires-Dist`` lines, counted with ``extras`` (those the layer serves)."""
    distributions = sorted(distributions, key=lambda distribution: distribution.name)
    names = {distribution.name for distribution in distributions}
    target = dict(environment)
    package_environments = [{**target, "extra": extra} for extra in ("", *extras)]
    return {
        "version": package_version,
        "requires": _ranges_of(names, package_requires, package_environments),
        "distributions": {
            distribution.name: {
                "dir": distribution.directory,
                "version": distribution.version,
                "roots": list(distribution.roots),
                "requires": _ranges_of(names, distribution.requires, [target]),
            }
            for distribution in distributions
        },
    }


def _ranges_of(names: set[str], lines: Iterable[str], environments: list[dict[str, str]]) -> dict[str, str]:
    """The specifier ``lines`` (requirements) require each of ``names`` at, counting a requirement whose
    marker holds in any of ``environments``; several on one name are joined."""
    ranges: dict[str, SpecifierSet] = {}
    for line in lines:
        requirement = Requirement(line)
        name = normalize(requirement.name)
        marker = requirement.marker
        if name in names and (marker is None or any(marker.evaluate(env) for env in environments)):
            ranges[name] = ranges.get(name, SpecifierSet()) & requirement.specifier
    return {name: str(specifier) for name, specifier in sorted(ranges.items())}
