"""A handler module whose import outlasts the emulator's init timeout in the test."""

import time

time.sleep(30)


def handler(event: object, context: object) -> None:
    """Never reached."""
