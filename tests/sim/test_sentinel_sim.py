"""The Sentinel core in the simulator: determinism, the fixed seed list, planted bugs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labkit.sim import InvariantViolation, seeds_to_run
from labkit.sim.scenarios import get_scenario, run_seed
from sentinel_lab.sim_scenario import BUGS, SimSentinel, run_sentinel

ROOT = Path(__file__).resolve().parents[2]
SWARM_SEEDS = 200
# Planted bugs must be caught within this many seeds of the swarm (first catches today:
# double-vote at seed 2, no-majority at seed 1).
DOUBLE_VOTE_WITHIN = 10
NO_MAJORITY_WITHIN = 5


def test_same_seed_same_trace_hash() -> None:
    first, second = run_sentinel(7), run_sentinel(7)
    assert first.ok, first.failure
    assert first.trace_hash == second.trace_hash
    assert first.steps == second.steps and first.events == second.events


def test_different_seeds_different_trace_hashes() -> None:
    hashes = {run_sentinel(seed, keep_trace=False).trace_hash for seed in range(1, 6)}
    assert len(hashes) == 5


def test_fixed_seeds_swarm(replay_seed: int | None) -> None:
    seeds = seeds_to_run(replay_seed, SWARM_SEEDS)
    print(f"sentinel swarm seeds: {seeds[0]}..{seeds[-1]} ({len(seeds)})")
    failovers = 0
    for seed in seeds:
        result = run_sentinel(seed, keep_trace=False).check()
        promotions = result.details["promotions"]
        assert isinstance(promotions, dict)
        failovers += bool(promotions)
    if replay_seed is None:
        assert failovers >= SWARM_SEEDS // 2  # most runs really fail over


def _first_caught(bug: str, limit: int) -> tuple[int, InvariantViolation]:
    for seed in range(1, limit + 1):
        result = run_sentinel(seed, bug=bug, keep_trace=False)
        if not result.ok:
            assert isinstance(result.failure, InvariantViolation), result.failure
            assert f"pytest --seed {seed}" in str(result.failure)
            return seed, result.failure
    pytest.fail(f"planted bug {bug!r} not caught within {limit} seeds")


def test_planted_double_vote_is_caught() -> None:
    _, failure = _first_caught("double-vote", DOUBLE_VOTE_WITHIN)
    assert "one-vote-per-epoch" in str(failure) or "one-leader-per-epoch" in str(failure)


def test_planted_failover_without_majority_is_caught() -> None:
    _, failure = _first_caught("no-majority", NO_MAJORITY_WITHIN)
    assert "failover-needs-odown-and-majority" in str(failure)


def test_unknown_bug_is_refused() -> None:
    assert BUGS == ("double-vote", "no-majority")
    with pytest.raises(Exception, match="unknown planted bug"):
        run_sentinel(1, bug="nope")


def test_scenario_is_registered_and_events_feed_the_timeline() -> None:
    assert get_scenario("sentinel").description
    for seed in range(1, 10):
        result = run_seed("sentinel", seed)
        assert result.ok and result.scenario == "sentinel" and result.seed == seed
        if result.details["promotions"]:
            break
    names = {event.name for event in result.events}
    assert {"+sdown", "+odown", "+switch-master"} <= names
    switch = next(e for e in result.events if e.name == "+switch-master")
    assert switch.source.startswith("127.0.11.") and switch.role == "X" and switch.level == "#"


def test_core_satisfies_the_interface() -> None:
    import random

    from labkit.core import Core
    from sentinel_lab.core import MasterConfig, SentinelCore, SentinelIdentity

    core = SentinelCore(
        SentinelIdentity("127.0.11.1", 26379), [MasterConfig("m", "h", 1, 1)], random.Random(1)
    )
    assert isinstance(core, Core) and isinstance(SimSentinel(core), Core)


def test_seed_option_replays_one_seed() -> None:
    args = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-s",
        "-p",
        "no:cacheprovider",
        "tests/sim/test_sentinel_sim.py::test_fixed_seeds_swarm",
        "--seed",
        "42",
    ]
    done = subprocess.run(args, check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sentinel swarm seeds: 42..42 (1)" in done.stdout
