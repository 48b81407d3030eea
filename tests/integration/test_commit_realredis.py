"""commit_lab against real redis-server shards: the demonstrations and shard recovery.

The demonstrations run every agent as its own process (``python -m commit_lab agent``),
links through fault proxies, crashes as SIGKILLs; one runs the in-process mode too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from commit_lab.core.messages import Decided, Leg, Prepared
from commit_lab.demos import expected_atomic, run_real, write_report
from commit_lab.errors import CommitLabError, LogCorruptError, ShardError
from commit_lab.raft_decision import (
    DecisionCluster,
    DecisionUnavailableError,
    RegisterCorruptError,
    register_problems,
)
from commit_lab.shard import SHARD_DIRECTIVES, ShardStore
from labkit.events import Event
from labkit.realredis import Lab
from labkit.realredis.reaper import find_lab_processes
from labkit.realredis.topology import wait_until

ROOT = Path(__file__).resolve().parents[2]
DOWN_MS = 1500
RECOVERY_DOWN_MS = 3000
"""The outage for the tests that show participants finishing without the coordinator:
their termination takes about 1.2 s, so a longer outage keeps the verdict clear of a
loaded machine's scheduling delays."""
pytestmark = pytest.mark.realredis


def shard(lab: Lab, name: str = "p1") -> ShardStore:
    proc = lab.server(f"shard-{name}", extra=list(SHARD_DIRECTIVES))
    store = ShardStore(name, proc.client())
    store.seed({"A1": 100, "A2": 100})
    return store


@pytest.mark.slow
def test_2pc_coordinator_crash_blocks_participants_holding_locks(
    redis_lab: Lab, tmp_path: Path
) -> None:
    result, events = run_real("2pc", "coordinator-crash", down_ms=DOWN_MS, lab=redis_lab)
    print(result.line())
    assert result.where == "real redis, agent processes"
    assert result.atomic, result.problems
    assert result.in_doubt_ms >= DOWN_MS  # blocked until the coordinator came back
    assert result.t2_reply.startswith("aborted") and "A1 is locked by t1" in result.t2_reply
    html = tmp_path / "report.html"
    text = write_report(result, events, html=html)
    assert "+in-doubt" in text and "+crash" in text and html.stat().st_size > 0
    assert any(e.name == "+crash" and "SIGKILL pid" in e.details for e in events)
    assert any(e.source == "agent-links" and e.name == "+partition" for e in events)
    mine = [p for p in find_lab_processes() if p.owner_pid == os.getpid()]
    assert not any("commit_lab agent" in p.cmdline for p in mine)  # every agent reaped


@pytest.mark.slow
def test_2pc_coordinator_and_participant_crash_blocks_the_survivors_in_process(
    redis_lab: Lab,
) -> None:
    result, _ = run_real(
        "2pc", "coordinator-participant-crash", down_ms=DOWN_MS, lab=redis_lab, processes=False
    )
    print(result.line())
    assert result.where == "real redis"
    assert result.atomic and dict(result.t1) == {"p1": True, "p2": True, "p3": True}
    assert result.in_doubt_ms >= DOWN_MS


@pytest.mark.slow
def test_3pc_survivors_terminate_without_the_coordinator(redis_lab: Lab) -> None:
    result, _ = run_real(
        "3pc", "coordinator-participant-crash", down_ms=RECOVERY_DOWN_MS, lab=redis_lab
    )
    print(result.line())
    assert result.atomic and dict(result.t1) == {"p1": True, "p2": True, "p3": True}
    assert result.in_doubt_ms < RECOVERY_DOWN_MS


@pytest.mark.slow
def test_3pc_partition_splits_the_decision_and_the_checker_catches_it(redis_lab: Lab) -> None:
    result, _ = run_real("3pc", "partition", down_ms=DOWN_MS, lab=redis_lab)
    print(result.line())
    assert not result.atomic and result.atomic == expected_atomic("3pc", "partition")
    assert dict(result.t1) == {"p1": True, "p2": False, "p3": False}
    assert any(p.startswith("atomicity (on the shards)") for p in result.problems)
    assert any(p.startswith("conservation (on the shards)") for p in result.problems)


def _at(events: list[Event], source: str, name: str, txid: str = "") -> int:
    return next(
        e.wall_ns
        for e in events
        if e.source == source and e.name == name and (not txid or e.instance == txid)
    )


@pytest.mark.slow
def test_consensus_decision_does_not_block_on_a_coordinator_crash(redis_lab: Lab) -> None:
    # A real 3-node redis_raft cluster keeps the decision; the in-doubt participants
    # decide abort with SET NX themselves instead of waiting for the coordinator.
    crash, events = run_real(
        "2pc-consensus", "coordinator-crash", down_ms=RECOVERY_DOWN_MS, lab=redis_lab
    )
    print(crash.line())
    assert crash.atomic and crash.where == "real redis, agent processes + redis_raft"
    assert dict(crash.t1) == {"p1": False, "p2": False, "p3": False}
    assert crash.in_doubt_ms < RECOVERY_DOWN_MS and crash.t2_reply.startswith("committed")
    assert crash.register == "t1=abort on all 3 Raft nodes"
    assert any(
        e.name == "+raft-decision" and "SET NX abort -> abort (stored first)" in e.details
        for e in events
    )


@pytest.mark.slow
def test_consensus_recovery_reads_the_stored_commit(redis_lab: Lab) -> None:
    # The commit is in Raft, only p1 heard it, then c and p1 die: p2 and p3 propose
    # abort, read the commit back from the register, and commit without waiting.
    result, events = run_real(
        "2pc-consensus", "coordinator-participant-crash", down_ms=RECOVERY_DOWN_MS, lab=redis_lab
    )
    print(result.line())
    assert result.atomic and dict(result.t1) == {"p1": True, "p2": True, "p3": True}
    assert result.in_doubt_ms < RECOVERY_DOWN_MS
    assert result.register == "t1=commit on all 3 Raft nodes"
    assert any("SET NX abort -> commit (already decided commit)" in e.details for e in events)


@pytest.mark.slow
def test_consensus_decision_does_not_split_under_a_partition(redis_lab: Lab) -> None:
    # {c, p1, Raft node 1} | {p2, p3, Raft nodes 2 and 3}, with the Raft links really cut
    # through the fault proxy: the majority side decides abort, the minority nothing.
    split, events = run_real("2pc-consensus", "partition", down_ms=DOWN_MS, lab=redis_lab)
    print(split.line())
    assert split.atomic and dict(split.t1) == {"p1": False, "p2": False, "p3": False}
    assert split.register == "t1=abort on all 3 Raft nodes"
    assert not any("split decision" in p for p in split.problems)
    heal = _at(events, "nemesis", "+heal")
    assert _at(events, "p2", "+aborted", "t1") < heal and _at(events, "p3", "+aborted", "t1") < heal
    assert any(e.source == "raft-links" and e.name == "+partition" for e in events)


def test_raft_register_first_decision_wins_and_a_cut_off_node_decides_nothing(
    redis_lab: Lab,
) -> None:
    cluster = DecisionCluster(redis_lab, ("g1", "g2", "g3"), prefix="register")
    try:
        cluster.wait_leader()
        regs = {m: cluster.gateway(m).register for m in cluster.members}
        assert regs["g2"].decide("t1", True) == (True, True)
        assert regs["g3"].decide("t1", False) == (True, False)  # the first one stays
        assert [r.read("t1") for r in regs.values()] == [True, True, True]
        assert regs["g1"].read("t9") is None
        for other in ("g2", "g3"):
            cluster.cut("g1", other)
            cluster.cut(other, "g1")
        with pytest.raises(DecisionUnavailableError, match=r"TIMEOUT|No Raft leader"):
            regs["g1"].decide("t2", True)
        won: list[tuple[bool, bool]] = []

        def majority_decides() -> bool:
            try:
                won.append(regs["g2"].decide("t2", False))
            except DecisionUnavailableError:
                return False  # nodes 2 and 3 are still electing a leader
            return True

        wait_until(majority_decides, timeout_s=10, what="the majority side to decide t2")
        assert won[-1] == (False, True)
        cluster.heal()

        def healed_reads_abort() -> bool:
            try:
                return regs["g1"].read("t2") is False
            except DecisionUnavailableError:
                return False

        wait_until(healed_reads_abort, timeout_s=10, what="node 1 to read t2 after the heal")
        assert regs["g1"].decide("t2", True) == (False, False)
        stored = cluster.stored()
        assert {m: d["t2"] for m, d in stored.items()} == {
            "g1": "abort",
            "g2": "abort",
            "g3": "abort",
        }
        assert register_problems(stored, {"p1": {"t1": True, "t2": False}}) == []
        regs["g2"].client.set("commit-decision:t3", "maybe")
        with pytest.raises(RegisterCorruptError, match="holds 'maybe'"):
            regs["g1"].decide("t3", True)
        with pytest.raises(CommitLabError, match="cannot name a decision key"):
            regs["g1"].decide("t 4", True)
    finally:
        cluster.close()
    assert not any(n.running for n in cluster.raft.nodes)


def test_prepare_and_commit_are_atomic_on_the_shard_and_survive_a_crash(redis_lab: Lab) -> None:
    store = shard(redis_lab)
    store.persist(Prepared("t1", "c", ("p1", "p2"), (Leg("A1", -30),)))
    assert store.locks() == {"A1": "t1"}
    with pytest.raises(ShardError, match="LOCKED lock:A1 is held by t1"):
        store.persist(Prepared("t2", "c", ("p1",), (Leg("A2", -1), Leg("A1", -1))))
    assert store.locks() == {"A1": "t1"}  # the refused prepare took no lock at all
    proc = redis_lab.processes[0]
    proc.kill()
    proc.start()
    store.client = proc.client()
    records = store.recover()
    assert Prepared("t1", "c", ("p1", "p2"), (Leg("A1", -30),)) in records
    store.persist(Decided("t1", True))
    assert store.balances() == {"A1": 70, "A2": 100} and store.locks() == {}
    store.persist(Decided("t1", True))  # idempotent
    assert store.balances()["A1"] == 70


def test_inconsistent_shard_state_is_refused_with_a_clear_error(redis_lab: Lab) -> None:
    store = shard(redis_lab)
    store.client.set("lock:A2", "t9")
    with pytest.raises(
        LogCorruptError, match=r"locks without a prepared intent: lock:A2 \(held by t9\)"
    ):
        store.recover()
    store.client.delete("lock:A2")
    store.client.hset(
        "intent:t5",
        mapping={
            "state": "prepared",
            "legs": '[["A1", -1]]',
            "coordinator": "c",
            "participants": "p1",
        },
    )
    with pytest.raises(
        LogCorruptError, match="intent t5 is prepared but lock:A1 is held by nobody"
    ):
        store.recover()
    store.client.hset("intent:t5", "state", "weird")
    with pytest.raises(LogCorruptError, match="unknown state 'weird'"):
        store.recover()
    store.client.delete("intent:t5")
    store.client.set("acct:A1", "lots")
    with pytest.raises(LogCorruptError, match="balance of A1 is not an integer"):
        store.recover()


def test_cli_rejects_bad_arguments() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "commit_lab", "demo", "4pc", "partition"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "invalid choice: '4pc'" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "commit_lab", "sweep", "3pc", "--kind", "crash", "--seeds", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and "3pc crash: 0/5 seeds violate" in done.stdout
