"""Fault schedules: seeded, swarm-randomised, healed for the liveness phase."""

from __future__ import annotations

import random

from labkit.sim import (
    Crash,
    FaultProfile,
    Heal,
    Partition,
    Restart,
    RestartAll,
    SetNetwork,
    plan_faults,
    rng_for,
    swarm_profile,
)
from labkit.sim.faults import CALM_LINK, Cut

NODES = ["n1", "n2", "n3", "n4", "n5"]


def test_plan_is_seeded() -> None:
    profile = FaultProfile(partition_per_s=2, crash_per_s=2)
    first = plan_faults(random.Random(1), NODES, profile, safety_ms=5000)
    assert first == plan_faults(random.Random(1), NODES, profile, safety_ms=5000)
    assert first != plan_faults(random.Random(2), NODES, profile, safety_ms=5000)


def test_plan_ends_with_everything_healed() -> None:
    plan = plan_faults(random.Random(3), NODES, FaultProfile(crash_per_s=3), safety_ms=4000)
    tail = [item.fault for item in plan if item.at_ms == 4000]
    assert tail[-3:] == [Heal(), RestartAll(), SetNetwork(CALM_LINK)]
    assert all(item.at_ms <= 4000 for item in plan)
    times = [item.at_ms for item in plan]
    assert times == sorted(times)


def test_plan_crashes_only_live_nodes_and_restarts_them() -> None:
    profile = FaultProfile(partition_per_s=0, crash_per_s=5, down_ms_max=500)
    plan = plan_faults(random.Random(7), NODES, profile, safety_ms=10_000)
    down: set[str] = set()
    crashes = 0
    for item in plan:
        if isinstance(item.fault, Crash):
            assert item.fault.node not in down
            down.add(item.fault.node)
            crashes += 1
        elif isinstance(item.fault, Restart):
            down.discard(item.fault.node)
    assert 30 < crashes < 70


def test_partitions_split_the_nodes() -> None:
    profile = FaultProfile(partition_per_s=5, crash_per_s=0, one_way_share=0.5)
    plan = plan_faults(random.Random(9), NODES, profile, safety_ms=10_000)
    splits = [item.fault for item in plan if isinstance(item.fault, Partition | Cut)]
    assert any(isinstance(f, Cut) for f in splits) and any(isinstance(f, Partition) for f in splits)
    for fault in splits:
        sides = fault.groups if isinstance(fault, Partition) else (fault.srcs, fault.dsts)
        assert sorted(sides[0] + sides[1]) == NODES and sides[0] and sides[1]


def test_swarm_profiles_vary_and_switch_kinds_off() -> None:
    profiles = [swarm_profile(rng_for(seed, "shape")) for seed in range(200)]
    assert any(p.crash_per_s == 0 for p in profiles)
    assert any(p.crash_per_s > 0 for p in profiles)
    assert any(p.partition_per_s == 0 and p.crash_per_s == 0 for p in profiles)
    assert len({p.link.delay_ms_max for p in profiles}) > 1
    assert any(p.link.loss_probability == 0 for p in profiles)
    assert any(p.link.loss_probability > 0 for p in profiles)


def test_quiet_profile_plans_only_the_heal() -> None:
    quiet = FaultProfile(partition_per_s=0, crash_per_s=0)
    plan = plan_faults(random.Random(1), NODES, quiet, safety_ms=1000)
    assert [type(item.fault) for item in plan] == [SetNetwork, Heal, RestartAll, SetNetwork]
