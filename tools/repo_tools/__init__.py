"""This repository's own tools: ``make demo``, ``make bench`` and ``make bench-import``.

They read ``handlers/``, ``bench/`` and ``dist/`` from the checkout, so they are not part of the
distribution (``tools/`` is not a package root of the wheel); they build on the installed packages.
"""
