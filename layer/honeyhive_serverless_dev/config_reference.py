"""The configuration reference: each variable's one line, default and values, and ``docs/configuration.md``
written from them.

The names come from ``honeyhive_serverless.variables``, the defaults and the accepted values from
``honeyhive_serverless.config`` (the constants its warnings use too), and what each variable does is
said here, once. A unit test fails when an ``HH_*`` name has no entry here, or when the committed
``docs/configuration.md`` differs from :func:`render`: ``make docs`` writes it again.

    python -m honeyhive_serverless_dev.config_reference docs/configuration.md
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from honeyhive_serverless import config as cfg
from honeyhive_serverless import variables as var
from honeyhive_serverless._log import using_default
from honeyhive_serverless.instrumentors import ALL
from honeyhive_serverless_dev.runtimes import PYTHON_VERSIONS


@dataclass(frozen=True)
class Entry:
    """One variable of the reference."""

    name: str
    does: str
    default: str = "unset"
    values: str = "any text"


@dataclass(frozen=True)
class Section:
    title: str
    entries: tuple[Entry, ...]


ON, OFF = "true", "false"
MS = "milliseconds: " + cfg.POSITIVE_WHOLE_NUMBER
BYTES = "bytes: " + cfg.POSITIVE_WHOLE_NUMBER
SET_BY_TOOLS = "set by the tools, not by hand"

SECTIONS = (
    Section(
        "HoneyHive: the key, the project, the server",
        (
            Entry(var.API_KEY, "The HoneyHive API key sent as the Bearer of every request.", values="a key"),
            Entry(
                var.API_KEY_SDK_ALIAS,
                f"HoneyHive's SDK's name for the API key; read when `{var.API_KEY}` is unset.",
                values="a key",
            ),
            Entry(
                var.INGESTION_API_KEY,
                "A send-only ingestion key, sent before the API key (recommended for functions).",
                values=cfg.INGESTION_KEY_VALUES,
            ),
            Entry(
                var.API_KEY_SECRET_ARN,
                "A Secrets Manager secret holding the key (plain, or JSON with `api_key`/`ingestion_api_key`); "
                "fetched on first use and again when HoneyHive refuses the key.",
                values="a secret's ARN or name",
            ),
            Entry(
                var.API_KEY_SSM_PARAMETER,
                "An SSM parameter (SecureString) holding the key, fetched as the secret is.",
                values="a parameter's name",
            ),
            Entry(
                var.PROJECT,
                "The HoneyHive project the sessions and spans are filed under.",
                "unset: " + cfg.NO_PROJECT_FILING,
            ),
            Entry(
                var.SOURCE,
                "The source (environment) recorded on sessions and spans.",
                "the platform: `lambda`, `cloud-function` or `dev`",
            ),
            Entry(
                var.API_URL,
                "The HoneyHive server (first of this, the next two).",
                f"`{cfg.DEFAULT_SERVER_URL}`",
                cfg.URL_VALUES,
            ),
            Entry(
                var.SERVER_URL,
                f"The server, when `{var.API_URL}` is unset.",
                f"`{cfg.DEFAULT_SERVER_URL}`",
                cfg.URL_VALUES,
            ),
            Entry(
                var.SERVER_URL_SDK_ALIAS,
                "HoneyHive's SDK's name for the server, read last.",
                f"`{cfg.DEFAULT_SERVER_URL}`",
                cfg.URL_VALUES,
            ),
        ),
    ),
    Section(
        "Sessions and the handler wrapper",
        (
            Entry(
                var.SESSION_NAME,
                "The name of the sessions started.",
                "`lambda-<function name>` (`cloud-function-<name>` on Cloud Functions)",
            ),
            Entry(var.SESSION_ID, "The id of the start-up session, as in HoneyHive's SDK.", values="a session id"),
            Entry(
                var.SKIP_BACKEND_SESSION_CREATION,
                "No start-up session request at init.",
                "`true` on Lambda and Cloud Functions, `false` elsewhere",
                cfg.BOOL_VALUES,
            ),
            Entry(
                var.CAPTURE_EVENT, "The invocation's event is recorded as the session's inputs.", ON, cfg.BOOL_VALUES
            ),
            Entry(
                var.CAPTURE_RESPONSE,
                "The handler's return value is recorded as the session's outputs.",
                ON,
                cfg.BOOL_VALUES,
            ),
            Entry(
                var.CAPTURE_IDENTITY,
                "Who the caller is (an authorizer's claims, the identity block) is captured with the event.",
                OFF,
                cfg.BOOL_VALUES,
            ),
            Entry(var.RETURN_SESSION_ID, "HTTP responses carry the session id in `X-Session-ID`.", ON, cfg.BOOL_VALUES),
            Entry(
                var.EVENT_TYPE,
                "The event type of the invocation's span.",
                "`chain`",
                "a HoneyHive event type (`chain`, `model`, `tool`)",
            ),
            Entry(
                var.SESSION_KEY,
                "A dotted path into the event whose value is the conversation key naming "
                "the session (replaces the built-in lookups).",
                values="a dotted path, e.g. `body.thread_id`",
            ),
            Entry(
                var.CONVERSATION_SESSIONS,
                "Bedrock Agents, Lex V2 and Connect conversations name the session.",
                ON,
                cfg.BOOL_VALUES,
            ),
            Entry(
                var.LAMBDA_HANDLER,
                f"The real handler behind the zero-code redirect (`_HANDLER` is "
                f"`{var.REDIRECT_HANDLER}`); the layer's exec wrapper sets it from `_HANDLER`.",
                "the function's `_HANDLER`",
                "`module.function`",
            ),
        ),
    ),
    Section(
        "Export",
        (
            Entry(
                var.EXPORT_MODE,
                "When spans are sent: held per invocation and sent before it returns "
                "(`invocation`), after the response (`after_response`, with the extension), each as it "
                "ends (`immediate`), or OpenTelemetry's batches (`batch`).",
                f"`{cfg.default_export_mode('lambda')}` on Lambda and Cloud Functions, "
                f"`{cfg.default_export_mode('dev')}` elsewhere",
                cfg.EXPORT_MODE_VALUES,
            ),
            Entry(
                var.DISABLE_BATCH,
                f"HoneyHive's SDK's switch: `true` is `{var.EXPORT_MODE}=immediate`.",
                OFF,
                cfg.BOOL_VALUES,
            ),
            Entry(
                var.EXPORT_TIMEOUT_MS,
                "Longest wait for any one request to HoneyHive.",
                str(cfg.DEFAULT_EXPORT_TIMEOUT_MS),
                MS,
            ),
            Entry(
                var.API_TIMEOUT,
                f"HoneyHive's SDK's request timeout; `{var.EXPORT_TIMEOUT_MS}` wins.",
                f"{cfg.DEFAULT_EXPORT_TIMEOUT_MS / 1000:g}",
                cfg.POSITIVE_SECONDS,
            ),
            Entry(
                var.FLUSH_TIMEOUT_MS,
                "Longest the end of an invocation may spend exporting (also cut to the time left).",
                str(cfg.DEFAULT_FLUSH_TIMEOUT_MS),
                MS,
            ),
            Entry(
                var.TIMEOUT_MARGIN_MS,
                "Kept free before the invocation's deadline; the timeout's last spans leave this long before it.",
                str(cfg.DEFAULT_TIMEOUT_MARGIN_MS),
                MS,
            ),
            Entry(
                var.MAX_PAYLOAD_BYTES,
                "Largest captured event or response; a bigger one is cut.",
                str(cfg.DEFAULT_MAX_PAYLOAD_BYTES),
                BYTES,
            ),
            Entry(
                var.INVOCATION_MAX_SPANS,
                "Most spans one invocation holds for export.",
                str(cfg.DEFAULT_INVOCATION_MAX_SPANS),
                cfg.POSITIVE_WHOLE_NUMBER,
            ),
            Entry(
                var.INVOCATION_MAX_BYTES,
                "Most bytes of spans one invocation holds for export.",
                str(cfg.DEFAULT_INVOCATION_MAX_BYTES),
                BYTES,
            ),
            Entry(
                var.OTLP_ENABLED,
                "`false`: spans are not exported (sessions still start and are enriched).",
                ON,
                cfg.BOOL_VALUES,
            ),
            Entry(
                var.OTLP_PROTOCOL,
                "The OTLP encoding; only one is spoken here.",
                f"`{cfg.OTLP_PROTOCOL}`",
                f"`{cfg.OTLP_PROTOCOL}`",
            ),
            Entry(var.TEST_MODE, "Nothing is sent; sessions still get ids.", OFF, cfg.BOOL_VALUES),
            Entry(
                var.DISABLE_TRACING,
                "The kill switch: no request, no span, the handler called as it is.",
                OFF,
                cfg.BOOL_VALUES,
            ),
            Entry(var.VERBOSE, "Debug lines of what tracing does (never a secret).", OFF, cfg.BOOL_VALUES),
        ),
    ),
    Section(
        "Spans and instrumentation",
        (
            Entry(
                var.MAX_ATTRIBUTES,
                "Most attributes per span.",
                str(cfg.DEFAULT_MAX_ATTRIBUTES),
                cfg.POSITIVE_WHOLE_NUMBER,
            ),
            Entry(var.MAX_EVENTS, "Most events per span.", str(cfg.DEFAULT_MAX_EVENTS), cfg.POSITIVE_WHOLE_NUMBER),
            Entry(var.MAX_LINKS, "Most links per span.", str(cfg.DEFAULT_MAX_LINKS), cfg.POSITIVE_WHOLE_NUMBER),
            Entry(
                var.MAX_SPAN_SIZE,
                "Bytes per span (estimated); the largest strings of a bigger span are cut.",
                str(cfg.DEFAULT_MAX_SPAN_SIZE),
                BYTES,
            ),
            Entry(
                var.INSTRUMENTORS,
                "Installed OpenInference / OpenTelemetry instrumentors applied with the "
                "tracer (`-name` leaves one out).",
                "none",
                f"a comma list of instrumentor names, or `{ALL}`",
            ),
            Entry(
                var.PROPAGATE_AWS_SDK,
                "AWS SDK calls get spans and carry the trace context and session onward.",
                OFF,
                cfg.BOOL_VALUES,
            ),
            Entry(
                var.DISABLE_HTTP_TRACING,
                "Accepted for HoneyHive's SDK's sake; nothing here traces HTTP clients.",
                values="ignored",
            ),
        ),
    ),
    Section(
        "Redaction of what is sent",
        (
            Entry(
                var.REDACT,
                "`false`: nothing is redacted (secret names, secret values, the two below).",
                ON,
                cfg.BOOL_VALUES,
            ),
            Entry(
                var.REDACT_KEYS,
                "More secret names, whose values are replaced wherever they sit.",
                values="a comma list of names (any case; `-` and `_` ignored)",
            ),
            Entry(
                var.REDACT_PATTERNS,
                "More secret values, replaced wherever they appear.",
                values=f"a comma list of {cfg.REGULAR_EXPRESSION}s; a bad one is left out, the others apply",
            ),
        ),
    ),
    Section(
        "Tools and the CDK construct (never read by the runtime)",
        (
            Entry(
                var.INSTRUMENTED,
                "What `hh-serverless instrument` changed on a function, so `uninstrument` undoes only that.",
                values=f"compact JSON, {SET_BY_TOOLS}",
            ),
            Entry(
                var.LAYER_PYTHON,
                "The Python version the construct builds its local layer for.",
                values=f"`{PYTHON_VERSIONS[0]}` to `{PYTHON_VERSIONS[-1]}`, {SET_BY_TOOLS}",
            ),
            Entry(
                var.LAYER_ARCH,
                "The architecture the construct builds its local layer for.",
                values=f"`x86_64` or `arm64`, {SET_BY_TOOLS}",
            ),
            Entry(
                var.LAYER_CACHE_DIR,
                "Where the layer builder (and so the construct) keeps built zips for reuse.",
                "`~/.cache/honeyhive-serverless/layers` (under `$XDG_CACHE_HOME` when set)",
                "a directory",
            ),
        ),
    ),
)

#: The one rule's line, for a bad export mode on Lambda.
EXAMPLE_WARNING = f"honeyhive: {var.EXPORT_MODE}='bogus' is not {cfg.EXPORT_MODE_VALUES}; " + using_default(
    cfg.default_export_mode("lambda")
)

HEADER = f"""# Configuration reference

<!-- Generated by `make docs` (honeyhive_serverless_dev/config_reference.py) from
honeyhive_serverless/variables.py and config.py: edit those, not this file. -->

Every setting is an explicit argument (to `HoneyHiveTracer.init` or `@with_honeyhive_session`), else its
environment variable, else its default. Switches take `true` or `false` (`1`/`0`, `yes`/`no` and
`on`/`off` too).

A bad value never stops the function. It gets one warning line naming the variable, its value (a key's
only by its length), what was expected and what happens instead:

    {EXAMPLE_WARNING}

which is the default, except for a bad server URL: then nothing is exported, rather than sent to a
server that was not chosen. An `HH_*` variable not listed here is warned of once, with the likely name
it was meant to be; so is a missing project.
"""


def _cell(text: str) -> str:
    """``text`` in a table cell: its ``|`` escaped, and outside code its ``<`` (``<id>`` is no HTML tag)."""
    parts = text.replace("|", "\\|").split("`")
    return "`".join(part if index % 2 else part.replace("<", "\\<") for index, part in enumerate(parts))


def render() -> str:
    """``docs/configuration.md``'s text."""
    parts = [HEADER]
    for section in SECTIONS:
        parts.append(f"\n## {section.title}\n\n| Variable | What it does | Default | Values |\n|---|---|---|---|\n")
        parts.extend(
            f"| `{entry.name}` | {_cell(entry.does)} | {_cell(entry.default)} | {_cell(entry.values)} |\n"
            for entry in section.entries
        )
    return "".join(parts)


def entries() -> list[Entry]:
    return [entry for section in SECTIONS for entry in section.entries]


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    target = Path(arguments[0] if arguments else "docs/configuration.md")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
