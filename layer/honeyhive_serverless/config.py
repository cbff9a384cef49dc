"""Configuration, resolved in one place: explicit argument > ``HH_*`` environment variable > default.

An explicit bad argument is the caller's bug and raises ``ValueError`` naming the parameter. A bad
environment variable is an operator's mistake in a deployed function, and every one follows one rule
(``_log.warn_bad_value``): one warning line naming the variable, its value (a key's redacted), what was
expected and what happens instead, which is the default, and the function keeps running. The one
exception is the server URL: the default server would receive data meant for another, so nothing is
exported instead.

Once per process, an ``HH_*`` name that ``variables`` does not know is named with its likely meaning,
and a missing project is named with where the spans go instead. The configuration reference
(``docs/configuration.md``) is generated from ``variables``, the defaults here and the accepted values
below (``honeyhive_serverless_dev.config_reference``).
"""

# No ``from __future__ import annotations`` here: typing.NamedTuple turns each annotation given as text
# into a ForwardRef, compiling it, and Config has 31 (0.35 ms of every cold start, measured).
import os
import re
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

from . import variables as var
from ._log import logger, using_default, warn_bad_value
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


#: What a value must be, as the warning about a bad one and the configuration reference both say it.
BOOL_VALUES = "true or false"
POSITIVE_WHOLE_NUMBER = "a positive whole number"
POSITIVE_SECONDS = "a positive number of seconds"
URL_VALUES = "an http:// or https:// URL"
INGESTION_KEY_VALUES = "an ingestion API key (hh_ingst_<id>_<secret>)"
REGULAR_EXPRESSION = "a regular expression"
EXPORT_MODE_VALUES = f"one of {', '.join(EXPORT_MODES)}"
#: What happens instead of a bad server URL (see the module's docstring).
NOTHING_EXPORTED = "nothing is exported (the default server is not assumed for one meant to be another)"
#: Where spans without a project go: HoneyHive files them under the project their key belongs to.
NO_PROJECT_FILING = "HoneyHive files the spans under the project the API key belongs to"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# An ingestion key is the SDK's ``hh_ingst_`` + a 24-character id + ``_`` + a 64-character secret.
_INGESTION_KEY = re.compile(r"hh_ingst_[A-Za-z0-9]{24}_[A-Za-z0-9_-]{64}")


class SpanNameFilters(NamedTuple):
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


class Config(NamedTuple):
    """Everything the tracer needs, already validated. Build it with :func:`resolve_config`.

    The settings are named tuples rather than frozen dataclasses for the cold start: a dataclass's
    methods are compiled from source when its module is imported, 4.5 to 6.7 ms for 40 frozen fields
    (Python 3.13 and 3.11, a loaded machine) against 0.5 ms for a named tuple of 40 (measured, medians of 30).
    """

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
    #: True when the server URL's variable was unusable: sessions still get ids, nothing is exported.
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
    #: Where the key sent comes from (a variable's name, a secret's, an argument), for the hint when
    #: HoneyHive refuses it: never the key.
    key_origin: str = "none"

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


def _warn(variable: str, value: str, expected: str, instead: str) -> None:
    """``warn_bad_value``, a key-carrying variable's value redacted."""
    warn_bad_value(variable, value, expected, instead, secret=variable in var.API_KEY_SOURCES)


#: What was warned of once per process (an unknown variable's name, the missing project): not again.
_warned_once: set[str] = set()


def _warn_unknown_names(env: Mapping[str, str]) -> None:
    """Each ``HH_*`` name ``variables`` does not know, warned once per process with its likely meaning."""
    unknown = sorted(
        name for name in env if name.startswith("HH_") and name not in var.HH_NAMES and name not in _warned_once
    )
    if not unknown:
        return
    import difflib  # only with an unknown name: the cold path does not pay for it

    for name in unknown:
        _warned_once.add(name)
        close = difflib.get_close_matches(name, var.HH_NAMES, n=1)
        hint = f"did you mean {close[0]}?" if close else "see docs/configuration.md for the names"
        logger.warning("honeyhive: %s is not a variable honeyhive-serverless reads; it is ignored (%s)", name, hint)


def _warn_no_project(config: Config) -> None:
    """No project while spans would be sent: once per process, with where they go instead."""
    if config.project or config.offline or not config.has_key_source or "project" in _warned_once:
        return
    _warned_once.add("project")
    logger.warning("honeyhive: no project set (%s or project=); %s", var.PROJECT, NO_PROJECT_FILING)


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


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


def _bool_setting(explicit: bool | None, env: Mapping[str, str], name: str, default: bool) -> bool:
    if explicit is not None:
        return bool(explicit)
    raw = env.get(name)
    if raw is None:
        return default
    parsed = _parse_bool(raw)
    if parsed is None:
        _warn(name, raw, BOOL_VALUES, using_default(_bool_text(default)))
        return default
    return parsed


def _int_setting(
    env: Mapping[str, str],
    name: str,
    default: int,
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
        _warn(name, raw, POSITIVE_WHOLE_NUMBER, using_default(default))
        return default
    return value


def _export_timeout_ms(env: Mapping[str, str]) -> int:
    """``HH_EXPORT_TIMEOUT_MS``, else the SDK's ``HH_API_TIMEOUT`` (seconds), else the default."""
    raw = env.get(var.API_TIMEOUT, "").strip()
    if env.get(var.EXPORT_TIMEOUT_MS, "").strip() or not raw:
        return _int_setting(env, var.EXPORT_TIMEOUT_MS, DEFAULT_EXPORT_TIMEOUT_MS)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        _warn(var.API_TIMEOUT, raw, POSITIVE_SECONDS, using_default(f"{DEFAULT_EXPORT_TIMEOUT_MS} ms"))
        return DEFAULT_EXPORT_TIMEOUT_MS
    return max(1, round(seconds * 1000))


def _ingestion_key(explicit: str | None, env: Mapping[str, str]) -> str | None:
    """The ingestion key, argument > variable; one of another shape is refused, as the SDK does, without
    ever echoing it."""
    if explicit is not None and str(explicit).strip():
        key = str(explicit).strip()
        if not _INGESTION_KEY.fullmatch(key):
            raise ValueError(f"ingestion_api_key must be {INGESTION_KEY_VALUES}")
        return key
    key = env.get(var.INGESTION_API_KEY, "").strip()
    if not key:
        return None
    if not _INGESTION_KEY.fullmatch(key):
        _warn(var.INGESTION_API_KEY, key, INGESTION_KEY_VALUES, using_default("none: the API key is sent"))
        return None
    return key


def _redaction(env: Mapping[str, str]) -> Redaction:
    """The redaction rules: on unless ``HH_REDACT`` is false, with ``HH_REDACT_KEYS`` and the
    ``HH_REDACT_PATTERNS`` that compile. A bad value warns and redaction stays as it would be without
    it: never less redaction, and never a reason to stop exporting."""
    if not _bool_setting(None, env, var.REDACT, True):
        logger.debug("honeyhive: %s is false: nothing sent is redacted", var.REDACT)
        return NO_REDACTION
    names = frozenset(normalized_name(name.strip()) for name in env.get(var.REDACT_KEYS, "").split(",") if name.strip())
    patterns, bad = compile_patterns(split_patterns(env.get(var.REDACT_PATTERNS, "")))
    for text, problem in bad:
        _warn(var.REDACT_PATTERNS, text, f"{REGULAR_EXPRESSION} ({problem})", "leaving it out (the others apply)")
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
    _warn_unknown_names(env)
    platform = detect_platform(env)

    url_refused = False
    if server_url is not None:
        url = checked_server_url(server_url)
        if url is None:
            raise ValueError(f"server_url must be {URL_VALUES}")
    else:
        url = DEFAULT_SERVER_URL
        found = _first_env(env, *var.SERVER_URLS)
        if found is not None:
            checked = checked_server_url(found[1])
            if checked is None:
                url_refused = True
                _warn(found[0], found[1], URL_VALUES, NOTHING_EXPORTED)
            else:
                url = checked

    if export_mode is not None:
        if export_mode not in EXPORT_MODES:
            raise ValueError(f"export_mode must be {EXPORT_MODE_VALUES}")
        mode = export_mode
    elif disable_batch is not None:
        mode = "immediate" if disable_batch else "batch"
    else:
        mode = default_export_mode(platform)
        raw_mode = env.get(var.EXPORT_MODE, "").strip()
        lowered = raw_mode.lower()
        if raw_mode:
            if lowered in EXPORT_MODES:
                mode = lowered
            else:
                _warn(var.EXPORT_MODE, raw_mode, EXPORT_MODE_VALUES, using_default(mode))
        elif _bool_setting(None, env, var.DISABLE_BATCH, False):
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
        test_mode=_bool_setting(test_mode, env, var.TEST_MODE, False),
        # On a serverless platform the start-up session would be one request per cold start that no
        # invocation uses: each invocation gets its own session from the wrapper.
        skip_backend_session_creation=_bool_setting(
            skip_backend_session_creation, env, var.SKIP_BACKEND_SESSION_CREATION, platform != "dev"
        ),
        export_timeout_ms=_export_timeout_ms(env),
        flush_timeout_ms=_int_setting(env, var.FLUSH_TIMEOUT_MS, DEFAULT_FLUSH_TIMEOUT_MS),
        timeout_margin_ms=_int_setting(env, var.TIMEOUT_MARGIN_MS, DEFAULT_TIMEOUT_MARGIN_MS),
        max_payload_bytes=_int_setting(env, var.MAX_PAYLOAD_BYTES, DEFAULT_MAX_PAYLOAD_BYTES),
        invocation_max_spans=_int_setting(env, var.INVOCATION_MAX_SPANS, DEFAULT_INVOCATION_MAX_SPANS),
        invocation_max_bytes=_int_setting(env, var.INVOCATION_MAX_BYTES, DEFAULT_INVOCATION_MAX_BYTES),
        export_disabled=url_refused,
        ingestion_api_key=_ingestion_key(ingestion_api_key, env),
        disable_tracing=_bool_setting(disable_tracing, env, var.DISABLE_TRACING, False),
        verbose=_bool_setting(verbose, env, var.VERBOSE, False),
        span_name_filters=filters,
        max_attributes=_int_setting(env, var.MAX_ATTRIBUTES, DEFAULT_MAX_ATTRIBUTES, max_attributes, "max_attributes"),
        max_events=_int_setting(env, var.MAX_EVENTS, DEFAULT_MAX_EVENTS, max_events, "max_events"),
        max_links=_int_setting(env, var.MAX_LINKS, DEFAULT_MAX_LINKS, max_links, "max_links"),
        max_span_size=_int_setting(env, var.MAX_SPAN_SIZE, DEFAULT_MAX_SPAN_SIZE, max_span_size, "max_span_size"),
        otlp_enabled=_bool_setting(None, env, var.OTLP_ENABLED, True),
        # Naming botocore among the instrumentors is asking for this.
        propagate_aws_sdk=_bool_setting(propagate_aws_sdk, env, var.PROPAGATE_AWS_SDK, False)
        or selection.wants_aws_sdk,
        instrumentors=selection,
        redaction=_redaction(env),
    )
    config = config._replace(key_origin=_key_origin(config, api_key, ingestion_api_key, key_found))
    protocol = env.get(var.OTLP_PROTOCOL, "").strip()
    if protocol and protocol.lower() != OTLP_PROTOCOL:
        _warn(var.OTLP_PROTOCOL, protocol, OTLP_PROTOCOL, using_default(OTLP_PROTOCOL))
    _warn_no_project(config)
    return config


def default_export_mode(platform: str) -> ExportMode:
    """``batch`` in a long-lived process, ``invocation`` on a serverless platform (a frozen sandbox
    would strand a batch)."""
    return "batch" if platform == "dev" else "invocation"


def _key_origin(
    config: Config, api_key: str | None, ingestion_api_key: str | None, key_found: tuple[str, str] | None
) -> str:
    """Where the key sent comes from, in the order ``ApiKeyProvider`` picks it: never the key."""
    if config.ingestion_api_key:
        return "the ingestion_api_key argument" if ingestion_api_key else var.INGESTION_API_KEY
    if config.api_key:
        return "the api_key argument" if api_key or key_found is None else key_found[0]
    if config.api_key_secret_arn:
        return f"the Secrets Manager secret named by {var.API_KEY_SECRET_ARN}"
    if config.api_key_ssm_parameter:
        return f"the SSM parameter named by {var.API_KEY_SSM_PARAMETER}"
    return "none"


class WrapperOptions(NamedTuple):
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
    return WrapperOptions(
        capture_event=_bool_setting(capture_event, env, var.CAPTURE_EVENT, True),
        capture_response=_bool_setting(capture_response, env, var.CAPTURE_RESPONSE, True),
        return_session_id=_bool_setting(return_session_id, env, var.RETURN_SESSION_ID, True),
        event_type=event_type or env.get(var.EVENT_TYPE, "").strip() or "chain",
        session_name=session_name or env.get(var.SESSION_NAME, "").strip() or None,
        session_key_path=env.get(var.SESSION_KEY, "").strip() or None,
        conversation_sessions=_bool_setting(conversation_sessions, env, var.CONVERSATION_SESSIONS, True),
        capture_identity=_bool_setting(capture_identity, env, var.CAPTURE_IDENTITY, False),
    )
