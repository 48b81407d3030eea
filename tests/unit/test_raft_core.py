"""Scripted scenarios for the Raft core: messages in, actions out."""

from __future__ import annotations

import random

import pytest

from labkit.actions import Action, Apply, Emit, Persist, Reply, Send
from labkit.core import ClientRequest, Core, Received
from redis_raft.core import (
    CLUSTERDOWN,
    NOREPLICAS,
    TIMEOUT,
    AppendEntries,
    AppendEntriesResponse,
    Applied,
    ApplyEntry,
    Entry,
    ErrorReply,
    HardState,
    Heartbeat,
    LogAppend,
    RaftConfig,
    RaftCore,
    Read,
    Redirect,
    RequestVote,
    RequestVoteResponse,
    Write,
)
from redis_raft.core.testing import LocalCluster
from redis_raft.errors import RaftConfigError, RaftUsageError

FAST = RaftConfig(election_timeout_ms=100, heartbeat_ms=20)
PEERS = ("n1", "n2", "n3")


def core(name: str = "n1", settings: RaftConfig = FAST, **kwargs: object) -> RaftCore:
    return RaftCore(name, PEERS, random.Random(7), settings, **kwargs)  # type: ignore[arg-type]


def sends(actions: list[Action], kind: type | None = None) -> list[Send]:
    return [
        a for a in actions if isinstance(a, Send) and (kind is None or isinstance(a.message, kind))
    ]


def events(actions: list[Action]) -> list[str]:
    return [a.event.name for a in actions if isinstance(a, Emit)]


def leader_of_term_one(settings: RaftConfig = FAST) -> RaftCore:
    """n1 as the leader of term 1, with its no-op acknowledged by n2."""
    n1 = core(settings=settings)
    n1.tick(0)
    n1.tick(10_000)  # pre-vote
    n1.step(Received("n2", RequestVoteResponse(1, True, pre_vote=True)), 10_001)
    n1.step(Received("n2", RequestVoteResponse(1, True)), 10_002)
    assert n1.is_leader and n1.term == 1
    return n1


def test_core_satisfies_the_interface() -> None:
    assert isinstance(core(), Core)


def test_election_pre_vote_then_vote_persisting_before_sending() -> None:
    n1 = core()
    assert n1.tick(0) == []
    actions = n1.tick(10_000)
    assert n1.role_name == "pre-candidate" and n1.term == 0
    assert not any(isinstance(a, Persist) for a in actions)  # a pre-vote changes no term
    asks = sends(actions, RequestVote)
    assert {s.to for s in asks} == {"n2", "n3"}
    assert all(isinstance(s.message, RequestVote) and s.message.pre_vote for s in asks)
    actions = n1.step(Received("n2", RequestVoteResponse(1, True, pre_vote=True)), 10_001)
    assert n1.role_name == "candidate" and n1.term == 1 and n1.vote == "n1"
    assert isinstance(actions[0], Persist) and actions[0].record == HardState(1, "n1")
    assert "+try-election" in events(actions)
    actions = n1.step(Received("n3", RequestVoteResponse(1, True)), 10_002)
    assert n1.is_leader
    assert "+elected-leader" in events(actions)
    noop = [a for a in actions if isinstance(a, Persist) and isinstance(a.record, LogAppend)]
    assert noop[0].record == LogAppend((Entry(1, 1, None),))
    first_persist = actions.index(noop[0])
    assert all(actions.index(s) > first_persist for s in sends(actions, AppendEntries))


def test_voter_persists_vote_before_answering_and_votes_once() -> None:
    n2 = core("n2")
    n2.tick(0)
    actions = n2.step(Received("n1", RequestVote(1, 0, 0)), 5_000)
    persists = [i for i, a in enumerate(actions) if isinstance(a, Persist)]
    grant = [i for i, a in enumerate(actions) if isinstance(a, Send)]
    assert actions[persists[-1]] == Persist(HardState(1, "n1"))
    assert persists[-1] < grant[0]
    assert sends(actions)[0].message == RequestVoteResponse(1, True)
    again = n2.step(Received("n3", RequestVote(1, 0, 0)), 5_001)
    assert sends(again)[0].message == RequestVoteResponse(1, False)


def test_vote_refused_to_a_stale_log() -> None:
    n2 = core("n2")
    n2.restore([HardState(2, None), LogAppend((Entry(1, 2, b"x"),))])
    n2.tick(0)
    actions = n2.step(Received("n1", RequestVote(3, 5, 1)), 5_000)
    assert sends(actions)[0].message == RequestVoteResponse(3, False)


def test_pre_vote_ignored_while_a_leader_is_heard() -> None:
    n2 = core("n2")
    n2.tick(0)
    n2.step(Received("n1", Heartbeat(1, 0, 1)), 1_000)
    assert n2.step(Received("n3", RequestVote(2, 9, 1, pre_vote=True)), 1_050) == []
    assert n2.term == 1
    later = n2.step(Received("n3", RequestVote(2, 9, 1, pre_vote=True)), 1_200)
    assert sends(later)[0].message == RequestVoteResponse(2, True, pre_vote=True)
    assert n2.term == 1  # a granted pre-vote changes nothing


def test_stale_term_messages_are_rejected() -> None:
    n2 = core("n2")
    n2.restore([HardState(5, None)])
    n2.tick(0)
    actions = n2.step(Received("n1", AppendEntries(3, 0, 0, (Entry(1, 3, b"x"),), 1)), 10)
    assert sends(actions)[0].message == AppendEntriesResponse(5, False)
    assert n2.log.last_index == 0 and n2.term == 5
    vote = n2.step(Received("n3", RequestVote(4, 10, 4)), 20)
    assert sends(vote)[0].message == RequestVoteResponse(5, False)
    n1 = leader_of_term_one()
    out = n1.step(Received("n2", AppendEntriesResponse(5, False)), 10_010)
    assert not n1.is_leader and n1.term == 5 and "-step-down" in events(out)


def test_log_conflict_resolution_with_hints() -> None:
    n2 = core("n2")
    old = tuple(Entry(i, 1 if i < 3 else 2, f"old{i}".encode()) for i in range(1, 7))
    n2.restore([HardState(2, None), LogAppend(old)])
    n2.tick(0)
    # The leader of term 4 believes n2 holds index 7 of term 4: reject with a hint.
    out = n2.step(Received("n1", AppendEntries(4, 6, 3, (), 0)), 10)
    reject = sends(out)[0].message
    assert reject == AppendEntriesResponse(
        4, False, reject_index=6, conflict_index=3, conflict_term=2
    )
    out = n2.step(Received("n1", AppendEntries(4, 9, 4, (), 0)), 11)
    assert sends(out)[0].message == AppendEntriesResponse(
        4, False, reject_index=9, conflict_index=7, conflict_term=None
    )
    # From index 3 on the leader has term 3: n2 truncates and appends (persisting first).
    new = (Entry(3, 3, b"a"), Entry(4, 3, b"b"))
    out = n2.step(Received("n1", AppendEntries(4, 2, 1, new, 4)), 12)
    assert out[0] == Persist(LogAppend(new))
    assert n2.log.last_index == 4 and n2.log.entry(3).data == b"a"
    applies = [a.command for a in out if isinstance(a, Apply)]
    assert [p.entry.index for p in applies if isinstance(p, ApplyEntry)] == [1, 2, 3, 4]
    assert sends(out)[0].message == AppendEntriesResponse(4, True, index=4)


def test_leader_backs_off_fast_with_the_hint() -> None:
    cluster = LocalCluster(PEERS)
    cluster.elect("n1")
    n1 = cluster.core("n1")
    for i in range(5):
        cluster.request("n1", f"w{i}", Write(f"SET k v{i}".encode()))
    cluster.isolate("n3")
    cluster.advance(100)
    cluster.heal()
    cluster.advance(300)
    assert cluster.core("n3").log.last_index == n1.log.last_index
    assert cluster.replies_to("w4") == ["OK"]


def test_commit_only_through_current_term_entries() -> None:
    for bug in (None, "figure8"):
        settings = RaftConfig(
            election_timeout_ms=100, heartbeat_ms=20, pre_vote=False, check_quorum=False
        )
        n1 = RaftCore("n1", PEERS, random.Random(1), settings, bug=bug)
        n1.restore([HardState(2, None), LogAppend((Entry(1, 1, b"a"), Entry(2, 2, b"b")))])
        n1.tick(0)
        n1.tick(10_000)  # candidate in term 3
        n1.step(Received("n2", RequestVoteResponse(3, True)), 10_001)
        assert n1.is_leader and n1.log.last_index == 3  # no-op of term 3 at index 3
        # n2 acknowledges index 2 (of term 2) but not yet the no-op: n1 + n2 have it.
        out = n1.step(Received("n2", AppendEntriesResponse(3, True, index=2)), 10_002)
        if bug is None:
            assert n1.commit == 0 and not any(isinstance(a, Apply) for a in out)
        else:
            assert n1.commit == 2  # the Figure 8 mistake
        n1.step(Received("n2", AppendEntriesResponse(3, True, index=3)), 10_003)
        assert n1.commit == 3


def test_read_index_waits_for_a_heartbeat_quorum_and_the_apply_index() -> None:
    cluster = LocalCluster(PEERS)
    cluster.elect("n1")
    cluster.request("n1", "w", Write(b"SET k v1"))
    cluster.deliver()
    assert cluster.replies_to("w") == ["OK"]
    out = cluster.request("n1", "r", Read(b"GET k"))
    assert cluster.replies_to("r") == []  # needs a heartbeat round first
    beats = sends(out, Heartbeat)
    assert {s.to for s in beats} == {"n2", "n3"}
    cluster.deliver()
    assert cluster.replies_to("r") == ["v1"]


def test_leader_cut_off_from_its_majority_serves_no_reads_and_steps_down() -> None:
    cluster = LocalCluster(PEERS)
    cluster.elect("n1")
    cluster.request("n1", "w", Write(b"SET k v1"))
    cluster.deliver()
    cluster.isolate("n1")
    cluster.request("n1", "r", Read(b"GET k"))
    cluster.advance(90)
    assert cluster.replies_to("r") == []
    cluster.advance(150)  # check-quorum: no majority heard within an election timeout
    assert not cluster.core("n1").is_leader
    assert cluster.replies_to("r") == [
        ErrorReply("TRYAGAIN leadership lost before the read was served")
    ]
    assert any(
        e.event.name == "-step-down" and "check-quorum" in e.event.details for e in cluster.events
    )


def test_lease_read_only_while_check_quorum_holds() -> None:
    with pytest.raises(RaftConfigError, match="check_quorum"):
        RaftConfig(lease_reads=True, check_quorum=False)
    settings = RaftConfig(
        election_timeout_ms=100, heartbeat_ms=20, lease_reads=True, lease_margin_ms=10
    )
    cluster = LocalCluster(PEERS, settings)
    cluster.elect("n1")
    cluster.request("n1", "w", Write(b"SET k v1"))
    cluster.advance(30)
    out = cluster.request("n1", "r1", Read(b"GET k"))
    assert cluster.replies_to("r1") == ["v1"]  # served at once from the lease
    assert not sends(out, Heartbeat)
    cluster.isolate("n1")
    cluster.advance(95)  # acknowledgements are now older than the lease
    out = cluster.request("n1", "r2", Read(b"GET k"))
    assert cluster.replies_to("r2") == []
    assert sends(out, Heartbeat)  # falls back to a ReadIndex round, which cannot finish


def test_leadership_transfer() -> None:
    cluster = LocalCluster(PEERS)
    cluster.elect("n1")
    cluster.request("n1", "w", Write(b"SET k v1"))
    cluster.deliver()
    from redis_raft.core import TimeoutNow, TransferLeadership

    out = cluster.request("n1", "t", TransferLeadership("n2"))
    assert cluster.replies_to("t") == ["OK"]
    assert sends(out, TimeoutNow)
    cluster.request("n1", "w2", Write(b"SET k v2"))
    assert cluster.replies_to("w2") == [ErrorReply("TRYAGAIN leadership transfer in progress")]
    cluster.deliver()
    assert cluster.leader() == "n2" and cluster.core("n2").term == 2
    assert not cluster.core("n1").is_leader


def test_snapshot_install_on_a_lagging_follower() -> None:
    cluster = LocalCluster(PEERS, snapshot_every=4)
    cluster.elect("n1")
    cluster.isolate("n3")
    for i in range(10):
        cluster.request("n1", f"w{i}", Write(f"SET k{i} v{i}".encode()))
        cluster.deliver()
    n1 = cluster.core("n1")
    assert n1.log.snap_index >= 8
    cluster.heal()
    cluster.advance(100)
    n3 = cluster.core("n3")
    assert n3.log.snap_index >= 8 and n3.applied == n1.applied
    assert cluster.nodes["n3"].kv.data == cluster.nodes["n1"].kv.data
    assert any(e.event.name == "+snapshot-installed" for e in cluster.events)


def test_write_guard_texts() -> None:
    cluster = LocalCluster(PEERS)
    cluster.elect("n1")
    n1 = cluster.core("n1")
    n1.set_write_guard(2, 1)
    cluster.request("n1", "w1", Write(b"SET k v1"))
    cluster.deliver()
    assert cluster.replies_to("w1") == ["OK"]
    cluster.isolate("n3")
    cluster.advance(1_050)
    cluster.request("n1", "w2", Write(b"SET k v2"))
    assert cluster.replies_to("w2") == [ErrorReply(NOREPLICAS)]
    assert NOREPLICAS == "NOREPLICAS Not enough good replicas to write."
    n1.set_write_guard(1, 1)
    cluster.request("n1", "w3", Write(b"SET k v3"))
    cluster.deliver()
    assert cluster.replies_to("w3") == ["OK"]
    with pytest.raises(RaftConfigError):
        n1.set_write_guard(-1, 1)


def test_clusterdown_and_redirect() -> None:
    n2 = core("n2")
    n2.tick(0)
    out = n2.step(ClientRequest("c", Write(b"SET k v")), 1)
    assert out == [Reply("c", ErrorReply(CLUSTERDOWN))]
    assert CLUSTERDOWN == "CLUSTERDOWN No Raft leader"
    n2.step(Received("n1", Heartbeat(1, 0, 1)), 2)
    assert n2.step(ClientRequest("c", Read(b"GET k")), 3) == [Reply("c", Redirect("n1", 1))]


def test_timeout_on_leadership_loss_never_a_false_failure() -> None:
    cluster = LocalCluster(PEERS)
    cluster.elect("n1")
    cluster.deliver()
    cluster.isolate("n1")
    cluster.request("n1", "w", Write(b"SET k lost?"))
    assert cluster.replies_to("w") == []
    cluster.advance(250)  # check-quorum steps n1 down
    assert cluster.replies_to("w") == [ErrorReply(TIMEOUT)]
    assert TIMEOUT == "TIMEOUT the write may or may not have been applied"


def test_committed_write_is_answered_after_step_down() -> None:
    cluster = LocalCluster(PEERS)
    cluster.elect("n1")
    n1 = cluster.core("n1")
    cluster.request("n1", "w", Write(b"SET k v"))
    # Deliver the appends and the acknowledgements by hand, holding back nothing.
    cluster.deliver()
    assert n1.commit == n1.log.last_index and cluster.replies_to("w") == ["OK"]


def test_applied_out_of_order_is_a_usage_error() -> None:
    n1 = leader_of_term_one()
    with pytest.raises(RaftUsageError):
        n1.step(Applied(5, None), 10_010)


def test_unknown_bug_and_bad_settings() -> None:
    with pytest.raises(RaftConfigError):
        core(bug="nope")
    with pytest.raises(RaftConfigError):
        RaftConfig(heartbeat_ms=2000, election_timeout_ms=1000)


def test_durable_state_round_trip() -> None:
    cluster = LocalCluster(PEERS, snapshot_every=3)
    cluster.elect("n1")
    for i in range(7):
        cluster.request("n1", f"w{i}", Write(f"SET k v{i}".encode()))
        cluster.deliver()
    n1 = cluster.core("n1")
    fresh = RaftCore("n1", PEERS, random.Random(1), FAST)
    fresh.restore(n1.durable_state())
    assert (fresh.term, fresh.vote) == (n1.term, n1.vote)
    assert fresh.log.entries == n1.log.entries and fresh.log.snap_index == n1.log.snap_index
    assert fresh.commit == fresh.applied == n1.log.snap_index
