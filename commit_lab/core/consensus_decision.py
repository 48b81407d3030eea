"""2PC whose decision is kept by a consensus group (redis_raft's pure Raft core).

The group's state machine is a write-once register per transaction: the first
``DECIDE txid commit|abort`` that commits in the Raft log wins, and every later one is
answered with the winner. The coordinator, after all yes votes, proposes commit and
tells the participants whatever the group answers. An in-doubt participant does not
wait for the coordinator: it proposes abort, and applies the group's answer. So a
coordinator crash blocks nobody, and a partition cannot split the decision: only a
side with a majority of the group decides anything.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from commit_lab.core.config import CommitConfig
from commit_lab.core.coordinator_2pc import Coordinator2PC, CoordTx
from commit_lab.core.messages import Decision, Vote
from commit_lab.core.participant import Participant, Pending, event
from labkit.actions import Action, Reply, Send
from labkit.core import ClientRequest, Input, Received
from redis_raft.core import ErrorReply, RaftConfig, RaftCore, Redirect, Write
from redis_raft.core.testing import KVStore, SimRaftNode

__all__ = [
    "GROUP_SETTINGS",
    "ConsensusCoordinator",
    "ConsensusParticipant",
    "DecisionNode",
    "DecisionResult",
    "DecisionStore",
    "NotLeader",
    "Proposals",
    "Propose",
]

GROUP_SETTINGS = RaftConfig(election_timeout_ms=150, heartbeat_ms=40, max_entries_per_append=16)
"""Group timings for the simulator and the demos (elections within a few hundred ms)."""


@dataclass(frozen=True, slots=True)
class Propose:
    """Ask the group to decide ``txid`` (commit or abort), unless it already has."""

    txid: str
    commit: bool


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """The group's decision on ``txid``."""

    txid: str
    commit: bool


@dataclass(frozen=True, slots=True)
class NotLeader:
    """This group member cannot decide now; ``leader`` is a hint (or None)."""

    txid: str
    leader: str | None


class DecisionStore(KVStore):
    """The register: ``DECIDE txid outcome`` keeps the first outcome and returns it."""

    def execute(self, command: bytes) -> object:
        parts = command.decode().split()
        if len(parts) == 3 and parts[0] == "DECIDE" and parts[2] in ("commit", "abort"):
            return self.data.setdefault(parts[1], parts[2])
        return super().execute(command)


class DecisionNode:
    """A member of the decision group: a Raft core over a :class:`DecisionStore`."""

    def __init__(
        self,
        node_id: str,
        members: Sequence[str],
        rng: random.Random,
        settings: RaftConfig | None = None,
    ) -> None:
        self.id = node_id
        self.members = tuple(members)
        self.inner = SimRaftNode(RaftCore(node_id, members, rng, settings or GROUP_SETTINGS))
        self.inner.kv = DecisionStore()

    def step(self, event_in: Input, now_ms: int) -> list[Action]:
        """Raft messages pass through; a :class:`Propose` becomes a Raft write."""
        if isinstance(event_in, Received) and isinstance(event_in.message, Propose):
            m = event_in.message
            outcome = "commit" if m.commit else "abort"
            request = ClientRequest(
                f"{event_in.sender}|{m.txid}", Write(f"DECIDE {m.txid} {outcome}".encode())
            )
            return self._translate(self.inner.step(request, now_ms))
        return self._translate(self.inner.step(event_in, now_ms))

    def tick(self, now_ms: int) -> list[Action]:
        return self._translate(self.inner.tick(now_ms))

    def durable_state(self) -> tuple[object, ...]:
        return self.inner.durable_state()

    def restore(self, durable_state: Sequence[object]) -> None:
        self.inner.restore(durable_state)

    @property
    def decisions(self) -> dict[str, str]:
        """The register's contents as this member has applied them."""
        return dict(self.inner.kv.data)

    def _translate(self, actions: list[Action]) -> list[Action]:
        out: list[Action] = []
        for action in actions:
            if not isinstance(action, Reply) or "|" not in action.client:
                out.append(action)
                continue
            sender, txid = action.client.split("|", 1)
            value = action.value
            if value in ("commit", "abort"):
                out.append(Send(sender, DecisionResult(txid, value == "commit")))
            elif isinstance(value, Redirect):
                out.append(Send(sender, NotLeader(txid, value.leader)))
            elif isinstance(value, ErrorReply):
                out.append(Send(sender, NotLeader(txid, None)))
        return out


class Proposals:
    """The proposer side: which member to ask, and when to ask again."""

    def __init__(self, group: Sequence[str], retry_ms: int) -> None:
        self.group = tuple(group)
        self.retry_ms = retry_ms
        self.target: dict[str, str] = {}
        self.due: dict[str, int] = {}

    def send(self, txid: str, commit: bool, now_ms: int, to: str | None = None) -> Send:
        """Propose now, to ``to`` or to the member last used for ``txid``."""
        target = to or self.target.get(txid, self.group[0])
        self.target[txid] = target
        self.due[txid] = now_ms + self.retry_ms
        return Send(target, Propose(txid, commit))

    def retry(self, txid: str, commit: bool, now_ms: int, hint: str | None = None) -> Send:
        """Propose again: to the hinted leader, else to the next member."""
        if hint is None or hint not in self.group:
            current = self.target.get(txid, self.group[0])
            hint = self.group[(self.group.index(current) + 1) % len(self.group)]
        return self.send(txid, commit, now_ms, hint)

    def done(self, txid: str) -> None:
        self.target.pop(txid, None)
        self.due.pop(txid, None)


class ConsensusCoordinator(Coordinator2PC):
    """2PC coordinator whose commit decision goes to the group instead of its own log."""

    protocol: ClassVar[str] = "2pc-consensus"
    TIMEOUTS: ClassVar[dict[str, str]] = {
        **Coordinator2PC.TIMEOUTS,
        "deciding": "_repropose",
    }

    def __init__(
        self,
        node_id: str,
        directory: Mapping[str, str],
        group: Sequence[str],
        rng: random.Random,
        config: CommitConfig | None = None,
    ) -> None:
        super().__init__(node_id, directory, rng, config)
        self.proposals = Proposals(group, self.config.retry_ms)

    def step(self, event_in: Input, now_ms: int) -> list[Action]:
        if isinstance(event_in, Received):
            m = event_in.message
            tx = self.txs.get(getattr(m, "txid", ""))
            if isinstance(m, DecisionResult) and tx is not None and tx.phase == "deciding":
                return self._decided(tx, m.commit, now_ms)
            if isinstance(m, NotLeader) and tx is not None and tx.phase == "deciding":
                return [self.proposals.retry(m.txid, True, now_ms, m.leader)]
            last_yes = (
                isinstance(m, Vote)
                and m.yes
                and tx is not None
                and tx.phase == "voting"
                and event_in.sender in tx.legs
                and event_in.sender not in tx.votes
                and len(tx.votes) + 1 == len(tx.legs)
            )
            if last_yes:
                assert tx is not None
                tx.votes[event_in.sender] = True
                tx.phase = "deciding"
                tx.deadline_ms = now_ms + self.config.retry_ms
                return [
                    event(self.id, "+propose-commit", now_ms, tx.txid),
                    self.proposals.send(tx.txid, True, now_ms),
                ]
        return super().step(event_in, now_ms)

    def _repropose(self, tx: CoordTx, now_ms: int) -> list[Action]:
        tx.deadline_ms = now_ms + self.config.retry_ms
        return [self.proposals.retry(tx.txid, True, now_ms)]

    def _decided(self, tx: CoordTx, commit: bool, now_ms: int) -> list[Action]:
        self.proposals.done(tx.txid)
        if not commit:
            return self._abort(tx, now_ms, "the group decided abort")
        tx.phase = "committing"
        tx.deadline_ms = now_ms + self.config.retry_ms
        actions: list[Action] = [
            event(self.id, "+decide-commit", now_ms, tx.txid, "kept by the group")
        ]
        actions += [Send(p, Decision(tx.txid, True)) for p in tx.participants]
        if tx.client is not None:
            actions.append(Reply(tx.client, _committed(tx.txid)))
        return actions

    def durable_state(self) -> tuple[object, ...]:
        return ()  # the group is this coordinator's log

    def restore(self, durable_state: Sequence[object]) -> None:
        return None


def _committed(txid: str) -> object:
    from commit_lab.core.messages import TxOutcome

    return TxOutcome(txid, "committed", "kept by the group")


class ConsensusParticipant(Participant):
    """In doubt, it proposes abort to the group and applies the group's answer."""

    protocol: ClassVar[str] = "2pc-consensus"
    HANDLERS: ClassVar[dict[type, str]] = {
        **Participant.HANDLERS,
        DecisionResult: "on_result",
        NotLeader: "on_not_leader",
    }

    def __init__(
        self,
        node_id: str,
        balances: Mapping[str, int],
        group: Sequence[str],
        rng: random.Random,
        config: CommitConfig | None = None,
    ) -> None:
        super().__init__(node_id, balances, rng, config)
        self.proposals = Proposals(group, self.config.retry_ms)

    def first_wait_ms(self) -> int:
        return self.config.vote_timeout_ms

    def on_timeout(self, pending: Pending, now_ms: int) -> list[Action]:
        pending.next_ms = now_ms + self.config.retry_ms
        actions: list[Action] = []
        if not pending.asked:
            pending.asked = True
            actions.append(
                event(
                    self.id, "+in-doubt", now_ms, pending.info.txid, "proposing abort to the group"
                )
            )
            actions.append(self.proposals.send(pending.info.txid, False, now_ms))
        else:
            actions.append(self.proposals.retry(pending.info.txid, False, now_ms))
        return actions

    def on_result(self, sender: str, m: DecisionResult, now_ms: int) -> list[Action]:
        self.proposals.done(m.txid)
        if m.txid not in self.pending:
            return []
        return self.decide(m.txid, m.commit, now_ms, "kept by the group")

    def on_not_leader(self, sender: str, m: NotLeader, now_ms: int) -> list[Action]:
        pending = self.pending.get(m.txid)
        if pending is None or m.leader is None:
            return []
        pending.next_ms = now_ms + self.config.retry_ms
        return [self.proposals.retry(m.txid, False, now_ms, m.leader)]
