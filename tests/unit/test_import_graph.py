"""The import graph: the contracts in pyproject.toml hold, they can fail, and nothing imports in a circle.

The contracts are import-linter's (``[tool.importlinter]``): the runtime package in layers that import
only downward, the construct above the tools above the runtime, and a runtime that never imports the
CDK, boto3 or the dev tools. Moving an import the wrong way fails here, in the unit tier, instead of
only in a deployed zero-code function.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grimp

from conftest import REPO

PACKAGES = ("honeyhive_serverless", "honeyhive_serverless_dev", "honeyhive_serverless_cdk", "repo_tools")
# Where each package is in the checkout (the construct under cdk/, the repository's tools under tools/).
SOURCE_DIRS = (REPO / "layer", REPO / "cdk", REPO / "tools")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(*source_dirs: Path, contract: str | None = None) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the repository's contracts over the packages first found in ``source_dirs``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(path) for path in source_dirs)}
    only = ["--contract", contract] if contract else []
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *only, str(REPO / "pyproject.toml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )


def test_every_contract_is_kept() -> None:
    result = _lint_imports(*SOURCE_DIRS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_contract_fails_when_a_lower_layer_imports_an_upper_one(tmp_path: Path) -> None:
    shutil.copytree(
        REPO / "layer" / "honeyhive_serverless",
        tmp_path / "honeyhive_serverless",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    budget = tmp_path / "honeyhive_serverless" / "budget.py"
    budget.write_text(budget.read_text() + "\nfrom . import wrapper  # the wrong way: a leaf importing the top\n")

    # The broken copy comes first on the path, so it is the runtime package the contract reads.
    result = _lint_imports(tmp_path, *SOURCE_DIRS, contract="runtime-layers")

    assert result.returncode == 1, result.stdout
    assert "BROKEN" in result.stdout
    assert "honeyhive_serverless.budget -> honeyhive_serverless.wrapper" in result.stdout


def _cycles(graph: grimp.ImportGraph) -> Iterator[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(module: str) -> Iterator[set[str]]:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in graph.modules or imported.split(".")[0] not in PACKAGES:
                continue
            if imported not in index:
                yield from visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                yield component

    for module in sorted(graph.modules):
        if module.split(".")[0] in PACKAGES and module not in index:
            yield from visit(module)


def test_no_module_imports_in_a_circle() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)  # each on the path: pytest's pythonpath
    assert list(_cycles(graph)) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    graph = grimp.ImportGraph()
    for module in ("honeyhive_serverless.a", "honeyhive_serverless.b", "honeyhive_serverless.c"):
        graph.add_module(module)
    graph.add_import(importer="honeyhive_serverless.a", imported="honeyhive_serverless.b")
    graph.add_import(importer="honeyhive_serverless.b", imported="honeyhive_serverless.a")
    graph.add_import(importer="honeyhive_serverless.c", imported="honeyhive_serverless.a")
    assert list(_cycles(graph)) == [{"honeyhive_serverless.a", "honeyhive_serverless.b"}]
