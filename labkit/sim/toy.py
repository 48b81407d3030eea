"""A toy protocol for the simulator: leader election by epoch votes.

It is Raft's election without a log. A follower that hears no heartbeat within a
random timeout bumps its epoch, votes for itself and asks its peers; a node grants one
vote per epoch, persisting the vote before it answers; a candidate with a majority is
the epoch's leader, heartbeats its peers, and takes a per-epoch lock on a modelled
Redis server with ``SET ... NX``. Clients may ask any node ``"leader?"``.

Planted bugs (``bug=``) break it on purpose so that the checkers can be shown to work:
``double-vote`` grants every request in an epoch, ``volatile-vote`` never persists the
vote, ``send-before-persist`` answers before persisting (caught only by crashes inside
a step).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from labkit.actions import Action, Emit, Persist, RedisCommand, Reply, Send
from labkit.core import ClientRequest, Input, Received, RedisPush, RedisReply
from labkit.events import Event
from labkit.sim.errors import LivenessFailure, SimError
from labkit.sim.faults import FaultProfile, plan_faults, swarm_profile
from labkit.sim.result import RunResult, result_of
from labkit.sim.seeds import rng_for
from labkit.sim.world import Simulator

__all__ = [
    "BUGS",
    "Heartbeat",
    "ToyCore",
    "Vote",
    "VoteRecord",
    "VoteRequest",
    "install_checkers",
    "run_toy",
]

BUGS = ("double-vote", "volatile-vote", "send-before-persist")
LOCK_SERVER = ("127.0.10.100", 6379)


@dataclass(frozen=True, slots=True)
class VoteRequest:
    """A candidate asks for a vote in ``epoch``."""

    epoch: int


@dataclass(frozen=True, slots=True)
class Vote:
    """An answer to a ``VoteRequest``."""

    epoch: int
    granted: bool


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The leader of ``epoch`` is alive."""

    epoch: int


@dataclass(frozen=True, slots=True)
class VoteRecord:
    """The durable state: the epoch and whom this node voted for in it."""

    epoch: int
    voted_for: str | None


class ToyCore:
    """One node of the toy election. Timings in ms; ``peers`` excludes ``node_id``."""

    def __init__(
        self,
        node_id: str,
        peers: Sequence[str],
        rng: random.Random,
        *,
        bug: str | None = None,
        heartbeat_ms: int = 50,
        election_timeout_ms_min: int = 150,
        election_timeout_ms_max: int = 300,
        lock_server: str | None = None,
    ) -> None:
        if bug is not None and bug not in BUGS:
            raise SimError(f"unknown planted bug {bug!r}; known: {', '.join(BUGS)}")
        self.id = node_id
        self.peers = tuple(peers)
        self.rng = rng
        self.bug = bug
        self.heartbeat_ms = heartbeat_ms
        self.timeout_range_ms = (election_timeout_ms_min, election_timeout_ms_max)
        self.lock_server = lock_server
        self.epoch = 0
        self.voted_for: str | None = None
        self.role = "follower"
        self.leader: str | None = None
        self.votes: dict[str, None] = {}
        self.deadline_ms: int | None = None
        self.next_heartbeat_ms = 0

    # -- the core interface --------------------------------------------------------
    def durable_state(self) -> tuple[VoteRecord, ...]:
        """One record: the current epoch and vote."""
        return (VoteRecord(self.epoch, self.voted_for),)

    def restore(self, durable_state: Sequence[object]) -> None:
        """Take the last vote record."""
        for record in durable_state:
            if isinstance(record, VoteRecord):
                self.epoch, self.voted_for = record.epoch, record.voted_for

    def tick(self, now_ms: int) -> list[Action]:
        """Heartbeat as leader; otherwise start an election when the timeout passes."""
        if self.deadline_ms is None:
            self._reset_deadline(now_ms)
        if self.role == "leader":
            if now_ms < self.next_heartbeat_ms:
                return []
            self.next_heartbeat_ms = now_ms + self.heartbeat_ms
            return [Send(peer, Heartbeat(self.epoch)) for peer in self.peers]
        assert self.deadline_ms is not None
        if now_ms < self.deadline_ms:
            return []
        return self._start_election(now_ms)

    def step(self, event: Input, now_ms: int) -> list[Action]:
        """Handle a peer message, a client request or a Redis reply."""
        if isinstance(event, Received):
            return self._receive(event.sender, event.message, now_ms)
        if isinstance(event, ClientRequest):
            if event.request == "leader?":
                return [Reply(event.client, (self.epoch, self.leader))]
            return [Reply(event.client, "ERR unknown request")]
        if isinstance(event, RedisReply):
            name = "+leader-lock" if event.value == "OK" else "-leader-lock-taken"
            return [self._emit(name, now_ms, f"epoch {event.args[1]!r}")]
        assert isinstance(event, RedisPush)
        return []

    # -- roles ---------------------------------------------------------------------
    def _start_election(self, now_ms: int) -> list[Action]:
        self.epoch += 1
        self.voted_for = self.id
        self.role = "candidate"
        self.leader = None
        self.votes = {self.id: None}
        self._reset_deadline(now_ms)
        actions: list[Action] = [
            Persist(VoteRecord(self.epoch, self.id)),
            self._emit("+try-election", now_ms, f"epoch {self.epoch}"),
        ]
        actions += [Send(peer, VoteRequest(self.epoch)) for peer in self.peers]
        return actions + self._maybe_win(now_ms)

    def _receive(self, sender: str, message: object, now_ms: int) -> list[Action]:
        actions: list[Action] = []
        epoch = getattr(message, "epoch", None)
        if isinstance(epoch, int) and epoch > self.epoch:
            self.epoch, self.voted_for = epoch, None
            self.role, self.leader = "follower", None
            actions.append(Persist(VoteRecord(epoch, None), sync=False))
        if isinstance(message, VoteRequest):
            actions += self._on_vote_request(sender, message, now_ms)
        elif isinstance(message, Vote):
            if self.role == "candidate" and message.epoch == self.epoch and message.granted:
                self.votes[sender] = None
                actions += self._maybe_win(now_ms)
        elif isinstance(message, Heartbeat) and message.epoch == self.epoch:
            self._reset_deadline(now_ms)
            if self.role == "candidate":
                self.role = "follower"
            if self.leader != sender:
                self.leader = sender
                actions.append(
                    self._emit("+new-leader", now_ms, f"epoch {self.epoch} leader {sender}")
                )
        return actions

    def _on_vote_request(self, sender: str, request: VoteRequest, now_ms: int) -> list[Action]:
        may_vote = self.voted_for in (None, sender) or self.bug == "double-vote"
        if request.epoch != self.epoch or not may_vote:
            return [Send(sender, Vote(request.epoch, False))]
        self.voted_for = sender
        self._reset_deadline(now_ms)
        answer = Send(sender, Vote(request.epoch, True))
        if self.bug == "volatile-vote":
            return [answer]
        persist = Persist(VoteRecord(self.epoch, sender))
        if self.bug == "send-before-persist":
            return [answer, persist]
        return [persist, answer]

    def _maybe_win(self, now_ms: int) -> list[Action]:
        if len(self.votes) * 2 <= len(self.peers) + 1:
            return []
        self.role, self.leader = "leader", self.id
        self.next_heartbeat_ms = now_ms + self.heartbeat_ms
        actions: list[Action] = [self._emit("+elected", now_ms, f"epoch {self.epoch}")]
        actions += [Send(peer, Heartbeat(self.epoch)) for peer in self.peers]
        if self.lock_server is not None:
            actions.append(
                RedisCommand(
                    self.lock_server,
                    ("SET", f"toy:leader:{self.epoch}", self.id, "NX", "PX", 60_000),
                )
            )
        return actions

    def _reset_deadline(self, now_ms: int) -> None:
        self.deadline_ms = now_ms + self.rng.randint(*self.timeout_range_ms)

    def _emit(self, name: str, now_ms: int, details: str) -> Emit:
        return Emit(
            Event(
                source=self.id,
                name=name,
                wall_ns=now_ms * 1_000_000,
                details=details,
                role=self.role[0].upper(),
            )
        )


# -- checkers ----------------------------------------------------------------------
def install_checkers(sim: Simulator) -> dict[int, str]:
    """Add the toy's invariants; returns the live map of epoch -> elected leader.

    * a node votes for one candidate per epoch, across crashes (its own candidacy
      counts as a vote for itself);
    * one leader per epoch;
    * a client told "X leads epoch e" only if X was elected in e;
    * a per-epoch Redis lock is never found taken.
    """
    leaders: dict[int, str] = {}
    votes: dict[tuple[str, int], str] = {}

    def one_vote_per_epoch(s: Simulator) -> str | None:
        step = s.last_step
        if step is None:
            return None
        for action in step.actions:
            if isinstance(action, Send) and isinstance(action.message, Vote):
                if not action.message.granted:
                    continue
                key, candidate = (step.node, action.message.epoch), action.to
            elif isinstance(action, Emit) and action.event.name == "+try-election":
                key, candidate = (step.node, int(action.event.details.split()[1])), step.node
            else:
                continue
            other = votes.setdefault(key, candidate)
            if other != candidate:
                return f"{key[0]} voted for {other} and {candidate} in epoch {key[1]}"
        return None

    def one_leader_per_epoch(s: Simulator) -> str | None:
        step = s.last_step
        if step is None:
            return None
        for action in step.actions:
            if isinstance(action, Emit) and action.event.name == "+elected":
                epoch = int(action.event.details.split()[1])
                other = leaders.setdefault(epoch, step.node)
                if other != step.node:
                    return f"epoch {epoch} has two leaders: {other} and {step.node}"
            elif isinstance(action, Emit) and action.event.name == "-leader-lock-taken":
                return f"{step.node} found the lock of its epoch taken ({action.event.details})"
        return None

    def replies_name_real_leaders(s: Simulator) -> str | None:
        step = s.last_step
        if step is None:
            return None
        for action in step.actions:
            if isinstance(action, Reply) and isinstance(action.value, tuple):
                epoch, leader = action.value
                if leader is not None and leaders.get(epoch) != leader:
                    return f"{step.node} told a client {leader} leads epoch {epoch}"
        return None

    sim.add_invariant("one-vote-per-epoch", one_vote_per_epoch)
    sim.add_invariant("one-leader-per-epoch", one_leader_per_epoch)
    sim.add_invariant("replies-name-real-leaders", replies_name_real_leaders)
    return leaders


def _converged(sim: Simulator) -> bool:
    cores = [node.core for node in sim.nodes.values()]
    toys = [core for core in cores if isinstance(core, ToyCore)]
    if len(toys) != len(cores):
        return False
    leaders = [core for core in toys if core.role == "leader"]
    if len(leaders) != 1:
        return False
    top = leaders[0]
    return all(core.epoch == top.epoch and core.leader == top.id for core in toys)


def run_toy(
    seed: int,
    *,
    bug: str | None = None,
    nodes: int | None = None,
    safety_ms: int = 2_000,
    liveness_ms: int = 3_000,
    profile: FaultProfile | None = None,
    keep_trace: bool = True,
) -> RunResult:
    """One seeded run of the toy election: faults, then heal and require one leader.

    Swarm testing picks the cluster size (3 or 5) and the fault profile from the seed
    unless they are given. Failures come back in ``RunResult.failure``.
    """
    shape = rng_for(seed, "toy/shape")
    count = nodes if nodes is not None else shape.choice((3, 5))
    chosen = profile if profile is not None else swarm_profile(shape)
    sim = Simulator(seed, scenario="toy", compact_every_records=8, keep_trace=keep_trace)
    lock = sim.add_redis(*LOCK_SERVER)
    names = [f"n{i}" for i in range(1, count + 1)]
    for name in names:
        peers = [peer for peer in names if peer != name]

        def factory(rng: random.Random, name: str = name, peers: list[str] = peers) -> ToyCore:
            return ToyCore(name, peers, rng, bug=bug, lock_server=lock)

        sim.add_node(name, factory)
    leaders = install_checkers(sim)
    sim.schedule(plan_faults(shape, names, chosen, safety_ms=safety_ms))
    for i in range(shape.randint(0, 20)):
        sim.request(
            shape.choice(names),
            "leader?",
            client=f"c{i}",
            at_ms=shape.randrange(safety_ms + liveness_ms),
        )
    failure: SimError | None = None
    try:
        sim.run_until(safety_ms)
        end_ms = safety_ms + liveness_ms
        sim.run_until_true(_converged, deadline_ms=end_ms, what="one leader known to all nodes")
        sim.run_until(end_ms)
        if not _converged(sim):
            raise LivenessFailure(
                "stable leader",
                "the leader changed after healing",
                seed=seed,
                time_ms=sim.now_ms,
                scenario="toy",
            )
    except SimError as exc:
        failure = exc
    return result_of(sim, "toy", failure, nodes=count, epochs=len(leaders), profile=chosen)
