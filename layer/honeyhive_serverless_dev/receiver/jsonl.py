"""The receiver's record as JSON lines: one object per request, session start, event update, span or
contract finding, with credentials redacted."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from .contract import Finding
from .otlp import ReceivedSpan
from .render import json_default
from .server import ReceivedRequest


def redact_headers(headers: Mapping[str, str], api_keys: set[str] | None) -> dict[str, str]:
    """Headers fit for printing: the Authorization credential (and any of ``api_keys``) become ``***``."""
    redacted: dict[str, str] = {}
    for name, value in headers.items():
        shown = value
        if name.lower() == "authorization":
            scheme, sep, _ = value.strip().partition(" ")
            shown = f"{scheme} ***" if sep else "***"
        elif api_keys and any(key and key in value for key in api_keys):
            shown = "***"
        redacted[name] = shown
    return redacted


def jsonl_line(kind: str, item: Any, api_keys: set[str] | None) -> str:
    """One recorded item as a JSON line whose ``kind`` says what it is; bytes become hex."""
    record: dict[str, Any] = {"kind": kind}
    if isinstance(item, ReceivedRequest):
        record.update(
            method=item.method,
            path=item.path,
            headers=redact_headers(item.headers, api_keys),
            status=item.status,
            received_at=item.received_at,
            connection_id=item.connection_id,
            new_connection=item.new_connection,
            tls_resumed=item.tls_resumed,
            body_bytes=len(item.body),
        )
    elif isinstance(item, ReceivedSpan):
        record.update(dataclasses.asdict(item))
        record["session_id"] = item.session_id
    elif isinstance(item, Finding):
        record.update(
            finding=item.kind,
            where=item.where,
            message=item.message,
            request=str(item.request),
            session_id=item.session_id,
            span_id=item.span_id,
        )
    else:
        record.update({key: value for key, value in item.items() if key != "kind"})
    return json.dumps(record, default=json_default) + "\n"
