"""Errors of commit_lab; all descend from :class:`CommitLabError`."""

from __future__ import annotations

from labkit.errors import LabError

__all__ = [
    "BadTransactionError",
    "CommitLabError",
    "LogCorruptError",
    "ShardError",
    "UnknownAccountError",
]


class CommitLabError(LabError):
    """Root of every error commit_lab raises on purpose."""


class BadTransactionError(CommitLabError):
    """A transaction is malformed: no legs, a repeated account, legs that do not sum to 0."""


class UnknownAccountError(BadTransactionError):
    """A transaction names an account that no shard holds."""


class LogCorruptError(CommitLabError):
    """A coordinator log or a shard's intent records are inconsistent; names file and line."""


class ShardError(CommitLabError):
    """A shard refused or failed an operation the agent needed (the agent then restarts)."""
