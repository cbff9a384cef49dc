"""The export pipeline, composed from the configuration: client, exporter, processors, provider.

One attribute processor, then exactly one export processor chosen by the export mode:
``invocation`` and ``after_response`` hold each scope's spans for one request, ``immediate`` sends
each span as it ends, ``batch`` is OpenTelemetry's batch processor. ``after_response`` also registers
the in-process extension, and falls back to ``invocation`` where it cannot.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

from .. import variables as var
from ..config import Config
from ..ids import UrandomIdGenerator
from ..version import __version__
from .client import HoneyHiveClient
from .extension import AfterResponseExtension, FlushScope
from .processors import InvocationSpanProcessor, SessionAttributesProcessor, SessionDefaults
from .span_exporter import HoneyHiveSpanExporter


@dataclass(frozen=True)
class Pipeline:
    provider: TracerProvider
    #: The config as the pipeline runs it: ``after_response`` becomes ``invocation`` where it cannot run.
    config: Config
    #: Set in ``invocation`` and ``after_response`` modes: it holds each scope's spans.
    invocation_processor: InvocationSpanProcessor | None
    #: Set in ``after_response`` mode where the extension registered.
    extension: AfterResponseExtension | None


def build_pipeline(config: Config, client: HoneyHiveClient, owner: SessionDefaults, flush: FlushScope) -> Pipeline:
    """The provider for ``owner`` (the tracer), exporting through ``client``; ``flush`` sends a scope."""
    provider = TracerProvider(
        resource=Resource(
            {
                "service.name": os.environ.get(var.LAMBDA_FUNCTION_NAME)
                or os.environ.get(var.CLOUD_RUN_SERVICE)
                or "honeyhive-serverless",
                "telemetry.sdk.language": "python",
                "telemetry.sdk.name": "honeyhive-serverless",
                "telemetry.sdk.version": __version__,
            }
        ),
        id_generator=UrandomIdGenerator(),
        span_limits=SpanLimits(max_span_attributes=1024, max_attributes=1024),
    )
    provider.add_span_processor(SessionAttributesProcessor(owner))
    extension = None
    if config.export_mode == "after_response":
        extension = AfterResponseExtension.register(flush, config.flush_timeout_ms)
        if extension is None:
            config = replace(config, export_mode="invocation")
    exporter = HoneyHiveSpanExporter(client)
    invocation_processor = None
    export_processor: SpanProcessor
    if config.export_mode in ("invocation", "after_response"):
        export_processor = invocation_processor = InvocationSpanProcessor(exporter, owner)
    elif config.export_mode == "immediate":
        export_processor = SimpleSpanProcessor(exporter)
    else:
        export_processor = BatchSpanProcessor(exporter)
    provider.add_span_processor(export_processor)
    return Pipeline(provider, config, invocation_processor, extension)
