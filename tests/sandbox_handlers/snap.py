"""SnapStart hooks: awslambdaric runs them around restore/next when the init type is snap-start."""

from __future__ import annotations

from typing import Any

from snapshot_restore_py import register_after_restore, register_before_snapshot

HOOKS: list[str] = []
register_before_snapshot(lambda: HOOKS.append("before snapshot"))
register_after_restore(lambda: HOOKS.append("after restore"))


def handler(event: Any, context: Any) -> list[str]:
    """Which hooks ran during init."""
    return HOOKS
