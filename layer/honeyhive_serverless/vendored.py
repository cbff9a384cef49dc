"""The layer's third-party packages: importable, and never in place of the function's own.

Lambda extracts every layer of a function into one ``/opt``, a later layer's file replacing an earlier
one's, and puts ``/opt/python`` on ``sys.path`` after the function's own ``/var/task``. A layer shipping
OpenTelemetry or Powertools in ``/opt/python`` would therefore replace another layer's copy file by file
(the app's Powertools 3.4.1 silently became 3.37.0), or be half-shadowed by the function's own copy. So
the HoneyHive layer ships only this package in ``/opt/python``; each third-party distribution it needs
lives in a directory of its own under ``/opt/hh-serverless/`` (numbered: paths are stored in the zip
twice and in every ``.pyc``, and the layer has a size budget), which nothing puts on ``sys.path``.
``/opt/hh-serverless/distributions.json``, written by the layer builder, describes each: its directory,
version, import roots, and the versions it and this package require of the others.

The rule, applied once, when ``honeyhive_serverless`` is imported: a distribution that something already
on ``sys.path`` provides (the function's package, any layer's ``/opt/python``, the runtime's own
packages) is used from there, and the layer's copy stays out; the directories of the others are
appended to ``sys.path``, after everything. So no file of the function or of another layer is ever
replaced, exactly one copy of each distribution is importable, and it is the function's whenever the
function brings one. When that copy's version is outside what this package or a layer distribution in
use declares it needs, one warning line names the package, both versions, which one is used and what
asked for another. (A copy without ``.dist-info`` has no version to check, and is used without a word.)

Installed by pip rather than from the layer, the package has no ``hh-serverless`` beside its
``site-packages`` directory, and this does nothing.
Directories the function adds to ``sys.path`` after importing this package come after the layer's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: Beside the layer's ``python/`` (``/opt/hh-serverless``): its distributions, one numbered directory each.
VENDOR_DIR = "hh-serverless"
MANIFEST_NAME = "distributions.json"
#: The name ``distributions.json`` files this package's own requirements under.
PROJECT_NAME = "honeyhive-serverless"


# Plain classes: this module runs at every cold start from the layer, where a dataclass would import
# inspect (~8 ms) and the first NamedTuple costs some 3 ms.
class Shadowed:
    """A layer distribution that the function (or a layer, or the runtime) brings itself: theirs is used."""

    __slots__ = ("layer_version", "location", "name", "unmet", "version")

    def __init__(
        self,
        name: str,
        layer_version: str,
        version: str | None,
        location: str,
        unmet: tuple[tuple[str, str, str], ...] = (),
    ) -> None:
        self.name = name
        self.layer_version = layer_version
        #: The version of the copy in use; None when it has no ``.dist-info`` beside it.
        self.version = version
        #: The ``sys.path`` entry it is imported from.
        self.location = location
        #: ``(requirer, requirer's version, specifier)`` of each requirement its version is outside of.
        self.unmet = unmet

    def warning(self) -> str:
        """The one line that says so; for a copy whose version a requirement of the layer's does not admit."""
        asked = " and ".join(f"{requirer} {version} requires {spec}" for requirer, version, spec in self.unmet)
        return (
            f"honeyhive: the function's {self.name} {self.version} ({self.location}) is used, not the layer's "
            f"{self.layer_version}, though {asked}: what needs it may fail; bring a version they accept, or "
            "none and the layer's is used"
        )


class Resolution:
    """What :func:`activate` decided: the layer's directories appended, and the layer distributions the
    function brings itself (whose directories are not)."""

    __slots__ = ("appended", "shadowed")

    def __init__(self, appended: tuple[str, ...] = (), shadowed: tuple[Shadowed, ...] = ()) -> None:
        self.appended = appended
        self.shadowed = shadowed


#: The decision for this process; empty when the package is not running from the layer.
resolution = Resolution()


def activate(package_dir: str) -> Resolution:
    """Apply the rule for the layer that ``package_dir`` (this package's directory, ``/opt/python/
    honeyhive_serverless``) is in; called by the package's ``__init__``. Idempotent; never raises (a broken
    manifest changes nothing)."""
    global resolution  # noqa: PLW0603 - one decision per process, read by whoever asks
    vendor = os.path.join(os.path.dirname(os.path.dirname(package_dir)), VENDOR_DIR)
    try:
        with open(os.path.join(vendor, MANIFEST_NAME), "rb") as file:
            raw = file.read()
    except OSError:
        return resolution  # not running from the layer
    if resolution.appended or resolution.shadowed:
        return resolution
    try:
        import json

        manifest = json.loads(raw)
        resolution = resolve(manifest, vendor, [entry for entry in sys.path if not entry.startswith(vendor)])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        from ._log import logger

        logger.warning("honeyhive: the layer's %s is unreadable (%s): its packages are not used", MANIFEST_NAME, exc)
        return resolution
    sys.path.extend(entry for entry in resolution.appended if entry not in sys.path)
    warnings = [shadowed.warning() for shadowed in resolution.shadowed if shadowed.unmet]
    if warnings:
        from ._log import logger

        for line in warnings:
            logger.warning(line)
    return resolution


def resolve(manifest: Mapping[str, Any], vendor: str, entries: Sequence[str]) -> Resolution:
    """The rule, as a function of the manifest and the ``sys.path`` entries already there."""
    distributions: Mapping[str, Mapping[str, Any]] = manifest["distributions"]
    # The standard library's directories hold no distribution, and are the largest to list (~0.2 ms).
    stdlib = os.path.dirname(getattr(os, "__file__", "") or "") or None
    skipped = {stdlib, os.path.join(stdlib, "lib-dynload")} if stdlib else set()
    listings = [(entry, names) for entry in entries if entry not in skipped and (names := _listing(entry)) is not None]
    found: dict[str, tuple[str, str | None]] = {}
    for name, description in distributions.items():
        for entry, names in listings:
            if any(_has_root(entry, names, root) for root in description["roots"]):
                found[name] = (os.path.abspath(entry or "."), _dist_info_version(names, name))
                break
    used = [name for name in distributions if name not in found]
    shadowed = []
    for name, (location, version) in found.items():
        layer_version = distributions[name]["version"]
        unmet = () if version is None else unmet_requirements(manifest, used, name, version)
        shadowed.append(Shadowed(name, layer_version, version, location, unmet))
    # In the order the builder numbered them: what every cold start imports first (vendoring.dependency_order).
    directories = sorted((int(distributions[name]["dir"]), distributions[name]["dir"]) for name in used)
    appended = tuple(os.path.join(vendor, directory) for _, directory in directories)
    return Resolution(appended, tuple(shadowed))


def unmet_requirements(
    manifest: Mapping[str, Any], used: Iterable[str], name: str, version: str
) -> tuple[tuple[str, str, str], ...]:
    """``(requirer, its version, specifier)`` of each requirement on ``name`` that ``version`` is outside:
    this package's own and those of the layer distributions ``used``. Also what ``hh-serverless
    instrument`` checks another layer's versions by."""
    distributions: Mapping[str, Mapping[str, Any]] = manifest["distributions"]
    if version == distributions.get(name, {}).get("version"):
        return ()  # the layer's own version: what the layer was built with
    requirers = [(PROJECT_NAME, str(manifest.get("version", "")), manifest.get("requires", {}))]
    requirers += [
        (used_name, distributions[used_name]["version"], distributions[used_name].get("requires", {}))
        for used_name in used
    ]
    from .version_ranges import satisfies

    unmet = []
    for requirer, requirer_version, requires in requirers:
        specifier = requires.get(name)
        # Unknown (a form only packaging reads, and none importable) is not reported as a conflict.
        if specifier is not None and satisfies(version, specifier) is False:
            unmet.append((requirer, requirer_version, specifier))
    return tuple(unmet)


def _listing(entry: str) -> frozenset[str] | None:
    """The names in a ``sys.path`` directory; None for a zip or a directory that is not there."""
    try:
        return frozenset(os.listdir(entry or "."))
    except OSError:
        return None


def _has_root(entry: str, names: frozenset[str], root: str) -> bool:
    """Whether ``entry`` holds ``root`` (``opentelemetry/sdk``, ``typing_extensions.py``): one lookup in
    the listing for a top-level root, a stat only below a top-level directory that is there."""
    top, _, rest = root.partition("/")
    if top not in names:
        return False
    return not rest or os.path.exists(os.path.join(entry or ".", root))


def _dist_info_version(names: frozenset[str], name: str) -> str | None:
    """The version in the ``<name>-<version>.dist-info`` directory of the normalised ``name``, if any."""
    for entry in names:
        if entry.endswith(".dist-info"):
            project, _, version = entry[: -len(".dist-info")].partition("-")
            if normalize(project) == name:
                return version
    return None


def normalize(name: str) -> str:
    """PEP 503's normal form (``aws_lambda_powertools`` -> ``aws-lambda-powertools``)."""
    text = name.lower()
    for separator in ("_", "."):
        text = text.replace(separator, "-")
    while "--" in text:
        text = text.replace("--", "-")
    return text
