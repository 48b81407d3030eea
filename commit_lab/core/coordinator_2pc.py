"""2PC coordinator, presumed abort.

Nothing is logged before the votes. All yes: force a commit record, then send commit
and resend it until every participant acknowledges, then write an end record (not
forced). A no or a missing vote: send abort and forget the transaction; an inquiry
about a transaction it does not know is answered abort. Phases are handled by a table
of timeout handlers. Planted bugs: ``ignore-no-votes`` counts a no as a yes;
``no-commit-record`` commits without logging (a restart then presumes abort).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from commit_lab.core.config import CommitConfig
from commit_lab.core.messages import (
    Ack,
    Decision,
    End,
    Inquiry,
    Leg,
    Outcome,
    Prepare,
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

__all__ = ["BUGS_2PC", "CoordTx", "Coordinator2PC"]

BUGS_2PC = ("ignore-no-votes", "no-commit-record")


@dataclass(slots=True)
class CoordTx:
    """A transaction the coordinator is running."""

    txid: str
    client: str | None
    legs: dict[str, tuple[Leg, ...]]
    phase: str
    deadline_ms: int
    votes: dict[str, bool] = field(default_factory=dict)
    acks: dict[str, None] = field(default_factory=dict)
    reason: str = ""

    @property
    def participants(self) -> tuple[str, ...]:
        return tuple(self.legs)


class Coordinator2PC:
    """The coordinator of two-phase commit; ``directory`` maps account -> participant."""

    protocol: ClassVar[str] = "2pc"
    TIMEOUTS: ClassVar[dict[str, str]] = {"voting": "_votes_missing", "committing": "_resend"}

    def __init__(
        self,
        node_id: str,
        directory: Mapping[str, str],
        rng: random.Random,
        config: CommitConfig | None = None,
        *,
        bug: str | None = None,
    ) -> None:
        if bug is not None and bug not in BUGS_2PC:
            raise CommitLabError(f"unknown planted bug {bug!r}; known: {', '.join(BUGS_2PC)}")
        self.id = node_id
        self.directory = dict(directory)
        self.rng = rng
        self.config = config if config is not None else CommitConfig()
        self.bug = bug
        self.txs: dict[str, CoordTx] = {}

    # -- the core interface --------------------------------------------------------
    def step(self, event_in: Input, now_ms: int) -> list[Action]:
        """A client's :class:`Transfer`, or a participant's vote, ack or inquiry."""
        if isinstance(event_in, ClientRequest):
            return self._begin(event_in.client, event_in.request, now_ms)
        if not isinstance(event_in, Received):
            return []
        m = event_in.message
        if isinstance(m, Vote):
            return self._on_vote(event_in.sender, m, now_ms)
        if isinstance(m, Ack):
            return self._on_ack(event_in.sender, m, now_ms)
        if isinstance(m, Inquiry):
            return self._on_inquiry(event_in.sender, m)
        return []

    def tick(self, now_ms: int) -> list[Action]:
        """Phase timeouts: missing votes abort, missing acks get the decision again."""
        actions: list[Action] = []
        for txid in sorted(self.txs):
            tx = self.txs.get(txid)
            if tx is not None and now_ms >= tx.deadline_ms:
                actions += getattr(self, self.TIMEOUTS[tx.phase])(tx, now_ms)
        return actions

    def durable_state(self) -> tuple[object, ...]:
        """Commit records of transactions not yet acknowledged by everyone."""
        return tuple(
            Outcome(tx.txid, True, tx.participants)
            for tx in self.txs.values()
            if tx.phase == "committing"
        )

    def restore(self, durable_state: Sequence[object]) -> None:
        """Commit records without an end record: resend commit until acknowledged."""
        for record in durable_state:
            if isinstance(record, Outcome) and record.commit:
                legs: dict[str, tuple[Leg, ...]] = {p: () for p in record.participants}
                self.txs[record.txid] = CoordTx(record.txid, None, legs, "committing", 0)
            elif isinstance(record, End):
                self.txs.pop(record.txid, None)

    # -- phases --------------------------------------------------------------------
    def _begin(self, client: str, request: object, now_ms: int) -> list[Action]:
        try:
            transfer = validate(request, self.directory)
        except CommitLabError as exc:
            txid = request.txid if isinstance(request, Transfer) else "?"
            return [Reply(client, TxOutcome(str(txid), "rejected", str(exc)))]
        if transfer.txid in self.txs:
            return [Reply(client, TxOutcome(transfer.txid, "rejected", "duplicate transaction id"))]
        legs = split_by_shard(transfer.legs, self.directory)
        tx = CoordTx(transfer.txid, client, legs, "voting", now_ms + self.config.vote_timeout_ms)
        self.txs[tx.txid] = tx
        actions: list[Action] = [event(self.id, "+begin", now_ms, tx.txid, " ".join(legs))]
        for shard, shard_legs in legs.items():
            actions.append(Send(shard, Prepare(tx.txid, self.id, tx.participants, shard_legs)))
        return actions

    def _on_vote(self, sender: str, m: Vote, now_ms: int) -> list[Action]:
        tx = self.txs.get(m.txid)
        if tx is None or tx.phase != "voting" or sender not in tx.legs:
            return []
        yes = m.yes or self.bug == "ignore-no-votes"
        if not yes:
            return self._abort(tx, now_ms, f"{sender} voted no: {m.reason}")
        tx.votes[sender] = True
        if len(tx.votes) < len(tx.legs):
            return []
        tx.phase = "committing"
        tx.deadline_ms = now_ms + self.config.retry_ms
        record = Persist(
            Outcome(tx.txid, True, tx.participants), sync=self.bug != "no-commit-record"
        )
        actions: list[Action] = [] if self.bug == "no-commit-record" else [record]
        actions.append(event(self.id, "+decide-commit", now_ms, tx.txid))
        actions += [Send(p, Decision(tx.txid, True)) for p in tx.participants]
        if tx.client is not None:
            actions.append(Reply(tx.client, TxOutcome(tx.txid, "committed")))
        return actions

    def _votes_missing(self, tx: CoordTx, now_ms: int) -> list[Action]:
        missing = ", ".join(p for p in tx.participants if p not in tx.votes)
        return self._abort(tx, now_ms, f"no vote from {missing}")

    def _abort(self, tx: CoordTx, now_ms: int, reason: str) -> list[Action]:
        del self.txs[tx.txid]
        actions: list[Action] = [event(self.id, "+decide-abort", now_ms, tx.txid, reason)]
        actions += [Send(p, Decision(tx.txid, False)) for p in tx.participants]
        if tx.client is not None:
            actions.append(Reply(tx.client, TxOutcome(tx.txid, "aborted", reason)))
        return actions

    def _resend(self, tx: CoordTx, now_ms: int) -> list[Action]:
        tx.deadline_ms = now_ms + self.config.retry_ms
        return [Send(p, Decision(tx.txid, True)) for p in tx.participants if p not in tx.acks]

    def _on_ack(self, sender: str, m: Ack, now_ms: int) -> list[Action]:
        tx = self.txs.get(m.txid)
        if tx is None or tx.phase != "committing" or sender not in tx.legs:
            return []
        tx.acks[sender] = None
        if len(tx.acks) < len(tx.legs):
            return []
        del self.txs[m.txid]
        return [Persist(End(m.txid), sync=False), event(self.id, "+end", now_ms, m.txid)]

    def _on_inquiry(self, sender: str, m: Inquiry) -> list[Action]:
        tx = self.txs.get(m.txid)
        if tx is None:
            return [Send(sender, Decision(m.txid, False))]  # presumed abort
        if tx.phase == "committing":
            return [Send(sender, Decision(m.txid, True))]
        return []  # still collecting votes: the answer comes with the decision
