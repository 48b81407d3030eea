"""The root of every error the lab raises on purpose.

The CLI turns a :class:`LabError` into a one-line message and exit status 1 (2 for bad
usage), never a traceback.
"""

from __future__ import annotations

__all__ = ["LabError", "UsageError"]


class LabError(Exception):
    """Something the user can act on: a missing binary, a topology that did not converge."""


class UsageError(LabError):
    """A bad command-line value; the message names it."""
