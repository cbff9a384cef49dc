"""Publish the layer zips: one layer version per zip and region, shared, its ARN recorded in SSM.

Every step can be repeated without effect, so publishing again (after a failure half-way, to add a
region or a share) duplicates nothing: a zip already published is found by the sha256 in its
version's description (and, published signed, by the profile version that signed it), a share
already granted by its statement id, and the SSM parameters are overwritten with the same ARN.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from honeyhive_serverless_dev.aws_api import AwsToolError, Client, error_code
from honeyhive_serverless_dev.layer_build import LayerInfo, file_sha256
from honeyhive_serverless_dev.published import LATEST, PublishedNameError, layer_name, parameter_name
from honeyhive_serverless_dev.signing import LayerSigner, SigningProfile

#: What a share allows: reading (and so attaching) the layer version, nothing else.
SHARE_ACTION = "lambda:GetLayerVersion"

_ACCOUNT_ID = re.compile(r"\d{12}")
_ORGANIZATION_ID = re.compile(r"o-[a-z0-9]{10,32}")
# What an SSM parameter name may contain; a local version ("0.2.0+g1a2b") may not fit.
_PARAMETER_PART = re.compile(r"[A-Za-z0-9_.-]+")


class PublishError(AwsToolError):
    """The layer cannot be published as asked."""


@dataclass(frozen=True)
class Published:
    """The layer version holding a zip; ``reused`` when an earlier publish of the same bytes was found."""

    arn: str
    version: int
    reused: bool


def layer_description(info: LayerInfo, signed_by: SigningProfile | None = None) -> str:
    """The published description; the zip's sha256 in it (and the signing profile version, when signed) is
    how a later publish recognises the same layer."""
    description = f"honeyhive-serverless {info.package_version} {info.runtime} {info.arch} sha256:{info.sha256}"
    return description if signed_by is None else f"{description} {signed_by.marker}"


def checked_layer_name(template: str, python: str, arch: str) -> str:
    """:func:`published.layer_name`, its error reported as a :class:`PublishError`."""
    try:
        return layer_name(template, python, arch)
    except PublishedNameError as exc:
        raise PublishError(str(exc)) from exc


def package_version(infos: Sequence[LayerInfo]) -> str:
    """The one honeyhive-serverless version of the zips published together (the manifest states one)."""
    versions = sorted({info.package_version for info in infos})
    if len(versions) != 1:
        raise PublishError(f"the zips hold different honeyhive-serverless versions ({', '.join(versions)}): rebuild")
    return versions[0]


def publish_layer(client: Client, info: LayerInfo, name: str, signer: LayerSigner | None = None) -> Published:
    """Publish ``info``'s zip as a version of layer ``name``, or return the version already holding it.

    With a ``signer``, the zip is signed and the signed copy published; only a version signed by the
    same profile version is reused, and a signed version is never reused for an unsigned publish.
    """
    if file_sha256(info.path) != info.sha256:
        raise PublishError(f"{info.path} changed since layers.json was written: rebuild it (hh-serverless build-layer)")
    signed_by = None if signer is None else signer.profile
    wanted = _markers(layer_description(info, signed_by))
    for version in _layer_versions(client, name):
        if _markers(version.get("Description", "")) == wanted:
            return Published(arn=version["LayerVersionArn"], version=int(version["Version"]), reused=True)
    response = client.publish_layer_version(
        LayerName=name,
        Description=layer_description(info, signed_by),
        Content={"ZipFile": info.path.read_bytes()} if signer is None else signer.signed_content(info),
        CompatibleRuntimes=[info.runtime],
        CompatibleArchitectures=[info.arch],
    )
    return Published(arn=response["LayerVersionArn"], version=int(response["Version"]), reused=False)


def _markers(description: str) -> set[str]:
    """The words of a description that identify the layer: its sha256 and, if signed, the profile version."""
    return {word for word in description.split() if word.startswith(("sha256:", "signed:"))}


def _layer_versions(client: Client, name: str) -> Iterator[dict[str, Any]]:
    try:
        for page in client.get_paginator("list_layer_versions").paginate(LayerName=name):
            yield from page.get("LayerVersions", [])
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise


# --------------------------------------------------------------------------------------------
# sharing


@dataclass(frozen=True, order=True)
class Grant:
    """One principal a layer version is shared with: an account, an organization, or everyone."""

    kind: str  # "account", "organization" or "public"
    principal_id: str = ""  # the account or organization id; empty for "public"

    @property
    def label(self) -> str:
        """How the manifest names the grant: ``account:123456789012``, ``organization:o-...``, ``public``."""
        return f"{self.kind}:{self.principal_id}" if self.principal_id else self.kind

    @property
    def statement_id(self) -> str:
        """The grant's statement id, the same every publish: how a repeated publish sees it is granted."""
        return "honeyhive-serverless-" + self.label.replace(":", "-")

    def principal(self) -> dict[str, str]:
        """The ``Principal`` (and ``OrganizationId``) arguments of ``add_layer_version_permission``."""
        if self.kind == "account":
            return {"Principal": self.principal_id}
        if self.kind == "organization":
            return {"Principal": "*", "OrganizationId": self.principal_id}
        return {"Principal": "*"}


def grants(accounts: Iterable[str], organizations: Iterable[str], public: bool) -> tuple[Grant, ...]:
    """The shares asked for, checked all at once before anything is published, sorted and without repeats."""
    accounts, organizations = set(accounts), set(organizations)
    bad = sorted(account for account in accounts if not _ACCOUNT_ID.fullmatch(account))
    bad += sorted(org for org in organizations if not _ORGANIZATION_ID.fullmatch(org))
    if bad:
        raise PublishError(
            f"cannot share with {', '.join(map(repr, bad))}: an account id is 12 digits, "
            "an organization id o- and 10 to 32 lowercase letters or digits"
        )
    chosen = [Grant("account", account) for account in accounts]
    chosen += [Grant("organization", org) for org in organizations]
    if public:
        chosen.append(Grant("public"))
    return tuple(sorted(chosen))


def share_layer_version(client: Client, name: str, version: int, wanted: Iterable[Grant]) -> list[str]:
    """Grant ``lambda:GetLayerVersion`` on a layer version to each of ``wanted`` that does not have it yet.

    Returns the labels of ``wanted``, all granted once this returns.
    """
    granted = _statement_ids(client, name, version)
    labels = []
    for grant in wanted:
        labels.append(grant.label)
        if grant.statement_id in granted:
            continue
        try:
            client.add_layer_version_permission(
                LayerName=name,
                VersionNumber=version,
                StatementId=grant.statement_id,
                Action=SHARE_ACTION,
                **grant.principal(),
            )
        except ClientError as exc:
            # Granted by a publish running beside this one since the policy was read: the same grant.
            if error_code(exc) != "ResourceConflictException":
                raise
    return sorted(labels)


def _statement_ids(client: Client, name: str, version: int) -> set[str]:
    try:
        policy = client.get_layer_version_policy(LayerName=name, VersionNumber=version)["Policy"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":  # no policy yet: nothing shared
            return set()
        raise
    return {statement.get("Sid", "") for statement in json.loads(policy).get("Statement", [])}


# --------------------------------------------------------------------------------------------
# SSM parameters and the manifest


def parameter_names(info: LayerInfo, prefix: str, signed: bool = False) -> tuple[str, str]:
    """The parameters that get ``info``'s ARN: the ``latest`` one and its honeyhive-serverless version's
    (published signed, those under ``PREFIX/signed``)."""
    if not _PARAMETER_PART.fullmatch(info.package_version):
        raise PublishError(
            f"version {info.package_version} cannot name an SSM parameter: publish a release build or pass "
            "--no-parameters"
        )
    try:
        return (
            parameter_name(info.python, info.arch, LATEST, prefix, signed=signed),
            parameter_name(info.python, info.arch, info.package_version, prefix, signed=signed),
        )
    except PublishedNameError as exc:
        raise PublishError(str(exc)) from exc


def publish_target(
    lambda_client: Client,
    ssm_client: Client,
    info: LayerInfo,
    name: str,
    region: str,
    shares: Sequence[Grant],
    parameters: Sequence[str],
    signer: LayerSigner | None = None,
) -> dict[str, Any]:
    """Publish one zip in the clients' region (signed by ``signer``, if given), share it, record its ARN in
    ``parameters``; its manifest entry.

    ``ssm_client`` is only used when there are ``parameters``.
    """
    published = publish_layer(lambda_client, info, name, signer)
    shared_with = share_layer_version(lambda_client, name, published.version, shares)
    signed_by = None if signer is None else signer.profile
    for parameter in parameters:
        ssm_client.put_parameter(
            Name=parameter,
            Value=published.arn,
            Type="String",
            Description=parameter_description(info, signed_by),
            Overwrite=True,
        )
    return {
        "region": region,
        "runtime": info.runtime,
        "python": info.python,
        "arch": info.arch,
        "layer_name": name,
        "arn": published.arn,
        "version": published.version,
        "reused": published.reused,
        "sha256": info.sha256,
        "parameters": sorted(parameters),
        "shared_with": shared_with,
        "signed_by": None
        if signed_by is None
        else {"profile": signed_by.name, "profile_version_arn": signed_by.version_arn},
    }


def parameter_description(info: LayerInfo, signed_by: SigningProfile | None) -> str:
    """What a layer's SSM parameter says of it: what it is for, and whether (and by what) it is signed."""
    signature = "unsigned" if signed_by is None else f"signed by {signed_by.version_arn}"
    return f"honeyhive-serverless {info.package_version} layer for {info.runtime} {info.arch}, {signature}"


def publish_manifest(version: str, entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """What ``publish-layer`` prints: the version and every entry, in a stable order (region, Python, arch)."""

    def order(entry: dict[str, Any]) -> tuple[str, tuple[int, ...], str]:
        return entry["region"], tuple(int(part) for part in entry["python"].split(".")), entry["arch"]

    return {"package_version": version, "layers": sorted(entries, key=order)}
