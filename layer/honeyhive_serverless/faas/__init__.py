"""The platforms a wrapped handler runs on: what an invocation is, how it started, and what the
platform needs around it (response shaping, SnapStart restore, the timeout watchdog)."""
