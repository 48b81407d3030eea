"""The one error root of sentinel_lab's core, and its typed subclasses."""

from __future__ import annotations

from sentinel_lab.errors import SentinelLabError

__all__ = [
    "HelloFormatError",
    "InfoFormatError",
    "InvalidCoreConfigError",
    "SentinelCoreError",
]


class SentinelCoreError(SentinelLabError):
    """Root of every error the Sentinel core raises (under the package's root)."""


class InvalidCoreConfigError(SentinelCoreError, ValueError):
    """A configuration value the core cannot run with."""


class HelloFormatError(SentinelCoreError, ValueError):
    """A hello message that is not the 8 comma-separated fields Redis sends."""


class InfoFormatError(SentinelCoreError, ValueError):
    """An INFO reply that is not text."""
