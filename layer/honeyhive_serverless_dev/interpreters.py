"""Where this machine's Python interpreters are: one rule for every dev tool that needs a Python X.Y.

The layer build compiles a layer's bytecode with one, and the Lambda emulator runs a sandbox on one.
Both look in the same places, in the same order: pyenv's installs of that version (pyenv provides
3.10 to 3.13 here), newest first, then ``pythonX.Y`` on PATH. pyenv's shims are never taken: a shim
for a version that is installed but not selected fails when run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .user_cache import user_cache_dir

_VERSION = re.compile(r"3\.\d+")
_PYENV_VERSION = re.compile(r"\d+\.\d+\.\d+")


def _pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def candidates(version: str) -> Iterator[str]:
    """The interpreters of Python ``version`` (``"3.12"``) on this machine, best first.

    pyenv's ``3.12.x`` installs, newest first (release names only, no ``3.12-dev``), then every
    ``python3.12`` on PATH in PATH's order, pyenv shims excepted.
    """
    installed = [
        (tuple(int(part) for part in path.parents[1].name.split(".")), path)
        for path in _pyenv_root().glob(f"versions/{version}.*/bin/python{version}")
        if _PYENV_VERSION.fullmatch(path.parents[1].name)
    ]
    for _, path in sorted(installed, reverse=True):
        yield str(path)
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = Path(directory) / f"python{version}"
        if "shims" not in candidate.parts and os.access(candidate, os.X_OK):
            yield str(candidate)


def resolve_python(spec: str | None) -> str:
    """The interpreter for ``spec``: None is this interpreter, ``"3.12"`` the best of :func:`candidates`,
    anything with a ``/`` a path. LookupError if there is none.

    A version is never answered with this interpreter: it may be a virtual environment, whose
    site-packages a sandbox must not see.
    """
    if spec is None:
        return sys.executable
    if os.sep in spec:
        if not os.access(spec, os.X_OK):
            raise LookupError(f"{spec} is not an executable interpreter")
        return spec
    if not _VERSION.fullmatch(spec):
        raise LookupError(f"{spec!r} is neither a version like 3.12 nor a path to an interpreter")
    found = next(candidates(spec), None)
    if found is None:
        raise LookupError(f"no Python {spec} found in {_pyenv_root() / 'versions'} or on PATH")
    return found


def find_interpreter(version: str) -> str | None:
    """A CPython ``version`` (``"3.12"``) to compile bytecode with; None if this machine has none.

    Bytecode depends only on the version, so this interpreter does when it is one (no process to
    start). Otherwise the first of :func:`candidates` whose cache tag says it is: a broken install, or
    another implementation under that name, would write bytecode the layer cannot use.
    """
    tag = "cpython-" + version.replace(".", "")
    if sys.implementation.cache_tag == tag:
        return sys.executable
    for candidate in candidates(version):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.implementation.cache_tag)"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == tag:
            return candidate
    return None


def python_version(interpreter: str) -> str:
    """``"3.12"`` for an interpreter (asked only when it is not this one)."""
    if interpreter == sys.executable:
        return f"{sys.version_info.major}.{sys.version_info.minor}"
    code = "import sys; print('%d.%d' % sys.version_info[:2])"
    return subprocess.run([interpreter, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def bare_environment(interpreter: str) -> str:
    """``interpreter`` as a sandbox runs it: a virtual environment's as it is, a base install's through a
    package-free virtual environment over it, made once and kept.

    Lambda's interpreter brings no third-party packages: its ``site-packages`` holds pip at most. A
    machine's base install may hold hundreds, and ``.pth`` files that run at every start (this one's
    Python 3.11: 224 packages and a ``.pth`` importing certifi, 40-50 ms of each cold start); a sandbox
    must see neither, and a function must not find an older ``typing_extensions`` there before a layer's.
    """
    if (Path(interpreter).parent.parent / "pyvenv.cfg").exists():
        return interpreter
    base = Path(interpreter).resolve()
    key = hashlib.sha256(str(base).encode()).hexdigest()[:16]
    cache = user_cache_dir() / "sandbox-python"
    home = cache / f"{base.name}-{key}"
    python = home / "bin" / base.name
    if not python.exists():
        cache.mkdir(parents=True, exist_ok=True)
        # Made beside and renamed into place: emulators started at once in several processes each see
        # either no environment or a whole one.
        with tempfile.TemporaryDirectory(dir=cache) as scratch:
            made = Path(scratch) / "env"
            subprocess.run([str(base), "-m", "venv", "--without-pip", "--symlinks", str(made)], check=True)
            with contextlib.suppress(OSError):  # another process put its environment there first
                made.rename(home)
    return str(python)
