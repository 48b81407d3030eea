"""The "raft" simulation scenario: Raft cores with a modelled key-value state machine.

A run (shaped by its seed, swarm style): 3 or 5 nodes; clients send unique ``SET``
writes and ``GET`` reads on a few register keys, each to the node that the node it
asked believes leads. During the safety phase nodes crash (between steps or inside
one, cutting its actions), partitions and one-way cuts come and go, and the network
delays, drops, duplicates and reorders messages. Some seeds (and ``leader_hunt=True``)
add a leader hunt: the leader is crashed every few ms and most new leaders are cut off
the moment they are elected, which builds the diverging logs of Raft's Figure 8.
Then everything heals, and a leader must be elected and a new write acknowledged
before the deadline.

Each node is a :class:`SimRaftNode`: a :class:`RaftCore` plus a dict standing in for
the Redis server, driven as the asyncio driver will drive Redis (``Apply`` → apply →
``Applied``; ``RunQuery`` → ``QueryDone``; a snapshot every few entries).

Invariants after every step (:func:`install_checkers`):

* ``one-vote-per-term``: a node grants one vote per term, across crashes;
* ``one-leader-per-term``;
* ``log-matching``: entries with the same index and term are equal, on every node,
  and (at the end) logs agreeing at an index agree on everything before it;
* ``state-machine-safety``: no two nodes apply different entries at one index;
* ``leader-completeness``: a new leader holds every entry applied anywhere;
* ``acked-write-lost``: a new leader (and, at the end, every node) holds every write
  a client was told succeeded;
* ``linearizable-reads``: a read never returns a value older than a write that was
  acknowledged before the read started.

Planted bugs (``bug=``): see :data:`redis_raft.core.node.BUGS`.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from labkit.actions import Apply, Emit, Persist, Reply, Send
from labkit.sim.errors import SimError
from labkit.sim.faults import FaultProfile, plan_faults, swarm_profile
from labkit.sim.result import RunResult, result_of
from labkit.sim.scenarios import register
from labkit.sim.seeds import rng_for
from labkit.sim.world import Simulator
from redis_raft.core import (
    ApplyEntry,
    Entry,
    LogAppend,
    RaftConfig,
    RaftCore,
    Read,
    RequestVoteResponse,
    Write,
)
from redis_raft.core.testing import KVStore, SimRaftNode

__all__ = [
    "SIM_SETTINGS",
    "KVStore",
    "SimRaftNode",
    "Workload",
    "install_checkers",
    "run_raft",
]

SIM_SETTINGS = RaftConfig(
    election_timeout_ms=150,
    heartbeat_ms=40,
    lease_margin_ms=20,
    max_entries_per_append=8,
    max_inflight_appends=4,
)
"""Fast timings for the simulator (the simulated network has 1-150 ms delays)."""

KEYS = ("k0", "k1", "k2")


@dataclass(slots=True)
class Op:
    """One client operation of the workload."""

    client: str
    kind: str  # "write" | "read"
    key: str
    value: str
    invoke_ms: int = -1
    done_ms: int = -1
    result: object = None


@dataclass(slots=True)
class Workload:
    """What the clients did, for the checkers."""

    ops: dict[str, Op] = field(default_factory=dict)
    value_at: dict[str, tuple[int, int]] = field(default_factory=dict)  # value -> (index, term)
    acked: dict[str, tuple[int, int, int]] = field(
        default_factory=dict
    )  # value -> (index, term, ms)
    acked_by_key: dict[str, list[tuple[int, int]]] = field(
        default_factory=dict
    )  # key -> (ms, index)
    reads_checked: int = 0

    def schedule(self, sim: Simulator, op: Op, at_ms: int, names: Sequence[str]) -> None:
        """Send ``op`` at ``at_ms`` to the leader known to a random node."""
        self.ops[op.client] = op
        pick = sim.rng(f"route/{op.client}")

        def fire() -> None:
            asked = pick.choice(list(names))
            node = sim.nodes[asked]
            target = asked
            if node.core is not None:
                leader = _raft(node.core).core.leader
                if leader is not None and leader in sim.nodes:
                    target = leader
            op.invoke_ms = sim.now_ms
            request: Write | Read
            if op.kind == "write":
                request = Write(f"SET {op.key} {op.value}".encode())
            else:
                request = Read(f"GET {op.key}".encode())
            sim.request(target, request, client=op.client)

        sim.at(at_ms, fire)


def _raft(core: object) -> SimRaftNode:
    assert isinstance(core, SimRaftNode)
    return core


def _term_of(details: str) -> int:
    words = details.split()
    return int(words[words.index("term") + 1])


def install_checkers(sim: Simulator, workload: Workload) -> dict[int, str]:
    """Add the Raft invariants; returns the live map of term -> elected leader."""
    leaders: dict[int, str] = {}
    votes: dict[tuple[str, int], str] = {}
    entries: dict[tuple[int, int], object] = {}
    applied: dict[int, tuple[int, object]] = {}

    def check_step(s: Simulator) -> str | None:
        step = s.last_step
        if step is None:
            return None
        node = step.node
        for action in step.actions:
            problem: str | None = None
            if isinstance(action, Send):
                problem = _check_vote(node, action, votes)
            elif isinstance(action, Emit):
                problem = _check_emit(s, node, action, leaders, votes, applied, workload)
            elif isinstance(action, Persist) and isinstance(action.record, LogAppend):
                problem = _check_entries(node, action.record.entries, entries)
            elif isinstance(action, Apply) and isinstance(action.command, ApplyEntry):
                problem = _check_apply(node, action.command.entry, applied, workload)
            elif isinstance(action, Reply):
                problem = _check_reply(s, node, action, workload)
            if problem is not None:
                return problem
        return None

    sim.add_invariant("raft", check_step)
    return leaders


def _check_vote(node: str, action: Send, votes: dict[tuple[str, int], str]) -> str | None:
    m = action.message
    if isinstance(m, RequestVoteResponse) and m.granted and not m.pre_vote:
        other = votes.setdefault((node, m.term), action.to)
        if other != action.to:
            return f"one-vote-per-term: {node} voted for {other} and {action.to} in term {m.term}"
    return None


def _check_emit(
    s: Simulator,
    node: str,
    action: Emit,
    leaders: dict[int, str],
    votes: dict[tuple[str, int], str],
    applied: dict[int, tuple[int, object]],
    workload: Workload,
) -> str | None:
    name = action.event.name
    if name == "+try-election":
        term = _term_of(action.event.details)
        other = votes.setdefault((node, term), node)
        if other != node:
            return f"one-vote-per-term: {node} voted for {other}, then for itself in term {term}"
    elif name == "+elected-leader":
        term = _term_of(action.event.details)
        other = leaders.setdefault(term, node)
        if other != node:
            return f"one-leader-per-term: term {term} has two leaders: {other} and {node}"
        core = s.nodes[node].core
        if core is None:
            return None
        log = _raft(core).core.log
        acked = {index for index, _, _ in workload.acked.values()}
        for index, (term_applied, _) in sorted(applied.items()):
            if index > log.snap_index and log.term_at(index) != term_applied:
                what = "acked-write-lost" if index in acked else "leader-completeness"
                return (
                    f"{what}: {node}, leader of term {term}, lacks the committed entry "
                    f"{index} of term {term_applied}"
                )
    return None


def _check_entries(
    node: str, new: tuple[Entry, ...], entries: dict[tuple[int, int], object]
) -> str | None:
    for entry in new:
        data = entries.setdefault((entry.index, entry.term), entry.data)
        if data != entry.data:
            return (
                f"log-matching: {node} holds {entry.data!r} at index {entry.index} term "
                f"{entry.term}, another node {data!r}"
            )
    return None


def _check_apply(
    node: str, entry: Entry, applied: dict[int, tuple[int, object]], workload: Workload
) -> str | None:
    first = applied.setdefault(entry.index, (entry.term, entry.data))
    if first != (entry.term, entry.data):
        return (
            f"state-machine-safety: {node} applied {entry.data!r} (term {entry.term}) at index "
            f"{entry.index}, another node {first[1]!r} (term {first[0]})"
        )
    if isinstance(entry.data, bytes):
        parts = entry.data.decode().split()
        if parts[0] == "SET":
            workload.value_at.setdefault(parts[2], (entry.index, entry.term))
    return None


def _check_reply(s: Simulator, node: str, action: Reply, workload: Workload) -> str | None:
    op = workload.ops.get(action.client)
    if op is None:
        return None
    op.done_ms, op.result = s.now_ms, action.value
    if op.kind == "write":
        if action.value == "OK":
            at = workload.value_at.get(op.value)
            if at is None:
                return f"acked-write-lost: {node} acknowledged {op.value} but never applied it"
            index, term = at
            workload.acked[op.value] = (index, term, s.now_ms)
            workload.acked_by_key.setdefault(op.key, []).append((s.now_ms, index))
        return None
    if not (action.value is None or isinstance(action.value, str)):
        return None  # an error or a redirect
    if isinstance(action.value, str) and action.value.startswith("ERR"):
        return None
    got = 0 if action.value is None else workload.value_at.get(action.value, (-1, 0))[0]
    if got < 0:
        return f"linearizable-reads: {node} returned {action.value!r}, never applied"
    workload.reads_checked += 1
    before = [index for done, index in workload.acked_by_key.get(op.key, []) if done < op.invoke_ms]
    if before and got < max(before):
        return (
            f"linearizable-reads: {node} returned {action.value!r} (index {got}) for {op.key} "
            f"to a read started at {op.invoke_ms} ms, after the write at index "
            f"{max(before)} was acknowledged"
        )
    return None


def check_final_logs(sim: Simulator, workload: Workload) -> str | None:
    """End of run: logs that agree at an index agree before it, and every node holds
    every acknowledged write (in its log, or below its snapshot)."""
    cores = {name: _raft(node.core).core for name, node in sim.nodes.items() if node.core}
    names = sorted(cores)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            la, lb = cores[a].log, cores[b].log
            low = max(la.snap_index, lb.snap_index) + 1
            high = min(la.last_index, lb.last_index)
            agreed = False
            for index in range(high, low - 1, -1):
                same = la.entry(index) == lb.entry(index)
                if agreed and not same:
                    return f"log-matching: {a} and {b} agree at a later index but differ at {index}"
                agreed = agreed or same
    for value, (index, term, _) in sorted(workload.acked.items()):
        for name in names:
            core = cores[name]
            log = core.log
            if index <= log.snap_index:
                continue
            held = log.term_at(index) == term
            if not held and (index <= core.commit or core.is_leader):
                return f"acked-write-lost: {name} lacks the acknowledged {value} at {index}"
    return None


def _live(sim: Simulator, workload: Workload, since_ms: int) -> bool:
    return any(
        op.kind == "write" and op.result == "OK" and op.invoke_ms >= since_ms
        for op in workload.ops.values()
    )


def run_raft(
    seed: int,
    *,
    bug: str | None = None,
    nodes: int | None = None,
    safety_ms: int = 2_000,
    liveness_ms: int = 3_000,
    ops: int | None = None,
    profile: FaultProfile | None = None,
    settings: RaftConfig | None = None,
    leader_hunt: bool | None = None,
    keep_trace: bool = True,
) -> RunResult:
    """One seeded run: faults and client operations, then heal and require progress.

    The cluster size (3 or 5), the fault profile, lease reads on or off, the
    leader hunt (crash whoever leads, again and again, as in the Figure 8 test) and
    the number of operations come from the seed unless given.
    """
    shape = rng_for(seed, "raft/shape")
    count = nodes if nodes is not None else shape.choice((3, 5))
    chosen = profile if profile is not None else swarm_profile(shape)
    lease = shape.random() < 0.3
    base = settings if settings is not None else SIM_SETTINGS
    if settings is None and lease:
        base = dataclasses.replace(SIM_SETTINGS, lease_reads=True)
    n_ops = ops if ops is not None else shape.randint(20, 80)
    hunt = leader_hunt if leader_hunt is not None else shape.random() < 0.25
    sim = Simulator(seed, scenario="raft", compact_every_records=64, keep_trace=keep_trace)
    names = [f"n{i}" for i in range(1, count + 1)]
    for name in names:

        def factory(rng: random.Random, name: str = name) -> SimRaftNode:
            return SimRaftNode(RaftCore(name, names, rng, base, bug=bug))

        sim.add_node(name, factory)
    workload = Workload()
    leaders = install_checkers(sim, workload)
    sim.schedule(plan_faults(shape, names, chosen, safety_ms=safety_ms))
    for i in range(n_ops):
        kind = "write" if shape.random() < 0.6 else "read"
        op = Op(f"c{i}", kind, shape.choice(KEYS), f"v{i}")
        workload.schedule(sim, op, shape.randrange(safety_ms), names)
    for j in range(liveness_ms // 100):
        op = Op(f"l{j}", "write", shape.choice(KEYS), f"w{j}")
        workload.schedule(sim, op, safety_ms + 100 * j, names)
    if hunt:
        _hunt_leaders(sim, names, safety_ms)
    failure: SimError | None = None
    try:
        sim.run_until(safety_ms)
        end_ms = safety_ms + liveness_ms
        sim.run_until_true(
            lambda s: _live(s, workload, safety_ms),
            deadline_ms=end_ms,
            what="a leader elected and a write acknowledged after healing",
        )
        problem = check_final_logs(sim, workload)
        if problem is not None:
            from labkit.sim.errors import InvariantViolation

            raise InvariantViolation(
                problem.split(":")[0], problem, seed=seed, time_ms=sim.now_ms, scenario="raft"
            )
    except SimError as exc:
        failure = exc
    return result_of(
        sim,
        "raft",
        failure,
        nodes=count,
        terms=len(leaders),
        lease_reads=base.lease_reads,
        leader_hunt=hunt,
        acked_writes=len(workload.acked),
        reads_checked=workload.reads_checked,
        profile=chosen,
    )


def _hunt_leaders(sim: Simulator, names: Sequence[str], safety_ms: int) -> None:
    """Every few ms crash the leader (sometimes inside a step) and restart others,
    keeping a majority up; and cut most new leaders off the moment they are elected,
    before their first entries leave (the logs of Raft's Figure 8)."""
    rng = sim.rng("hunt")
    need = len(names) // 2 + 1

    def cut_new_leader(s: Simulator) -> None:
        step = s.last_step
        if step is None or s.now_ms >= safety_ms:
            return None
        elected = any(
            isinstance(a, Emit) and a.event.name == "+elected-leader" for a in step.actions
        )
        if elected and rng.random() < 0.7:
            s.network.partition([[step.node], [n for n in names if n != step.node]])
            s.trace.record(s.now_ms, "partition", step.node, "isolated at election")
            s.at(s.now_ms + rng.randint(20, 400), s.network.heal)
        return None

    sim.add_invariant("nemesis: isolate new leaders", cut_new_leader)

    def strike() -> None:
        if sim.now_ms >= safety_ms:
            return
        up = [n for n in names if sim.nodes[n].up]
        leaders = [n for n in up if _raft(sim.nodes[n].core).core.is_leader]
        if leaders and rng.random() < 0.6:
            sim.crash(rng.choice(leaders), mid_step=rng.random() < 0.3)
        down = [n for n in names if not sim.nodes[n].up]
        if down and (len(names) - len(down) < need or rng.random() < 0.5):
            sim.restart(rng.choice(down))
        sim.at(sim.now_ms + rng.randint(10, 150), strike)

    sim.at(rng.randint(50, 300), strike)


def _run(seed: int) -> RunResult:
    return run_raft(seed)


register("raft", _run, "Raft over a modelled key-value store: crashes, partitions, then progress")
