"""Where the API key comes from: the environment, Secrets Manager or SSM Parameter Store.

The key sent is the ingestion key when there is one (argument, then ``HH_INGESTION_API_KEY``), else the
API key (argument, then ``HH_API_KEY``), else what the secret or parameter holds, which may be either.

Secrets are fetched lazily (the first request that needs the key pays for it, not the import), held in
memory for the life of the sandbox, and fetched once more when HoneyHive answers 401/403, which is how
a rotated key shows up. Powertools Parameters (and so boto3) is imported only when a secret or
parameter is configured.
"""

from __future__ import annotations

import json
import threading

from .. import variables as var
from .._log import logger
from ..config import Config


class ApiKeyProvider:
    """The API key, fetched at most once per sandbox plus once per rejection. Thread-safe."""

    def __init__(self, config: Config) -> None:
        self._explicit = config.ingestion_api_key or config.api_key
        self._secret_arn = config.api_key_secret_arn
        self._ssm_parameter = config.api_key_ssm_parameter
        self._key: str | None = self._explicit
        #: Where the key comes from, for debug lines (never the key).
        self.source_kind = next(
            (
                kind
                for kind, present in (
                    ("ingestion key", config.ingestion_api_key),
                    ("API key", config.api_key),
                    ("Secrets Manager secret", self._secret_arn),
                    ("SSM parameter", self._ssm_parameter),
                )
                if present
            ),
            "none",
        )
        self._fetched = False
        self._lock = threading.Lock()
        self.fetch_count = 0

    @property
    def origin(self) -> str:
        """Where the key comes from, as a user would look for it (never the key itself)."""
        if self.source_kind == "ingestion key":
            return f"{var.INGESTION_API_KEY} (or ingestion_api_key=)"
        if self.source_kind == "API key":
            return f"{var.API_KEY} or {var.API_KEY_SDK_ALIAS} (or api_key=)"
        if self._secret_arn:
            return f"the secret {var.API_KEY_SECRET_ARN}={self._secret_arn}"
        if self._ssm_parameter:
            return f"the parameter {var.API_KEY_SSM_PARAMETER}={self._ssm_parameter}"
        return "nowhere"

    @property
    def refreshable(self) -> bool:
        """True when the key lives in a store that may hold a newer (rotated) value."""
        return not self._explicit and bool(self._secret_arn or self._ssm_parameter)

    def get(self) -> str | None:
        if self._key is not None or self._fetched:
            return self._key
        with self._lock:
            if not self._fetched and self._key is None:
                self._key = self._fetch(force=False)
                self._fetched = True
        return self._key

    def refresh(self, rejected: str | None) -> bool:
        """Fetch the key again after ``rejected`` was refused; True when a different key was found."""
        if not self.refreshable:
            return False
        with self._lock:
            if self._key != rejected:  # another thread already refreshed it
                return self._key is not None
            fresh = self._fetch(force=True)
            if fresh is None or fresh == rejected:
                return False
            self._key = fresh
            return True

    def _fetch(self, *, force: bool) -> str | None:
        if not (self._secret_arn or self._ssm_parameter):
            return None
        self.fetch_count += 1
        try:  # Powertools, and boto3 under it, only when a secret or parameter holds the key
            from aws_lambda_powertools.utilities import parameters
        except ImportError:
            logger.warning(
                "honeyhive: HH_API_KEY_SECRET_ARN/HH_API_KEY_SSM_PARAMETER need aws-lambda-powertools; "
                "spans will not be exported"
            )
            return None
        from opentelemetry import context as otel_context

        # Tracing's own AWS call is not the function's: instrumented botocore (HH_PROPAGATE_AWS_SDK) makes no
        # span of it. One would also deadlock: exported as it ends, it would wait for this very key.
        token = otel_context.attach(otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            if self._secret_arn:
                raw = parameters.get_secret(self._secret_arn, force_fetch=force, max_age=10**9)
                return _key_from_secret(raw)
            value = parameters.get_parameter(str(self._ssm_parameter), decrypt=True, force_fetch=force, max_age=10**9)
            return value.strip() if isinstance(value, str) and value.strip() else None
        except Exception as exc:  # any AWS failure: tracing degrades, the function runs
            where = var.API_KEY_SECRET_ARN if self._secret_arn else var.API_KEY_SSM_PARAMETER
            logger.warning("honeyhive: could not read the API key from %s: %s", where, type(exc).__name__)
            return None
        finally:
            otel_context.detach(token)


def _key_from_secret(raw: object) -> str | None:
    """A secret holds the key as plain text or as JSON ``{"api_key": ...}``; in JSON an ingestion key
    (``{"ingestion_api_key": ...}``) comes first, as it does everywhere else."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return None
        for name in ("ingestion_api_key", var.INGESTION_API_KEY, "api_key", var.API_KEY, "apiKey"):
            value = document.get(name) if isinstance(document, dict) else None
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None
    return text or None
