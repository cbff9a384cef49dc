"""A local HoneyHive-compatible receiver ("dev receiver") for tests and local development.

It answers the part of the HoneyHive API that the tracer uses (session start, session enrichment and
OTLP/HTTP span export) and the experiment runs of HoneyHive's ``evaluate()``, records everything it
receives, renders sessions as trees, and can inject faults (refused connections, hangs, 500/429/401
answers, slowness) so that export paths can be tested against real sockets instead of mocks.

Every request that reaches a HoneyHive route is held to HoneyHive's published contract (shipped in
``spec/``): what breaks it, orphaned spans and refused updates are in ``DevReceiver.contract_report()``
and in the rendered trees.

Modules, each importing only those before it: ``otlp`` (decoding span exports), ``contract_spec`` (the
published contract as JSON Schema validators, and the one reader of ``spec/``), ``experiments`` (the
runs routes ``evaluate()`` calls), ``contract`` (HoneyHive's rules over the traffic: findings and
sessions), ``server`` (HTTP request handling: the handler, the faults, the routes, the
server), ``render`` (session trees), ``jsonl`` (the record as JSON lines), ``dev_receiver``
(:class:`DevReceiver`).
"""

from __future__ import annotations

from honeyhive_serverless.wire import EVENTS_PATH, SESSION_START_PATH
from honeyhive_serverless.wire import OTLP_PATH as TRACES_PATH

from .contract import FINDING_KINDS, VIOLATION_KINDS, ContractReport, Finding
from .dev_receiver import DevReceiver
from .otlp import ReceivedSpan, decode_trace_request
from .server import FAULT_KINDS, FaultKind, ReceivedRequest

__all__ = [
    "EVENTS_PATH",
    "FAULT_KINDS",
    "FINDING_KINDS",
    "SESSION_START_PATH",
    "TRACES_PATH",
    "VIOLATION_KINDS",
    "ContractReport",
    "DevReceiver",
    "FaultKind",
    "Finding",
    "ReceivedRequest",
    "ReceivedSpan",
    "decode_trace_request",
]
