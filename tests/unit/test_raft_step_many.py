"""``RaftCore.step_many``: inputs that arrived together, replicated once.

It must leave the core exactly as stepping the inputs one by one would (same log,
same commit, same replies), while a leader sends one AppendEntries per follower for
the whole batch instead of one per request. A commit no longer triggers its own
heartbeat: followers learn it from the next AppendEntries or the next tick.
"""

from __future__ import annotations

import random

import pytest

from labkit.actions import Action, Persist, Reply, Send
from labkit.core import ClientRequest, Received
from redis_raft.core import (
    AppendEntries,
    AppendEntriesResponse,
    Applied,
    Heartbeat,
    LogAppend,
    RaftConfig,
    RaftCore,
    RequestVoteResponse,
    Write,
)
from redis_raft.core.testing import LocalCluster
from redis_raft.errors import RaftUsageError

FAST = RaftConfig(election_timeout_ms=100, heartbeat_ms=20)
PEERS = ("n1", "n2", "n3")


def leader() -> RaftCore:
    n1 = RaftCore("n1", PEERS, random.Random(7), FAST)
    n1.tick(0)
    n1.tick(10_000)
    n1.step(Received("n2", RequestVoteResponse(1, True, pre_vote=True)), 10_001)
    n1.step(Received("n2", RequestVoteResponse(1, True)), 10_002)
    assert n1.is_leader
    n1.step(Received("n2", AppendEntriesResponse(1, True, index=1)), 10_003)
    return n1


def appends(actions: list[Action], to: str = "n2") -> list[AppendEntries]:
    """AppendEntries to ``to`` (n2 acknowledged the no-op; n3 is still probed)."""
    return [
        a.message
        for a in actions
        if isinstance(a, Send) and a.to == to and isinstance(a.message, AppendEntries)
    ]


def test_a_batch_of_writes_goes_out_in_one_append_per_follower() -> None:
    one_by_one, batched = leader(), leader()
    writes = [ClientRequest(f"c{i}", Write(f"SET k {i}".encode())) for i in range(10)]
    single: list[Action] = []
    for write in writes:
        single += one_by_one.step(write, 10_004)
    together = batched.step_many(writes, 10_004)
    assert len(appends(single)) == 10
    sent = appends(together)
    assert [len(m.entries) for m in sent] == [10]
    assert batched.log.entries == one_by_one.log.entries
    persisted = [e for a in together if isinstance(a, Persist) for e in a.record.entries]  # type: ignore[attr-defined]
    assert [e.index for e in persisted] == list(range(2, 12))
    assert all(isinstance(a.record, LogAppend) for a in together if isinstance(a, Persist))


def test_the_same_outcome_as_stepping_one_by_one() -> None:
    for batched in (False, True):
        cluster = LocalCluster(PEERS)
        cluster.elect("n1")
        n1 = cluster.nodes["n1"]
        writes = [ClientRequest(f"w{i}", Write(f"SET k{i} v".encode())) for i in range(20)]
        if batched:
            cluster._take("n1", n1.core.step_many(writes, cluster.now_ms))
        else:
            for write in writes:
                cluster.step("n1", write)
        cluster.deliver()
        cluster.advance(50)
        assert all(len(cluster.replies_to(f"w{i}")) == 1 for i in range(20))
        commits = {name: node.core.commit for name, node in cluster.nodes.items()}
        assert set(commits.values()) == {n1.core.log.last_index}
        data = {name: node.kv.data for name, node in cluster.nodes.items()}
        assert data["n1"] == data["n2"] == data["n3"]


def test_a_commit_is_told_at_the_next_tick_not_at_once() -> None:
    n1 = leader()
    n1.step(ClientRequest("c", Write(b"SET k v")), 10_010)
    acked = n1.step(Received("n2", AppendEntriesResponse(1, True, index=2)), 10_011)
    assert n1.commit == 2
    assert not [a for a in acked if isinstance(a, Send) and isinstance(a.message, Heartbeat)]
    told = n1.tick(10_012)
    beats = [a.message for a in told if isinstance(a, Send) and isinstance(a.message, Heartbeat)]
    assert sorted(b.commit for b in beats) == [0, 2]  # min(match, commit): n3 has nothing
    assert not [a for a in n1.tick(10_013) if isinstance(a, Send)]  # told once


def test_applied_batches_and_refusals() -> None:
    n1 = leader()
    n1.step_many([ClientRequest(f"c{i}", Write(b"SET k v")) for i in range(3)], 10_010)
    n1.step(Received("n2", AppendEntriesResponse(1, True, index=4)), 10_011)
    out = n1.step_many([Applied(i, "OK") for i in range(1, 5)], 10_012)
    assert [a.client for a in out if isinstance(a, Reply)] == ["c0", "c1", "c2"]
    with pytest.raises(RaftUsageError):
        n1.step_many([Applied(9, "OK")], 10_013)
    with pytest.raises(RaftUsageError):
        n1.step_many([object()], 10_014)  # type: ignore[list-item]
