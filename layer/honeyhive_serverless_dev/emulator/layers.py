"""A function's layers laid out as one ``/opt``, as Lambda extracts them: in order, a later layer's file wins.

A layer is a directory laid out like ``/opt`` (``python/...``) or a zip file. A single directory is
used as it is; several layers, or a zip, are merged into a temporary directory, directories as
symlinks (fast, and tracebacks still point at the sources), zips extracted.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

OPT = "/opt/"


def lay_out(layers: Sequence[Path], tempdirs: list[Path]) -> Path | None:
    """The layers as one /opt, None without layers. A temporary directory made for it is added to
    ``tempdirs`` before anything is merged into it, so the caller removes it even when a layer fails."""
    if not layers:
        return None
    if len(layers) == 1 and layers[0].is_dir():
        return layers[0].resolve()
    opt = Path(tempfile.mkdtemp(prefix="hh-lambda-opt-"))
    tempdirs.append(opt)
    for layer in layers:
        if layer.is_dir():
            _link_tree(layer.resolve(), opt)
        elif zipfile.is_zipfile(layer):
            _extract_zip(layer, opt)
        else:
            raise ValueError(f"layer {layer} is neither a directory nor a zip file")
    return opt


def in_layers(path: str, opt: Path | None) -> str:
    """``path`` (an exec wrapper, say) as it is here: a path under ``/opt/`` in the merged layers when
    it is there, otherwise as given."""
    if path.startswith(OPT) and opt is not None:
        local = opt / path.removeprefix(OPT)
        if local.exists():
            return str(local)
    return path


def is_external_extension(opt: Path | None, name: str) -> bool:
    """Whether the extension ``name`` is external: a file in the layers' ``extensions/`` directory."""
    return opt is not None and (opt / "extensions" / name).is_file()


def _replace(path: Path) -> None:
    """Clear ``path`` for a later layer's file (Lambda extracts layers in order, later ones win)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _link_tree(source: Path, opt: Path) -> None:
    """Merge a layer directory into ``opt`` as symlinks (fast, and tracebacks still point at the source)."""
    for root, dirs, files in os.walk(source):
        here = Path(root)
        target_dir = opt / here.relative_to(source)
        if target_dir.is_symlink():
            # An earlier layer's file or linked directory: never write through it into that layer.
            target_dir.unlink()
        target_dir.mkdir(exist_ok=True)
        # os.walk lists symlinked directories among dirs without entering them: link them like files.
        for name in [*files, *(name for name in dirs if (here / name).is_symlink())]:
            link = target_dir / name
            _replace(link)
            link.symlink_to(here / name)


def _extract_zip(archive_path: Path, opt: Path) -> None:
    """Extract a layer zip into ``opt``, keeping the Unix permission bits (exec wrappers need +x)."""
    root = opt.resolve()
    with zipfile.ZipFile(archive_path) as archive:
        for info in archive.infolist():
            target = Path(os.path.normpath(root / info.filename))
            if root not in target.parents:
                raise ValueError(f"{archive_path}: {info.filename!r} would land outside the layer")
            if info.is_dir():
                if target.is_symlink():
                    target.unlink()
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _replace(target)
            with archive.open(info) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                target.chmod(mode)
