"""``hh-serverless dev-server`` in a process of its own, as a user runs it, its output read line by line.

>>> with DevServerProcess("--strict") as server:   # doctest: +SKIP
...     first = server.line()                        # "HoneyHive dev receiver on http://127.0.0.1:PORT"
...     server.until("published contract")
"""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from types import TracebackType


class DevServerProcess:
    """The dev server on an ephemeral port; stopped, its streams closed, when the ``with`` block ends."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "honeyhive_serverless_dev.cli", "dev-server", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))

    def line(self, timeout: float = 10) -> str:
        """The next line it printed (``queue.Empty`` if none comes in ``timeout`` seconds)."""
        return self._lines.get(timeout=timeout)

    def until(self, pattern: str, timeout: float = 10) -> list[str]:
        """The lines it prints from now up to the first that ``pattern`` matches (searched), that one last."""
        seen = [self.line(timeout)]
        while not re.search(pattern, seen[-1]):
            seen.append(self.line(timeout))
        return seen

    def terminate(self, timeout: float) -> int:
        """Ask it to stop (SIGTERM) and wait for it; its exit code."""
        self.process.terminate()
        return self.process.wait(timeout=timeout)

    def __enter__(self) -> DevServerProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.process.kill()
        self._reader.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
