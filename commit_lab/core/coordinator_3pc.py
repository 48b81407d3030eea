"""3PC coordinator: CanCommit, then PreCommit, then DoCommit.

It logs the start of each transaction and its outcome. A no or a missing vote aborts.
With every pre-commit acknowledged it commits. A refused or missing acknowledgement
hands the transaction to the participants' termination protocol: the coordinator then
only listens for their decision (and asks for it), and never decides itself; a
restarted coordinator does the same for every transaction it started and did not
finish.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import ClassVar

from commit_lab.core.config import CommitConfig
from commit_lab.core.coordinator_2pc import CoordTx
from commit_lab.core.messages import (
    Decision,
    Inquiry,
    Leg,
    Outcome,
    PreCommit,
    PreCommitAck,
    Prepare,
    Refuse,
    Started,
    Transfer,
    TxOutcome,
    Vote,
    split_by_shard,
    validate,
)
from commit_lab.core.participant import event
from commit_lab.errors import CommitLabError
from labkit.actions import Action, Persist, Reply, Send
from labkit.core import ClientRequest, Input, Received

__all__ = ["Coordinator3PC"]


class Coordinator3PC:
    """The coordinator of three-phase commit."""

    protocol: ClassVar[str] = "3pc"
    TIMEOUTS: ClassVar[dict[str, str]] = {
        "voting": "_votes_missing",
        "precommitting": "_acks_missing",
        "terminating": "_ask",
    }

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
        self.finished: dict[str, bool] = {}

    def step(self, event_in: Input, now_ms: int) -> list[Action]:
        """A client's :class:`Transfer`, or a vote, pre-commit ack, refusal or decision."""
        if isinstance(event_in, ClientRequest):
            return self._begin(event_in.client, event_in.request, now_ms)
        if not isinstance(event_in, Received):
            return []
        m, sender = event_in.message, event_in.sender
        tx = self.txs.get(getattr(m, "txid", ""))
        if tx is None or sender not in tx.legs:
            return []
        if isinstance(m, Decision):
            return self._learn(tx, m.commit, now_ms, f"decided by {sender}")
        if isinstance(m, Vote) and tx.phase == "voting":
            return self._on_vote(tx, sender, m, now_ms)
        if isinstance(m, PreCommitAck) and tx.phase == "precommitting" and m.round == 0:
            tx.acks[sender] = None
            if len(tx.acks) == len(tx.legs):
                return self._decide(tx, True, now_ms, "all pre-committed")
        if isinstance(m, Refuse) and tx.phase == "precommitting" and m.round == 0:
            return self._hand_over(tx, now_ms, f"{sender} refused: round {m.promised} promised")
        return []

    def tick(self, now_ms: int) -> list[Action]:
        actions: list[Action] = []
        for txid in sorted(self.txs):
            tx = self.txs.get(txid)
            if tx is not None and now_ms >= tx.deadline_ms:
                actions += getattr(self, self.TIMEOUTS[tx.phase])(tx, now_ms)
        return actions

    def durable_state(self) -> tuple[object, ...]:
        return tuple(Started(tx.txid, tx.participants) for tx in self.txs.values())

    def restore(self, durable_state: Sequence[object]) -> None:
        """Started without an outcome: wait for the participants' termination to decide."""
        for record in durable_state:
            if isinstance(record, Started):
                legs: dict[str, tuple[Leg, ...]] = {p: () for p in record.participants}
                self.txs[record.txid] = CoordTx(record.txid, None, legs, "terminating", 0)
            elif isinstance(record, Outcome):
                self.txs.pop(record.txid, None)
                self.finished[record.txid] = record.commit

    # -- phases --------------------------------------------------------------------
    def _begin(self, client: str, request: object, now_ms: int) -> list[Action]:
        try:
            transfer = validate(request, self.directory)
        except CommitLabError as exc:
            txid = request.txid if isinstance(request, Transfer) else "?"
            return [Reply(client, TxOutcome(str(txid), "rejected", str(exc)))]
        if transfer.txid in self.txs or transfer.txid in self.finished:
            return [Reply(client, TxOutcome(transfer.txid, "rejected", "duplicate transaction id"))]
        legs = split_by_shard(transfer.legs, self.directory)
        tx = CoordTx(transfer.txid, client, legs, "voting", now_ms + self.config.vote_timeout_ms)
        self.txs[tx.txid] = tx
        actions: list[Action] = [
            Persist(Started(tx.txid, tx.participants)),
            event(self.id, "+begin", now_ms, tx.txid, " ".join(legs)),
        ]
        for shard, shard_legs in legs.items():
            actions.append(Send(shard, Prepare(tx.txid, self.id, tx.participants, shard_legs)))
        return actions

    def _on_vote(self, tx: CoordTx, sender: str, m: Vote, now_ms: int) -> list[Action]:
        if not m.yes:
            return self._decide(tx, False, now_ms, f"{sender} voted no: {m.reason}")
        tx.votes[sender] = True
        if len(tx.votes) < len(tx.legs):
            return []
        tx.phase = "precommitting"
        tx.deadline_ms = now_ms + self.config.ack_timeout_ms
        return [
            event(self.id, "+precommit", now_ms, tx.txid),
            *[Send(p, PreCommit(tx.txid, 0)) for p in tx.participants],
        ]

    def _votes_missing(self, tx: CoordTx, now_ms: int) -> list[Action]:
        missing = ", ".join(p for p in tx.participants if p not in tx.votes)
        return self._decide(tx, False, now_ms, f"no vote from {missing}")

    def _acks_missing(self, tx: CoordTx, now_ms: int) -> list[Action]:
        missing = ", ".join(p for p in tx.participants if p not in tx.acks)
        return self._hand_over(tx, now_ms, f"no pre-commit ack from {missing}")

    def _hand_over(self, tx: CoordTx, now_ms: int, reason: str) -> list[Action]:
        tx.phase = "terminating"
        tx.deadline_ms = now_ms + self.config.retry_ms
        return [event(self.id, "+handed-to-termination", now_ms, tx.txid, reason)]

    def _ask(self, tx: CoordTx, now_ms: int) -> list[Action]:
        tx.deadline_ms = now_ms + self.config.retry_ms
        return [Send(p, Inquiry(tx.txid)) for p in tx.participants]

    def _decide(self, tx: CoordTx, commit: bool, now_ms: int, reason: str) -> list[Action]:
        actions = self._learn(tx, commit, now_ms, reason)
        return actions + [Send(p, Decision(tx.txid, commit)) for p in tx.participants]

    def _learn(self, tx: CoordTx, commit: bool, now_ms: int, reason: str) -> list[Action]:
        del self.txs[tx.txid]
        self.finished[tx.txid] = commit
        status = "committed" if commit else "aborted"
        actions: list[Action] = [
            Persist(Outcome(tx.txid, commit, tx.participants)),
            event(self.id, f"+decide-{'commit' if commit else 'abort'}", now_ms, tx.txid, reason),
        ]
        if tx.client is not None:
            actions.append(Reply(tx.client, TxOutcome(tx.txid, status, reason)))
        return actions
