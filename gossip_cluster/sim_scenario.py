"""The "gossip" simulation scenario: cluster bus cores on the deterministic simulator.

A run (shaped by its seed, swarm style) starts from a formed cluster: 3-7 masters that
split the 16384 slots, 0-2 replicas each, every node loaded from a nodes.conf that knows
the others (as after ``redis-cli --cluster create``). During the safety phase a minority
of masters (the *victims*) crash for good, other nodes crash and restart, partitions and
one-way cuts come and go, and links delay, duplicate and reorder frames. Then everything
else heals and restarts, and the run must converge: every live node flags each victim
FAIL and no live node FAIL or PFAIL, all agree on who owns which slot and on the current
epoch, no live replica still follows a dead master that owns slots (its replica took
over), and live masters claim disjoint slots.

The bus runs over TCP, so the network never drops a frame on a working link; a frame sent
into a cut or to a dead node breaks its connection, and the dialling side learns
``LinkDown`` at its next step (what a reset or a connect timeout tells a real node).

Invariants after every step (:func:`install_checkers`):

* ``fail-needs-majority``: a node marks FAIL only with valid reports (plus itself) from a
  majority of the masters serving slots in its table;
* ``one-vote-per-epoch``: a master sends at most one FAILOVER_AUTH_ACK per epoch, across
  restarts;
* ``one-winner-per-epoch``: at most one replica wins the election of an epoch;
* ``epochs-never-decrease``: a running node's currentEpoch never goes down, and a restarted
  one resumes at least at the last epoch it synced to disk.

After settling, no two live masters claim one slot (so none with one configEpoch).

Planted bugs (``bug=``): ``no-majority`` marks FAIL on a single report; ``double-vote``
grants every request (no one-vote-per-epoch, no per-master vote delay).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from gossip_cluster.config import ClusterConfig
from gossip_cluster.core import ClusterCore, Policy
from gossip_cluster.nodes_conf import NodesConf
from gossip_cluster.sim_driver import (
    SimClusterNode,
    SimReply,
    SimWire,
    Topology,
    build_topology,
    node_core,
)
from gossip_cluster.wire.constants import NodeFlag
from gossip_cluster.wire.messages import FailoverAuthAck
from labkit.actions import Action, Emit, Persist, Send
from labkit.sim.errors import LivenessFailure, SimError
from labkit.sim.faults import (
    Crash,
    FaultProfile,
    Restart,
    RestartAll,
    ScheduledFault,
    plan_faults,
    swarm_profile,
)
from labkit.sim.result import RunResult, result_of
from labkit.sim.scenarios import register
from labkit.sim.seeds import rng_for
from labkit.sim.trace import Trace
from labkit.sim.world import Simulator

__all__ = [
    "BUGS",
    "Ledger",
    "SimClusterNode",
    "SimReply",
    "Topology",
    "build_topology",
    "install_checkers",
    "run_gossip",
]

BUGS = ("no-majority", "double-vote")
SIM_NODE_TIMEOUT_MS = 1_000
"""The simulator's cluster-node-timeout: short, so that runs stay short."""
CRON_MS = 100
F = NodeFlag


class NoMajorityPolicy(Policy):
    """Planted bug: one report is enough to mark FAIL."""

    def fail_quorum(self, size: int) -> int:
        return 1


class DoubleVotePolicy(Policy):
    """Planted bug: votes for every request, epoch spent or not."""

    def already_voted(self, last_vote_epoch: int, current_epoch: int) -> bool:
        return False

    def voted_recently(self, since_last_vote_ms: int | None, vote_again_ms: int) -> bool:
        return False


_POLICIES: dict[str | None, type[Policy]] = {
    None: Policy,
    "no-majority": NoMajorityPolicy,
    "double-vote": DoubleVotePolicy,
}


# -- checkers ------------------------------------------------------------------------------
@dataclass(slots=True)
class Ledger:
    """What the checkers learned (also handy when debugging a seed)."""

    votes: dict[tuple[str, int], str] = field(default_factory=dict)
    winners: dict[int, str] = field(default_factory=dict)
    epochs: dict[str, tuple[int, int]] = field(default_factory=dict)
    """endpoint -> (incarnation, current epoch) last seen."""
    persisted: dict[str, int] = field(default_factory=dict)
    durable: dict[str, int] = field(default_factory=dict)
    fail_known: dict[str, dict[str, int]] = field(default_factory=dict)
    """failing node name -> endpoint -> first time it flagged it FAIL."""
    fails_marked: int = 0


def _majority_problem(core: ClusterCore, failing: str, now_ms: int) -> str | None:
    """Re-derive, naively, that ``core`` had a majority of slot masters behind its FAIL."""
    evidence = core.evidence.get(failing)
    if evidence is None or evidence.time_ms != now_ms:
        return f"{core.name[:8]} marked {failing[:8]} FAIL without recording why"
    table = core.table
    slot_masters = [n.name for n in table.nodes.values() if n.flags & F.MASTER and n.slots]
    node = table.get(failing)
    validity = 2 * core.ctx.config.node_timeout_ms
    count = 0
    for reporter in set(evidence.reporters):
        at = None if node is None else node.fail_reports.get(reporter)
        if reporter in slot_masters and at is not None and now_ms - at <= validity:
            count += 1
    myself = core.myself
    if myself.flags & F.MASTER and myself.slots:
        count += 1
    if 2 * count <= len(slot_masters):
        return (
            f"{core.name[:8]} marked {failing[:8]} FAIL with {count} of "
            f"{len(slot_masters)} slot-serving masters"
        )
    return None


def install_checkers(sim: Simulator) -> Ledger:
    """Add the scenario's invariants to ``sim``; returns the live ledger."""
    ledger = Ledger()

    def check(s: Simulator) -> str | None:
        step = s.last_step
        if step is None:
            return None
        endpoint = step.node
        core = node_core(s, endpoint)
        for action in step.actions:
            problem = _check_action(ledger, s, endpoint, core, action)
            if problem is not None:
                return problem
        return _check_epochs(ledger, s, endpoint, core)

    sim.add_invariant("gossip-safety", check)
    return ledger


def _check_action(
    ledger: Ledger, sim: Simulator, endpoint: str, core: ClusterCore | None, action: Action
) -> str | None:
    now = sim.now_ms
    if isinstance(action, Persist) and isinstance(action.record, NodesConf):
        epoch = max(ledger.persisted.get(endpoint, 0), action.record.current_epoch)
        ledger.persisted[endpoint] = epoch
        if action.sync:
            ledger.durable[endpoint] = epoch
        return None
    if isinstance(action, Send):
        message = action.message
        inner = message.message if isinstance(message, SimReply) else message
        if isinstance(inner, FailoverAuthAck):
            key = (endpoint, inner.header.current_epoch)
            other = ledger.votes.get(key)
            if other is not None:
                return (
                    f"one-vote-per-epoch: {endpoint} voted for {other} and {action.to} "
                    f"in epoch {key[1]}"
                )
            ledger.votes[key] = action.to
        return None
    if not isinstance(action, Emit) or core is None:
        return None
    text = action.event.name
    if text.startswith("Marking node ") and text.endswith("as failing (quorum reached)."):
        failing = text.split()[2]
        ledger.fails_marked += 1
        ledger.fail_known.setdefault(failing, {}).setdefault(endpoint, now)
        problem = _majority_problem(core, failing, now)
        return None if problem is None else f"fail-needs-majority: {problem}"
    if text.startswith("FAIL message received from "):
        failing = text.split()[-1]
        ledger.fail_known.setdefault(failing, {}).setdefault(endpoint, now)
    elif text.startswith("Failover election won"):
        epoch = core.ctx.election.auth_epoch
        other = ledger.winners.setdefault(epoch, endpoint)
        if other != endpoint:
            return f"one-winner-per-epoch: epoch {epoch} won by {other} and {endpoint}"
    return None


def _check_epochs(
    ledger: Ledger, sim: Simulator, endpoint: str, core: ClusterCore | None
) -> str | None:
    if core is None:
        return None
    incarnation = sim.nodes[endpoint].incarnation
    epoch = core.current_epoch
    seen = ledger.epochs.get(endpoint)
    if seen is not None:
        if seen[0] == incarnation and epoch < seen[1]:
            return f"epochs-never-decrease: {endpoint} went from {seen[1]} to {epoch}"
        if seen[0] != incarnation and epoch < ledger.durable.get(endpoint, 0):
            return (
                f"epochs-never-decrease: {endpoint} restarted at {epoch} below its synced "
                f"{ledger.durable[endpoint]}"
            )
    ledger.epochs[endpoint] = (incarnation, epoch)
    return None


# -- the run ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Shape:
    """The seed's choices: cluster shape, victims, faults."""

    masters: int
    replicas: tuple[int, ...]
    victims: tuple[str, ...]
    """Endpoints of the masters that crash for good."""
    crash_at_ms: tuple[int, ...]
    profile: FaultProfile


def _shape(
    seed: int,
    masters: int | None,
    replicas: int | None,
    profile: FaultProfile | None,
    safety_ms: int,
    victims: int | None = None,
) -> Shape:
    rng = rng_for(seed, "gossip/shape")
    count = masters if masters is not None else rng.randint(3, 7)
    per = tuple(replicas if replicas is not None else rng.randint(0, 2) for _ in range(count))
    chosen = profile if profile is not None else swarm_profile(rng)
    chosen = replace(chosen, link=replace(chosen.link, loss_probability=0.0))
    drawn = rng.randint(1, max(1, (count - 1) // 2))
    picks = tuple(sorted(rng.sample(range(count), drawn if victims is None else victims)))
    times = tuple(rng.randint(safety_ms // 5, safety_ms * 4 // 5) for _ in picks)
    return Shape(count, per, tuple(str(i) for i in picks), times, chosen)


def _plan(
    rng: random.Random, topo: Topology, shape: Shape, safety_ms: int, *, transient: bool
) -> list[ScheduledFault]:
    victims = {topo.masters[int(i)] for i in shape.victims}
    others = [ep for ep in topo.endpoints if ep not in victims]
    plan = plan_faults(rng, others, shape.profile, safety_ms=safety_ms) if transient else []
    out: list[ScheduledFault] = []
    for item in plan:
        if isinstance(item.fault, RestartAll):
            out += [ScheduledFault(item.at_ms, Restart(ep)) for ep in others]
        else:
            out.append(item)
    for index, at in zip(shape.victims, shape.crash_at_ms, strict=True):
        out.append(ScheduledFault(at, Crash(topo.masters[int(index)])))
    out.sort(key=lambda item: item.at_ms)
    return out


def converged(sim: Simulator, topo: Topology, victims: Sequence[str]) -> str | None:
    """None when the cluster settled after healing, else what is still wrong."""
    dead = set(victims)
    live = [ep for ep in topo.endpoints if ep not in dead]
    live_names = [topo.name_of(ep) for ep in live]
    dead_names = [topo.name_of(ep) for ep in victims]
    views = set()
    epochs = set()
    claims: list[tuple[str, int]] = []
    for ep in live:
        core = node_core(sim, ep)
        if core is None:
            return f"{ep} is down"
        table = core.table
        for name in dead_names:
            node = table.get(name)
            if node is None or not node.flags & F.FAIL:
                return f"{ep} does not flag victim {name[:8]} FAIL"
        for name in live_names:
            node = table.get(name)
            if node is None or node.flags & (F.FAIL | F.PFAIL | F.HANDSHAKE | F.NOADDR):
                return f"{ep} does not see {name[:8]} as a healthy node"
        views.add(tuple(sorted((n.name, n.slots) for n in table.nodes.values() if n.slots)))
        epochs.add(core.current_epoch)
        me = core.myself
        if me.flags & F.MASTER and me.slots:
            claims.append((me.name, me.slots))
        if me.slaveof in dead_names:
            master = table.get(me.slaveof)
            if master is not None and master.slots:
                return f"{ep} still replicates dead master {me.slaveof[:8]} that owns slots"
    if len(views) != 1:
        return "nodes disagree on slot owners"
    if len(epochs) != 1:
        return f"nodes disagree on currentEpoch: {sorted(epochs)}"
    taken = 0
    for _, slots in claims:
        if taken & slots:
            return "two live masters claim one slot"
        taken |= slots
    return None


class _UnhashedTrace(Trace):
    """A trace that only counts: for measurements that need no replay hash."""

    def record(self, time_ms: int, kind: str, node: str, payload: object) -> None:
        self.count += 1


class _StopError(Exception):
    """The measurement is complete."""


def run_gossip(
    seed: int,
    *,
    bug: str | None = None,
    masters: int | None = None,
    replicas: int | None = None,
    profile: FaultProfile | None = None,
    node_timeout_ms: int = SIM_NODE_TIMEOUT_MS,
    safety_ms: int = 5_000,
    liveness_ms: int = 30_000,
    transient_faults: bool = True,
    victims: int | None = None,
    until_fail: bool = False,
    keep_trace: bool = True,
    crash_at_ms: int | None = None,
    count_bytes: bool = False,
    hash_trace: bool = True,
) -> RunResult:
    """One seeded run; failures come back in ``RunResult.failure``.

    ``details`` holds the shape, ``fail_ms`` (victim name -> virtual ms from its crash
    until every live node flagged it FAIL) and ``converged_ms``. With ``until_fail`` the
    run stops as soon as every victim is FAIL everywhere (a measurement, no liveness check).
    ``crash_at_ms`` crashes every victim at that virtual time instead of the seed's. With
    ``count_bytes`` (and ``until_fail``) ``details["bus"]`` samples, every 100 ms, the
    virtual time, the bus bytes and the frames sent so far by all nodes together.
    ``hash_trace=False`` (with ``keep_trace=False``) skips the trace's running hash, the
    bulk of a large cluster's cost: the result's ``trace_hash`` is then that of nothing.
    """
    if bug not in _POLICIES:
        raise SimError(f"unknown planted bug {bug!r}; known: {', '.join(BUGS)}")
    shape = _shape(seed, masters, replicas, profile, safety_ms, victims)
    if crash_at_ms is not None:
        shape = replace(shape, crash_at_ms=tuple(crash_at_ms for _ in shape.victims))
    topo = build_topology(rng_for(seed, "gossip/names"), shape.masters, shape.replicas)
    sim = Simulator(seed, tick_interval_ms=CRON_MS, keep_trace=keep_trace, scenario="gossip")
    if not hash_trace and not keep_trace:
        sim.trace = _UnhashedTrace(keep=False)
    wire = SimWire()
    wire.sim = sim
    wire.count_bytes = count_bytes
    samples: list[tuple[int, int, int]] = []
    config = ClusterConfig(node_timeout_ms=node_timeout_ms)
    policy = _POLICIES[bug]()
    for endpoint, conf in zip(topo.endpoints, topo.confs, strict=True):
        ip = endpoint.rpartition(":")[0]

        def factory(
            rng: random.Random, endpoint: str = endpoint, ip: str = ip, conf: NodesConf = conf
        ) -> SimClusterNode:
            core = ClusterCore(
                rng,
                config=config,
                ip=ip,
                port=6379,
                cport=16379,
                initial=conf,
                source=endpoint,
                policy=policy,
            )
            return SimClusterNode(endpoint, core, wire)

        sim.add_node(endpoint, factory)
    ledger = install_checkers(sim)
    dead = [topo.masters[int(i)] for i in shape.victims]
    plan = _plan(rng_for(seed, "gossip/faults"), topo, shape, safety_ms, transient=transient_faults)
    sim.schedule(plan)
    failure: SimError | None = None
    converged_ms = None
    live = len(topo.endpoints) - len(dead)
    victim_names = [topo.name_of(ep) for ep in dead]
    try:
        if until_fail:
            deadline = safety_ms + liveness_ms
            while sim.now_ms < deadline and any(
                len(ledger.fail_known.get(name, {})) < live for name in victim_names
            ):
                sim.run_for(CRON_MS)
                if count_bytes:
                    samples.append((sim.now_ms, wire.bytes_sent, wire.messages_sent))
            raise _StopError
        sim.run_until(safety_ms)
        deadline = safety_ms + liveness_ms
        problem = converged(sim, topo, dead)
        while problem is not None and sim.now_ms < deadline:
            sim.run_for(200)
            problem = converged(sim, topo, dead)
        if problem is not None:
            raise LivenessFailure(
                "cluster converges after healing",
                problem,
                seed=seed,
                time_ms=sim.now_ms,
                scenario="gossip",
            )
        converged_ms = sim.now_ms
    except SimError as exc:
        failure = exc
    except _StopError:
        pass
    crash_at = dict(zip(dead, shape.crash_at_ms, strict=True))
    fail_ms: dict[str, int] = {}
    for ep in dead:
        known = ledger.fail_known.get(topo.name_of(ep), {})
        if len(known) >= live:
            fail_ms[topo.name_of(ep)] = max(known.values()) - crash_at[ep]
    return result_of(
        sim,
        "gossip",
        failure,
        masters=shape.masters,
        replicas=shape.replicas,
        nodes=len(topo.endpoints),
        victims=len(dead),
        fail_ms=fail_ms,
        converged_ms=converged_ms,
        failovers=len(ledger.winners),
        votes=len(ledger.votes),
        fails_marked=ledger.fails_marked,
        **({"bus": samples} if count_bytes else {}),
    )


def _run(seed: int) -> RunResult:
    return run_gossip(seed)


register(
    "gossip",
    _run,
    "cluster bus: masters crash for good under swarm faults; FAIL and replica failover",
)
