"""Messages between Raft nodes; every one carries the sender's ``term``."""

from __future__ import annotations

from dataclasses import dataclass

from redis_raft.core.records import Entry, SnapshotMeta

__all__ = [
    "AppendEntries",
    "AppendEntriesResponse",
    "Heartbeat",
    "HeartbeatResponse",
    "InstallSnapshot",
    "InstallSnapshotResponse",
    "Message",
    "RequestVote",
    "RequestVoteResponse",
    "TimeoutNow",
]


@dataclass(frozen=True, slots=True)
class RequestVote:
    """A (pre-)candidate asks for a vote in ``term``.

    A pre-vote (``pre_vote``) asks "would you vote for me in ``term``?" without anyone
    changing term. ``force`` is set by an election that a leadership transfer started:
    it overrides the receivers' leader lease.
    """

    term: int
    last_index: int
    last_term: int
    pre_vote: bool = False
    force: bool = False


@dataclass(frozen=True, slots=True)
class RequestVoteResponse:
    """The answer to a :class:`RequestVote`; a granted pre-vote echoes the asked term."""

    term: int
    granted: bool
    pre_vote: bool = False


@dataclass(frozen=True, slots=True)
class AppendEntries:
    """Entries after ``prev_index``/``prev_term``, and the leader's commit index."""

    term: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit: int


@dataclass(frozen=True, slots=True)
class AppendEntriesResponse:
    """Success: the follower's log matches the leader's up to ``index``.

    Rejection: ``reject_index`` is the ``prev_index`` that did not match, and the hint
    says where to retry: ``conflict_term`` is the follower's term at that index (None
    if its log is shorter) and ``conflict_index`` the first index it holds of that term
    (or its last index + 1).
    """

    term: int
    success: bool
    index: int = 0
    reject_index: int = 0
    conflict_index: int = 0
    conflict_term: int | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The leader is alive; ``seq`` confirms ReadIndex rounds and leases."""

    term: int
    commit: int
    seq: int


@dataclass(frozen=True, slots=True)
class HeartbeatResponse:
    """A follower accepted the heartbeat ``seq``; ``last_index`` is its log's end."""

    term: int
    seq: int
    last_index: int


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """The leader's snapshot, for a follower whose next entries were compacted away."""

    term: int
    meta: SnapshotMeta
    data: bytes


@dataclass(frozen=True, slots=True)
class InstallSnapshotResponse:
    """The follower now holds everything up to ``index``."""

    term: int
    index: int


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Leadership transfer: start an election now, ignoring leases."""

    term: int


Message = (
    RequestVote
    | RequestVoteResponse
    | AppendEntries
    | AppendEntriesResponse
    | Heartbeat
    | HeartbeatResponse
    | InstallSnapshot
    | InstallSnapshotResponse
    | TimeoutNow
)
"""Any message a core sends or accepts."""
