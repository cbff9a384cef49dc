"""The package's logger. Messages never carry an API key: nothing here formats one."""

from __future__ import annotations

import logging

logger = logging.getLogger("honeyhive_serverless")


def enable_debug_logging() -> None:
    """``verbose`` / ``HH_VERBOSE``: the package's debug lines, shown. A handler is added only when no
    logger up the chain has one (on Lambda the runtime's handler on the root logger prints them, and a
    second handler would print each line twice)."""
    logger.setLevel(logging.DEBUG)
    if not logger.hasHandlers():
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)


def quote_prefix(value: object, limit: int = 24) -> str:
    """A short, printable, single-line prefix of ``value`` for warnings about bad input."""
    text = value if isinstance(value, str) else type(value).__name__
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
    return repr(cleaned + ("..." if len(text) > limit else ""))


def warn_bad_value(variable: str, value: str, expected: str, instead: str, *, secret: bool = False) -> None:
    """The one rule for a bad environment value: one warning line naming the variable, its value (a
    ``secret`` one only by its length), what was expected and what happens instead; the function runs.

    The line reads ``honeyhive: <VARIABLE>=<value> is not <expected>; <instead>``.
    """
    shown = f"[redacted, {len(value)} characters]" if secret else quote_prefix(value, 40)
    logger.warning("honeyhive: %s=%s is not %s; %s", variable, shown, expected, instead)


def using_default(default: object) -> str:
    """What a bad value's warning says happens instead when the default applies."""
    return f"using the default ({default}) instead"
