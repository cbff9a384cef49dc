"""``hh-serverless publish-layer``: one layer version per zip in ``layers.json``, reused when already published."""

from __future__ import annotations

import argparse
from pathlib import Path

from honeyhive_serverless_dev.aws_tools import PublishError, checked_layer_name, publish_layer
from honeyhive_serverless_dev.cli import common
from honeyhive_serverless_dev.layer_build import read_manifest


def add_publish_layer(subparsers: common.SubParsers) -> None:
    """Add the ``publish-layer`` command."""
    parser = subparsers.add_parser(
        "publish-layer",
        help="publish the built layer zips to Lambda and print their ARNs",
        description="Publish each selected zip of layers.json as a layer version (reused if already published).",
    )
    parser.add_argument("--region", required=True, help="AWS region to publish in")
    common.add_target_options(parser, "publish")
    common.add_layer_name_option(parser)
    parser.add_argument("--dist", type=Path, default=Path("dist"), help="where layers.json is (default: dist)")
    parser.set_defaults(func=common.reporting_errors(_run_publish_layer))


def _run_publish_layer(args: argparse.Namespace) -> int:
    infos = [
        info
        for info in read_manifest(args.dist)
        if (not args.python or info.python in args.python) and (not args.arch or info.arch in args.arch)
    ]
    if not infos:
        raise PublishError(f"no built layer in {args.dist} matches: run hh-serverless build-layer")
    names = [checked_layer_name(args.layer_name, info.python, info.arch) for info in infos]
    if len(set(names)) < len(names):
        raise PublishError(
            f"--layer-name {args.layer_name} gives {len(names)} layers the same name: "
            "put {py} and {arch} in it, or select one layer with --python and --arch"
        )
    client = common.lambda_client(args.region)
    for info, name in zip(infos, names, strict=True):
        published = publish_layer(client, info, name)
        status = "reused existing version" if published.reused else "published"
        # The ARNs alone go to stdout, so the output can be read by a script.
        common.stderr_line(f"{info.path.name}: {status}")
        common.stdout_line(published.arn)
    return 0
