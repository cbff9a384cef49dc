"""Sign a layer zip with AWS Signer, for functions whose code-signing config rejects unsigned layers.

Signer signs an object version in S3 and writes the signed copy beside it; Lambda publishes that copy.
In each region the signing profile (it exists, is active, signs for Lambda) and the bucket (in that
region, versioned) are checked before anything is published, so a wrong one stops the publish at once.
A layer version records the profile version that signed it (in its description), so a publish after
the profile changed signs again instead of reusing a signature by the old one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from botocore.exceptions import ClientError, WaiterError

from honeyhive_serverless_dev.aws_api import AwsToolError, Client, error_code
from honeyhive_serverless_dev.layer_build import LayerInfo

#: Signer's platform for Lambda code and layers: a profile of another platform signs nothing Lambda accepts.
LAMBDA_PLATFORM = "AWSLambda-SHA384-ECDSA"
#: Filled in with each region in the bucket name, for publishing to several regions (a bucket is in one).
REGION_PLACEHOLDER = "{region}"
#: Where the zips and their signed copies go in the bucket.
KEY_PREFIX = "honeyhive-serverless"
#: A signing job takes seconds: checked every 5 s, given up after 5 minutes.
JOB_WAIT = {"Delay": 5, "MaxAttempts": 60}

_PROFILE_NAME = re.compile(r"[a-zA-Z0-9_]{2,64}")
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class SigningError(AwsToolError):
    """The layer cannot be signed as asked."""


@dataclass(frozen=True)
class SigningProfile:
    """An active Signer profile for Lambda, at the version it signs with now."""

    name: str
    version: str
    version_arn: str

    @property
    def marker(self) -> str:
        """The word of a layer version's description saying that this profile version signed it."""
        return f"signed:{self.name}/{self.version}"


@dataclass(frozen=True)
class SigningRequest:
    """What ``--signing-profile`` and ``--signing-bucket`` ask for, their shapes checked."""

    profile_name: str
    bucket_template: str

    def bucket(self, region: str) -> str:
        """The bucket in ``region``."""
        return self.bucket_template.replace(REGION_PLACEHOLDER, region)


def signing_request(profile: str | None, bucket: str | None, regions: Sequence[str]) -> SigningRequest | None:
    """The signing asked for (None: publish unsigned), checked before any call to AWS."""
    if profile is None and bucket is None:
        return None
    if profile is None or bucket is None:
        raise SigningError("--signing-profile and --signing-bucket go together: Signer signs a zip in S3")
    if not _PROFILE_NAME.fullmatch(profile):
        raise SigningError(f"signing profile name {profile!r}: 2 to 64 letters, digits or _")
    request = SigningRequest(profile, bucket)
    if len(set(regions)) > 1 and REGION_PLACEHOLDER not in bucket:
        raise SigningError(
            f"--signing-bucket {bucket}: Lambda and Signer take a zip only from a bucket in the layer's own "
            f"region; to publish to several, put {REGION_PLACEHOLDER} in the name (my-artifacts-{REGION_PLACEHOLDER})"
        )
    for region in regions:
        if not _BUCKET_NAME.fullmatch(request.bucket(region)):
            raise SigningError(f"--signing-bucket: {request.bucket(region)!r} is not an S3 bucket name")
    return request


@dataclass(frozen=True)
class LayerSigner:
    """Signs zips in one region: its clients, its bucket and the profile checked there."""

    signer: Client
    s3: Client
    region: str
    bucket: str
    profile: SigningProfile

    def signed_content(self, info: LayerInfo) -> dict[str, str]:
        """Upload ``info``'s zip and sign it; the ``Content`` of ``PublishLayerVersion`` naming the signed copy."""
        folder = f"{KEY_PREFIX}/{info.package_version}"
        key = f"{folder}/{info.path.name}"
        with info.path.open("rb") as body:
            upload = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        job_id = self.signer.start_signing_job(
            source={"s3": {"bucketName": self.bucket, "key": key, "version": upload["VersionId"]}},
            destination={"s3": {"bucketName": self.bucket, "prefix": f"{folder}/signed/"}},
            profileName=self.profile.name,
        )["jobId"]
        try:
            self.signer.get_waiter("successful_signing_job").wait(jobId=job_id, WaiterConfig=JOB_WAIT)
        except WaiterError as exc:
            reason = exc.last_response.get("statusReason")
            outcome = f"failed: {reason}" if reason else f"did not succeed: {exc}"
            raise SigningError(f"{self.region}: signing job {job_id} of {info.path.name} {outcome}") from exc
        signed = self.signer.describe_signing_job(jobId=job_id)["signedObject"]["s3"]
        return {"S3Bucket": signed["bucketName"], "S3Key": signed["key"]}


def regional_signer(request: SigningRequest, region: str, signer: Client, s3: Client) -> LayerSigner:
    """The signer of ``region`` (``signer`` and ``s3`` are its clients), once its profile and bucket pass."""
    bucket = request.bucket(region)
    profile = _active_profile(signer, request.profile_name, region)
    _check_bucket(s3, bucket, region)
    return LayerSigner(signer=signer, s3=s3, region=region, bucket=bucket, profile=profile)


def _active_profile(signer: Client, name: str, region: str) -> SigningProfile:
    try:
        found = signer.get_signing_profile(profileName=name)
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        raise SigningError(
            f"signing profile {name} does not exist in {region}: create it (aws signer put-signing-profile "
            f"--region {region} --profile-name {name} --platform-id {LAMBDA_PLATFORM}) or name another"
        ) from exc
    status = found.get("status")
    if status != "Active":
        reason = f" ({found['statusReason']})" if found.get("statusReason") else ""
        raise SigningError(
            f"signing profile {name} in {region} is {status}{reason}: it signs nothing now; name an active one"
        )
    if found.get("platformId") != LAMBDA_PLATFORM:
        raise SigningError(
            f"signing profile {name} in {region} is for {found.get('platformId')}, which Lambda does not accept: "
            f"name a profile of platform {LAMBDA_PLATFORM}"
        )
    return SigningProfile(name=name, version=found["profileVersion"], version_arn=found["profileVersionArn"])


def _check_bucket(s3: Client, bucket: str, region: str) -> None:
    try:
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except ClientError as exc:
        if error_code(exc) != "NoSuchBucket":
            raise
        raise SigningError(f"bucket {bucket} does not exist: create it in {region}, with versioning on") from exc
    if location != region:
        raise SigningError(
            f"bucket {bucket} is in {location}: Lambda and Signer take a layer's zip only from a bucket in "
            f"its region, {region}"
        )
    if versioning != "Enabled":
        raise SigningError(
            f"bucket {bucket} is not versioned, and Signer signs an object version: aws s3api "
            f"put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled"
        )
