"""commit_lab in the simulator: fixed seeds per protocol, determinism, planted bugs,
3PC's partition share, and the scripted faults."""

from __future__ import annotations

import pytest

from commit_lab.demos import expected_atomic, run_sim
from commit_lab.scripts import FAULTS
from commit_lab.sim_scenario import FAULT_KINDS, PROTOCOLS, run_commit
from labkit.sim import InvariantViolation, seeds_to_run
from labkit.sim.scenarios import get_scenario, run_seed

SEEDS_2PC = 150  # per fault kind
SEEDS_CONSENSUS = 100  # per fault kind (the Raft group makes each run slower)
SEEDS_3PC = 200  # per fault kind
PLANTED_WITHIN = 5
# 3PC violates atomicity in this share of the partition seeds (measured: 17-18%).
PARTITION_SHARE_MIN, PARTITION_SHARE_MAX = 0.08, 0.35


@pytest.mark.parametrize("protocol", ["2pc", "3pc", "2pc-consensus"])
def test_same_seed_same_trace_hash(protocol: str) -> None:
    first, second = run_commit(7, protocol=protocol), run_commit(7, protocol=protocol)
    assert first.trace_hash == second.trace_hash and first.events == second.events
    assert run_commit(8, protocol=protocol).trace_hash != first.trace_hash


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_2pc_never_violates_atomicity(kind: str, replay_seed: int | None) -> None:
    committed = 0
    for seed in seeds_to_run(replay_seed, SEEDS_2PC):
        result = run_commit(seed, protocol="2pc", faults=kind, keep_trace=False).check()
        committed += int(str(result.details["committed"]))
    assert replay_seed is not None or committed > SEEDS_2PC  # the workload did commit


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_consensus_variant_never_violates_atomicity(kind: str, replay_seed: int | None) -> None:
    for seed in seeds_to_run(replay_seed, SEEDS_CONSENSUS):
        run_commit(seed, protocol="2pc-consensus", faults=kind, keep_trace=False).check()


def test_3pc_termination_decides_every_crash_only_seed(replay_seed: int | None) -> None:
    for seed in seeds_to_run(replay_seed, SEEDS_3PC):
        result = run_commit(seed, protocol="3pc", faults="crash", keep_trace=False)
        assert result.ok, result.failure
        assert not result.details["violations"]


def test_3pc_violates_only_under_partitions_and_the_checker_finds_every_one(
    replay_seed: int | None,
) -> None:
    seeds = seeds_to_run(replay_seed, SEEDS_3PC)
    violating = []
    for seed in seeds:
        result = run_commit(
            seed, protocol="3pc", faults="partition", keep_trace=False, stop_on_violation=False
        )
        online = bool(result.details["violations"])
        audited = any(
            str(p).startswith(("atomicity", "conservation"))
            for p in result.details["audit"]  # type: ignore[attr-defined]
        )
        assert online == audited, f"seed {seed}: step checker {online}, end audit {audited}"
        assert not result.details["liveness_failed"], result.failure
        if online:
            assert isinstance(result.failure, InvariantViolation)
            violating.append(seed)
    share = len(violating) / len(seeds)
    print(f"3pc partition seeds violating atomicity: {len(violating)}/{len(seeds)} ({share:.0%})")
    if replay_seed is None:
        assert PARTITION_SHARE_MIN <= share <= PARTITION_SHARE_MAX


def test_planted_commit_despite_no_votes_is_caught() -> None:
    for seed in range(1, PLANTED_WITHIN + 1):
        result = run_commit(seed, protocol="2pc", faults="none", bug="ignore-no-votes")
        if not result.ok:
            assert isinstance(result.failure, InvariantViolation)
            assert "atomicity" in str(result.failure) and f"--seed {seed}" in str(result.failure)
            return
    pytest.fail(f"a coordinator that ignores no votes was not caught within {PLANTED_WITHIN} seeds")


def test_planted_missing_commit_record_is_caught_by_a_coordinator_crash() -> None:
    for seed in range(1, PLANTED_WITHIN + 1):
        from commit_lab.core import SIM_CONFIG
        from commit_lab.scripts import Script
        from commit_lab.sim_scenario import build_world
        from labkit.sim import Simulator

        sim = Simulator(seed)
        build_world(sim, "2pc", SIM_CONFIG, bug="no-commit-record", coordinators=("c", "c2"))
        script = Script(sim, "2pc", "coordinator-participant-crash", 1000)
        script.install(10)
        sim.run_until(5000)
        if script.ledger.violations:
            return
    pytest.fail("a coordinator without a commit record was not caught")


def test_1pc_breaks_atomicity() -> None:
    broken = [
        seed
        for seed in range(1, 11)
        if run_commit(seed, protocol="1pc", faults="none", keep_trace=False).details["violations"]
    ]
    assert len(broken) >= 5


def test_scenarios_are_registered() -> None:
    for name in PROTOCOLS:
        assert get_scenario(name).description
    result = run_seed("2pc", 3)
    assert result.ok and result.scenario == "2pc" and result.details["faults"] == FAULT_KINDS[0]
    names = {event.name for event in result.events}
    assert "+prepared" in names and "+committed" in names


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("fault", FAULTS)
def test_scripted_faults_give_the_expected_verdict(protocol: str, fault: str) -> None:
    result, events = run_sim(protocol, fault)
    assert result.atomic == expected_atomic(protocol, fault), result.problems
    assert events
    if fault == "none":
        assert dict(result.t1) == {"p1": True, "p2": True, "p3": True} or protocol == "1pc"


def test_2pc_blocks_until_the_coordinator_returns_and_3pc_does_not() -> None:
    down = 1500
    two, _ = run_sim("2pc", "coordinator-crash", down_ms=down)
    three, _ = run_sim("3pc", "coordinator-crash", down_ms=down)
    consensus, _ = run_sim("2pc-consensus", "coordinator-crash", down_ms=down)
    assert two.in_doubt_ms >= down
    assert two.t2_reply.startswith("aborted") and "locked by t1" in two.t2_reply
    assert three.in_doubt_ms < down and consensus.in_doubt_ms < down
    both, _ = run_sim("2pc", "coordinator-participant-crash", down_ms=down)
    survivors, _ = run_sim("3pc", "coordinator-participant-crash", down_ms=down)
    assert both.in_doubt_ms >= down > survivors.in_doubt_ms
