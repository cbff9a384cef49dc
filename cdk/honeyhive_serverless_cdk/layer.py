"""``HoneyHiveLayer``: the honeyhive-serverless Lambda layer for one Python runtime and architecture.

The zip comes from the layer builder of the installed package (``honeyhive_serverless_dev.layer_build``),
run through CDK local bundling, so synthesis needs no Docker. By default the builder's cache supplies it
(built on the first synth, reused after that until the package, its lock or the target changes); given a
``dist_dir`` (``hh-serverless build-layer --out DIR``), a zip there is used as is when its manifest vouches
for its bytes and it holds the installed runtime's files. The builder's zips are deterministic and the
asset is hashed on its output, so every way gives the same bytes and the same asset hash: a layer
version is published again only when its content changes.
"""

from __future__ import annotations

import shutil
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, BundlingOutput, DockerImage, ILocalBundling, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from honeyhive_serverless import variables
from honeyhive_serverless.version import __version__
from honeyhive_serverless_dev.layer_build import (
    LAYER_FILES,
    PACKAGE_NAME,
    PLATFORMS,
    PYTHON_VERSIONS,
    WRAPPER_NAME,
    WRAPPER_PATH,
    build_cached,
    cache_path,
    layer_zip_name,
    read_manifest,
    runtime_files,
)

# BundlingOptions requires an image. It is never pulled: the local bundler builds or fails, never
# declines, so CDK has no reason to fall back to Docker.
_UNUSED_IMAGE = DockerImage.from_registry("public.ecr.aws/sam/build-python3.12")


def layer_python_version(runtime: lambda_.Runtime) -> str | None:
    """``"3.12"`` for ``Runtime.PYTHON_3_12``; None when the layer has no build for the runtime."""
    if runtime.family != lambda_.RuntimeFamily.PYTHON:
        return None
    version = runtime.name.removeprefix("python")
    return version if version in PYTHON_VERSIONS else None


def is_current(zip_path: Path) -> bool:
    """True when the zip holds the installed runtime package's files and the exec wrapper exactly.

    A zip built before the package was upgraded (or, in a checkout, before the last edit) must not be
    deployed as if it were current. (Dependencies are not compared: rebuild after changing the lock.)
    """
    prefix = f"python/{PACKAGE_NAME}/"
    with zipfile.ZipFile(zip_path) as archive:
        shipped = {
            name.removeprefix(prefix): archive.read(name)
            for name in archive.namelist()
            if name.startswith(prefix) and not name.endswith((".pyc", "/"))
        }
        wrapper = archive.read(WRAPPER_NAME) if WRAPPER_NAME in archive.namelist() else None
    return shipped == runtime_files() and wrapper == WRAPPER_PATH.read_bytes()


@jsii.implements(ILocalBundling)
class LayerBundling:
    """Local bundling of the layer zip: a current one from ``dist_dir``, else the builder's cached one."""

    def __init__(self, dist_dir: Path | None) -> None:
        self.dist_dir = dist_dir

    # jsii hands the options over as one positional struct.
    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        environment: Mapping[str, str] = options.environment or {}
        python, arch = environment[variables.LAYER_PYTHON], environment[variables.LAYER_ARCH]
        target = Path(output_dir) / layer_zip_name(python, arch)
        prebuilt = self.prebuilt(python, arch)
        if prebuilt is None:
            cached = cache_path(python, arch)
            verb = "using the cached" if cached.is_file() else "building the"
            print(f"honeyhive: {verb} layer for Python {python} {arch} ({cached})", file=sys.stderr)
            prebuilt = build_cached(python, arch, cached).path
        else:
            print(f"honeyhive: using {prebuilt}", file=sys.stderr)
        shutil.copyfile(prebuilt, target)
        return True

    def prebuilt(self, python: str, arch: str) -> Path | None:
        """The zip in ``dist_dir`` for the target, if the manifest vouches for it and it is current."""
        if self.dist_dir is None:
            return None
        for info in read_manifest(self.dist_dir, missing_ok=True):
            if (info.python, info.arch) == (python, arch) and is_current(info.path):
                return info.path
        return None


class HoneyHiveLayer(lambda_.LayerVersion):
    """The honeyhive-serverless layer for one Python runtime and architecture.

    It holds the runtime package under ``python/``, its third-party packages under ``hh-serverless/`` (used
    only where the function brings none of its own: ``honeyhive_serverless.vendored``) and the exec wrapper
    at ``/opt/honeyhive-wrapper``.

    Example::

        layer = HoneyHiveLayer(
            stack, "HoneyHiveLayer", runtime=lambda_.Runtime.PYTHON_3_12, architecture=lambda_.Architecture.ARM_64
        )
        function.add_layers(layer)

    ``HoneyHiveInstrumentation`` creates and shares these itself; use this class directly only to attach
    the layer by hand. ``dist_dir`` is where prebuilt zips and their ``layers.json`` are looked for first.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
        dist_dir: Path | None = None,
        removal_policy: RemovalPolicy | None = None,
    ) -> None:
        python = layer_python_version(runtime)
        if python is None:
            raise ValueError(
                f"HoneyHiveLayer: no layer for runtime {runtime.name}; "
                f"choose one of {', '.join('python' + version for version in PYTHON_VERSIONS)}"
            )
        if architecture.name not in PLATFORMS:
            raise ValueError(
                f"HoneyHiveLayer: no layer for architecture {architecture.name}; choose one of {', '.join(PLATFORMS)}"
            )
        code = lambda_.Code.from_asset(
            # The source directory only matters to Docker bundling, which never runs; any existing one will do.
            str(LAYER_FILES),
            asset_hash_type=AssetHashType.OUTPUT,
            bundling=BundlingOptions(
                image=_UNUSED_IMAGE,
                # jsii calls try_bundle(output_dir, options) with the struct positional, not as the
                # keyword arguments the generated ILocalBundling protocol declares.
                local=cast(ILocalBundling, LayerBundling(dist_dir)),
                # The options carry the target, so CDK's in-process asset cache (keyed on the options, not
                # on the local bundler object) tells the targets apart; try_bundle reads it back from them.
                environment={variables.LAYER_PYTHON: python, variables.LAYER_ARCH: architecture.name},
                output_type=BundlingOutput.ARCHIVED,
            ),
        )
        super().__init__(
            scope,
            id,
            code=code,
            compatible_runtimes=[runtime],
            compatible_architectures=[architecture],
            description=f"HoneyHive tracing: honeyhive-serverless {__version__} for {runtime.name} {architecture.name}",
            license="Apache-2.0",
            removal_policy=removal_policy,
        )
        self.runtime = runtime
        self.architecture = architecture
