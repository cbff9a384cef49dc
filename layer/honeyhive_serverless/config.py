"""Configuration, resolved in one place: explicit argument > ``HH_*`` environment variable > default.

An explicit bad argument is the caller's bug and raises ``ValueError`` naming the parameter. A bad
environment variable is an operator's mistake in a deployed function: it logs one warning naming the
variable and tracing degrades to no export, so the user's function keeps running. The wrapper's
options, and the redaction settings, warn the same way and keep their default instead (for redaction:
never less of it, and never a reason to stop exporting).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from . import variables as var
from ._log import logger, quote_prefix
from .instrumentors import NO_INSTRUMENTORS, InstrumentorSelection, parse_instrumentors
from .redaction import DEFAULT_REDACTION, NO_REDACTION, Redaction, compile_patterns, normalized_name, split_patterns

ExportMode = Literal["immediate", "invocation", "after_response", "batch"]
EXPORT_MODES: tuple[ExportMode, ...] = ("immediate", "invocation", "after_response", "batch")

DEFAULT_SERVER_URL = "https://api.dp1.us.honeyhive.ai"
DEFAULT_EXPORT_TIMEOUT_MS = 2000
DEFAULT_FLUSH_TIMEOUT_MS = 2000
DEFAULT_TIMEOUT_MARGIN_MS = 250
DEFAULT_MAX_PAYLOAD_BYTES = 16_384
DEFAULT_INVOCATION_MAX_SPANS = 4096
DEFAULT_INVOCATION_MAX_BYTES = 8_000_000
# The SDK's span limits (HoneyHive's, not OpenTelemetry's 128).
DEFAULT_MAX_ATTRIBUTES = 1024
DEFAULT_MAX_EVENTS = 1024
DEFAULT_MAX_LINKS = 128
DEFAULT_MAX_SPAN_SIZE = 10 * 1024 * 1024
#: The one OTLP encoding spoken here (``HH_OTLP_PROTOCOL``).
OTLP_PROTOCOL = "http/protobuf"


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# An ingestion key is the SDK's ``hh_ingst_`` + a 24-character id + ``_`` + a 64-character secret.
_INGESTION_KEY = re.compile(r"hh_ingst_[A-Za-z0-9]{24}_[A-Za-z0-9_-]{64}")


@dataclass(frozen=True)
class SpanNameFilters:
    """Which spans are recorded, by name prefix (the SDK's ``span_name_filters``, parsed).

    >>> SpanNameFilters(include=("llm.",), exclude=("llm.debug",)).drops("llm.debug.x")
    True
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def drops(self, name: str) -> bool:
        """With include prefixes a span must match one; with exclude prefixes it must match none."""
        if self.include and not name.startswith(self.include):
            return True
        return bool(self.exclude) and name.startswith(self.exclude)


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
    #: The Bearer of every request when set (send-only), before ``api_key``.
    ingestion_api_key: str | None = None
    #: The kill switch: no request, no span recorded, handlers called as they are.
    disable_tracing: bool = False
    verbose: bool = False
    span_name_filters: SpanNameFilters | None = None
    max_attributes: int = DEFAULT_MAX_ATTRIBUTES
    max_events: int = DEFAULT_MAX_EVENTS
    max_links: int = DEFAULT_MAX_LINKS
    #: Bytes per span (estimated): the largest string attributes of a bigger span are cut before export.
    max_span_size: int = DEFAULT_MAX_SPAN_SIZE
    #: False: spans are not exported; sessions are still started and enriched.
    otlp_enabled: bool = True
    propagate_aws_sdk: bool = False
    #: The instrumentors applied with the tracer's provider (``HH_INSTRUMENTORS``).
    instrumentors: InstrumentorSelection = NO_INSTRUMENTORS
    #: What is removed from everything sent (``HH_REDACT``, ``HH_REDACT_KEYS``, ``HH_REDACT_PATTERNS``).
    redaction: Redaction = DEFAULT_REDACTION

    @property
    def has_key_source(self) -> bool:
        return bool(self.ingestion_api_key or self.api_key or self.api_key_secret_arn or self.api_key_ssm_parameter)

    @property
    def offline(self) -> bool:
        """Nothing is sent, by choice (test mode or the kill switch): no request, and no warning about it."""
        return self.test_mode or self.disable_tracing


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


def _int_setting(
    env: Mapping[str, str],
    name: str,
    default: int,
    problems: _EnvProblems,
    explicit: object = None,
    parameter: str = "",
) -> int:
    if explicit is not None:
        if isinstance(explicit, bool) or not isinstance(explicit, int) or explicit <= 0:
            raise ValueError(f"{parameter} must be a positive whole number")
        return explicit
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


def _export_timeout_ms(env: Mapping[str, str], problems: _EnvProblems) -> int:
    """``HH_EXPORT_TIMEOUT_MS``, else the SDK's ``HH_API_TIMEOUT`` (seconds), else the default."""
    raw = env.get(var.API_TIMEOUT, "").strip()
    if env.get(var.EXPORT_TIMEOUT_MS, "").strip() or not raw:
        return _int_setting(env, var.EXPORT_TIMEOUT_MS, DEFAULT_EXPORT_TIMEOUT_MS, problems)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        problems.warn(var.API_TIMEOUT, "expected a positive number of seconds")
        return DEFAULT_EXPORT_TIMEOUT_MS
    return max(1, round(seconds * 1000))


def _ingestion_key(explicit: str | None, env: Mapping[str, str], problems: _EnvProblems) -> str | None:
    """The ingestion key, argument > variable; one of another shape is refused, as the SDK does, without
    ever echoing it."""
    if explicit is not None and str(explicit).strip():
        key = str(explicit).strip()
        if not _INGESTION_KEY.fullmatch(key):
            raise ValueError("ingestion_api_key must be an ingestion API key (hh_ingst_<id>_<secret>)")
        return key
    key = env.get(var.INGESTION_API_KEY, "").strip()
    if not key:
        return None
    if not _INGESTION_KEY.fullmatch(key):
        problems.warn(var.INGESTION_API_KEY, "not an ingestion API key (hh_ingst_<id>_<secret>)")
        return None
    return key


def _redaction(env: Mapping[str, str]) -> Redaction:
    """The redaction rules: on unless ``HH_REDACT`` is false, with ``HH_REDACT_KEYS`` and the
    ``HH_REDACT_PATTERNS`` that compile. A bad value warns and redaction stays as it would be without
    it: never less redaction, and never a reason to stop exporting."""
    if not _bool_setting(None, env, var.REDACT, True, _EnvProblems("redaction stays on")):
        logger.debug("honeyhive: %s is false: nothing sent is redacted", var.REDACT)
        return NO_REDACTION
    names = frozenset(normalized_name(name.strip()) for name in env.get(var.REDACT_KEYS, "").split(",") if name.strip())
    patterns, bad = compile_patterns(split_patterns(env.get(var.REDACT_PATTERNS, "")))
    for text, problem in bad:
        _EnvProblems("the other patterns apply").warn(
            var.REDACT_PATTERNS, f"{quote_prefix(text)} is not a regular expression ({problem})"
        )
    if not names and not patterns:
        return DEFAULT_REDACTION
    return Redaction(names=names, patterns=patterns)


def _field(item: object, name: str) -> object:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def parse_span_name_filters(value: object) -> SpanNameFilters | None:
    """The SDK's ``span_name_filters`` (``{"include": [{"type": "prefix", "value": ...}], "exclude": [...]}``,
    as mappings or as objects with those attributes, the SDK's models among them), parsed.

    Only ``prefix`` entries filter: an entry of another type is ignored, with one warning. A value of
    another shape raises ``ValueError``.

    >>> parse_span_name_filters({"exclude": [{"type": "prefix", "value": "a2a."}]})
    SpanNameFilters(include=(), exclude=('a2a.',))
    """
    if value is None or isinstance(value, SpanNameFilters):
        return value
    problem = "span_name_filters must have include and/or exclude lists of {'type': 'prefix', 'value': str}"
    if isinstance(value, Mapping) and not set(value) <= {"include", "exclude"}:
        raise ValueError(problem)
    if not isinstance(value, Mapping) and not (hasattr(value, "include") or hasattr(value, "exclude")):
        raise ValueError(problem)
    prefixes: dict[str, list[str]] = {"include": [], "exclude": []}
    ignored: list[str] = []
    for side, kept in prefixes.items():
        entries = _field(value, side)
        if entries is None:
            continue
        if isinstance(entries, str | bytes | Mapping) or not isinstance(entries, Sequence):
            raise ValueError(problem)
        for entry in entries:
            kind, prefix = _field(entry, "type"), _field(entry, "value")
            if not isinstance(kind, str) or not isinstance(prefix, str) or not prefix:
                raise ValueError(problem)
            if kind == "prefix":
                kept.append(prefix)
            else:
                ignored.append(kind)
    if ignored:
        logger.warning(
            "honeyhive: ignoring span_name_filters entries of type %s: only 'prefix' is supported",
            ", ".join(sorted({repr(kind) for kind in ignored})),
        )
    if not (prefixes["include"] or prefixes["exclude"]):
        return None
    return SpanNameFilters(tuple(prefixes["include"]), tuple(prefixes["exclude"]))


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
    ingestion_api_key: str | None = None,
    disable_tracing: bool | None = None,
    verbose: bool | None = None,
    span_name_filters: object = None,
    max_attributes: int | None = None,
    max_events: int | None = None,
    max_links: int | None = None,
    max_span_size: int | None = None,
    propagate_aws_sdk: bool | None = None,
    instrumentors: str | Sequence[str] | None = None,
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

    filters = parse_span_name_filters(span_name_filters)
    if instrumentors is not None and not isinstance(instrumentors, str | Sequence):
        raise ValueError("instrumentors must be a list of instrumentor names, or 'all'")
    selection = parse_instrumentors(
        env.get(var.INSTRUMENTORS) if instrumentors is None else instrumentors,
        env.get(var.OTEL_DISABLED_INSTRUMENTATIONS, ""),
    )
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
        export_timeout_ms=_export_timeout_ms(env, problems),
        flush_timeout_ms=_int_setting(env, var.FLUSH_TIMEOUT_MS, DEFAULT_FLUSH_TIMEOUT_MS, problems),
        timeout_margin_ms=_int_setting(env, var.TIMEOUT_MARGIN_MS, DEFAULT_TIMEOUT_MARGIN_MS, problems),
        max_payload_bytes=_int_setting(env, var.MAX_PAYLOAD_BYTES, DEFAULT_MAX_PAYLOAD_BYTES, problems),
        invocation_max_spans=_int_setting(env, var.INVOCATION_MAX_SPANS, DEFAULT_INVOCATION_MAX_SPANS, problems),
        invocation_max_bytes=_int_setting(env, var.INVOCATION_MAX_BYTES, DEFAULT_INVOCATION_MAX_BYTES, problems),
        export_disabled=False,
        ingestion_api_key=_ingestion_key(ingestion_api_key, env, problems),
        disable_tracing=_bool_setting(disable_tracing, env, var.DISABLE_TRACING, False, problems),
        verbose=_bool_setting(verbose, env, var.VERBOSE, False, problems),
        span_name_filters=filters,
        max_attributes=_int_setting(
            env, var.MAX_ATTRIBUTES, DEFAULT_MAX_ATTRIBUTES, problems, max_attributes, "max_attributes"
        ),
        max_events=_int_setting(env, var.MAX_EVENTS, DEFAULT_MAX_EVENTS, problems, max_events, "max_events"),
        max_links=_int_setting(env, var.MAX_LINKS, DEFAULT_MAX_LINKS, problems, max_links, "max_links"),
        max_span_size=_int_setting(
            env, var.MAX_SPAN_SIZE, DEFAULT_MAX_SPAN_SIZE, problems, max_span_size, "max_span_size"
        ),
        otlp_enabled=_bool_setting(None, env, var.OTLP_ENABLED, True, problems),
        # Naming botocore among the instrumentors is asking for this.
        propagate_aws_sdk=_bool_setting(propagate_aws_sdk, env, var.PROPAGATE_AWS_SDK, False, problems)
        or selection.wants_aws_sdk,
        instrumentors=selection,
        redaction=_redaction(env),
    )
    protocol = env.get(var.OTLP_PROTOCOL, "").strip().lower()
    if protocol and protocol != OTLP_PROTOCOL:
        _EnvProblems(f"using {OTLP_PROTOCOL}").warn(var.OTLP_PROTOCOL, f"only {OTLP_PROTOCOL} is spoken here")
    return replace(config, export_disabled=True) if problems.bad else config


@dataclass(frozen=True)
class WrapperOptions:
    """How ``@with_honeyhive_session`` treats each invocation (argument > ``HH_*`` variable > default)."""

    capture_event: bool = True
    capture_response: bool = True
    return_session_id: bool = True
    event_type: str = "chain"
    session_name: str | None = None
    #: ``HH_SESSION_KEY``: where in the event the conversation key is, replacing the built-in lookups.
    session_key_path: str | None = None
    #: The conversations Bedrock Agents, Lex V2 and Connect name are sessions.
    conversation_sessions: bool = True
    #: Who the caller is (``redaction.IDENTITY_PATHS``) is captured with the event; off, it is dropped.
    capture_identity: bool = False


def resolve_wrapper_options(
    *,
    capture_event: bool | None = None,
    capture_response: bool | None = None,
    return_session_id: bool | None = None,
    event_type: str | None = None,
    session_name: str | None = None,
    conversation_sessions: bool | None = None,
    capture_identity: bool | None = None,
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
        session_key_path=env.get(var.SESSION_KEY, "").strip() or None,
        conversation_sessions=_bool_setting(conversation_sessions, env, var.CONVERSATION_SESSIONS, True, problems),
        capture_identity=_bool_setting(capture_identity, env, var.CAPTURE_IDENTITY, False, problems),
    )
