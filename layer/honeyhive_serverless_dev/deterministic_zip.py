"""Write a directory as a zip whose bytes depend only on the files' names and contents.

Sorted entries, one fixed date, fixed Unix modes and one compression level: building the same layer
twice gives the same zip, so a CDK asset hash (or a published layer's sha256) changes only when the
content does.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

# The earliest date a zip can hold; every entry gets it so the bytes do not depend on when they were built.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
ZIP_UNIX = 3  # create_system: the modes in external_attr are Unix modes, whichever machine builds
ZIP_DOS_DIRECTORY = 0x10
COMPRESS_LEVEL = 9


def write_zip(stage: Path, zip_path: Path, *, executables: frozenset[str] = frozenset()) -> None:
    """Zip ``stage`` deterministically; the entries named in ``executables`` get mode 0755, other files 0644.

    Written next to the target and renamed, so an interrupted build never leaves a truncated zip.
    """
    tmp_path = zip_path.with_name(zip_path.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp_path, "w") as archive:
            for arcname, path in sorted(_entries(stage)):
                entry = zipfile.ZipInfo(arcname, date_time=ZIP_EPOCH)
                entry.create_system = ZIP_UNIX
                if path.is_dir():
                    entry.external_attr = ((stat.S_IFDIR | 0o755) << 16) | ZIP_DOS_DIRECTORY
                    archive.writestr(entry, b"")
                else:
                    mode = 0o755 if arcname in executables else 0o644
                    entry.external_attr = (stat.S_IFREG | mode) << 16
                    entry.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(entry, path.read_bytes(), compresslevel=COMPRESS_LEVEL)
        tmp_path.replace(zip_path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _entries(stage: Path) -> Iterator[tuple[str, Path]]:
    """``(arcname, path)`` of everything under ``stage``; directories' names end in ``/``, as zip wants."""
    for path in stage.rglob("*"):
        arcname = path.relative_to(stage).as_posix()
        yield (arcname + "/" if path.is_dir() else arcname), path
