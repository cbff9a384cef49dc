"""The export pipeline, composed from the configuration: client, exporter, processors, provider.

One attribute processor and the recorder of the LangChain runs spans start in (``model_calls``), then
exactly one export processor chosen by the export mode:
``invocation`` and ``after_response`` hold each scope's spans for one request, ``immediate`` sends
each span as it ends, ``batch`` is OpenTelemetry's batch processor. ``after_response`` also registers
the in-process extension, and falls back to ``invocation`` where it cannot. With ``HH_OTLP_ENABLED``
false there is no export processor; with the kill switch (``disable_tracing``) no processor, no
extension, and no span is recorded.

The sampler records every span but those ``span_name_filters`` drop. It does not follow the parent's
sampled flag: a caller that did not sample its trace does not decide what this function records.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

from .. import variables as var
from ..config import Config, SpanNameFilters
from ..ids import UrandomIdGenerator
from ..scope import FlushScope
from ..version import __version__
from .client import HoneyHiveClient
from .model_calls import FrameworkParents
from .processors import InvocationSpanProcessor, SessionAttributesProcessor, SessionDefaults
from .span_exporter import HoneyHiveSpanExporter

if TYPE_CHECKING:  # each imported only where it runs: an on-demand function in invocation mode needs neither
    from .continuous import ContinuousExport
    from .extension import AfterResponseExtension


class Pipeline(NamedTuple):
    provider: TracerProvider
    #: The config as the pipeline runs it: ``after_response`` becomes ``invocation`` where it cannot run.
    config: Config
    #: Set in ``invocation`` and ``after_response`` modes: it holds each scope's spans.
    invocation_processor: InvocationSpanProcessor | None
    #: Set in ``after_response`` mode where the extension registered.
    extension: AfterResponseExtension | None
    #: Set on Lambda Managed Instances in ``invocation`` and ``after_response`` modes: exports leave on a
    #: thread of the worker after their invocations.
    continuous: ContinuousExport | None = None


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
        sampler=ALWAYS_OFF if config.disable_tracing else SpanNameSampler(config.span_name_filters),
        span_limits=SpanLimits(
            max_span_attributes=config.max_attributes,
            max_attributes=config.max_attributes,
            max_events=config.max_events,
            max_links=config.max_links,
        ),
    )
    if config.disable_tracing:
        return Pipeline(provider, config, None, None)
    attributes_processor = SessionAttributesProcessor(owner)
    provider.add_span_processor(attributes_processor)
    kept = attributes_processor.with_session_kept
    framework_parents = FrameworkParents()
    provider.add_span_processor(framework_parents)
    extension = None
    if config.export_mode == "after_response":
        from .extension import AfterResponseExtension

        extension = AfterResponseExtension.register(flush, config.flush_timeout_ms)
        if extension is None:
            config = config._replace(export_mode="invocation")
    continuous = None
    if config.export_mode == "invocation" and os.environ.get(var.LAMBDA_MAX_CONCURRENCY):
        from .continuous import ContinuousExport

        continuous = ContinuousExport.export_thread(flush, config.flush_timeout_ms)
    if not config.otlp_enabled:
        return Pipeline(provider, config, None, extension, continuous)
    invocation_processor = None
    export_processor: SpanProcessor
    if config.export_mode in ("invocation", "after_response"):
        # The processor caps each span's size as it holds it; the exporter need not again.
        export_processor = invocation_processor = InvocationSpanProcessor(
            HoneyHiveSpanExporter(
                client, redaction=config.redaction, restore=kept, framework_parents=framework_parents
            ),
            owner,
            config.max_span_size,
        )
    elif config.export_mode == "immediate":
        export_processor = SimpleSpanProcessor(
            HoneyHiveSpanExporter(client, config.max_span_size, config.redaction, kept, framework_parents)
        )
    else:
        export_processor = BatchSpanProcessor(
            HoneyHiveSpanExporter(client, config.max_span_size, config.redaction, kept, framework_parents)
        )
    provider.add_span_processor(export_processor)
    return Pipeline(provider, config, invocation_processor, extension, continuous)


class SpanNameSampler(Sampler):
    """Records every span except those ``filters`` drop (before any processor sees them)."""

    def __init__(self, filters: SpanNameFilters | None) -> None:
        self._filters = filters

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        decide = ALWAYS_OFF if self._filters is not None and self._filters.drops(name) else ALWAYS_ON
        return decide.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"SpanNameSampler{{{self._filters}}}"
