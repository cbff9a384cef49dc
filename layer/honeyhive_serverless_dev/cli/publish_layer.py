"""``hh-serverless publish-layer``: each zip of ``layers.json`` to each region, shared, its ARN recorded in SSM;
signed with AWS Signer first when a signing profile is given.

Prints one JSON manifest of everything published on stdout (progress, on a terminal, goes to stderr), so
a release script reads the ARNs, versions and parameters without parsing text.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from honeyhive_serverless_dev.cli import common
from honeyhive_serverless_dev.published import DEFAULT_LAYER_NAME


def add_publish_layer(subparsers: common.SubParsers) -> None:
    """Add the ``publish-layer`` command."""
    parser = subparsers.add_parser(
        "publish-layer",
        help="publish the built layer zips to Lambda, share them, record their ARNs in SSM",
        description=(
            "Publish each selected zip of layers.json as a layer version in each region (reused if already "
            "published), share it, and record its ARN in the SSM parameters PREFIX/pythonX.Y/ARCH/latest and "
            "PREFIX/pythonX.Y/ARCH/VERSION. Prints a JSON manifest of what was published. For functions whose "
            "code-signing config enforces signatures, add --signing-profile and --signing-bucket: each zip is "
            "uploaded to the bucket, signed there by an AWS Signer signing job, and the signed copy is published "
            "and recorded under PREFIX/signed/pythonX.Y/ARCH/..."
        ),
    )
    parser.add_argument("--region", action="append", required=True, help="AWS region to publish in (repeatable)")
    common.add_target_options(parser, "publish")
    parser.add_argument(
        "--layer-name",
        default=DEFAULT_LAYER_NAME,
        metavar="NAME",
        help="layer name; {py} (e.g. 312) and {arch} are filled in (default: %(default)s)",
    )
    parser.add_argument("--dist", type=Path, default=Path("dist"), help="where layers.json is (default: dist)")
    parser.add_argument(
        "--share-account",
        action="append",
        default=[],
        metavar="ACCOUNT_ID",
        help="let this account use the layer (repeatable)",
    )
    parser.add_argument(
        "--share-organization",
        action="append",
        default=[],
        metavar="ORG_ID",
        help="let every account of this organization (o-...) use the layer (repeatable)",
    )
    parser.add_argument("--share-public", action="store_true", help="let every AWS account use the layer")
    parser.add_argument(
        "--signing-profile",
        metavar="NAME",
        help=(
            "sign each zip with this AWS Signer profile (platform AWSLambda-SHA384-ECDSA, in each region) and "
            "publish the signed copy: what a function with an enforcing code-signing config can use"
        ),
    )
    parser.add_argument(
        "--signing-bucket",
        metavar="BUCKET",
        help=(
            "the versioned S3 bucket, in the region published to, that each zip is uploaded to and signed in; "
            "{region} in the name is filled in with each region (my-artifacts-{region}); needed with "
            "--signing-profile"
        ),
    )
    common.add_parameter_prefix_option(parser)
    parser.add_argument("--no-parameters", action="store_true", help="record no SSM parameters")
    parser.set_defaults(func=common.reporting_errors(_run_publish_layer))


def _run_publish_layer(args: argparse.Namespace) -> int:
    from honeyhive_serverless_dev.layer_build import read_manifest
    from honeyhive_serverless_dev.publishing import (
        PublishError,
        checked_layer_name,
        grants,
        package_version,
        parameter_names,
        publish_manifest,
        publish_target,
    )
    from honeyhive_serverless_dev.signing import regional_signer, signing_request

    # Everything that can be wrong with the request is checked before the first call to AWS.
    regions = list(dict.fromkeys(args.region))
    shares = grants(args.share_account, args.share_organization, args.share_public)
    signing = signing_request(args.signing_profile, args.signing_bucket, regions)
    infos = [
        info
        for info in read_manifest(args.dist)
        if (not args.python or info.python in args.python) and (not args.arch or info.arch in args.arch)
    ]
    if not infos:
        raise PublishError(f"no built layer in {args.dist} matches: run hh-serverless build-layer")
    version = package_version(infos)
    names = [checked_layer_name(args.layer_name, info.python, info.arch) for info in infos]
    if len(set(names)) < len(names):
        raise PublishError(
            f"--layer-name {args.layer_name} gives {len(names)} layers the same name: "
            "put {py} and {arch} in it, or select one layer with --python and --arch"
        )
    parameters = [
        () if args.no_parameters else parameter_names(info, args.parameter_prefix, signed=signing is not None)
        for info in infos
    ]
    # And the signing profile and bucket of every region, before the first layer is published.
    signers = {
        region: None
        if signing is None
        else regional_signer(signing, region, common.aws_client("signer", region), common.aws_client("s3", region))
        for region in regions
    }

    entries = []
    for region in regions:
        lambda_client = common.aws_client("lambda", region)
        ssm_client = None if args.no_parameters else common.aws_client("ssm", region)
        signed = "" if signing is None else f", signed with profile {signing.profile_name}"
        for info, name, names_of_info in zip(infos, names, parameters, strict=True):
            common.progress(f"{region}: {info.path.name}: publishing as {name}{signed}...")
            entry = publish_target(
                lambda_client, ssm_client, info, name, region, shares, names_of_info, signers[region]
            )
            status = "reused existing version" if entry["reused"] else "published"
            common.progress(f"{region}: {info.path.name}: {status} {entry['arn']}")
            entries.append(entry)
    common.stdout_line(json.dumps(publish_manifest(version, entries), indent=2, sort_keys=True))
    return 0
