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

#: The runtime client that speaks Lambda Managed Instances (``AWS_LAMBDA_MAX_CONCURRENCY``: it forks its
#: workers). The tests' and the bench's Managed Instances runs use this one.
MANAGED_INSTANCES_RUNTIME_CLIENT = "awslambdaric==4.2.2"
#: Managed Instances run Python 3.13 and later.
MANAGED_INSTANCES_PYTHON = "3.13"


def ensure_runtime(python_version: str, cache_dir: Path, runtime_client: str | None = None) -> Path:
    """A directory playing ``/var/runtime`` for a base interpreter: ``awslambdaric`` (``runtime_client``,
    say ``awslambdaric==4.2.2`` for Managed Instances; else the version this environment has) and boto3
    (Lambda's runtime ships it), pip-installed with THAT interpreter into ``cache_dir/runtime-py3.X``
    once (native parts must match it). Safe across concurrent processes."""
    interpreter = interpreters.resolve_python(python_version)
    version = interpreters.python_version(interpreter)
    awslambdaric = runtime_client
    if awslambdaric is None:
        try:
            awslambdaric = f"awslambdaric=={importlib.metadata.version('awslambdaric')}"
        except importlib.metadata.PackageNotFoundError:
            awslambdaric = "awslambdaric"
    requirements = [awslambdaric, "boto3"]
    suffix = "" if runtime_client is None else "-" + runtime_client.replace("==", "-")
    target = cache_dir / f"runtime-py{version}{suffix}"
    stamp = ".hh-runtime"
    wanted = "\n".join(requirements)

    def installed() -> bool:
        with contextlib.suppress(OSError):
            return (target / stamp).read_text() == wanted
        return False

    if installed():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed():
            return target
        # Installed beside the target and renamed into place, so a failed install leaves nothing half-done.
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache_dir))
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
