"""The in-memory Raft log: a snapshot point followed by entries.

``entries[k]`` has index ``snap_index + 1 + k``. Index 0 with term 0 is the empty
log's sentinel. Configurations take effect when appended (single-server changes), so
the log keeps the indexes of its config entries to answer "the config at index i".
"""

from __future__ import annotations

import bisect

from redis_raft.core.records import Config, Entry, SnapshotMeta, SnapshotRecord

__all__ = ["RaftLog"]


class RaftLog:
    """Entries after a snapshot, with the snapshot that precedes them."""

    def __init__(self, config: Config) -> None:
        self.snapshot: SnapshotRecord | None = None
        self.snap_index = 0
        self.snap_term = 0
        self.base_config = config
        self.entries: list[Entry] = []
        self._config_indexes: list[int] = []

    # -- reading -------------------------------------------------------------------
    @property
    def last_index(self) -> int:
        """Index of the last entry (the snapshot index if there is none)."""
        return self.snap_index + len(self.entries)

    @property
    def last_term(self) -> int:
        """Term of the last entry (or of the snapshot)."""
        return self.entries[-1].term if self.entries else self.snap_term

    @property
    def first_index(self) -> int:
        """The first index still held as an entry."""
        return self.snap_index + 1

    def term_at(self, index: int) -> int | None:
        """The term at ``index``; None if compacted away or past the end."""
        if index == self.snap_index:
            return self.snap_term
        if index < self.snap_index or index > self.last_index:
            return None
        return self.entries[index - self.snap_index - 1].term

    def entry(self, index: int) -> Entry:
        """The entry at ``index`` (which must be held)."""
        return self.entries[index - self.snap_index - 1]

    def slice(self, lo: int, hi: int) -> tuple[Entry, ...]:
        """Entries ``lo .. hi`` inclusive (``lo`` must be held)."""
        base = self.snap_index + 1
        return tuple(self.entries[lo - base : hi - base + 1])

    def matches(self, index: int, term: int) -> bool:
        """Whether the entry at ``index`` has ``term``."""
        return self.term_at(index) == term

    def up_to_date(self, last_index: int, last_term: int) -> bool:
        """Raft's election restriction: is a log ending at (index, term) at least as new?"""
        return (last_term, last_index) >= (self.last_term, self.last_index)

    def first_index_of_term_at(self, index: int) -> int:
        """The first held index whose term equals the term at ``index`` (a rejection hint)."""
        term = self.term_at(index)
        first = index
        while first - 1 > self.snap_index and self.term_at(first - 1) == term:
            first -= 1
        return first

    def last_index_of_term(self, term: int) -> int:
        """The last index with ``term`` (0 if none is held)."""
        for entry in reversed(self.entries):
            if entry.term == term:
                return entry.index
            if entry.term < term:
                break
        return self.snap_index if self.snap_term == term and self.snap_index else 0

    def config_at(self, index: int) -> Config:
        """The configuration in force at ``index`` (the latest config entry up to it)."""
        k = bisect.bisect_right(self._config_indexes, index)
        if k == 0:
            return self.base_config
        data = self.entry(self._config_indexes[k - 1]).data
        assert isinstance(data, Config)
        return data

    @property
    def config(self) -> Config:
        """The latest configuration in the log, committed or not."""
        return self.config_at(self.last_index)

    @property
    def last_config_index(self) -> int:
        """Index of the latest config entry (0 if none is held)."""
        return self._config_indexes[-1] if self._config_indexes else 0

    # -- changing ------------------------------------------------------------------
    def append(self, entries: tuple[Entry, ...]) -> None:
        """Write entries; the first one's index replaces everything from there on."""
        if not entries:
            return
        first = entries[0].index
        if first <= self.snap_index:
            raise ValueError(f"cannot append at {first}: compacted up to {self.snap_index}")
        if first > self.last_index + 1:
            raise ValueError(f"gap: append at {first} after last index {self.last_index}")
        self._truncate_from(first)
        for entry in entries:
            self.entries.append(entry)
            if isinstance(entry.data, Config):
                self._config_indexes.append(entry.index)

    def new_entries(self, entries: tuple[Entry, ...]) -> tuple[Entry, ...]:
        """The suffix of ``entries`` that is not already held (from the first conflict)."""
        for k, entry in enumerate(entries):
            if entry.index <= self.snap_index:
                continue
            if self.term_at(entry.index) != entry.term:
                return entries[k:]
        return ()

    def install(self, record: SnapshotRecord) -> None:
        """Take a snapshot: keep the entries after it only if the log agrees at its index."""
        meta = record.meta
        if self.term_at(meta.index) == meta.term and meta.index <= self.last_index:
            keep = (
                self.slice(meta.index + 1, self.last_index) if meta.index < self.last_index else ()
            )
        else:
            keep = ()
        self.snapshot = record
        self.snap_index, self.snap_term = meta.index, meta.term
        self.base_config = meta.config
        self.entries = []
        self._config_indexes = []
        self.append(keep)

    def compact(self, index: int, data: bytes) -> SnapshotRecord:
        """Replace entries up to the held ``index`` by a snapshot of ``data``."""
        term = self.term_at(index)
        assert term is not None
        record = SnapshotRecord(SnapshotMeta(index, term, self.config_at(index)), data)
        self.install(record)
        return record

    def _truncate_from(self, index: int) -> None:
        del self.entries[index - self.snap_index - 1 :]
        k = bisect.bisect_left(self._config_indexes, index)
        del self._config_indexes[k:]
