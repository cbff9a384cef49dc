"""Every environment variable this project reads or writes, by name, in one place.

The runtime's config, the CDK construct and the AWS tools all spell a variable through these
constants, so a typo is a NameError at import instead of a setting that is silently ignored. A test
holds the rest of the code to it: no ``HH_*`` string literal outside this module.

The values a variable takes, and their defaults, live with the rule that reads them (``config``); what
each one does is said once, in the configuration reference's entries
(``honeyhive_serverless_dev.config_reference``), which write ``docs/configuration.md``.
"""

from __future__ import annotations

# -- HoneyHive settings (explicit argument > variable > default; see config.py) ------------------------

API_KEY = "HH_API_KEY"
#: HoneyHive's own SDK reads this name; accepted as a fallback for ``HH_API_KEY``.
API_KEY_SDK_ALIAS = "HONEYHIVE_API_KEY"
#: An ingestion key (``hh_ingst_...``, send-only): the Bearer of every request, before the API key.
INGESTION_API_KEY = "HH_INGESTION_API_KEY"
API_KEY_SECRET_ARN = "HH_API_KEY_SECRET_ARN"  # noqa: S105 - a variable's name, not a secret
API_KEY_SSM_PARAMETER = "HH_API_KEY_SSM_PARAMETER"
#: Variables that carry a key (API or ingestion) or say where it lives.
API_KEY_SOURCES = (API_KEY, API_KEY_SDK_ALIAS, INGESTION_API_KEY, API_KEY_SECRET_ARN, API_KEY_SSM_PARAMETER)
PROJECT = "HH_PROJECT"
SOURCE = "HH_SOURCE"
API_URL = "HH_API_URL"
SERVER_URL = "HH_SERVER_URL"
SERVER_URL_SDK_ALIAS = "HONEYHIVE_SERVER_URL"
#: The server URL's names, first found wins.
SERVER_URLS = (API_URL, SERVER_URL, SERVER_URL_SDK_ALIAS)
SESSION_NAME = "HH_SESSION_NAME"
SESSION_ID = "HH_SESSION_ID"
EXPORT_MODE = "HH_EXPORT_MODE"
DISABLE_BATCH = "HH_DISABLE_BATCH"
TEST_MODE = "HH_TEST_MODE"
SKIP_BACKEND_SESSION_CREATION = "HH_SKIP_BACKEND_SESSION_CREATION"
EXPORT_TIMEOUT_MS = "HH_EXPORT_TIMEOUT_MS"
FLUSH_TIMEOUT_MS = "HH_FLUSH_TIMEOUT_MS"
TIMEOUT_MARGIN_MS = "HH_TIMEOUT_MARGIN_MS"
MAX_PAYLOAD_BYTES = "HH_MAX_PAYLOAD_BYTES"
INVOCATION_MAX_SPANS = "HH_INVOCATION_MAX_SPANS"
INVOCATION_MAX_BYTES = "HH_INVOCATION_MAX_BYTES"

# -- HoneyHive SDK settings read under the SDK's own names -----------------------------------------

#: The kill switch: no network, no spans, the handler called as it is.
DISABLE_TRACING = "HH_DISABLE_TRACING"
#: Debug logging of what tracing does (never a secret).
VERBOSE = "HH_VERBOSE"
#: The SDK's per-request timeout, in seconds (``HH_EXPORT_TIMEOUT_MS`` wins when both are set).
API_TIMEOUT = "HH_API_TIMEOUT"
#: Accepted for the SDK's sake; nothing here traces HTTP clients.
DISABLE_HTTP_TRACING = "HH_DISABLE_HTTP_TRACING"
#: ``false`` turns span export off (sessions still get ids), as in the SDK.
OTLP_ENABLED = "HH_OTLP_ENABLED"
#: Only ``http/protobuf`` is spoken here; anything else warns.
OTLP_PROTOCOL = "HH_OTLP_PROTOCOL"
MAX_ATTRIBUTES = "HH_MAX_ATTRIBUTES"
MAX_EVENTS = "HH_MAX_EVENTS"
MAX_LINKS = "HH_MAX_LINKS"
MAX_SPAN_SIZE = "HH_MAX_SPAN_SIZE"
#: Opt-in: AWS SDK calls (botocore) get spans and carry the trace context and session onward.
PROPAGATE_AWS_SDK = "HH_PROPAGATE_AWS_SDK"
#: Instrumentors applied with the tracer's provider: a comma list of names, or ``all`` (``-name`` leaves
#: one out). See ``instrumentors``.
INSTRUMENTORS = "HH_INSTRUMENTORS"

# -- redaction of what leaves (see ``redaction``) ---------------------------------------------------

#: ``false``: nothing is redacted (secret names, secret values, the settings below).
REDACT = "HH_REDACT"
#: More secret names, comma-separated (compared as the built-in ones: any case, ``-`` and ``_`` ignored).
REDACT_KEYS = "HH_REDACT_KEYS"
#: More secret values: regular expressions, comma-separated (a comma inside brackets or braces stays).
REDACT_PATTERNS = "HH_REDACT_PATTERNS"

# -- the handler wrapper ---------------------------------------------------------------------------

CAPTURE_EVENT = "HH_CAPTURE_EVENT"
CAPTURE_RESPONSE = "HH_CAPTURE_RESPONSE"
#: Opt-in: who the caller is (an authorizer's claims, the identity block) is captured with the event.
CAPTURE_IDENTITY = "HH_CAPTURE_IDENTITY"
RETURN_SESSION_ID = "HH_RETURN_SESSION_ID"
EVENT_TYPE = "HH_EVENT_TYPE"
#: A dotted path into the event whose value is the conversation key of the session (see ``sessions``).
SESSION_KEY = "HH_SESSION_KEY"
#: ``false``: Bedrock Agents, Lex V2 and Connect conversations no longer name the session.
CONVERSATION_SESSIONS = "HH_CONVERSATION_SESSIONS"
#: The real handler behind the zero-code redirect (``honeyhive_serverless.handler.handler``).
LAMBDA_HANDLER = "HH_LAMBDA_HANDLER"
#: The value ``_HANDLER`` takes for the zero-code redirect, a deployed contract.
REDIRECT_HANDLER = "honeyhive_serverless.handler.handler"
#: The exec wrapper of the AWS Lambda Web Adapter's layer: the function is a web app started by its
#: handler script, with no Python handler to redirect (its app takes the ASGI/WSGI middleware instead).
WEB_ADAPTER_EXEC_WRAPPER = "/opt/bootstrap"

# -- tools (never read by the runtime) -------------------------------------------------------------

#: What ``hh-serverless instrument`` changed on a function, so ``uninstrument`` undoes only that.
INSTRUMENTED = "HH_INSTRUMENTED"
#: The Python version and architecture the CDK construct builds its local layer for.
LAYER_PYTHON = "HH_LAYER_PYTHON"
LAYER_ARCH = "HH_LAYER_ARCH"
# Where the layer builder keeps zips for reuse (default: ~/.cache/honeyhive-serverless/layers).
LAYER_CACHE_DIR = "HH_LAYER_CACHE_DIR"

# -- set by the platforms --------------------------------------------------------------------------

LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"
LAMBDA_FUNCTION_VERSION = "AWS_LAMBDA_FUNCTION_VERSION"
LAMBDA_FUNCTION_MEMORY_SIZE = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
LAMBDA_INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
LAMBDA_RUNTIME_API = "AWS_LAMBDA_RUNTIME_API"
#: Set on Lambda Managed Instances: the invocations one execution environment runs at once.
LAMBDA_MAX_CONCURRENCY = "AWS_LAMBDA_MAX_CONCURRENCY"
#: Set by the function's configuration, read by Lambda: a script that starts the runtime.
LAMBDA_EXEC_WRAPPER = "AWS_LAMBDA_EXEC_WRAPPER"
#: The function's handler setting, as the runtime reads it.
LAMBDA_HANDLER_SETTING = "_HANDLER"
#: The invocation's X-Ray trace header (``Root=1-...;Parent=...;Sampled=...``): the runtime client sets it
#: before each invocation, from the Runtime API's ``Lambda-Runtime-Trace-Id``.
XRAY_TRACE_HEADER = "_X_AMZN_TRACE_ID"
#: The Lambda Web Adapter's readiness check path (default ``/``): its probes are not invocations.
LWA_READINESS_CHECK_PATH = "AWS_LWA_READINESS_CHECK_PATH"
AWS_REGION = "AWS_REGION"
GCF_FUNCTION_TARGET = "FUNCTION_TARGET"
GCF_FUNCTION_REGION = "FUNCTION_REGION"
GCF_FUNCTION_MEMORY_MB = "FUNCTION_MEMORY_MB"
CLOUD_RUN_SERVICE = "K_SERVICE"
CLOUD_RUN_REVISION = "K_REVISION"
GOOGLE_CLOUD_REGION = "GOOGLE_CLOUD_REGION"
#: OpenTelemetry's own list of instrumentations not to apply; honoured by ``HH_INSTRUMENTORS=all``.
OTEL_DISABLED_INSTRUMENTATIONS = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"

#: Every ``HH_*`` name above, the runtime's, the construct's and the tools' alike: a variable of this
#: prefix outside it is a typo or a setting of another tool, and is warned of (see ``config``).
HH_NAMES = frozenset(value for value in tuple(globals().values()) if isinstance(value, str) and value.startswith("HH_"))
