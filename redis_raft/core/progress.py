"""What a leader knows about one follower's log, and its flow control.

A follower is in one of three modes: ``PROBE`` (one AppendEntries per heartbeat until
the logs are found to match), ``REPLICATE`` (optimistic: ``next`` runs ahead of
``match`` with up to ``max_inflight_appends`` messages in flight), ``SNAPSHOT``
(an InstallSnapshot is on its way).
"""

from __future__ import annotations

from collections import deque
from enum import Enum

__all__ = ["Mode", "Progress"]


class Mode(Enum):
    """Replication mode of one follower."""

    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Progress:
    """Replication state of one follower, seen from the leader."""

    __slots__ = (
        "acked_sent_ms",
        "acked_seq",
        "active",
        "inflight",
        "last_ack_ms",
        "match",
        "mode",
        "next",
        "probe_sent",
        "snapshot_index",
        "snapshot_sent_ms",
    )

    def __init__(self, next_index: int) -> None:
        self.match = 0
        self.next = next_index
        self.mode = Mode.PROBE
        self.inflight: deque[tuple[int, int]] = deque()  # (last index sent, sent at ms)
        self.probe_sent = False
        self.snapshot_index = 0
        self.snapshot_sent_ms = 0
        self.active = False  # heard from since the last check-quorum
        self.last_ack_ms: int | None = None  # last response in this term (write guard)
        self.acked_seq = 0  # highest heartbeat seq acknowledged
        self.acked_sent_ms = -(10**12)  # when that heartbeat was sent (leases)

    def probe(self) -> None:
        """Fall back to probing from just after ``match``."""
        self.mode = Mode.PROBE
        self.next = self.match + 1
        self.inflight.clear()
        self.probe_sent = False

    def acknowledge(self, index: int) -> bool:
        """The follower matches up to ``index``; returns whether ``match`` grew."""
        while self.inflight and self.inflight[0][0] <= index:
            self.inflight.popleft()
        self.next = max(self.next, index + 1)
        if index > self.match:
            self.match = index
            return True
        return False

    def __repr__(self) -> str:
        return f"Progress(match={self.match}, next={self.next}, mode={self.mode.value})"
