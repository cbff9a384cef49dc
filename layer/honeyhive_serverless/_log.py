"""The package's logger. Messages never carry an API key: nothing here formats one."""

from __future__ import annotations

import logging

logger = logging.getLogger("honeyhive_serverless")


def quote_prefix(value: object, limit: int = 24) -> str:
    """A short, printable, single-line prefix of ``value`` for warnings about bad input."""
    text = value if isinstance(value, str) else type(value).__name__
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
    return repr(cleaned + ("..." if len(text) > limit else ""))
