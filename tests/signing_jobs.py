"""AWS Signer's signing jobs on moto, which has Signer's profiles but not its jobs.

:func:`serve_signing_jobs` adds ``StartSigningJob`` and ``DescribeSigningJob`` to moto's Signer, as
routes next to moto's own, so boto3 (its requests, its responses, the ``successful_signing_job``
waiter) runs unchanged against them, and S3, Lambda, SSM and the profiles stay moto's. A job does what
Signer does to the objects: it refuses a source that is not an object version or a profile that is not
active, reads the version from moto's S3, and writes the signed copy at ``PREFIX + jobId + .zip`` in
the destination bucket. The copy is the zip with a comment naming the profile version and the job in
place of Signer's signature: different bytes, still a zip; Lambda's check of a real signature is not
simulated.

moto answers ``GetSigningProfile`` for a profile that does not exist with a Python ``KeyError``; here it
gets Signer's answer, ``ResourceNotFoundException``.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any

import pytest
from moto.core.exceptions import JsonRESTError
from moto.s3.models import s3_backends
from moto.signer import urls as signer_urls
from moto.signer.responses import SignerResponse

SIGNED_SUFFIX = ".zip"


@dataclass
class SigningJobs:
    """The jobs started, by id, as ``DescribeSigningJob`` returns them; ``failure`` fails each new job with it."""

    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    failure: str | None = None


class _SignerError(JsonRESTError):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(code, message)
        self.code = status


class _SignerWithJobs(SignerResponse):
    state = SigningJobs()

    def get_signing_profile(self) -> str:
        name = self.path.split("/")[-1]
        if name not in self.signer_backend.signing_profiles:
            raise _SignerError("ResourceNotFoundException", f"Signing profile {name} not found", 404)
        return super().get_signing_profile()

    def start_signing_job(self) -> str:
        params = json.loads(self.body)
        source, destination = params["source"]["s3"], params["destination"]["s3"]
        profile = self.signer_backend.signing_profiles.get(params["profileName"])
        if profile is None or profile.status != "Active":
            raise _SignerError("ValidationException", f"profile {params['profileName']} is not an active profile")
        s3 = s3_backends[self.current_account]["aws"]
        if "version" not in source or not s3.get_bucket(source["bucketName"]).is_versioned:
            raise _SignerError("ValidationException", "the source must be an object version in a versioned bucket")
        job_id = str(uuid.uuid4())
        job: dict[str, Any] = {
            "jobId": job_id,
            "source": {"s3": source},
            "platformId": profile.platform_id,
            "profileName": profile.name,
            "profileVersion": profile.profile_version,
            "jobOwner": self.current_account,
            "jobInvoker": self.current_account,
        }
        if self.state.failure is not None:
            job.update(status="Failed", statusReason=self.state.failure)
        else:
            original = s3.get_object(source["bucketName"], source["key"], version_id=source["version"])
            assert original is not None
            signed_key = f"{destination.get('prefix', '')}{job_id}{SIGNED_SUFFIX}"
            s3.put_object(destination["bucketName"], signed_key, signed_copy(original.value, profile, job_id))
            job.update(
                status="Succeeded", signedObject={"s3": {"bucketName": destination["bucketName"], "key": signed_key}}
            )
        self.state.jobs[job_id] = job
        return json.dumps({"jobId": job_id, "jobOwner": self.current_account})

    def describe_signing_job(self) -> str:
        job_id = self.path.split("/")[-1]
        if job_id not in self.state.jobs:
            raise _SignerError("ResourceNotFoundException", f"Signing job {job_id} not found", 404)
        return json.dumps(self.state.jobs[job_id])


def signed_copy(zip_bytes: bytes, profile: Any, job_id: str) -> bytes:
    """The stand-in for a signed zip: the same entries, a comment naming the profile version and the job."""
    buffer = io.BytesIO(zip_bytes)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.comment = f"signed by {profile.profile_version_arn} in job {job_id}".encode()
    return buffer.getvalue()


def serve_signing_jobs(monkeypatch: pytest.MonkeyPatch) -> SigningJobs:
    """Add the signing jobs to moto's Signer for one test; the jobs it starts."""
    state = SigningJobs()
    monkeypatch.setattr(_SignerWithJobs, "state", state)
    for path in (
        "{0}/signing-profiles/(?P<profile_name>[^/]+)$",
        "{0}/signing-jobs$",
        "{0}/signing-jobs/(?P<job_id>[^/]+)$",
    ):
        monkeypatch.setitem(signer_urls.url_paths, path, _SignerWithJobs.dispatch)
    return state
