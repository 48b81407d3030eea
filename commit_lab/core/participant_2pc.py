"""2PC participant: vote, then wait; in doubt it asks the coordinator, and its peers.

Asking peers is the cooperative termination protocol: a peer that knows the outcome
tells it, a peer that never prepared aborts on the spot and says so, and a peer that
is in doubt too answers :class:`Uncertain`. When the coordinator is down and every
reachable peer is in doubt, the participant stays blocked, holding its locks.
"""

from __future__ import annotations

from typing import ClassVar

from commit_lab.core.messages import Inquiry
from commit_lab.core.participant import Participant, Pending, event
from labkit.actions import Action, Send

__all__ = ["Participant2PC"]


class Participant2PC(Participant):
    """A two-phase commit participant (presumed abort, cooperative termination)."""

    protocol: ClassVar[str] = "2pc"

    def first_wait_ms(self) -> int:
        return self.config.vote_timeout_ms

    def on_timeout(self, pending: Pending, now_ms: int) -> list[Action]:
        """Still in doubt: ask the coordinator (and, cooperatively, every peer) again."""
        pending.next_ms = now_ms + self.config.retry_ms
        info = pending.info
        actions: list[Action] = []
        if not pending.asked:
            pending.asked = True
            actions.append(event(self.id, "+in-doubt", now_ms, info.txid, "asking for the outcome"))
        targets = [info.coordinator]
        if self.config.cooperative:
            targets += [peer for peer in info.participants if peer != self.id]
        actions += [Send(target, Inquiry(info.txid)) for target in targets]
        return actions
