"""Simulation scenarios "1pc", "2pc", "3pc" and "2pc-consensus": transfers under faults.

A run: three shards (``p1``..``p3``, three accounts of 100 each), one coordinator
``c`` (and for the consensus variant a three-member decision group ``g1``..``g3``),
and 8-20 transfers between accounts of different shards (a quarter touch all three).
The seed picks the fault kind unless it is given:

* ``crash``: crashes (between steps and inside them) and restarts on a network that
  delivers everything within 20 ms, the synchronous world 3PC assumes;
* ``partition``: partitions and one-way cuts, some crashes, and a nemesis that cuts
  the network the moment a coordinator starts its decision phase;
* ``swarm``: swarm-random faults, with loss, duplication and reordering.

Then everything heals: every transaction must be resolved (no locks left), and
:func:`commit_lab.checkers.audit` checks all-or-nothing and the total balance.
The :class:`~commit_lab.checkers.Ledger` checks atomicity after every step.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from commit_lab.checkers import Ledger, audit
from commit_lab.core import (
    SIM_CONFIG,
    CommitConfig,
    ConsensusCoordinator,
    ConsensusParticipant,
    Coordinator1PC,
    Coordinator2PC,
    Coordinator3PC,
    DecisionNode,
    Participant,
    Participant1PC,
    Participant2PC,
    Participant3PC,
)
from commit_lab.core.messages import Decision, Leg, PreCommit, Transfer, split_by_shard
from commit_lab.errors import CommitLabError
from labkit.actions import Send
from labkit.core import Core
from labkit.sim.errors import InvariantViolation, LivenessFailure, SimError
from labkit.sim.faults import FaultProfile, Partition, ScheduledFault, plan_faults, swarm_profile
from labkit.sim.network import LinkConfig
from labkit.sim.result import RunResult, result_of
from labkit.sim.scenarios import register
from labkit.sim.seeds import rng_for
from labkit.sim.world import Simulator

__all__ = [
    "COORDINATOR",
    "CRASH_PROFILE",
    "FAULT_KINDS",
    "GROUP",
    "OPENING_BALANCE",
    "PARTITION_PROFILE",
    "PROTOCOLS",
    "SHARDS",
    "build_world",
    "directory",
    "make_coordinator",
    "make_participant",
    "opening",
    "run_commit",
]

PROTOCOLS = ("1pc", "2pc", "3pc", "2pc-consensus")
FAULT_KINDS = ("crash", "partition", "swarm")
SHARDS = ("p1", "p2", "p3")
COORDINATOR = "c"
GROUP = ("g1", "g2", "g3")
ACCOUNTS_PER_SHARD = 3
OPENING_BALANCE = 100

SYNC_LINK = LinkConfig(delay_ms_min=1, delay_ms_max=20)
CRASH_PROFILE = FaultProfile(
    partition_per_s=0.0, crash_per_s=2.0, mid_step_share=0.5, down_ms_max=800, link=SYNC_LINK
)
"""Crashes only, on a network with bounded delay and no loss."""
PARTITION_PROFILE = FaultProfile(
    partition_per_s=1.5,
    one_way_share=0.3,
    partition_ms_max=1500,
    crash_per_s=0.5,
    down_ms_max=800,
    link=SYNC_LINK,
)
"""Partitions and one-way cuts (plus a few crashes) on an otherwise timely network."""


def directory() -> dict[str, str]:
    """Account -> shard: ``A1..A3`` on p1, ``B1..B3`` on p2, ``C1..C3`` on p3."""
    return {
        f"{letter}{k}": shard
        for letter, shard in zip("ABC", SHARDS, strict=True)
        for k in range(1, ACCOUNTS_PER_SHARD + 1)
    }


def opening(shard: str) -> dict[str, int]:
    """The opening balances of one shard."""
    return {acct: OPENING_BALANCE for acct, s in directory().items() if s == shard}


def make_coordinator(
    protocol: str,
    name: str,
    rng: random.Random,
    config: CommitConfig,
    bug: str | None = None,
) -> Core:
    """The coordinator core of ``protocol``."""
    accounts = directory()
    if protocol == "1pc":
        return Coordinator1PC(name, accounts, rng, config)
    if protocol == "2pc":
        return Coordinator2PC(name, accounts, rng, config, bug=bug)
    if protocol == "3pc":
        return Coordinator3PC(name, accounts, rng, config)
    if protocol == "2pc-consensus":
        return ConsensusCoordinator(name, accounts, GROUP, rng, config)
    raise CommitLabError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")


def make_participant(
    protocol: str,
    shard: str,
    balances: dict[str, int],
    rng: random.Random,
    config: CommitConfig,
) -> Participant:
    """The participant core of ``protocol`` for ``shard``."""
    if protocol == "1pc":
        return Participant1PC(shard, balances, rng, config)
    if protocol == "2pc":
        return Participant2PC(shard, balances, rng, config)
    if protocol == "3pc":
        return Participant3PC(shard, balances, rng, config)
    if protocol == "2pc-consensus":
        return ConsensusParticipant(shard, balances, GROUP, rng, config)
    raise CommitLabError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")


def build_world(
    sim: Simulator,
    protocol: str,
    config: CommitConfig,
    bug: str | None = None,
    coordinators: Sequence[str] = (COORDINATOR,),
) -> None:
    """Add the coordinator(s), the participants (and the decision group) to ``sim``."""
    if protocol not in PROTOCOLS:
        raise CommitLabError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if protocol == "2pc-consensus":
        for member in GROUP:

            def group_factory(rng: random.Random, member: str = member) -> Core:
                return DecisionNode(member, GROUP, rng)

            sim.add_node(member, group_factory)
    for name in coordinators:

        def coordinator(rng: random.Random, name: str = name) -> Core:
            return make_coordinator(protocol, name, rng, config, bug)

        sim.add_node(name, coordinator)
    for shard in SHARDS:

        def participant(rng: random.Random, shard: str = shard) -> Core:
            return make_participant(protocol, shard, opening(shard), rng, config)

        sim.add_node(shard, participant)


def random_transfers(rng: random.Random, count: int, horizon_ms: int) -> list[tuple[int, Transfer]]:
    """``count`` transfers at random times: two shards, or (a quarter) three."""
    by_shard: dict[str, list[str]] = {}
    for acct, shard in directory().items():
        by_shard.setdefault(shard, []).append(acct)
    out = []
    for i in range(count):
        shards = rng.sample(SHARDS, 3 if rng.random() < 0.25 else 2)
        accts = [rng.choice(by_shard[s]) for s in shards]
        amount = rng.randint(1, 70)
        legs = [Leg(accts[0], -amount * (len(accts) - 1))] + [Leg(a, amount) for a in accts[1:]]
        out.append((rng.randrange(horizon_ms), Transfer(f"t{i}", tuple(legs))))
    return sorted(out, key=lambda item: item[0])


def _participants(sim: Simulator) -> dict[str, Participant]:
    out = {}
    for shard in SHARDS:
        core = sim.nodes[shard].core
        if isinstance(core, Participant):
            out[shard] = core
    return out


def _resolved(sim: Simulator) -> bool:
    cores = _participants(sim)
    if len(cores) != len(SHARDS) or not sim.nodes[COORDINATOR].up:
        return False
    if any(core.pending for core in cores.values()):
        return False
    coordinator = sim.nodes[COORDINATOR].core
    return not getattr(coordinator, "txs", {})


def _hunt_decisions(sim: Simulator, names: Sequence[str], safety_ms: int) -> None:
    """Cut the network at random the moment a coordinator starts deciding."""
    rng = sim.rng("decision-hunter")

    def hunter(s: Simulator) -> None:
        step = s.last_step
        if step is None or step.node != COORDINATOR or s.now_ms >= safety_ms:
            return None
        deciding = any(
            isinstance(a, Send) and isinstance(a.message, PreCommit | Decision)
            for a in step.actions
        )
        if not deciding or rng.random() < 0.5:
            return None
        shuffled = list(names)
        rng.shuffle(shuffled)
        cut = rng.randint(1, len(shuffled) - 1)
        groups = (tuple(sorted(shuffled[:cut])), tuple(sorted(shuffled[cut:])))
        at = s.now_ms + rng.randint(0, 15)
        if at >= safety_ms:
            return None
        heal_at = min(safety_ms, at + rng.randint(300, 1200))
        s.schedule([ScheduledFault(at, Partition(groups))])
        s.at(heal_at, s.network.heal)
        return None

    sim.add_invariant("nemesis: cut at decision time", hunter)


@dataclass(frozen=True, slots=True)
class _Shape:
    kind: str
    profile: FaultProfile
    transfers: list[tuple[int, Transfer]]


def _shape(seed: int, faults: str | None, safety_ms: int) -> _Shape:
    shape = rng_for(seed, "commit/shape")
    kind = faults if faults is not None else FAULT_KINDS[seed % len(FAULT_KINDS)]
    if kind not in FAULT_KINDS and kind != "none":
        raise CommitLabError(f"unknown fault kind {kind!r}; known: none, {', '.join(FAULT_KINDS)}")
    profile = {
        "crash": CRASH_PROFILE,
        "partition": PARTITION_PROFILE,
        "none": FaultProfile(partition_per_s=0.0, crash_per_s=0.0, link=SYNC_LINK),
    }.get(kind) or swarm_profile(shape)
    transfers = random_transfers(shape, shape.randint(8, 20), safety_ms)
    return _Shape(kind, profile, transfers)


def run_commit(
    seed: int,
    *,
    protocol: str,
    faults: str | None = None,
    bug: str | None = None,
    config: CommitConfig = SIM_CONFIG,
    safety_ms: int = 2_000,
    liveness_ms: int = 4_000,
    stop_on_violation: bool = True,
    keep_trace: bool = True,
) -> RunResult:
    """One seeded run; violations come back in ``failure`` and in ``details``."""
    shape = _shape(seed, faults, safety_ms)
    scenario = protocol
    sim = Simulator(seed, scenario=scenario, keep_trace=keep_trace, compact_every_records=64)
    build_world(sim, protocol, config, bug)
    ledger = Ledger(SHARDS)

    def atomicity(s: Simulator) -> str | None:
        step = s.last_step
        if step is None:
            return None
        problem = ledger.observe(step.node, step.actions, s.now_ms)
        return problem if stop_on_violation else None

    sim.add_invariant("atomicity", atomicity)
    names = [COORDINATOR, *SHARDS] + (list(GROUP) if protocol == "2pc-consensus" else [])
    plan_rng = rng_for(seed, "commit/faults")
    sim.schedule(plan_faults(plan_rng, names, shape.profile, safety_ms=safety_ms))
    if shape.kind == "partition":
        _hunt_decisions(sim, names, safety_ms)
    dir_ = directory()
    tx_members = {t.txid: tuple(split_by_shard(t.legs, dir_)) for _, t in shape.transfers}
    for i, (at, transfer) in enumerate(shape.transfers):
        sim.request(COORDINATOR, transfer, client=f"client{i}", at_ms=at)
    failure: SimError | None = None
    problems: tuple[str, ...] = ()
    try:
        sim.run_until(safety_ms)
        sim.run_until_true(
            _resolved,
            deadline_ms=safety_ms + liveness_ms,
            what="every transaction resolved and its locks released after healing",
        )
        result = audit(_participants(sim), tx_members, OPENING_BALANCE * len(dir_))
        problems = result.problems
        if problems:
            raise InvariantViolation(
                "audit", "; ".join(problems), seed=seed, time_ms=sim.now_ms, scenario=scenario
            )
    except SimError as exc:
        failure = exc
    if failure is None and ledger.violations:
        failure = InvariantViolation(
            "atomicity", ledger.violations[0], seed=seed, time_ms=sim.now_ms, scenario=scenario
        )
    liveness = isinstance(failure, LivenessFailure)
    return result_of(
        sim,
        scenario,
        failure,
        protocol=protocol,
        faults=shape.kind,
        transfers=len(shape.transfers),
        committed=len(ledger.committed),
        violations=tuple(ledger.violations),
        audit=problems,
        liveness_failed=liveness,
        max_in_doubt_ms=ledger.max_in_doubt_ms,
        messages=ledger.messages,
        durable_writes=ledger.durable_writes,
    )


def _register() -> None:
    descriptions = {
        "1pc": "one-phase commit across 3 shards (breaks atomicity on refusals and crashes)",
        "2pc": "two-phase commit, presumed abort, cooperative termination: crashes, partitions",
        "3pc": "three-phase commit with the termination protocol: crashes, partitions",
        "2pc-consensus": "2PC whose decision is kept by a Raft group: crashes, partitions",
    }
    for name in PROTOCOLS:

        def run(seed: int, name: str = name) -> RunResult:
            return run_commit(seed, protocol=name)

        register(name, run, descriptions[name], replace=True)


_register()
