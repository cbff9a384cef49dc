"""The distributions as users get them: built from the repository once per run, installed into fresh
venvs in temporary directories outside the checkout, and run from there.

``python -m build`` makes the sdist and, from it, the wheel: a file missing from the sdist is missing
from the wheel, as it would be on PyPI. Venvs are made with ``--without-pip`` plus the running pip
(``pip --python``), which is quicker than bootstrapping pip into each one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from conftest import REPO

BUILD_TIMEOUT_S = 300
INSTALL_TIMEOUT_S = 600


@dataclass(frozen=True)
class Distributions:
    """The built sdist and wheel."""

    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Venv:
    """A fresh virtual environment; ``run`` executes its commands with a clean environment."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name

    def run(
        self, *command: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` (a name from the venv's bin/ or a path) in ``cwd``, not the checkout."""
        assert not cwd.resolve().is_relative_to(REPO), f"{cwd} is inside the checkout"
        program, *args = command
        executable = self.bin(str(program)) if isinstance(program, str) and "/" not in program else program
        # Only what a user's shell would have: no PYTHONPATH pointing into the checkout, no HH_* settings.
        base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
        base["PATH"] = f"{self.root / 'bin'}{os.pathsep}{base.get('PATH', '')}"
        return subprocess.run(
            [str(executable), *map(str, args)],
            cwd=cwd,
            env={**base, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def build_distributions(out: Path) -> Distributions:
    """``python -m build`` of the repository into ``out``."""
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [sdist] = out.glob("*.tar.gz")
    [wheel] = out.glob("*.whl")
    return Distributions(sdist=sdist, wheel=wheel)


def make_venv(
    root: Path, *requirements: str, installer: Literal["pip", "uv"] = "pip", python: str | None = None
) -> Venv:
    """A new venv at ``root`` with ``requirements`` installed (from the package index's cache).

    ``installer="uv"``: ``uv pip install`` (the dev extra's uv, beside this interpreter), a few times
    quicker than pip for a large tree; pip where there is no uv. ``python``: the base interpreter of
    another Python than this one.
    """
    assert not root.resolve().is_relative_to(REPO)
    if python is None:
        venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
    else:
        subprocess.run([python, "-m", "venv", "--without-pip", "--symlinks", str(root)], check=True, timeout=60)
    environment = Venv(root)
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) if installer == "uv" else None
    if uv is not None:
        command = [uv, "pip", "install", "--quiet", "--python", str(environment.python)]
    else:
        command = [sys.executable, "-m", "pip", "--python", str(environment.python), "install", "--quiet"]
        command.append("--disable-pip-version-check")
    result = subprocess.run(
        [*command, *requirements],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return environment


def oldest_supported(requirement: str) -> str:
    """``aws-cdk-lib>=2.170.0,<3`` -> ``aws-cdk-lib==2.170.0``: the floor of a range, to install and test."""
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([^,]+),<.+", requirement)
    assert match, requirement
    return f"{match[1]}=={match[2]}"
