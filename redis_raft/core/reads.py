"""ReadIndex bookkeeping of a leader.

A read gets the commit index as its read index, then waits for a heartbeat round
(sequence number ``seq``) that a majority of voters acknowledged: that proves the node
still led when the read arrived. It is served once the driver has applied up to the
read index. A read that arrives before the leader committed an entry of its own term
waits for that first (the commit index may lag behind a previous leader's).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["PendingRead", "ReadQueue"]


@dataclass(frozen=True, slots=True)
class PendingRead:
    """A read waiting for its leadership check (``seq``) and its read index to apply."""

    client: str
    command: bytes
    seq: int = 0
    read_index: int = 0


class ReadQueue:
    """Reads in three stages: waiting for a current-term commit, for a heartbeat
    quorum, for the apply index."""

    def __init__(self) -> None:
        self.before_commit: list[PendingRead] = []
        self.unconfirmed: deque[PendingRead] = deque()
        self.confirmed: deque[PendingRead] = deque()

    def __len__(self) -> int:
        return len(self.before_commit) + len(self.unconfirmed) + len(self.confirmed)

    def confirm_up_to(self, seq: int) -> None:
        """A voter majority acknowledged heartbeat ``seq``: reads with ``seq`` or less
        are confirmed."""
        while self.unconfirmed and self.unconfirmed[0].seq <= seq:
            self.confirmed.append(self.unconfirmed.popleft())

    def ready(self, applied: int) -> list[PendingRead]:
        """Confirmed reads whose read index is applied, in arrival order."""
        out: list[PendingRead] = []
        while self.confirmed and self.confirmed[0].read_index <= applied:
            out.append(self.confirmed.popleft())
        return out

    def drain(self) -> list[PendingRead]:
        """Every read not yet served (the leader is stepping down)."""
        out = [*self.before_commit, *self.unconfirmed, *self.confirmed]
        self.before_commit.clear()
        self.unconfirmed.clear()
        self.confirmed.clear()
        return out
