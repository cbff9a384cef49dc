"""The package version, sent in the ``hh-client-version`` header."""

__version__ = "0.1.0"
