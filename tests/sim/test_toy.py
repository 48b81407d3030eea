"""The toy election under the simulator: determinism, fixed seeds, planted bugs, replay."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.sim import InvariantViolation, seeds_to_run
from labkit.sim.faults import CRASH_STORM
from labkit.sim.scenarios import UnknownScenarioError, get_scenario, run_seed, scenario_names
from labkit.sim.toy import ToyCore, run_toy

ROOT = Path(__file__).resolve().parents[2]
SWARM_SEEDS = 250
STORM_SEEDS = 100
# Planted bugs must be caught within this many seeds of the stated profile.
DOUBLE_VOTE_WITHIN = 10
VOLATILE_VOTE_WITHIN = 30
SEND_BEFORE_PERSIST_WITHIN = 40


def test_same_seed_same_trace_hash() -> None:
    first, second = run_toy(17), run_toy(17)
    assert first.trace_hash == second.trace_hash
    assert first.steps == second.steps and first.events == second.events


def test_different_seeds_different_trace_hashes() -> None:
    hashes = {run_toy(seed, keep_trace=False).trace_hash for seed in range(1, 21)}
    assert len(hashes) == 20


def test_trace_hash_is_stable_across_processes_and_hash_seeds() -> None:
    code = "from labkit.sim.toy import run_toy; print(run_toy(5).trace_hash)"
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        outputs.add(done.stdout.strip())
    assert outputs == {run_toy(5).trace_hash}


def test_fixed_seeds_swarm(replay_seed: int | None) -> None:
    seeds = seeds_to_run(replay_seed, SWARM_SEEDS)
    print(f"toy swarm seeds: {seeds[0]}..{seeds[-1]} ({len(seeds)})")
    for seed in seeds:
        run_toy(seed, keep_trace=False).check()


def test_fixed_seeds_crash_storm(replay_seed: int | None) -> None:
    for seed in seeds_to_run(replay_seed, STORM_SEEDS):
        run_toy(seed, profile=CRASH_STORM, keep_trace=False).check()


def _first_caught(bug: str, limit: int, **kwargs: object) -> int:
    for seed in range(1, limit + 1):
        result = run_toy(seed, bug=bug, keep_trace=False, **kwargs)  # type: ignore[arg-type]
        if not result.ok:
            assert isinstance(result.failure, InvariantViolation), result.failure
            assert f"pytest --seed {seed}" in str(result.failure)
            return seed
    pytest.fail(f"planted bug {bug!r} not caught within {limit} seeds")


def test_planted_double_vote_is_caught() -> None:
    _first_caught("double-vote", DOUBLE_VOTE_WITHIN)


def test_planted_volatile_vote_is_caught_by_crashes() -> None:
    _first_caught("volatile-vote", VOLATILE_VOTE_WITHIN, profile=CRASH_STORM)


def test_planted_send_before_persist_is_caught_by_mid_step_crashes() -> None:
    _first_caught("send-before-persist", SEND_BEFORE_PERSIST_WITHIN, profile=CRASH_STORM)


def test_planted_bug_names_the_invariant() -> None:
    seed = _first_caught("double-vote", DOUBLE_VOTE_WITHIN)
    failure = run_toy(seed, bug="double-vote").failure
    assert isinstance(failure, InvariantViolation)
    assert failure.name in ("one-vote-per-epoch", "one-leader-per-epoch")
    with pytest.raises(InvariantViolation, match=f"seed {seed}"):
        run_toy(seed, bug="double-vote").check()


def test_scenario_registry_runs_toy() -> None:
    assert "toy" in scenario_names()
    result = run_seed("toy", 3)
    assert result.ok and result.scenario == "toy" and result.seed == 3
    assert result.trace_hash == run_toy(3).trace_hash
    assert get_scenario("toy").description
    with pytest.raises(UnknownScenarioError, match=r"known: .*toy"):
        run_seed("nope", 1)


def test_run_result_events_feed_the_timeline() -> None:
    result = run_seed("toy", 2)
    names = {event.name for event in result.events}
    assert "+elected" in names
    walls = [event.wall_ns for event in result.events]
    assert walls == sorted(walls)
    elected = next(e for e in result.events if e.name == "+elected")
    assert elected.mono_ns is not None and elected.source.startswith("n")


def test_core_satisfies_the_interface() -> None:
    import random

    from labkit.core import Core

    assert isinstance(ToyCore("n1", ["n2"], random.Random(1)), Core)


def test_seed_option_replays_one_seed() -> None:
    args = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-s",
        "-p",
        "no:cacheprovider",
        "tests/sim/test_toy.py::test_fixed_seeds_swarm",
        "--seed",
        "123",
    ]
    done = subprocess.run(args, check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "toy swarm seeds: 123..123 (1)" in done.stdout


def test_replay_seed_fixture(replay_seed: int | None) -> None:
    assert seeds_to_run(replay_seed, 3) == ([replay_seed] if replay_seed is not None else [1, 2, 3])
