"""The participant shared by every protocol: balances, key locks, prepared intents, outcomes.

A participant is an agent in front of one shard. Its records (:class:`Prepared`,
:class:`Decided`, ...) are what the shard stores atomically: in the simulator they go
to simulated storage, over real Redis the agent turns each into one MULTI/EXEC or
script. Message handling is a table from message type to handler; subclasses
(:mod:`.participant_2pc`, :mod:`.participant_3pc`, :mod:`.consensus_decision`) add
their messages and their in-doubt timeout. Planted bug ``no-locks`` skips the lock check.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from commit_lab.core.config import CommitConfig
from commit_lab.core.messages import (
    Ack,
    Decided,
    Decision,
    Inquiry,
    Leg,
    Opening,
    PreCommitted,
    Prepare,
    Prepared,
    Promise,
    Settled,
    Uncertain,
    Vote,
)
from labkit.actions import Action, Emit, Persist, Reply, Send
from labkit.core import ClientRequest, Input, Received
from labkit.events import Event

__all__ = ["BALANCES", "Handler", "Participant", "Pending", "event"]

BALANCES = "balances?"
"""A client request that a participant answers with its balances and locks."""

Handler = Callable[[Any, str, Any, int], list[Action]]


def event(node: str, name: str, now_ms: int, txid: str = "", details: str = "") -> Emit:
    """An ``Emit`` of one protocol event at virtual/monotonic ``now_ms``."""
    return Emit(
        Event(source=node, name=name, wall_ns=now_ms * 1_000_000, instance=txid, details=details)
    )


@dataclass(slots=True)
class Pending:
    """A prepared transaction waiting for its outcome (its keys are locked)."""

    info: Prepared
    since_ms: int
    next_ms: int = -1  # -1: set on the next tick (after a restore)
    precommitted: bool = False
    promised: int = 0
    recovering: bool = False
    round: int = 0
    asked: bool = False
    rc: object = None  # 3PC: the recovery-coordinator round this node runs


class Participant:
    """Common participant behaviour; ``HANDLERS`` maps message types to method names."""

    protocol: ClassVar[str] = "base"
    HANDLERS: ClassVar[dict[type, str]] = {
        Prepare: "on_prepare",
        Decision: "on_decision",
        Inquiry: "on_inquiry",
        Uncertain: "on_ignore",
        Ack: "on_ignore",
    }

    def __init__(
        self,
        node_id: str,
        balances: Mapping[str, int],
        rng: random.Random,
        config: CommitConfig | None = None,
        *,
        bug: str | None = None,
    ) -> None:
        self.id = node_id
        self.rng = rng
        self.config = config if config is not None else CommitConfig()
        self.bug = bug
        self.balances: dict[str, int] = dict(sorted(balances.items()))
        self.locks: dict[str, str] = {}
        self.pending: dict[str, Pending] = {}
        self.outcomes: dict[str, bool] = {}  # durable outcomes
        self.refused: dict[str, str] = {}  # volatile: no votes and presumed aborts

    # -- the core interface --------------------------------------------------------
    def step(self, event_in: Input, now_ms: int) -> list[Action]:
        """Handle a peer message, or a ``balances?`` client request."""
        if isinstance(event_in, Received):
            name = self.HANDLERS.get(type(event_in.message))
            if name is None:
                return [event(self.id, "-unknown-message", now_ms, details=repr(event_in.message))]
            handler: Handler = getattr(type(self), name)
            return handler(self, event_in.sender, event_in.message, now_ms)
        if isinstance(event_in, ClientRequest) and event_in.request == BALANCES:
            return [
                Reply(event_in.client, (tuple(self.balances.items()), tuple(self.locks.items())))
            ]
        if isinstance(event_in, ClientRequest):
            return [Reply(event_in.client, f"ERR unknown request {event_in.request!r}")]
        return []

    def tick(self, now_ms: int) -> list[Action]:
        """Run the in-doubt timeout of every pending transaction that is due."""
        actions: list[Action] = []
        for txid in sorted(self.pending):
            pending = self.pending.get(txid)
            if pending is None:
                continue
            if pending.next_ms < 0:
                pending.next_ms = now_ms + self.first_wait_ms()
                if pending.since_ms < 0:
                    pending.since_ms = now_ms
            elif now_ms >= pending.next_ms:
                actions += self.on_timeout(pending, now_ms)
        return actions

    def durable_state(self) -> tuple[object, ...]:
        """Balances, pending intents (with pre-commit and promise), and known outcomes."""
        records: list[object] = [Opening(tuple(self.balances.items()))]
        for pending in self.pending.values():
            records.append(pending.info)
            if pending.promised:
                records.append(Promise(pending.info.txid, pending.promised))
            if pending.precommitted:
                records.append(PreCommitted(pending.info.txid, pending.promised))
        records += [Settled(txid, commit) for txid, commit in self.outcomes.items()]
        return tuple(records)

    def restore(self, durable_state: Sequence[object]) -> None:
        """Fold the records; pending transactions come back locked and ``recovering``."""
        for record in durable_state:
            if isinstance(record, Opening):
                self.balances = dict(record.balances)
                self.locks.clear()
                self.pending.clear()
            elif isinstance(record, Prepared):
                self._lock(record, -1)
                self.pending[record.txid].recovering = True
            elif isinstance(record, PreCommitted) and record.txid in self.pending:
                self.pending[record.txid].precommitted = True
                self.pending[record.txid].promised = max(
                    self.pending[record.txid].promised, record.round
                )
            elif isinstance(record, Promise) and record.txid in self.pending:
                pending = self.pending[record.txid]
                pending.promised = max(pending.promised, record.round)
            elif isinstance(record, Decided):
                self._settle(record.txid, record.commit)
            elif isinstance(record, Settled):
                self.outcomes[record.txid] = record.commit
            else:
                self.restore_other(record)

    def restore_other(self, record: object) -> None:
        """Records of a subclass (1PC)."""

    # -- hooks for subclasses ------------------------------------------------------
    def first_wait_ms(self) -> int:
        """How long a fresh (or restored) prepared transaction waits before its timeout."""
        return self.config.retry_ms

    def on_timeout(self, pending: Pending, now_ms: int) -> list[Action]:
        """The in-doubt timeout of one pending transaction."""
        pending.next_ms = now_ms + self.config.retry_ms
        return []

    # -- shared handlers -----------------------------------------------------------
    def on_ignore(self, sender: str, message: object, now_ms: int) -> list[Action]:
        return []

    def on_prepare(self, sender: str, m: Prepare, now_ms: int) -> list[Action]:
        """Vote: lock and record the intent (yes), or refuse with a reason (no)."""
        if m.txid in self.outcomes:
            return [Send(sender, Vote(m.txid, self.outcomes[m.txid]))]
        if m.txid in self.pending:
            return [Send(sender, Vote(m.txid, True))]
        if m.txid in self.refused:
            return [Send(sender, Vote(m.txid, False, self.refused[m.txid]))]
        problem = self.check(m.legs)
        if problem is not None:
            self.refused[m.txid] = problem
            return [
                event(self.id, "-vote-no", now_ms, m.txid, problem),
                Send(sender, Vote(m.txid, False, problem)),
            ]
        record = Prepared(m.txid, m.coordinator, m.participants, m.legs)
        self._lock(record, now_ms)
        return [
            Persist(record),
            event(self.id, "+prepared", now_ms, m.txid, self._describe(m.legs)),
            Send(sender, Vote(m.txid, True)),
        ]

    def on_decision(self, sender: str, m: Decision, now_ms: int) -> list[Action]:
        """Apply a decision (from the coordinator, a peer or a recovery coordinator)."""
        pending = self.pending.get(m.txid)
        if pending is not None:
            return self.decide(m.txid, m.commit, now_ms, f"from {sender}")
        if m.txid in self.outcomes or not m.commit:
            if not m.commit and m.txid not in self.outcomes:
                self.refused[m.txid] = "aborted"
            return [Send(sender, Ack(m.txid))]
        return [event(self.id, "-commit-without-yes", now_ms, m.txid, f"from {sender}")]

    def on_inquiry(self, sender: str, m: Inquiry, now_ms: int) -> list[Action]:
        """A peer (or a restarted coordinator) asks: answer what is known, or abort unilaterally."""
        if m.txid in self.outcomes:
            return [Send(sender, Decision(m.txid, self.outcomes[m.txid]))]
        if m.txid in self.pending:
            return [Send(sender, Uncertain(m.txid))]
        self.outcomes[m.txid] = False
        self.refused.pop(m.txid, None)
        return [
            Persist(Decided(m.txid, False)),
            event(self.id, "+aborted", now_ms, m.txid, "never prepared; aborted unilaterally"),
            Send(sender, Decision(m.txid, False)),
        ]

    # -- helpers -------------------------------------------------------------------
    def check(self, legs: Sequence[Leg]) -> str | None:
        """Why these legs cannot be prepared here, or None."""
        if not legs:
            return "no legs for this shard"
        for leg in legs:
            if leg.account not in self.balances:
                return f"unknown account {leg.account}"
            holder = self.locks.get(leg.account)
            if holder is not None and self.bug != "no-locks":
                return f"{leg.account} is locked by {holder}"
            if self.balances[leg.account] + leg.delta < 0:
                return f"insufficient funds in {leg.account}"
        return None

    def decide(self, txid: str, commit: bool, now_ms: int, why: str) -> list[Action]:
        """Persist and apply the outcome of a pending transaction, then acknowledge it."""
        pending = self.pending[txid]
        self._settle(txid, commit)
        doubt_ms = now_ms - pending.since_ms if pending.since_ms >= 0 else 0
        return [
            Persist(Decided(txid, commit)),
            event(
                self.id,
                "+committed" if commit else "+aborted",
                now_ms,
                txid,
                f"{why}; in doubt {doubt_ms} ms",
            ),
            Send(pending.info.coordinator, Ack(txid)),
        ]

    def _lock(self, record: Prepared, now_ms: int) -> None:
        self.pending[record.txid] = Pending(record, now_ms)
        self.refused.pop(record.txid, None)
        for leg in record.legs:
            self.locks[leg.account] = record.txid

    def _settle(self, txid: str, commit: bool) -> None:
        pending = self.pending.pop(txid, None)
        self.outcomes[txid] = commit
        if pending is None:
            return
        for leg in pending.info.legs:
            if self.locks.get(leg.account) == txid:
                del self.locks[leg.account]
            if commit:
                self.balances[leg.account] += leg.delta

    @staticmethod
    def _describe(legs: Sequence[Leg]) -> str:
        return " ".join(f"{leg.account}{leg.delta:+d}" for leg in legs)
