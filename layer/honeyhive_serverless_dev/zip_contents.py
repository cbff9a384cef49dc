"""What Python distributions a layer zip holds, read where Lambda keeps it (``GetLayerVersion``'s
``Content.Location``, a presigned HTTPS URL) without downloading it whole.

A zip's directory is at its end: one ranged GET of the last 64 KiB usually holds it all, and the names
of a layer's ``.dist-info`` directories give its distributions and versions. A member (the HoneyHive
layer's ``distributions.json``) costs one more. A server that ignores ``Range`` answers with the whole
file, which works the same, only slower.
"""

from __future__ import annotations

import io
import re
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from honeyhive_serverless.vendored import normalize

#: The end of a zip holds its end-of-directory record (with up to 64 KiB of comment): read first.
TAIL_BYTES = 65_536 + 22
TIMEOUT_S = 30.0
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class _RangedFile(io.RawIOBase):
    """A read-only, seekable file over HTTP ranged GETs, the tail fetched once up front."""

    def __init__(self, url: str, timeout: float) -> None:
        self._url, self._timeout, self._position = url, timeout, 0
        start, data, self._size = self._get(f"bytes=-{TAIL_BYTES}")
        self._cached_from, self._cached = start, data

    def _get(self, byte_range: str) -> tuple[int, bytes, int]:
        """(offset of the bytes answered, the bytes, the file's size)."""
        request = urllib.request.Request(self._url, headers={"Range": byte_range})  # noqa: S310 - https only
        with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
            data: bytes = response.read()
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range") or "")
        if response.status == 206 and match is not None:
            return int(match.group(1)), data, int(match.group(3))
        return 0, data, len(data)  # the whole file

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        end = min(self._position + len(buffer), self._size)
        if end <= self._position:
            return 0
        offset = self._position - self._cached_from
        if offset < 0 or end > self._cached_from + len(self._cached):
            self._cached_from, self._cached, _ = self._get(f"bytes={self._position}-{end - 1}")
            offset = self._position - self._cached_from
        chunk = self._cached[offset : offset + end - self._position]
        buffer[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)


@contextmanager
def remote_zip(url: str, *, timeout: float = TIMEOUT_S) -> Iterator[zipfile.ZipFile]:
    """The zip at ``url`` (HTTP or HTTPS), read by ranges. OSError (``urllib``'s errors among them) or
    ``zipfile.BadZipFile`` when it cannot be read."""
    if not url.startswith(("https://", "http://")):
        raise OSError(f"not an HTTP(S) location: {url[:40]!r}")
    with zipfile.ZipFile(io.BufferedReader(_RangedFile(url, timeout), buffer_size=TAIL_BYTES)) as archive:
        yield archive


def layer_distributions(names: Iterable[str], python: str) -> dict[str, str]:
    """The distributions in a layer's entries ``names`` where Lambda's ``sys.path`` finds them (``python/``
    and ``python/lib/python3.X/site-packages/``): normalised name -> version, from their dist-info."""
    pattern = re.compile(rf"python/(?:lib/python{re.escape(python)}/site-packages/)?([^/]+)-([^/-]+)\.dist-info/")
    found = {}
    for name in names:
        match = pattern.match(name)
        if match is not None:
            found[normalize(match.group(1))] = match.group(2)
    return found
