"""One model event per model call.

A framework's LLM span (LangChain's ``ChatBedrock``) and the provider's span for the same request (the
Bedrock instrumentor's ``bedrock.invoke_model``) are both model spans; sent as they are, HoneyHive counts
the call, its tokens and its cost twice. Two steps make them one:

- :class:`FrameworkParents` (a span processor) records, as a span starts inside a LangChain run, that
  run's span as the parent it should have had (see ``genai.frameworks``): the provider's span then sits
  under the framework span that made the call, not beside the chain.
- :func:`one_event_per_call` (pure, on what leaves in one request) folds a model span into the model span
  it is the only model child of: the outer one keeps its identity (name, parent, times: the call as the
  application made it), and takes the inner one's attributes where it has none or only a zero (the
  provider's token counts where the framework could not count), its events and an error status. The
  inner span's children move up to it. An outer model span with two or more model children (a model
  span the user wrapped around an agent, say) is a different thing and left alone.

Every model span then leaves with the GenAI convention's names and OpenInference's in agreement
(``genai.names``). Spans exported one by one (the ``immediate`` export mode) get their right parent, but
a provider's span has left before its framework span ends and cannot be folded.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanContext, Status, StatusCode

from ..genai.frameworks import LANGCHAIN_INSTRUMENTATION, framework_span
from ..genai.names import is_model_call, normalised
from ..wire import EVENT_TYPE_ATTRIBUTE
from .span_copies import with_attributes

#: A bound on what the processor keeps for spans that never end (the oldest are forgotten first).
MAX_KEPT = 10_000


class FrameworkParents(SpanProcessor):
    """Records, for a span started inside a LangChain run, the run's span as its parent.

    Only a span whose own parent began before the run is moved (the invocation's span, current when the
    chain began): a span whose parent began inside the run (a provider span's own child) already sits
    in the right place. Costs one dictionary lookup per span where LangChain's instrumentor is not
    loaded: nothing is recorded then.
    """

    def __init__(self) -> None:
        self._starts: dict[int, int] = {}
        self._adopted: dict[int, SpanContext] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if LANGCHAIN_INSTRUMENTATION not in sys.modules:
            return  # no LangChain run to find (its instrumentor is applied before any span it could parent)
        context = span.context
        self._starts[context.span_id] = span.start_time or 0
        if len(self._starts) > MAX_KEPT:
            self._starts.pop(next(iter(self._starts)), None)
        scope = span.instrumentation_scope
        if scope is not None and scope.name == LANGCHAIN_INSTRUMENTATION:
            return  # LangChain's own spans are parented by their runs already
        run_span = framework_span()
        if run_span is None:
            return
        run = run_span.get_span_context()
        parent = span.parent
        if not run.is_valid or run.trace_id != context.trace_id or parent is None or parent.span_id == run.span_id:
            return
        parent_start = self._starts.get(parent.span_id)
        run_start = getattr(run_span, "start_time", None)
        if parent_start is None or run_start is None or parent_start > run_start:
            return
        if len(self._adopted) >= MAX_KEPT:
            self._adopted.pop(next(iter(self._adopted)), None)
        self._adopted[context.span_id] = run

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None:
            self._starts.pop(span.context.span_id, None)

    def take(self, spans: Sequence[ReadableSpan]) -> dict[int, SpanContext]:
        """The recorded parents of ``spans`` (forgotten here: each span leaves once)."""
        if not self._adopted:
            return {}
        taken = {}
        for span in spans:
            if span.context is not None and (run := self._adopted.pop(span.context.span_id, None)) is not None:
                taken[span.context.span_id] = run
        return taken


def one_event_per_call(spans: Sequence[ReadableSpan], adopted: Mapping[int, SpanContext]) -> Sequence[ReadableSpan]:
    """``spans`` with their ``adopted`` parents, each inner model span folded into the model span it is
    the only model child of, and every model span's names normalised. ``spans`` itself when nothing
    changes."""
    models = {_id(span) for span in spans if _is_model(span)}
    if not models and not adopted:
        return spans
    parents = {_id(span): adopted.get(_id(span), span.parent) for span in spans}
    children: dict[int, list[int]] = {}
    for span_id in models:
        parent = parents[span_id]
        if parent is not None and parent.span_id in models:
            children.setdefault(parent.span_id, []).append(span_id)
    folded_into = {only[0]: outer for outer, only in children.items() if len(only) == 1}
    by_id = {_id(span): span for span in spans}
    members: dict[int, list[int]] = {}
    for span_id in sorted(folded_into, key=lambda span_id: _depth(span_id, folded_into)):
        members.setdefault(_root(span_id, folded_into), []).append(span_id)
    result: list[ReadableSpan] = []
    changed = bool(folded_into)
    for span in spans:
        span_id = _id(span)
        if span_id in folded_into:
            continue
        parent = parents[span_id]
        if parent is not None and parent.span_id in folded_into:
            parent = by_id[_root(parent.span_id, folded_into)].context
        attributes: Mapping[str, Any] = span.attributes or {}
        events, status = span.events, span.status
        for inner in (by_id[member] for member in members.get(span_id, ())):
            attributes = _filled(attributes, inner.attributes or {})
            events = (*events, *inner.events)
            if inner.status.status_code is StatusCode.ERROR and status.status_code is not StatusCode.ERROR:
                status = Status(StatusCode.ERROR, inner.status.description)
        if span_id in models:
            attributes = normalised(attributes) or attributes
        if parent is not span.parent or attributes is not span.attributes:
            changed = True
            result.append(with_attributes(span, attributes, events, status, parent))
        else:
            result.append(span)
    return result if changed else spans


def _id(span: ReadableSpan) -> int:
    return span.context.span_id if span.context is not None else 0


def _is_model(span: ReadableSpan) -> bool:
    attributes = span.attributes or {}
    declared = attributes.get(EVENT_TYPE_ATTRIBUTE)
    return declared == "model" if declared is not None else is_model_call(attributes)


def _root(span_id: int, folded_into: Mapping[int, int]) -> int:
    while span_id in folded_into:
        span_id = folded_into[span_id]
    return span_id


def _depth(span_id: int, folded_into: Mapping[int, int]) -> int:
    depth = 0
    while span_id in folded_into:
        span_id, depth = folded_into[span_id], depth + 1
    return depth


def _filled(outer: Mapping[str, Any], inner: Mapping[str, Any]) -> dict[str, Any]:
    """``outer``'s attributes, with ``inner``'s where ``outer`` has none, or an empty or zero value."""
    merged = dict(outer)
    for key, value in inner.items():
        if _empty(merged.get(key)):
            merged[key] = value
    return merged


def _empty(value: object) -> bool:
    return (
        value is None or value == "" or (isinstance(value, int | float) and not isinstance(value, bool) and value == 0)
    )
