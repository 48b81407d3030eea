"""One-phase commit: the coordinator tells every shard to apply its legs, no vote.

A shard that cannot apply (an unknown account, too little money) refuses, the others
have already applied, and nothing undoes them: the transfer is ``partial``. A
coordinator crash between its sends does the same. 1PC is here to be seen breaking.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import ClassVar

from commit_lab.core.config import CommitConfig
from commit_lab.core.coordinator_2pc import CoordTx
from commit_lab.core.messages import (
    OnePhaseApplied,
    OnePhaseDone,
    OnePhaseWrite,
    Transfer,
    TxOutcome,
    split_by_shard,
    validate,
)
from commit_lab.core.participant import Participant, event
from commit_lab.errors import CommitLabError
from labkit.actions import Action, Persist, Reply, Send
from labkit.core import ClientRequest, Input, Received

__all__ = ["Coordinator1PC", "Participant1PC"]


class Participant1PC(Participant):
    """Applies a write at once if it can."""

    protocol: ClassVar[str] = "1pc"
    HANDLERS: ClassVar[dict[type, str]] = {
        **Participant.HANDLERS,
        OnePhaseWrite: "on_write",
    }

    def on_write(self, sender: str, m: OnePhaseWrite, now_ms: int) -> list[Action]:
        if m.txid in self.outcomes:
            return [Send(sender, OnePhaseDone(m.txid, self.outcomes[m.txid]))]
        problem = self.check(m.legs)
        if problem is not None:
            self.outcomes[m.txid] = False
            return [
                event(self.id, "-refused", now_ms, m.txid, problem),
                Send(sender, OnePhaseDone(m.txid, False, problem)),
            ]
        self.restore_other(OnePhaseApplied(m.txid, m.legs))
        return [
            Persist(OnePhaseApplied(m.txid, m.legs)),
            event(self.id, "+committed", now_ms, m.txid, self._describe(m.legs)),
            Send(sender, OnePhaseDone(m.txid, True)),
        ]

    def restore_other(self, record: object) -> None:
        if isinstance(record, OnePhaseApplied):
            for leg in record.legs:
                self.balances[leg.account] += leg.delta
            self.outcomes[record.txid] = True


class Coordinator1PC:
    """Sends the writes and reports ``committed`` or ``partial``; keeps no log."""

    protocol: ClassVar[str] = "1pc"

    def __init__(
        self,
        node_id: str,
        directory: Mapping[str, str],
        rng: random.Random,
        config: CommitConfig | None = None,
    ) -> None:
        self.id = node_id
        self.directory = dict(directory)
        self.rng = rng
        self.config = config if config is not None else CommitConfig()
        self.txs: dict[str, CoordTx] = {}

    def step(self, event_in: Input, now_ms: int) -> list[Action]:
        if isinstance(event_in, ClientRequest):
            try:
                transfer = validate(event_in.request, self.directory)
            except CommitLabError as exc:
                req = event_in.request
                txid = req.txid if isinstance(req, Transfer) else "?"
                return [Reply(event_in.client, TxOutcome(str(txid), "rejected", str(exc)))]
            legs = split_by_shard(transfer.legs, self.directory)
            tx = CoordTx(
                transfer.txid,
                event_in.client,
                legs,
                "writing",
                now_ms + self.config.vote_timeout_ms,
            )
            self.txs[tx.txid] = tx
            actions: list[Action] = [event(self.id, "+begin", now_ms, tx.txid)]
            return actions + [
                Send(shard, OnePhaseWrite(tx.txid, shard_legs))
                for shard, shard_legs in legs.items()
            ]
        if isinstance(event_in, Received) and isinstance(event_in.message, OnePhaseDone):
            m = event_in.message
            running = self.txs.get(m.txid)
            if running is None:
                return []
            tx = running
            tx.votes[event_in.sender] = m.ok
            if not m.ok:
                tx.reason = f"{event_in.sender}: {m.reason}"
            if len(tx.votes) == len(tx.legs):
                return self._finish(tx, now_ms)
        return []

    def tick(self, now_ms: int) -> list[Action]:
        actions: list[Action] = []
        for txid in sorted(self.txs):
            tx = self.txs[txid]
            if now_ms >= tx.deadline_ms:
                tx.reason = tx.reason or "a shard did not answer"
                actions += self._finish(tx, now_ms)
        return actions

    def _finish(self, tx: CoordTx, now_ms: int) -> list[Action]:
        del self.txs[tx.txid]
        ok = all(tx.votes.get(p, False) for p in tx.legs)
        status = "committed" if ok else ("aborted" if not any(tx.votes.values()) else "partial")
        return [
            event(self.id, f"+{status}", now_ms, tx.txid, tx.reason),
            Reply(tx.client or "client", TxOutcome(tx.txid, status, tx.reason)),
        ]

    def durable_state(self) -> tuple[object, ...]:
        return ()

    def restore(self, durable_state: Sequence[object]) -> None:
        return None
