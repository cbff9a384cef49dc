"""Rendering: the received sessions as text trees of their spans, for a terminal.

A session's line carries its start (name, project, source) and its enrichment; beneath it, its spans
nest by parent, earliest first, each with its type, duration, status and key attributes (what
``enrich_span`` set first: metadata, metrics, feedback, user properties, config; then inputs and outputs). Given the
receiver's contract report, it also shows what HoneyHive would make of them: a session that HoneyHive
never created (its spans ORPHANED), one a span auto-created, and each finding (``!``) under the session
or span it concerns; findings about nothing shown come last.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from honeyhive_serverless.attributes import NAMESPACES
from honeyhive_serverless.wire import AUTO_CREATE_KEY

from .contract import AUTO_CREATED, ORPHANED_SPAN, SPAN_ATTRIBUTE, SPAN_WITHOUT_SESSION, ContractReport, Finding
from .otlp import ReceivedSpan

# Width of one attribute value.
VALUE_WIDTH = 60
# How many key attributes a span line shows before "+N more".
MAX_SPAN_ATTRIBUTES = 10
MAX_ENRICHMENT_ITEMS = 6
# A span's attributes by namespace, in the order its line shows them: what enrich_span set (short, and
# the user's own), then the captured inputs and outputs.
_SPAN_NAMESPACES = tuple(
    f"{NAMESPACES[name]}."
    for name in ("metadata", "metrics", "feedback", "user_properties", "config", "inputs", "outputs")
)


def json_default(value: Any) -> Any:
    """What ``json.dumps`` writes for a value JSON has no type for: bytes as hex, sets sorted."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def _short(value: Any, width: int = VALUE_WIDTH) -> str:
    """One-line text for a value, at most ``width`` characters."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, bytes):
        text = value.hex()
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        text = json.dumps(value, default=json_default, ensure_ascii=False)
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 3] + "..."


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        out: list[tuple[str, Any]] = []
        for key, item in value.items():
            out.extend(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return [(prefix, value)]


def _deep_merge(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        current = into.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            _deep_merge(current, value)
        else:
            into[key] = dict(value) if isinstance(value, dict) else value


def _key_attributes(attributes: Mapping[str, Any]) -> list[str]:
    keys = [key for key in ("faas.coldstart", "honeyhive_error") if key in attributes]
    for prefix in _SPAN_NAMESPACES:
        keys.extend(sorted(key for key in attributes if key.startswith(prefix)))
    return keys


def milliseconds(duration_ms: float) -> str:
    """A duration for a reader: ``12.3 ms``, two decimals below 10 ms (in-process tool spans are often well
    under a millisecond)."""
    return f"{duration_ms:.2f} ms" if duration_ms < 10 else f"{duration_ms:.1f} ms"


#: Findings shown on their span's line (an orphan's tag) or beneath it, rather than under the session.
_SPAN_KINDS = frozenset({ORPHANED_SPAN, SPAN_ATTRIBUTE, SPAN_WITHOUT_SESSION})


class _Notes:
    """A contract report, arranged for the tree: by span, by session, and the rest."""

    def __init__(self, report: ContractReport | None) -> None:
        self.report = report
        self.orphaned: set[str | None] = set()
        self.by_span: dict[str | None, list[Finding]] = {}
        self.by_session: dict[str | None, list[Finding]] = {}
        for finding in report.findings if report is not None else ():
            if finding.kind == ORPHANED_SPAN:
                self.orphaned.add(finding.span_id)
            elif finding.kind in _SPAN_KINDS:
                self.by_span.setdefault(finding.span_id, []).append(finding)
            else:
                self.by_session.setdefault(finding.session_id, []).append(finding)

    def origin(self, session_id: str) -> str:
        """What HoneyHive made of the session, for its header ("" when it was started)."""
        if self.report is None:
            return ""
        origin = self.report.sessions.get(session_id)
        if origin is None:
            return f"ORPHANED: no such session (never started, and no span asked {AUTO_CREATE_KEY})"
        return "(auto-created by its spans)" if origin == AUTO_CREATED else ""

    def outside(self, shown: set[str]) -> list[Finding]:
        """The session-level findings about no session in ``shown``."""
        return [f for sid, found in self.by_session.items() if sid not in shown for f in found]


def _finding_line(finding: Finding, depth: int) -> str:
    return f"{'  ' * depth}! {finding.kind}: {finding.message} ({finding.request})"


def _span_line(span: ReceivedSpan, depth: int) -> str:
    event_type = span.attributes.get("honeyhive_event_type", "span")
    parts = [f"{'  ' * depth}{_short(event_type, 20)} {_short(span.name)}  {milliseconds(span.duration_ms)}"]
    if span.status_code == "ERROR":
        parts.append(f"ERROR: {_short(span.status_message)}" if span.status_message else "ERROR")
    keys = _key_attributes(span.attributes)
    shown = [f"{key}={_short(span.attributes[key])}" for key in keys[:MAX_SPAN_ATTRIBUTES]]
    if len(keys) > MAX_SPAN_ATTRIBUTES:
        shown.append(f"+{len(keys) - MAX_SPAN_ATTRIBUTES} more")
    if shown:
        parts.append(" ".join(shown))
    return "  ".join(parts)


def _span_tree(spans: list[ReceivedSpan], depth: int, notes: _Notes) -> list[str]:
    def order(span: ReceivedSpan) -> tuple[int, str]:
        return (span.start_ns, span.span_id)

    known = {span.span_id for span in spans}
    children: dict[str | None, list[ReceivedSpan]] = {}
    for span in spans:
        # A parent that was not exported here (e.g. the platform's own span) makes this a root.
        parent = span.parent_span_id if span.parent_span_id in known else None
        children.setdefault(parent, []).append(span)
    for siblings in children.values():
        siblings.sort(key=order)

    lines: list[str] = []
    printed: set[int] = set()

    def walk(span: ReceivedSpan, level: int) -> None:
        if id(span) in printed:  # duplicate span ids or parent cycles must not loop forever
            return
        printed.add(id(span))
        line = _span_line(span, level)
        lines.append(f"{line}  ORPHANED" if span.span_id in notes.orphaned else line)
        lines.extend(_finding_line(finding, level + 1) for finding in notes.by_span.get(span.span_id, []))
        for child in children.get(span.span_id, []):
            walk(child, level + 1)

    for root in children.get(None, []):
        walk(root, depth)
    # Spans caught in a parent cycle have no root; show them rather than lose them.
    for span in sorted(spans, key=order):
        walk(span, depth)
    return lines


def _first_attribute(spans: Iterable[ReceivedSpan], key: str) -> Any:
    for span in spans:
        if key in span.attributes:
            return span.attributes[key]
    return None


def _session_header(
    session_id: str,
    start: Mapping[str, Any] | None,
    enrichment: Mapping[str, Any] | None,
    spans: list[ReceivedSpan],
    origin: str,
) -> str:
    start = start or {}
    name = start.get("session_name") or _first_attribute(spans, "honeyhive.session_name")
    project = start.get("project") or _first_attribute(spans, "honeyhive.project")
    source = start.get("source") or _first_attribute(spans, "honeyhive.source")
    parts = [
        f"session {session_id}",
        f"name={_short(name) if name is not None else '-'}",
        f"project={_short(project) if project is not None else '-'}",
        f"source={_short(source) if source is not None else '-'}",
        f"spans={len(spans)}",
    ]
    errors = sum(1 for span in spans if span.status_code == "ERROR")
    if errors:
        parts.append(f"errors={errors}")
    if origin:
        parts.append(origin)
    elif not start:
        parts.append("(no session start seen)")
    if enrichment:
        flat = _flatten(enrichment)
        # The session's duration, in ms as HoneyHive takes it, comes as the float the runtime measured.
        shown = [
            f"{key}={milliseconds(value) if key == 'duration' and isinstance(value, int | float) else _short(value)}"
            for key, value in flat[:MAX_ENRICHMENT_ITEMS]
        ]
        if len(flat) > MAX_ENRICHMENT_ITEMS:
            shown.append(f"+{len(flat) - MAX_ENRICHMENT_ITEMS} more")
        parts.append("enriched: " + " ".join(shown))
    return "  ".join(parts)


def render(
    spans: list[ReceivedSpan],
    starts: list[dict[str, Any]],
    updates: list[dict[str, Any]],
    seen_ns: Mapping[str, int],
    wanted: set[str] | None,
    *,
    include_unsessioned: bool,
    report: ContractReport | None = None,
) -> str:
    """Every session among ``spans`` and ``starts`` (only those in ``wanted``, when it is not None), first
    seen first (``seen_ns``: when each session start arrived), then the spans without a session id when
    ``include_unsessioned``. ``updates`` are the event updates that enrich the sessions. ``report``: the
    contract's findings to show, those about no session shown coming last when ``wanted`` is None."""
    notes = _Notes(report)
    by_session: dict[str, list[ReceivedSpan]] = {}
    unsessioned: list[ReceivedSpan] = []
    for span in spans:
        session_id = span.session_id
        if session_id is None:
            unsessioned.append(span)
        else:
            by_session.setdefault(session_id, []).append(span)
    start_by_id: dict[str, dict[str, Any]] = {}
    for start in starts:
        start_by_id.setdefault(str(start["session_id"]), start)
    enrichment: dict[str, dict[str, Any]] = {}
    for update in updates:
        merged = enrichment.setdefault(str(update["event_id"]), {})
        _deep_merge(merged, {key: value for key, value in update.items() if key != "event_id"})

    session_ids = set(by_session) | set(start_by_id)
    if wanted is not None:
        session_ids &= wanted

    def order(session_id: str) -> tuple[int, str]:
        times = [span.start_ns for span in by_session.get(session_id, [])]
        if session_id in seen_ns:
            times.append(seen_ns[session_id])
        return (min(times) if times else 0, session_id)

    blocks: list[str] = []
    for session_id in sorted(session_ids, key=order):
        session_spans = by_session.get(session_id, [])
        header = _session_header(
            session_id, start_by_id.get(session_id), enrichment.get(session_id), session_spans, notes.origin(session_id)
        )
        lines = [header]
        lines.extend(_finding_line(finding, 1) for finding in notes.by_session.get(session_id, []))
        lines.extend(_span_tree(session_spans, 1, notes))
        blocks.append("\n".join(lines))
    if include_unsessioned and unsessioned:
        lines = [f"spans without a session id  spans={len(unsessioned)}"]
        lines.extend(_span_tree(unsessioned, 1, notes))
        blocks.append("\n".join(lines))
    outside = notes.outside(session_ids) if wanted is None else []
    if outside:
        lines = [f"contract findings outside the sessions above  findings={len(outside)}"]
        lines.extend(_finding_line(finding, 1) for finding in outside)
        blocks.append("\n".join(lines))
    return "".join(block + "\n" for block in blocks)
