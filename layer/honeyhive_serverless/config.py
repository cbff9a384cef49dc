"""Configuration, resolved in one place: explicit argument > ``HH_*`` environment variable > default.

An explicit bad argument is the caller's bug and raises ``ValueError`` naming the parameter. A bad
environment variable is an operator's mistake in a deployed function: it logs one warning naming the
variable and tracing degrades to no export, so the user's function keeps running.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from . import variables as var
from ._log import logger

ExportMode = Literal["immediate", "invocation", "after_response", "batch"]
EXPORT_MODES: tuple[ExportMode, ...] = ("immediate", "invocation", "after_response", "batch")

DEFAULT_SERVER_URL = "https://api.dp1.us.honeyhive.ai"
DEFAULT_EXPORT_TIMEOUT_MS = 2000
DEFAULT_FLUSH_TIMEOUT_MS = 2000
DEFAULT_TIMEOUT_MARGIN_MS = 250
DEFAULT_MAX_PAYLOAD_BYTES = 16_384
DEFAULT_INVOCATION_MAX_SPANS = 4096
DEFAULT_INVOCATION_MAX_BYTES = 8_000_000

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Config:
    """Everything the tracer needs, already validated. Build it with :func:`resolve_config`."""

    api_key: str | None = None
    api_key_secret_arn: str | None = None
    api_key_ssm_parameter: str | None = None
    project: str | None = None
    source: str = "dev"
    server_url: str = DEFAULT_SERVER_URL
    session_name: str | None = None
    session_id: str | None = None
    export_mode: ExportMode = "batch"
    test_mode: bool = False
    skip_backend_session_creation: bool = False
    #: Longest wait for any one request.
    export_timeout_ms: int = DEFAULT_EXPORT_TIMEOUT_MS
    #: Longest the end of an invocation may spend exporting (also cut to the remaining time).
    flush_timeout_ms: int = DEFAULT_FLUSH_TIMEOUT_MS
    #: Kept free before the invocation's deadline; the timeout last gasp fires this long before it.
    timeout_margin_ms: int = DEFAULT_TIMEOUT_MARGIN_MS
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    invocation_max_spans: int = DEFAULT_INVOCATION_MAX_SPANS
    invocation_max_bytes: int = DEFAULT_INVOCATION_MAX_BYTES
    #: True when an environment variable was unusable: sessions still get ids, nothing is exported.
    export_disabled: bool = False

    @property
    def has_key_source(self) -> bool:
        return bool(self.api_key or self.api_key_secret_arn or self.api_key_ssm_parameter)


def detect_platform(env: Mapping[str, str] | None = None) -> str:
    """``lambda``, ``cloud-function`` or ``dev``: where this process runs, from the platform's variables."""
    env = os.environ if env is None else env
    if env.get(var.LAMBDA_FUNCTION_NAME):
        return "lambda"
    if env.get(var.GCF_FUNCTION_TARGET) or env.get(var.CLOUD_RUN_SERVICE):
        return "cloud-function"
    return "dev"


class _EnvProblems:
    """Collects bad environment variables; each is named once in a warning."""

    def __init__(self, consequence: str) -> None:
        self.bad = False
        self._consequence = consequence

    def warn(self, variable: str, problem: str) -> None:
        self.bad = True
        logger.warning("honeyhive: ignoring %s: %s; %s", variable, problem, self._consequence)


def _first_env(env: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    for name in names:
        value = env.get(name)
        if value is not None and value.strip() != "":
            return name, value.strip()
    return None


_SERVER_URL = re.compile(r"https?://[^\s/]+(/\S*)?")


def checked_server_url(value: str) -> str | None:
    """``value`` as a server URL without its trailing slash, or None when it is not an http(s) URL.

    The one rule for it: the CDK construct checks its ``server_url`` prop with this too.

    >>> checked_server_url("http://127.0.0.1:8080/")
    'http://127.0.0.1:8080'
    """
    value = value.strip().rstrip("/")
    return value if _SERVER_URL.fullmatch(value) else None


def _parse_bool(text: str) -> bool | None:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def _bool_setting(
    explicit: bool | None, env: Mapping[str, str], name: str, default: bool, problems: _EnvProblems
) -> bool:
    if explicit is not None:
        return bool(explicit)
    raw = env.get(name)
    if raw is None:
        return default
    parsed = _parse_bool(raw)
    if parsed is None:
        problems.warn(name, "expected true or false")
        return default
    return parsed


def _int_setting(env: Mapping[str, str], name: str, default: int, problems: _EnvProblems) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value <= 0:
        problems.warn(name, "expected a positive whole number")
        return default
    return value


def resolve_config(
    *,
    api_key: str | None = None,
    project: str | None = None,
    source: str | None = None,
    server_url: str | None = None,
    session_name: str | None = None,
    session_id: str | None = None,
    disable_batch: bool | None = None,
    test_mode: bool | None = None,
    skip_backend_session_creation: bool | None = None,
    export_mode: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Resolve every setting: explicit argument > environment variable > default.

    >>> resolve_config(project="demo", env={}).project
    'demo'
    >>> resolve_config(env={"HH_EXPORT_MODE": "immediate"}).export_mode
    'immediate'
    """
    env = os.environ if env is None else env
    problems = _EnvProblems("spans will not be exported")
    platform = detect_platform(env)

    if server_url is not None:
        url = checked_server_url(server_url)
        if url is None:
            raise ValueError("server_url must be an http:// or https:// URL")
    else:
        url = DEFAULT_SERVER_URL
        found = _first_env(env, *var.SERVER_URLS)
        if found is not None:
            checked = checked_server_url(found[1])
            if checked is None:
                problems.warn(found[0], "not an http:// or https:// URL")
            else:
                url = checked

    if export_mode is not None:
        if export_mode not in EXPORT_MODES:
            raise ValueError(f"export_mode must be one of {', '.join(EXPORT_MODES)}")
        mode = export_mode
    elif disable_batch is not None:
        mode = "immediate" if disable_batch else "batch"
    else:
        mode = "batch" if platform == "dev" else "invocation"
        raw_mode = env.get(var.EXPORT_MODE, "").strip().lower()
        if raw_mode:
            if raw_mode in EXPORT_MODES:
                mode = raw_mode
            else:
                problems.warn(var.EXPORT_MODE, f"expected one of {', '.join(EXPORT_MODES)}")
        elif _bool_setting(None, env, var.DISABLE_BATCH, False, problems):
            mode = "immediate"

    key_found = _first_env(env, var.API_KEY, var.API_KEY_SDK_ALIAS)
    resolved_source = source or env.get(var.SOURCE, "").strip() or platform
    config = Config(
        api_key=api_key or (key_found[1] if key_found else None),
        api_key_secret_arn=env.get(var.API_KEY_SECRET_ARN, "").strip() or None,
        api_key_ssm_parameter=env.get(var.API_KEY_SSM_PARAMETER, "").strip() or None,
        project=project or env.get(var.PROJECT, "").strip() or None,
        source=resolved_source,
        server_url=url,
        session_name=session_name or env.get(var.SESSION_NAME, "").strip() or None,
        session_id=session_id or env.get(var.SESSION_ID, "").strip() or None,
        export_mode=mode,
        test_mode=_bool_setting(test_mode, env, var.TEST_MODE, False, problems),
        # On a serverless platform the start-up session would be one request per cold start that no
        # invocation uses: each invocation gets its own session from the wrapper.
        skip_backend_session_creation=_bool_setting(
            skip_backend_session_creation,
            env,
            var.SKIP_BACKEND_SESSION_CREATION,
            platform != "dev",
            problems,
        ),
        export_timeout_ms=_int_setting(env, var.EXPORT_TIMEOUT_MS, DEFAULT_EXPORT_TIMEOUT_MS, problems),
        flush_timeout_ms=_int_setting(env, var.FLUSH_TIMEOUT_MS, DEFAULT_FLUSH_TIMEOUT_MS, problems),
        timeout_margin_ms=_int_setting(env, var.TIMEOUT_MARGIN_MS, DEFAULT_TIMEOUT_MARGIN_MS, problems),
        max_payload_bytes=_int_setting(env, var.MAX_PAYLOAD_BYTES, DEFAULT_MAX_PAYLOAD_BYTES, problems),
        invocation_max_spans=_int_setting(env, var.INVOCATION_MAX_SPANS, DEFAULT_INVOCATION_MAX_SPANS, problems),
        invocation_max_bytes=_int_setting(env, var.INVOCATION_MAX_BYTES, DEFAULT_INVOCATION_MAX_BYTES, problems),
        export_disabled=False,
    )
    return replace(config, export_disabled=True) if problems.bad else config


@dataclass(frozen=True)
class WrapperOptions:
    """How ``@with_honeyhive_session`` treats each invocation (argument > ``HH_*`` variable > default)."""

    capture_event: bool = True
    capture_response: bool = True
    return_session_id: bool = True
    event_type: str = "chain"
    session_name: str | None = None


def resolve_wrapper_options(
    *,
    capture_event: bool | None = None,
    capture_response: bool | None = None,
    return_session_id: bool | None = None,
    event_type: str | None = None,
    session_name: str | None = None,
    env: Mapping[str, str] | None = None,
) -> WrapperOptions:
    """Resolve the wrapper's options; a bad variable warns once and its default applies."""
    env = os.environ if env is None else env
    problems = _EnvProblems("using its default")
    return WrapperOptions(
        capture_event=_bool_setting(capture_event, env, var.CAPTURE_EVENT, True, problems),
        capture_response=_bool_setting(capture_response, env, var.CAPTURE_RESPONSE, True, problems),
        return_session_id=_bool_setting(return_session_id, env, var.RETURN_SESSION_ID, True, problems),
        event_type=event_type or env.get(var.EVENT_TYPE, "").strip() or "chain",
        session_name=session_name or env.get(var.SESSION_NAME, "").strip() or None,
    )
