"""The "raft" scenario under the simulator: determinism, fixed seeds, planted bugs."""

from __future__ import annotations

import dataclasses

import pytest

from labkit.sim import InvariantViolation, seeds_to_run
from labkit.sim.faults import CRASH_STORM, FaultProfile
from labkit.sim.network import LinkConfig
from labkit.sim.scenarios import get_scenario, run_seed, scenario_names
from redis_raft.sim_scenario import SIM_SETTINGS, run_raft

SWARM_SEEDS = 300
HUNT_SEEDS = 60
# Planted bugs must be caught within this many seeds of the stated run shape.
DOUBLE_VOTE_WITHIN = 20
VOTE_BEFORE_PERSIST_WITHIN = 30
FIGURE8_WITHIN = 40
LOCAL_READ_WITHIN = 40

HASTY = dataclasses.replace(
    SIM_SETTINGS,
    election_timeout_ms=40,
    heartbeat_ms=15,
    lease_margin_ms=0,
    pre_vote=False,
    check_quorum=False,
)
"""Elections all the time (no pre-vote, no leases): the shape that exposes vote bugs."""
ONE_BY_ONE = dataclasses.replace(HASTY, max_entries_per_append=1, max_inflight_appends=1)
"""Entries acknowledged one at a time, so old-term entries can reach a majority first."""
QUIET = FaultProfile(
    partition_per_s=0.0,
    crash_per_s=0.0,
    link=LinkConfig(delay_ms_min=1, delay_ms_max=20, loss_probability=0.05),
)
PARTITIONS = FaultProfile(
    partition_per_s=2.0,
    one_way_share=0.2,
    partition_ms_max=1000,
    crash_per_s=0.0,
    link=LinkConfig(delay_ms_min=1, delay_ms_max=20),
)


def test_same_seed_same_trace_hash() -> None:
    first, second = run_raft(11), run_raft(11)
    assert first.trace_hash == second.trace_hash and first.steps == second.steps
    assert first.events == second.events
    assert run_raft(12, keep_trace=False).trace_hash != first.trace_hash


def test_fixed_seeds_swarm(replay_seed: int | None) -> None:
    seeds = seeds_to_run(replay_seed, SWARM_SEEDS)
    print(f"raft swarm seeds: {seeds[0]}..{seeds[-1]} ({len(seeds)})")
    acked = reads = 0
    for seed in seeds:
        result = run_raft(seed, keep_trace=False).check()
        acked += int(result.details["acked_writes"])  # type: ignore[call-overload]
        reads += int(result.details["reads_checked"])  # type: ignore[call-overload]
    assert acked > len(seeds) and (reads > 0 or replay_seed is not None)


def test_fixed_seeds_leader_hunt(replay_seed: int | None) -> None:
    for seed in seeds_to_run(replay_seed, HUNT_SEEDS):
        run_raft(seed, keep_trace=False, leader_hunt=True, nodes=5, ops=150).check()
        run_raft(
            seed, keep_trace=False, leader_hunt=True, profile=QUIET, settings=ONE_BY_ONE
        ).check()


def _first_caught(bug: str, limit: int, **kwargs: object) -> int:
    for seed in range(1, limit + 1):
        result = run_raft(seed, bug=bug, keep_trace=False, **kwargs)  # type: ignore[arg-type]
        if not result.ok:
            assert isinstance(result.failure, InvariantViolation), result.failure
            assert f"pytest --seed {seed}" in str(result.failure)
            return seed
    pytest.fail(f"planted bug {bug!r} not caught within {limit} seeds")


def test_planted_double_vote_is_caught() -> None:
    seed = _first_caught("double-vote", DOUBLE_VOTE_WITHIN)
    assert "one-vote-per-term" in str(run_raft(seed, bug="double-vote").failure)


def test_planted_vote_before_persist_is_caught_by_mid_step_crashes() -> None:
    _first_caught(
        "vote-before-persist",
        VOTE_BEFORE_PERSIST_WITHIN,
        profile=CRASH_STORM,
        nodes=5,
        ops=20,
        settings=HASTY,
    )


def test_planted_figure8_commit_is_caught() -> None:
    seed = _first_caught(
        "figure8",
        FIGURE8_WITHIN,
        profile=QUIET,
        nodes=5,
        ops=300,
        settings=ONE_BY_ONE,
        leader_hunt=True,
    )
    failure = str(
        run_raft(
            seed,
            bug="figure8",
            profile=QUIET,
            nodes=5,
            ops=300,
            settings=ONE_BY_ONE,
            leader_hunt=True,
            keep_trace=False,
        ).failure
    )
    assert "leader-completeness" in failure or "state-machine-safety" in failure


def test_planted_local_read_is_caught_as_a_stale_read() -> None:
    seed = _first_caught("local-read", LOCAL_READ_WITHIN, profile=PARTITIONS, nodes=5, ops=120)
    assert "linearizable-reads" in str(
        run_raft(seed, bug="local-read", profile=PARTITIONS, nodes=5, ops=120).failure
    )


def test_scenario_is_registered() -> None:
    assert "raft" in scenario_names()
    assert get_scenario("raft").description
    result = run_seed("raft", 5)
    assert result.ok and result.scenario == "raft" and result.trace_hash == run_raft(5).trace_hash
    names = {event.name for event in result.events}
    assert "+elected-leader" in names


def test_trace_hash_is_stable_across_processes_and_hash_seeds() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = "from redis_raft.sim_scenario import run_raft; print(run_raft(4).trace_hash)"
    outputs = set()
    for hash_seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        outputs.add(done.stdout.strip())
    assert outputs == {run_raft(4).trace_hash}
