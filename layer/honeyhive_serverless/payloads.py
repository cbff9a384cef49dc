"""Reading payloads inside events, bounded: JSON text, base64 text and the SNS envelope SQS delivers.

Shared by the session lookup (``triggers``) and the context lookup (``carriers``). Each refuses input
larger than :data:`MAX_BODY_SCAN`: a body that large would cost more to parse than it could give.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

#: A body larger than this is not parsed for a session id or a trace context.
MAX_BODY_SCAN = 256 * 1024


def parse_json_object(text: str | None) -> object:
    """The JSON document ``text`` holds when it is an object of at most :data:`MAX_BODY_SCAN`, else None."""
    if not text or len(text) > MAX_BODY_SCAN or text.lstrip()[:1] != "{":
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def b64decode_text(text: str) -> str | None:
    """UTF-8 text from base64, or None when it is not that (or too large)."""
    if len(text) > MAX_BODY_SCAN * 4 // 3 + 4:
        return None
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def sns_envelope(document: object) -> Mapping[str, Any] | None:
    """``document`` when it is an SNS notification (as an SQS body holds it without raw delivery)."""
    if isinstance(document, Mapping) and document.get("Type") == "Notification" and "Message" in document:
        return document
    return None
