"""User-facing errors.

A :class:`HeadstartError` is a mistake in the user's input or environment, not a bug. The CLI
prints its message as one line and exits with code 1; tracebacks are kept for real bugs (set
``HEADSTART_DEBUG=1`` to see one anyway).
"""

from __future__ import annotations


class HeadstartError(Exception):
    """Bad input or environment: say what was expected, what was found, and the fix."""


class DataError(HeadstartError):
    """A data file cannot be read as asked (missing, malformed, wrong columns, bad labels)."""


class ModelError(HeadstartError):
    """A source model or run folder cannot be loaded."""


class ConfigError(HeadstartError):
    """An option or configuration value is invalid."""
