"""The directory that plays Lambda's ``/var/runtime`` for a base interpreter, installed once per Python.

A base interpreter (pyenv's, say) has no ``awslambdaric`` of its own; Lambda's runtime directory
provides it, and boto3 with it. Installed by pip with that very interpreter, since the runtime
client's native parts must match it.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .. import interpreters


def ensure_runtime(python_version: str, cache_dir: Path) -> Path:
    """A directory playing ``/var/runtime`` for a base interpreter: ``awslambdaric`` (the version this
    environment has) and boto3 (Lambda's runtime ships it), pip-installed with THAT interpreter into
    ``cache_dir/runtime-py3.X`` once (native parts must match it). Safe across concurrent processes."""
    interpreter = interpreters.resolve_python(python_version)
    version = interpreters.python_version(interpreter)
    try:
        awslambdaric = f"awslambdaric=={importlib.metadata.version('awslambdaric')}"
    except importlib.metadata.PackageNotFoundError:
        awslambdaric = "awslambdaric"
    requirements = [awslambdaric, "boto3"]
    target = cache_dir / f"runtime-py{version}"
    stamp = ".hh-runtime"
    wanted = "\n".join(requirements)

    def installed() -> bool:
        with contextlib.suppress(OSError):
            return (target / stamp).read_text() == wanted
        return False

    if installed():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f".runtime-py{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed():
            return target
        # Installed beside the target and renamed into place, so a failed install leaves nothing half-done.
        staging = Path(tempfile.mkdtemp(prefix=f".runtime-py{version}-", dir=cache_dir))
        try:
            command = [interpreter, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input"]
            result = subprocess.run(
                [*command, "--target", str(staging), *requirements],
                check=False,
                capture_output=True,
                text=True,
                env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"},
                timeout=900,
            )
            if result.returncode != 0:
                raise RuntimeError(
                    f"pip could not install {' '.join(requirements)} for {interpreter}:\n{result.stderr}"
                )
            (staging / stamp).write_text(wanted)
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target
