"""Where the dev tools keep what they make for reuse (built layers, sandbox interpreters): one rule."""

from __future__ import annotations

import os
from pathlib import Path

from honeyhive_serverless.vendored import PROJECT_NAME


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/honeyhive-serverless``, else ``~/.cache/honeyhive-serverless``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / PROJECT_NAME
