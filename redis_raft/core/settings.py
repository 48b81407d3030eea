"""Timing and behaviour settings of a Raft core, one object, each field with its reason."""

from __future__ import annotations

from dataclasses import dataclass

from redis_raft.errors import RaftConfigError

__all__ = ["RaftConfig", "validate_write_guard"]


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """Settings of one node. Times in ms; defaults follow RedisRaft where it has one."""

    election_timeout_ms: int = 1000
    """RedisRaft's ``election-timeout``; each wait is random in ``[t, 2t)``."""
    heartbeat_ms: int = 200
    """RedisRaft's ``request-timeout``: heartbeats and probe retries."""
    pre_vote: bool = True
    """Ask "would you vote?" before bumping the term, so a rejoining node cannot disrupt."""
    check_quorum: bool = True
    """A leader that heard from no majority within an election timeout steps down;
    followers ignore vote requests while they heard from a leader within one."""
    lease_reads: bool = False
    """Serve reads on a leader lease instead of a heartbeat round (opt-in: relies on
    clocks running at about the same rate; needs ``check_quorum``)."""
    lease_margin_ms: int = 100
    """How much shorter than an election timeout the lease is, for clock drift."""
    max_entries_per_append: int = 64
    """Batch size of one AppendEntries."""
    max_inflight_appends: int = 16
    """Pipelining window: AppendEntries in flight to one follower before waiting."""
    learner_catch_up_lag: int = 0
    """A learner may be promoted once its log is at most this far behind the commit index."""
    min_replicas_to_write: int = 0
    """Redis's ``min-replicas-to-write`` (0: off): followers that must have acknowledged
    the leader within ``min_replicas_max_lag_s`` for a write to be accepted."""
    min_replicas_max_lag_s: int = 10
    """Redis's ``min-replicas-max-lag``, in seconds."""

    def __post_init__(self) -> None:
        if self.election_timeout_ms <= 0 or self.heartbeat_ms <= 0:
            raise RaftConfigError("election_timeout_ms and heartbeat_ms must be > 0")
        if self.heartbeat_ms >= self.election_timeout_ms:
            raise RaftConfigError(
                f"heartbeat_ms ({self.heartbeat_ms}) must be below "
                f"election_timeout_ms ({self.election_timeout_ms})"
            )
        if self.lease_reads and not self.check_quorum:
            raise RaftConfigError("lease_reads needs check_quorum")
        if self.lease_margin_ms < 0 or (
            self.lease_reads and self.lease_margin_ms >= self.election_timeout_ms
        ):
            raise RaftConfigError("lease_margin_ms must be in [0, election_timeout_ms)")
        if self.max_entries_per_append < 1 or self.max_inflight_appends < 1:
            raise RaftConfigError("max_entries_per_append and max_inflight_appends must be >= 1")
        if self.learner_catch_up_lag < 0:
            raise RaftConfigError("learner_catch_up_lag must be >= 0")
        validate_write_guard(self.min_replicas_to_write, self.min_replicas_max_lag_s)


def validate_write_guard(min_replicas_to_write: int, min_replicas_max_lag_s: int) -> None:
    """Raise :class:`RaftConfigError` for a negative guard setting."""
    if min_replicas_to_write < 0:
        raise RaftConfigError(f"min_replicas_to_write must be >= 0, got {min_replicas_to_write}")
    if min_replicas_max_lag_s < 0:
        raise RaftConfigError(f"min_replicas_max_lag_s must be >= 0, got {min_replicas_max_lag_s}")
