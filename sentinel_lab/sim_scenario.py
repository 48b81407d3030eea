"""The "sentinel" simulation scenario: our Sentinel core against modelled Redis servers.

A run (all shaped by its seed, swarm style): 3 or 5 sentinels monitor a modelled
master with 2 or 3 replicas. After a discovery period the master crashes, and
sometimes comes back; during the safety phase sentinels crash and restart,
partitions and one-way cuts split sentinels from each other and from the Redis
servers, and the network delays, drops, duplicates and reorders messages. Then
everything heals and the run must converge: every sentinel up, on one current epoch,
naming one master address, no failover in progress, and that server a live master.

Invariants, checked after every step (:func:`install_checkers`):

* ``one-vote-per-epoch``: a sentinel grants at most one vote per epoch, across restarts;
* ``one-leader-per-epoch``: at most one sentinel is elected for a failover epoch;
* ``one-promotion-per-epoch``: SLAVEOF NO ONE goes to one replica per epoch, sent by
  that epoch's leader;
* ``failover-needs-odown-and-majority``: a sentinel starts a failover only while it sees
  the master ODOWN, and is elected only with votes from a majority of all sentinels and
  at least the quorum (votes granted to it at its failover epoch or later);
* ``epochs-never-decrease``: a running sentinel's current epoch never goes down, and a
  restarted one resumes at least at the last epoch it persisted.

Planted bugs (``bug=``): ``double-vote`` grants every vote request whose epoch is not
older than its own; ``no-majority`` takes the most-voted sentinel as leader without a
majority or quorum.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from labkit.actions import Action, Emit, Persist, RedisCommand
from labkit.core import Input, RedisReply
from labkit.sim.errors import SimError
from labkit.sim.faults import FaultProfile, plan_faults, swarm_profile
from labkit.sim.redis_model import RedisError, RedisLinkError
from labkit.sim.result import RunResult, result_of
from labkit.sim.scenarios import register
from labkit.sim.seeds import rng_for
from labkit.sim.world import Simulator
from sentinel_lab.core import (
    FailoverState,
    MasterConfig,
    SentinelCore,
    SentinelIdentity,
    SentinelState,
    Timing,
)
from sentinel_lab.core.quorum import majority
from sentinel_lab.core.replies import ErrorReply, LinkError

__all__ = [
    "BUGS",
    "MASTER_NAME",
    "SimSentinel",
    "install_checkers",
    "run_sentinel",
    "sentinel_converged",
]

BUGS = ("double-vote", "no-majority")
MASTER_NAME = "mymaster"
SENTINEL_PORT = 26379
TICK_MS = 100
"""The Sentinel timer runs at hz 10 in Redis: every 100 ms."""


class DoubleVoteCore(SentinelCore):
    """Planted bug: grants a vote in an epoch it already voted in."""

    def may_grant_vote(self, leader_epoch: int, req_epoch: int) -> bool:
        return self.current_epoch <= req_epoch


class NoMajorityCore(SentinelCore):
    """Planted bug: the most voted sentinel leads, majority and quorum or not."""

    def leader_from_votes(self, counts: dict[str, int], voters: int, quorum: int) -> str | None:
        return max(counts, key=lambda runid: counts[runid]) if counts else None


_CORES: dict[str | None, type[SentinelCore]] = {
    None: SentinelCore,
    "double-vote": DoubleVoteCore,
    "no-majority": NoMajorityCore,
}


class SimSentinel:
    """The simulator's driver for one core: turns the Redis model's reply values into the
    core's (``RedisError`` -> ``ErrorReply``, ``RedisLinkError`` -> ``LinkError``), as the
    asyncio driver does with redis-py's."""

    def __init__(self, core: SentinelCore) -> None:
        self.core = core

    def step(self, event: Input, now_ms: int) -> list[Action]:
        if isinstance(event, RedisReply):
            value = event.value
            if isinstance(value, RedisError):
                event = RedisReply(event.target, event.args, ErrorReply(value.message))
            elif isinstance(value, RedisLinkError):
                failure = LinkError("refused" if value.kind == "refused" else "reset", value.detail)
                event = RedisReply(event.target, event.args, failure)
        return self.core.step(event, now_ms)

    def tick(self, now_ms: int) -> list[Action]:
        return self.core.tick(now_ms)

    def durable_state(self) -> Sequence[object]:
        return self.core.durable_state()

    def restore(self, durable_state: Sequence[object]) -> None:
        self.core.restore(durable_state)


def _core(sim: Simulator, node: str) -> SentinelCore | None:
    host = sim.nodes[node].core
    return host.core if isinstance(host, SimSentinel) else None


@dataclass(slots=True)
class Ledger:
    """What the checkers learned so far (also handy when debugging a seed)."""

    runids: dict[str, str]
    total: int
    quorum: int
    votes: dict[tuple[str, int], str] = field(default_factory=dict)
    leaders: dict[int, str] = field(default_factory=dict)
    elected_epoch: dict[str, int] = field(default_factory=dict)
    promotions: dict[int, str] = field(default_factory=dict)
    persisted_epoch: dict[str, int] = field(default_factory=dict)
    seen_epoch: dict[str, tuple[int, int]] = field(default_factory=dict)


def install_checkers(sim: Simulator, runids: dict[str, str], quorum: int) -> Ledger:
    """Add the scenario's invariants; ``runids`` maps node -> sentinel runid."""
    ledger = Ledger(runids, len(runids), quorum)
    node_of = {runid: node for node, runid in runids.items()}

    def check(s: Simulator) -> str | None:
        step = s.last_step
        if step is None:
            return None
        node = step.node
        core = _core(s, node)
        for action in step.actions:
            problem = _check_action(ledger, node_of, node, core, action)
            if problem is not None:
                return problem
        return _check_epoch(ledger, s, node, core)

    sim.add_invariant("sentinel-safety", check)
    return ledger


def _check_action(
    ledger: Ledger,
    node_of: dict[str, str],
    node: str,
    core: SentinelCore | None,
    action: Action,
) -> str | None:
    if isinstance(action, Persist) and isinstance(action.record, SentinelState):
        epoch = action.record.current_epoch
        ledger.persisted_epoch[node] = max(ledger.persisted_epoch.get(node, 0), epoch)
        return None
    if isinstance(action, RedisCommand) and action.args[:3] == ("SLAVEOF", "NO", "ONE"):
        elected = ledger.elected_epoch.get(node)
        if elected is None or ledger.leaders.get(elected) != node:
            return f"one-promotion-per-epoch: {node} sent SLAVEOF NO ONE without being elected"
        other = ledger.promotions.setdefault(elected, action.target)
        if other != action.target:
            return f"one-promotion-per-epoch: epoch {epoch} promoted {other} and {action.target}"
        return None
    if not isinstance(action, Emit):
        return None
    event = action.event
    if event.name == "+vote-for-leader":
        runid, epoch_text = event.details.split()
        key = (node, int(epoch_text))
        other = ledger.votes.setdefault(key, runid)
        if other != runid:
            return (
                f"one-vote-per-epoch: {node} voted for {node_of.get(other, other)} and "
                f"{node_of.get(runid, runid)} in epoch {key[1]}"
            )
    elif event.name == "+try-failover" and core is not None:
        master = core.masters[MASTER_NAME]
        if not master.o_down and not master.force_failover:
            return f"failover-needs-odown-and-majority: {node} started a failover without ODOWN"
    elif event.name == "+elected-leader" and core is not None:
        master = core.masters[MASTER_NAME]
        epoch = master.failover_epoch
        other = ledger.leaders.setdefault(epoch, node)
        if other != node:
            return f"one-leader-per-epoch: epoch {epoch} elected {other} and {node}"
        ledger.elected_epoch[node] = epoch
        runid = ledger.runids[node]
        voters = {
            voter
            for (voter, e), chosen in ledger.votes.items()
            if chosen == runid and epoch <= e <= core.current_epoch
        }
        needed = max(majority(ledger.total), ledger.quorum)
        if len(voters) < needed and not master.force_failover:
            return (
                f"failover-needs-odown-and-majority: {node} was elected in epoch {epoch} "
                f"with {len(voters)} votes ({sorted(voters)}), needs {needed}"
            )
    return None


def _check_epoch(
    ledger: Ledger, sim: Simulator, node: str, core: SentinelCore | None
) -> str | None:
    if core is None:
        return None
    incarnation = sim.nodes[node].incarnation
    epoch = core.current_epoch
    seen = ledger.seen_epoch.get(node)
    if seen is not None and seen[0] == incarnation and epoch < seen[1]:
        return f"epochs-never-decrease: {node} went from epoch {seen[1]} to {epoch}"
    if (seen is None or seen[0] != incarnation) and epoch < ledger.persisted_epoch.get(node, 0):
        return (
            f"epochs-never-decrease: {node} restarted at epoch {epoch}, "
            f"below its persisted {ledger.persisted_epoch[node]}"
        )
    ledger.seen_epoch[node] = (incarnation, epoch)
    return None


def sentinel_converged(sim: Simulator) -> bool:
    """Every sentinel up, one epoch, one master address, no failover under way, and
    that address a live modelled master."""
    cores = [_core(sim, node) for node in sorted(sim.nodes)]
    if any(core is None for core in cores):
        return False
    views = set()
    for core in cores:
        assert core is not None
        master = core.masters[MASTER_NAME]
        if master.failover_in_progress or master.failover_state != FailoverState.NONE:
            return False
        views.add((core.current_epoch, master.host, master.port))
    if len(views) != 1:
        return False
    _, host, port = views.pop()
    name = f"{host}:{port}"
    if name not in sim.redis:
        return False
    server = sim.redis[name]
    return server.alive and not server.paused and server.role == "master"


def run_sentinel(
    seed: int,
    *,
    bug: str | None = None,
    sentinels: int | None = None,
    profile: FaultProfile | None = None,
    discovery_ms: int = 12_000,
    safety_ms: int = 20_000,
    liveness_ms: int = 90_000,
    keep_trace: bool = True,
) -> RunResult:
    """One seeded run; failures come back in ``RunResult.failure``."""
    if bug not in _CORES:
        raise SimError(f"unknown planted bug {bug!r}; known: {', '.join(BUGS)}")
    shape = rng_for(seed, "sentinel/shape")
    count = sentinels if sentinels is not None else shape.choice((3, 5))
    quorum = majority(count) if shape.random() < 0.7 else shape.randint(1, count)
    replica_count = shape.choice((2, 3))
    chosen = profile if profile is not None else swarm_profile(shape)
    sim = Simulator(
        seed,
        scenario="sentinel",
        tick_interval_ms=TICK_MS,
        keep_trace=keep_trace,
        compact_every_records=16,
    )
    master = sim.add_redis("127.0.10.1", 6379)
    replicas = [sim.add_redis(f"127.0.10.{i + 2}", 6379) for i in range(replica_count)]
    for name in replicas:
        sim.redis.execute(name, ("SLAVEOF", "127.0.10.1", "6379"), client="setup", now_ms=0)
    if shape.random() < 0.3:  # one replica never promoted, another preferred
        never, preferred = shape.sample(replicas, 2)
        sim.redis[never].replica_priority = 0
        sim.redis[preferred].replica_priority = 10
    timing = Timing()
    config = MasterConfig(
        MASTER_NAME,
        "127.0.10.1",
        6379,
        quorum,
        down_after_ms=shape.choice((3000, 5000)),
        failover_timeout_ms=shape.choice((6000, 10_000, 20_000)),
        parallel_syncs=shape.choice((1, 2)),
    )
    names = [f"127.0.11.{i}:{SENTINEL_PORT}" for i in range(1, count + 1)]
    runids = {name: f"{rng_for(seed, f'myid/{name}').getrandbits(160):040x}" for name in names}
    core_class = _CORES[bug]
    for name in names:
        host = name.split(":")[0]
        identity = SentinelIdentity(host, SENTINEL_PORT, runids[name])

        def factory(
            rng: random.Random, identity: SentinelIdentity = identity, name: str = name
        ) -> SimSentinel:
            return SimSentinel(core_class(identity, [config], rng, timing=timing, source=name))

        sim.add_node(name, factory)
    ledger = install_checkers(sim, runids, quorum)
    _plan(sim, shape, names, master, replicas, chosen, discovery_ms, discovery_ms + safety_ms)
    failure: SimError | None = None
    end_ms = discovery_ms + safety_ms + liveness_ms
    try:
        sim.run_until(discovery_ms + safety_ms)
        sim.run_until_true(
            sentinel_converged,
            deadline_ms=end_ms,
            what="every sentinel on one master and one epoch",
        )
    except SimError as exc:
        failure = exc
    return result_of(
        sim,
        "sentinel",
        failure,
        sentinels=count,
        quorum=quorum,
        replicas=replica_count,
        leaders=dict(ledger.leaders),
        promotions=dict(ledger.promotions),
        profile=chosen,
    )


def _plan(
    sim: Simulator,
    shape: random.Random,
    names: list[str],
    master: str,
    replicas: list[str],
    profile: FaultProfile,
    start_ms: int,
    heal_ms: int,
) -> None:
    """The master crash, sentinel faults from the profile, and cuts to Redis servers."""
    crash_at = start_ms + shape.randrange(4_000)
    sim.at(crash_at, lambda: sim.crash_redis(master))
    if shape.random() < 0.5:
        back_at = crash_at + shape.randrange(1, heal_ms - crash_at + 20_000)
        sim.at(back_at, lambda: sim.restart_redis(master))
    if shape.random() < 0.3:
        victim = shape.choice(replicas)
        down_at = start_ms + shape.randrange(heal_ms - start_ms)
        sim.at(down_at, lambda: sim.crash_redis(victim))
        sim.at(heal_ms, lambda: sim.restart_redis(victim))
    for item in plan_faults(shape, names, profile, safety_ms=heal_ms - start_ms):
        sim.schedule([type(item)(item.at_ms + start_ms, item.fault)])
    servers = [master, *replicas]
    for _ in range(shape.randint(0, 4)):
        at = start_ms + shape.randrange(heal_ms - start_ms)
        cut_sentinels = tuple(sorted(shape.sample(names, shape.randint(1, len(names)))))
        cut_servers = tuple(sorted(shape.sample(servers, shape.randint(1, len(servers)))))
        both = shape.random() < 0.5

        def cut(
            srcs: tuple[str, ...] = cut_sentinels,
            dsts: tuple[str, ...] = cut_servers,
            both: bool = both,
        ) -> None:
            for src in srcs:
                for dst in dsts:
                    sim.network.cut(src, dst)
                    if both:
                        sim.network.cut(dst, src)

        sim.at(at, cut)
    sim.at(heal_ms, sim.network.heal)


def _run(seed: int) -> RunResult:
    return run_sentinel(seed)


register("sentinel", _run, "Sentinel failover under crashes and partitions, then convergence")
