"""The modules of some packages that nothing else in a site imports, found from the sources' import
statements: how the layer builder leaves out OpenTelemetry's incubating semantic conventions that no
shipped instrumentation uses, and packaging's SPDX license tables and lock files, which nothing in the
layer reads.

OpenTelemetry's ``opentelemetry.semconv._incubating`` is some 90 modules of attribute and metric names
(0.26 MB of the zipped layer), of which the instrumentations in the layer import a dozen; packaging's
``licenses`` (its SPDX list, 0.1 MB) is read only by its ``metadata``, which nothing imports. A module
is kept when any source outside those named names it in an ``import`` or ``from ... import`` (a name
imported from a package counts as its submodule, in case it is one), and so is whatever a kept module
imports in turn. The scan is of this build's own files, so a newer instrumentation that imports more
keeps more. What is not found by its import statements (``importlib.import_module`` of a computed name)
would be missed: nothing in the layer imports these modules that way.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path


def unimported_modules(site: Path, names: Iterable[str]) -> list[Path]:
    """The ``.py`` files of the packages or modules ``names`` (dotted) under ``site`` that nothing
    outside them imports, directly or through one of theirs that is imported."""
    roots = [_location(site, name) for name in names]
    inside = {
        _module_name(site, path): path
        for root in roots
        if root is not None
        for path in (root.rglob("*.py") if root.is_dir() else [root])
    }
    members = set(inside.values())
    wanted = set(_imported_names(path for path in site.rglob("*.py") if path not in members))
    kept: set[str] = set()
    pending = [name for name in inside if name in wanted]
    while pending:
        name = pending.pop()
        if name in kept:
            continue
        kept.add(name)
        own = set(_imported_names([inside[name]], _package_of(name, inside[name])))
        pending += [other for other in inside if other not in kept and other in own]
    return sorted(path for name, path in inside.items() if name not in kept)


def _location(site: Path, name: str) -> Path | None:
    base = site.joinpath(*name.split("."))
    if base.is_dir():
        return base
    module = base.with_suffix(".py")
    return module if module.is_file() else None


def _module_name(site: Path, path: Path) -> str:
    parts = path.relative_to(site).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imported_names(paths: Iterable[Path], package: str = "") -> Iterator[str]:
    """Every module name the files import, and ``module.name`` for each ``from module import name``."""
    for path in paths:
        try:
            tree = ast.parse(path.read_bytes(), str(path))
        except (SyntaxError, ValueError):
            continue  # not this Python's syntax (a vendored file for another version): it imports nothing here
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield from _with_parents(alias.name)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node, package)
                if base is None:
                    continue
                yield from _with_parents(base)
                for alias in node.names:
                    yield f"{base}.{alias.name}"


def _resolve(node: ast.ImportFrom, package: str) -> str | None:
    if not node.level:
        return node.module
    if not package:
        return None
    parts = package.split(".")
    if node.level > 1:
        parts = parts[: -(node.level - 1)]
    return ".".join([*parts, node.module] if node.module else parts)


def _with_parents(name: str) -> Iterator[str]:
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])
