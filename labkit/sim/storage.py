"""Simulated durable storage: an append-only record log with fsync.

``append(record, sync=False)`` puts a record in the page cache; ``sync()`` makes every
record so far durable. A crash drops the records written after the last sync; with
the configured probability the first of them leaves a torn record at the tail (part
of its bytes reached the disk). ``recover()`` reads the log back as a checksummed WAL
reader would: it stops at a torn tail.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from labkit.core import TornRecord

__all__ = ["Storage", "StorageStats"]


class StorageStats:
    """Counts over the life of one node's storage."""

    __slots__ = ("appended", "crashes", "dropped", "syncs", "torn")

    def __init__(self) -> None:
        self.appended = 0
        self.syncs = 0
        self.crashes = 0
        self.dropped = 0
        self.torn = 0


class Storage:
    """One node's log. It outlives the node's crashes; its unsynced tail does not."""

    def __init__(self, tear_probability: float = 0.0) -> None:
        self._records: list[object] = []
        self._synced = 0
        self.tear_probability = tear_probability
        self.stats = StorageStats()

    @property
    def records(self) -> tuple[object, ...]:
        """Every record on disk or in the page cache, torn tail included."""
        return tuple(self._records)

    @property
    def synced_count(self) -> int:
        """How many leading records are durable."""
        return self._synced

    @property
    def unsynced_count(self) -> int:
        """How many trailing records a crash would drop."""
        return len(self._records) - self._synced

    def append(self, record: object, *, sync: bool) -> None:
        """Write ``record``; with ``sync`` it and everything before it become durable."""
        self._records.append(record)
        self.stats.appended += 1
        if sync:
            self.sync()

    def sync(self) -> None:
        """fsync: make every record written so far durable."""
        self._synced = len(self._records)
        self.stats.syncs += 1

    def crash(self, rng: random.Random) -> None:
        """Lose the unsynced tail; maybe leave the first lost record torn."""
        self.stats.crashes += 1
        lost = self._records[self._synced :]
        del self._records[self._synced :]
        self.stats.dropped += len(lost)
        if lost and self.tear_probability and rng.random() < self.tear_probability:
            self._records.append(TornRecord(lost[0]))
            self.stats.torn += 1
        # Whatever is on disk after recovery counts as durable from now on.
        self._synced = len(self._records)

    def recover(self, *, keep_torn: bool = False) -> tuple[object, ...]:
        """The records a restarted node reads, torn tail truncated unless ``keep_torn``."""
        if not keep_torn and self._records and isinstance(self._records[-1], TornRecord):
            self._records.pop()
            self._synced = len(self._records)
        return tuple(self._records)

    def replace(self, records: Sequence[object]) -> None:
        """Compact: swap the whole log for ``records``, durably (an atomic rename)."""
        self._records = list(records)
        self._synced = len(self._records)
