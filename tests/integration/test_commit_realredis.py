"""commit_lab against real redis-server shards: the demonstrations and shard recovery."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from commit_lab.core.messages import Decided, Leg, Prepared
from commit_lab.demos import expected_atomic, run_real, write_report
from commit_lab.errors import LogCorruptError, ShardError
from commit_lab.shard import SHARD_DIRECTIVES, ShardStore
from labkit.realredis import Lab

ROOT = Path(__file__).resolve().parents[2]
DOWN_MS = 1500
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
    assert result.atomic, result.problems
    assert result.in_doubt_ms >= DOWN_MS  # blocked until the coordinator came back
    assert result.t2_reply.startswith("aborted") and "A1 is locked by t1" in result.t2_reply
    html = tmp_path / "report.html"
    text = write_report(result, events, html=html)
    assert "+in-doubt" in text and "+crash" in text and html.stat().st_size > 0


@pytest.mark.slow
def test_2pc_coordinator_and_participant_crash_blocks_the_survivors(redis_lab: Lab) -> None:
    result, _ = run_real("2pc", "coordinator-participant-crash", down_ms=DOWN_MS, lab=redis_lab)
    print(result.line())
    assert result.atomic and dict(result.t1) == {"p1": True, "p2": True, "p3": True}
    assert result.in_doubt_ms >= DOWN_MS


@pytest.mark.slow
def test_3pc_survivors_terminate_without_the_coordinator(redis_lab: Lab) -> None:
    result, _ = run_real("3pc", "coordinator-participant-crash", down_ms=DOWN_MS, lab=redis_lab)
    print(result.line())
    assert result.atomic and dict(result.t1) == {"p1": True, "p2": True, "p3": True}
    assert result.in_doubt_ms < DOWN_MS


@pytest.mark.slow
def test_3pc_partition_splits_the_decision_and_the_checker_catches_it(redis_lab: Lab) -> None:
    result, _ = run_real("3pc", "partition", down_ms=DOWN_MS, lab=redis_lab)
    print(result.line())
    assert not result.atomic and result.atomic == expected_atomic("3pc", "partition")
    assert dict(result.t1) == {"p1": True, "p2": False, "p3": False}
    assert any(p.startswith("atomicity (on the shards)") for p in result.problems)
    assert any(p.startswith("conservation (on the shards)") for p in result.problems)


@pytest.mark.slow
def test_consensus_decision_neither_blocks_nor_splits(redis_lab: Lab) -> None:
    crash, _ = run_real("2pc-consensus", "coordinator-crash", down_ms=DOWN_MS, lab=redis_lab)
    print(crash.line())
    assert crash.atomic and crash.in_doubt_ms < DOWN_MS
    split, _ = run_real("2pc-consensus", "partition", down_ms=DOWN_MS, lab=redis_lab)
    print(split.line())
    assert split.atomic


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
