"""The root of every error sentinel_lab raises on purpose."""

from __future__ import annotations

from labkit.errors import LabError

__all__ = ["SentinelLabError"]


class SentinelLabError(LabError):
    """Something about sentinel_lab the user can act on (a bad config file, for example)."""
