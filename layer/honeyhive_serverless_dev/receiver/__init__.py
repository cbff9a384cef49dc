"""A local HoneyHive-compatible receiver ("dev receiver") for tests and local development.

It answers the part of the HoneyHive API that the tracer uses (session start, session enrichment and
OTLP/HTTP span export) and the experiment runs of HoneyHive's ``evaluate()``, records everything it
receives, renders sessions as trees, and can inject faults (refused connections, hangs, 500/429/401
answers, slowness) so that export paths can be tested against real sockets instead of mocks.

Modules, each importing only those before it: ``otlp`` (decoding span exports), ``experiments`` (the
runs routes, checked against HoneyHive's schemas in ``spec/``), ``server`` (HTTP request handling: the
handler, the faults, the routes, the server), ``render`` (session trees), ``dev_receiver``
(:class:`DevReceiver`).
"""

from __future__ import annotations

from honeyhive_serverless.wire import EVENTS_PATH, SESSION_START_PATH
from honeyhive_serverless.wire import OTLP_PATH as TRACES_PATH

from .dev_receiver import DevReceiver
from .otlp import ReceivedSpan, decode_trace_request
from .server import FAULT_KINDS, FaultKind, ReceivedRequest

__all__ = [
    "EVENTS_PATH",
    "FAULT_KINDS",
    "SESSION_START_PATH",
    "TRACES_PATH",
    "DevReceiver",
    "FaultKind",
    "ReceivedRequest",
    "ReceivedSpan",
    "decode_trace_request",
]
