"""The demonstrations: one protocol under one scripted fault, in the simulator or on
real redis-server shards, with a verdict, a timeline and the comparison table."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from commit_lab.core import SIM_CONFIG, CommitConfig
from commit_lab.driver import RealWorld
from commit_lab.errors import CommitLabError
from commit_lab.procworld import ProcessWorld
from commit_lab.raft_decision import DecisionCluster, RaftGateway, register_problems
from commit_lab.scripts import FAULTS, PARTS, SECOND, T1, T2, Script, Verdict, verdict
from commit_lab.shard import ShardStore
from commit_lab.sim_scenario import (
    GROUP,
    PROTOCOLS,
    build_world,
    make_coordinator,
    make_participant,
    opening,
)
from labkit.events import Event
from labkit.realredis import Lab
from labkit.sim.network import LinkConfig
from labkit.sim.trace import DEFAULT_ANCHOR_WALL_NS
from labkit.sim.world import Simulator
from labkit.timeline import FaultWindow, merge, render_table, write_html

__all__ = [
    "EXPECTED_ATOMIC",
    "REAL_CONFIG",
    "comparison",
    "render_comparison",
    "run_real",
    "run_sim",
    "write_report",
]

REAL_CONFIG = CommitConfig(
    vote_timeout_ms=500,
    ack_timeout_ms=500,
    retry_ms=100,
    wait_timeout_ms=500,
    collect_ms=150,
    round_timeout_ms=500,
)
"""Wall-clock timings: agents on loopback answer within a few ms, so 150 ms collects every
answer (the agent processes use the same values: ``--timing demo``)."""

EXPECTED_ATOMIC = {
    "1pc": False,
    "2pc": True,
    "3pc": True,
    "2pc-consensus": True,
}
"""Whether a protocol stays atomic under the scripted faults (3PC: except a partition)."""


def expected_atomic(protocol: str, fault: str) -> bool:
    """The verdict a demonstration should print."""
    if fault == "none":
        return True
    if protocol == "3pc" and fault == "partition":
        return False
    return EXPECTED_ATOMIC[protocol]


def _check(protocol: str, fault: str) -> None:
    if protocol not in PROTOCOLS:
        raise CommitLabError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if fault not in FAULTS:
        raise CommitLabError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")


def run_sim(
    protocol: str, fault: str, *, seed: int = 1, down_ms: int = 1500
) -> tuple[Verdict, list[Event]]:
    """The scripted fault in the simulator (virtual time)."""
    _check(protocol, fault)
    sim = Simulator(seed, scenario=f"{protocol}/{fault}", link=LinkConfig(1, 5))
    build_world(sim, protocol, SIM_CONFIG, coordinators=("c", SECOND))
    script = Script(sim, protocol, fault, down_ms)
    script.install(600)
    sim.run_until_true(script.resolved, deadline_ms=down_ms + 10_000, what="the run to settle")
    events = sim.trace.to_events() + script.events(
        lambda ms: (DEFAULT_ANCHOR_WALL_NS + ms * 1_000_000, ms * 1_000_000)
    )
    return verdict(script, sim, "simulator", sim.now_ms), sorted(events, key=lambda e: e.wall_ns)


def build_real(world: RealWorld, protocol: str, config: CommitConfig) -> DecisionCluster | None:
    """Shards p1..p3 on real redis-servers, coordinators c and c2 and, for the consensus
    variant, a real 3-node redis_raft cluster reached through gateways g1..g3 (returned;
    the world closes it)."""
    for shard in PARTS:

        def participant(balances: dict[str, int], shard: str = shard) -> object:
            return make_participant(protocol, shard, balances, random.Random(shard), config)

        world.add_shard(shard, participant, opening(shard))  # type: ignore[arg-type]
    if protocol != "2pc-consensus":
        cluster = None
    else:
        group = cluster = DecisionCluster(world.lab, GROUP, prefix=f"{world.prefix}decision")
        world.closers.append(group.close)
        world.network.watchers.append(group)
        group.wait_leader()
        for member in GROUP:

            def gateway(member: str = member) -> RaftGateway:
                return group.gateway(member)

            world.add_memory_node(member, gateway)
    for name in ("c", SECOND):

        def coordinator(name: str = name) -> object:
            return make_coordinator(protocol, name, random.Random(name), config)

        world.add_coordinator(name, coordinator, log_name=f"{name}.wal")  # type: ignore[arg-type]
    return cluster


def build_processes(world: ProcessWorld, protocol: str) -> DecisionCluster | None:
    """The same cast as :func:`build_real`, every agent its own process."""
    for shard in PARTS:
        world.add_shard(shard, opening(shard))
    cluster = None
    if protocol == "2pc-consensus":
        group = cluster = DecisionCluster(world.lab, GROUP, prefix=f"{world.prefix}decision")
        world.closers.append(group.close)
        world.network.watchers.append(group)
        group.wait_leader()
        for member in GROUP:
            node = group.raft.node(group.ids[member])
            world.add_gateway(member, f"{node.host}:{node.port}")
    for name in ("c", SECOND):
        world.add_coordinator(name, f"{name}.wal")
    world.start()
    return cluster


def shard_states(world: RealWorld | ProcessWorld, txid: str) -> dict[str, str | None]:
    """The state of ``txid``'s intent on each real shard (None: never prepared)."""
    states: dict[str, str | None] = {}
    for name in PARTS:
        store = world.nodes[name].store
        assert isinstance(store, ShardStore)
        raw = store.client.hget(f"intent:{txid}", "state")
        states[name] = raw.decode() if isinstance(raw, bytes) else raw
    return states


def shard_problems(world: RealWorld | ProcessWorld) -> list[str]:
    """Check the real shards themselves: t1 all-or-nothing, money conserved, no locks."""
    problems: list[str] = []
    total = 0
    for name in PARTS:
        store = world.nodes[name].store
        assert isinstance(store, ShardStore)
        total += sum(store.balances().values())
        locks = store.locks()
        if locks:
            problems.append(f"locks left on {name}: {locks}")
    states = shard_states(world, T1.txid)
    if "committed" in states.values() and any(s != "committed" for s in states.values()):
        problems.append(f"atomicity (on the shards): t1 states {states}")
    if total != 900:
        problems.append(f"conservation (on the shards): total {total}, expected 900")
    return problems


def run_real(
    protocol: str,
    fault: str,
    *,
    down_ms: int = 2000,
    lab: Lab | None = None,
    workdir: Path | None = None,
    processes: bool = True,
) -> tuple[Verdict, list[Event]]:
    """The scripted fault against three real redis-server shards (wall-clock time); each
    agent its own process (or, with ``processes=False``, all inside this one)."""
    _check(protocol, fault)
    own = lab is None
    active = lab if lab is not None else Lab()
    try:
        prefix = f"{protocol}-{fault}-"
        folder = (workdir or active.base_dir) / f"{prefix}agents"
        world: RealWorld | ProcessWorld
        if processes:
            world = ProcessWorld(active, folder, protocol=protocol, prefix=prefix)
        else:
            world = RealWorld(active, folder, prefix=prefix)
        try:
            return _run_world(world, protocol, fault, down_ms)
        finally:
            world.close()
    finally:
        if own:
            active.close()


def _run_world(
    world: RealWorld | ProcessWorld, protocol: str, fault: str, down_ms: int
) -> tuple[Verdict, list[Event]]:
    if isinstance(world, ProcessWorld):
        cluster = build_processes(world, protocol)
    else:
        cluster = build_real(world, protocol, REAL_CONFIG)
    script = Script(world, protocol, fault, down_ms)
    started = time.monotonic()
    script.install(world.now_ms + 600)
    world.run_until_true(
        script.resolved,
        deadline_ms=world.now_ms + down_ms + 15_000,
        what=f"{protocol}/{fault} to settle",
    )
    world.run_for(100)
    where = "real redis, agent processes" if isinstance(world, ProcessWorld) else "real redis"
    result = verdict(script, world, where, int((time.monotonic() - started) * 1000))
    extra = shard_problems(world)
    if cluster is not None:
        extra += register_check(world, cluster)
        result = replace(
            result, where=result.where + " + redis_raft", register=_register_line(cluster)
        )
    if extra:
        result = _with_problems(result, extra)
    anchor_wall = time.time_ns() - time.monotonic_ns()
    events = world.events + script.events(
        lambda ms: (
            anchor_wall + int((world._t0 * 1000 + ms) * 1_000_000),
            int((world._t0 * 1000 + ms) * 1_000_000),
        )
    )
    if cluster is not None:
        events += [replace(e, source="raft-links") for e in cluster.hub.events]
    if isinstance(world, ProcessWorld):
        events += [replace(e, source="agent-links") for e in world.hub.events]
    return result, sorted(events, key=lambda e: e.wall_ns)


def register_check(world: RealWorld | ProcessWorld, cluster: DecisionCluster) -> list[str]:
    """Every Raft node holds the same decisions, and the shards applied those."""
    applied: dict[str, dict[str, bool]] = {p: {} for p in PARTS}
    for txid in (T1.txid, T2.txid):
        for shard, state in shard_states(world, txid).items():
            if state in ("committed", "aborted"):
                applied[shard][txid] = state == "committed"
    return register_problems(cluster.stored(), applied)


def _register_line(cluster: DecisionCluster) -> str:
    stored = cluster.stored()
    values = {member: d.get(T1.txid, "none") for member, d in stored.items()}
    if len(set(values.values())) == 1:
        return f"t1={next(iter(values.values()))} on all {len(values)} Raft nodes"
    return "t1 " + " ".join(f"{m}={v}" for m, v in values.items())


def _with_problems(result: Verdict, extra: Sequence[str]) -> Verdict:
    problems = tuple(dict.fromkeys((*result.problems, *extra)))
    breaks = ("atomicity", "conservation", "split decision")
    atomic = result.atomic and not any(p.startswith(breaks) for p in extra)
    return replace(result, problems=problems, atomic=atomic)


def write_report(
    result: Verdict, events: list[Event], *, html: Path | None = None, width: int = 120
) -> str:
    """The text timeline (returned) and, with ``html``, the HTML report."""
    if not events:
        return ""
    zero = min(e.wall_ns for e in events)
    timeline = merge([events], zero)
    text = render_table(timeline, width=width, zero_label="start")
    if html is not None:
        windows = [
            FaultWindow(
                e.wall_ns - zero, None, e.details, "partition" if "partition" in e.name else "fault"
            )
            for e in events
            if e.source == "nemesis" and e.name in ("+crash", "+partition")
        ]
        heals = [e.wall_ns - zero for e in events if e.source == "nemesis" and e.name == "+heal"]
        closed = [
            FaultWindow(
                w.start_ns,
                min((h for h in heals if h >= w.start_ns), default=None),
                w.label,
                w.kind,
            )
            for w in windows
        ]
        write_html(
            html,
            timeline,
            title=f"commit_lab: {result.protocol} under {result.fault} ({result.where})",
            summary=[
                ("verdict", "atomic" if result.atomic else "NOT ATOMIC"),
                ("in doubt (max)", f"{result.in_doubt_ms} ms"),
                ("conflicting t2", result.t2_reply),
                ("problems", "; ".join(result.problems) or "none"),
            ],
            faults=closed,
            zero_label="start",
        )
    return text


def comparison(
    protocols: Sequence[str] = PROTOCOLS, faults: Sequence[str] = FAULTS, *, seed: int = 1
) -> list[Verdict]:
    """Every protocol under every scripted fault, in the simulator."""
    return [run_sim(p, f, seed=seed)[0] for p in protocols for f in faults]


def render_comparison(verdicts: Sequence[Verdict]) -> str:
    """A markdown table: outcome, time in doubt, round trips, messages and durable writes."""
    lines = [
        "| protocol | fault | outcome | t1 | in doubt (ms) | round trips | messages | durable writes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        outcome = "atomic" if v.atomic else "NOT atomic"
        t1 = " ".join(f"{p}:{'C' if c else 'A' if c is False else '-'}" for p, c in v.t1)
        lines.append(
            f"| {v.protocol} | {v.fault} | {outcome} | {t1} | {v.in_doubt_ms} | "
            f"{v.round_trips} | {v.messages} | {v.durable_writes} |"
        )
    lines.append("")
    lines.append(
        "messages and durable writes count the whole scripted run (t1, the conflicting t2, "
        "retries and recovery); the decision group's Raft traffic is included."
    )
    return "\n".join(lines)
