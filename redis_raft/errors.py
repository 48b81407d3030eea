"""Errors of redis_raft; all descend from :class:`RaftError`."""

from __future__ import annotations

from labkit.errors import LabError

__all__ = [
    "ClusterMismatchError",
    "CorruptLogError",
    "RaftConfigError",
    "RaftError",
    "RaftUsageError",
    "StorageError",
]


class RaftError(LabError):
    """Root of every error redis_raft raises on purpose."""


class RaftConfigError(RaftError):
    """A bad setting (timings, write guard); the message names it."""


class RaftUsageError(RaftError):
    """A driver called the core wrongly (an ``Applied`` out of order, a snapshot past the apply point)."""


class StorageError(RaftError):
    """The write-ahead log cannot be opened, read or written."""


class ClusterMismatchError(StorageError):
    """The data folder belongs to another cluster or another node."""


class CorruptLogError(StorageError):
    """A record before the tail of the log is damaged; recovery refuses to guess."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(f"{path}: corrupt record at byte offset {offset}: {reason}")
