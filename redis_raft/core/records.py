"""Log entries, cluster configurations and the durable records a core persists.

An :class:`Entry` holds one of three payloads: ``bytes`` (an opaque state-machine
command, RESP-encoded by the driver), ``None`` (the no-op a new leader appends) or a
:class:`Config` (a whole new membership, single-server change).

Durable records, in the order a core returns them in ``Persist``:

* :class:`HardState`: the current term and vote; always synced before a message that
  depends on it is sent;
* :class:`LogAppend`: entries with explicit indexes. Appending index ``i`` discards any
  entry at ``i`` or later first, so a conflict truncation needs no record of its own;
* :class:`SnapshotRecord`: a snapshot (opaque bytes, for example an RDB) with the
  index, term and configuration it covers; entries up to its index are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Config",
    "Entry",
    "EntryData",
    "HardState",
    "LogAppend",
    "SnapshotMeta",
    "SnapshotRecord",
]


@dataclass(frozen=True, slots=True)
class Config:
    """A membership: the voters and the non-voting learners (sorted, disjoint)."""

    voters: tuple[str, ...]
    learners: tuple[str, ...] = ()

    @staticmethod
    def of(
        voters: tuple[str, ...] | list[str], learners: tuple[str, ...] | list[str] = ()
    ) -> Config:
        """A config with sorted members; a node in both lists counts as a voter."""
        vs = tuple(sorted(set(voters)))
        return Config(vs, tuple(sorted(set(learners) - set(vs))))

    @property
    def members(self) -> tuple[str, ...]:
        """Voters and learners, sorted."""
        return tuple(sorted(self.voters + self.learners))

    def is_voter(self, node: str) -> bool:
        """Whether ``node`` votes."""
        return node in self.voters

    def is_member(self, node: str) -> bool:
        """Whether ``node`` is a voter or a learner."""
        return node in self.voters or node in self.learners


EntryData = bytes | Config | None
"""A command, a new configuration, or None for a no-op."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry."""

    index: int
    term: int
    data: EntryData = None


@dataclass(frozen=True, slots=True)
class HardState:
    """The durable term and vote (``None``: no vote in this term)."""

    term: int
    vote: str | None


@dataclass(frozen=True, slots=True)
class LogAppend:
    """Entries to write; the first one's index discards any suffix from that index on."""

    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    """What a snapshot covers: the last included entry and the config at it."""

    index: int
    term: int
    config: Config


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """A snapshot: its metadata and the opaque state-machine bytes."""

    meta: SnapshotMeta
    data: bytes
