"""Names on HoneyHive's wire, as its SDK spells them: API paths, the session header, baggage keys.

The runtime, the CDK construct, the tools and the dev receiver use these, never their own literals.
"""

from __future__ import annotations

OTLP_PATH = "/opentelemetry/v1/traces"
SESSION_START_PATH = "/session/start"
EVENTS_PATH = "/events"

#: The HTTP header that names a session, in requests and in the wrapper's HTTP responses.
SESSION_HEADER = "X-Session-ID"
#: The field that names a session in a JSON payload (an event, a body, a message).
SESSION_FIELD = "session_id"
#: The CloudEvents extension attribute that names a session (extension names are lower case).
CLOUDEVENT_SESSION_EXTENSION = "sessionid"

#: The span attribute that gives a span's HoneyHive event type (``model``, ``chain``, ``tool``).
EVENT_TYPE_ATTRIBUTE = "honeyhive_event_type"

#: Baggage key of the current session, as HoneyHive's SDK names it (propagates to downstream services).
SESSION_KEY = "session_id"
#: Baggage keys this package sets for itself; they become span attributes under their own names.
AUTO_CREATE_KEY = "honeyhive.session_auto_create"
SESSION_NAME_KEY = "honeyhive.session_name"
#: The span attribute naming a span's session (HoneyHive's OTLP protocol; ``SESSION_KEY`` in baggage).
SESSION_ID_ATTRIBUTE = "honeyhive.session_id"
#: Baggage key of the session's name as HoneyHive's SDK sets it when it links a session.
SDK_SESSION_NAME_KEY = "session_name"
#: Marks a span another stands for (FastAPI's own request span, under the ASGI middleware): never sent.
SUPERSEDED_KEY = "honeyhive.superseded"

#: W3C Trace Context and Baggage: the carrier keys OpenTelemetry's propagators (and HoneyHive's SDK)
#: read and write, in headers, message attributes and payloads alike.
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
BAGGAGE = "baggage"
CONTEXT_KEYS = (TRACEPARENT, TRACESTATE, BAGGAGE)
#: Baggage keys HoneyHive's SDK writes or reads a session under, first found wins.
SESSION_BAGGAGE_KEYS = (SESSION_KEY, "honeyhive_session_id", "honeyhive.session_id")
#: Baggage keys OpenTelemetry's conventions name a conversation by, first found wins: ``session.id`` (its
#: session convention, by which Bedrock AgentCore groups a session's traces) and ``gen_ai.conversation.id``
#: (its GenAI conventions). A conversation key, not a HoneyHive session id: see ``sessions``.
CONVERSATION_BAGGAGE_KEYS = ("session.id", "gen_ai.conversation.id")
#: An experiment's context, which HoneyHive's ``evaluate()`` puts in baggage: each becomes the span attribute
#: ``honeyhive_metadata.<key>`` (as the SDK's span processor records them), so a span is attributed to the run.
EXPERIMENT_BAGGAGE_KEYS = ("run_id", "dataset_id", "datapoint_id")
#: Baggage HoneyHive's SDK sets that means nothing outside the caller's process (an object id).
CALLER_ONLY_BAGGAGE_KEYS = ("honeyhive_tracer_id",)
