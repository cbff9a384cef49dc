"""The timeout watchdog: one thread, woken only when an entry is due sooner than it sleeps for."""

from __future__ import annotations

import threading
import time

from honeyhive_serverless.faas.watchdog import Watchdog


def test_an_entry_due_sooner_than_the_thread_sleeps_for_wakes_it() -> None:
    dog = Watchdog()
    late, soon = threading.Event(), threading.Event()
    dog.arm(time.monotonic() + 60, late.set)  # the thread now sleeps for a minute
    armed = time.monotonic()
    dog.arm(armed + 0.05, soon.set)
    assert soon.wait(2)
    assert time.monotonic() - armed < 1.0
    assert not late.is_set()


def test_a_disarmed_entry_never_runs_and_the_next_one_still_does() -> None:
    """Disarming wakes no one: the thread finds the entry gone at its moment, then sleeps until the next."""
    dog = Watchdog()
    ran: list[str] = []
    done = threading.Event()
    now = time.monotonic()
    first = dog.arm(now + 0.05, lambda: ran.append("first"))
    dog.disarm(first)
    dog.arm(now + 0.1, lambda: ran.append("second"))  # later: the thread is not woken for it
    dog.arm(now + 0.15, done.set)  # entries run in order: once this one has, the others would have
    assert done.wait(2)
    assert ran == ["second"]
