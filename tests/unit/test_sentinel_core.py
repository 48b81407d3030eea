"""Scenario scripts for the Sentinel core: inputs at times in, actions and events out."""

from __future__ import annotations

import random

from labkit.actions import Emit, Persist, RedisCommand, Reply
from labkit.core import ClientRequest, Received, RedisPush
from sentinel_lab.core import (
    HELLO_CHANNEL,
    ErrorReply,
    FailoverRequest,
    FailoverState,
    IsMasterDownReply,
    IsMasterDownRequest,
    SentinelCore,
    SentinelIdentity,
    SentinelState,
)
from tests.unit.test_sentinel_core_harness import (
    MASTER,
    MYID,
    PEER_IDS,
    R1,
    R2,
    Harness,
    peer_votes_for_asker,
)

B, C, D = PEER_IDS[0], PEER_IDS[1], PEER_IDS[2]


def test_discovers_replicas_and_peers_and_monitors() -> None:
    h = Harness()
    h.start()
    events = [e.message for e in h.events()]
    assert events[0] == "+monitor master mymaster 127.0.10.1 6379 quorum 2"
    assert "+slave slave 127.0.10.2:6379 127.0.10.2 6379 @ mymaster 127.0.10.1 6379" in events
    assert f"+sentinel sentinel {B} 127.0.11.2 26379 @ mymaster 127.0.10.1 6379" in events
    assert all(e.role == "X" for e in h.events())
    assert "+sdown" not in h.names()
    # a new replica and a new sentinel each persist the config
    assert sum(1 for _, a in h.log if isinstance(a, Persist)) >= 1 + 2 + 2


def test_sdown_after_down_after_without_pong() -> None:
    h = Harness(down_after_ms=1000)
    h.start()
    h.master.ping_reply = None  # paused: PINGs go unanswered
    paused_at = h.now
    h.run(paused_at + 3000)
    t, event = h.first("+sdown")
    assert event.message == "+sdown master mymaster 127.0.10.1 6379"
    assert event.level == "#"
    # the oldest unanswered PING goes out within a ping period; SDOWN strictly after down-after
    assert paused_at + 1000 < t <= paused_at + 1000 + 1000 + 100
    h.master.ping_reply = "PONG"
    h.run(h.now + 1500)
    assert "-sdown" in h.names()


def test_crashed_master_goes_sdown_through_link_errors() -> None:
    h = Harness(down_after_ms=2000, quorum=5)
    h.start()
    h.master.alive = False
    start = h.now
    h.run(start + 5000)
    t, _ = h.first("+sdown")
    assert start + 2000 < t <= start + 2000 + 1100
    flags = dict(h.core.master_info("mymaster"))["flags"]  # type: ignore[arg-type]
    assert flags.startswith("s_down,") and "disconnected" in flags


def test_no_sdown_with_loading_or_masterdown_replies() -> None:
    for text in ("LOADING Redis is loading the dataset in memory", "MASTERDOWN Link down"):
        h = Harness(down_after_ms=1000)
        h.start()
        h.master.ping_reply = ErrorReply(text)
        h.run(h.now + 10_000)
        assert "+sdown" not in h.names(), text


def test_other_error_replies_do_not_count_as_available() -> None:
    h = Harness(down_after_ms=1000)
    h.start()
    h.master.ping_reply = ErrorReply("ERR unknown command 'PING'")
    h.run(h.now + 3000)
    assert "+sdown" in h.names()


def test_master_reporting_replica_role_goes_sdown_after_down_after_plus_two_info_periods() -> None:
    h = Harness(down_after_ms=1000, peers=0, quorum=5)
    h.start()
    h.master.role, h.master.master = "slave", ("127.0.10.9", 6379)
    h.run(h.now + 10_100)  # the next INFO shows the role
    changed, ev = h.first("-role-change")
    assert ev.level == "-" and ev.details == "new reported role is slave"
    h.run(changed + 1000 + 20_000 + 200)
    t, _ = h.first("+sdown")
    assert changed + 21_000 < t <= changed + 21_200


def test_odown_with_quorum_answers() -> None:
    h = Harness(quorum=2)
    h.start()
    h.master.ping_reply = None
    h.run(h.now + 3000)
    _, event = h.first("+odown")
    assert event.instance == "master mymaster 127.0.10.1 6379"
    # ODOWN is declared on the answer that reaches the quorum, not at the next timer run
    assert event.details == "#quorum 2/2"
    asked = [r for _, r in h.requests]
    assert asked and asked[0] == IsMasterDownRequest("127.0.10.1", 6379, 0, None)


def test_no_odown_when_others_do_not_agree() -> None:
    h = Harness(quorum=2, policy=peer_votes_for_asker(down=False))
    h.start()
    h.master.ping_reply = None
    h.run(h.now + 10_000)
    assert "+sdown" in h.names() and "+odown" not in h.names()


def test_no_odown_when_quorum_exceeds_the_sentinels_that_see_it_down() -> None:
    h = Harness(quorum=4, peers=2)
    h.start()
    h.master.ping_reply = None
    h.run(h.now + 10_000)
    assert "+sdown" in h.names() and "+odown" not in h.names()


def _down_but_votes_elsewhere(peer: str, request: IsMasterDownRequest) -> IsMasterDownReply:
    other = "f" * 40 if request.runid else None
    return IsMasterDownReply("127.0.10.1", 6379, True, other, request.current_epoch)


def test_master_down_answers_expire_after_five_seconds() -> None:
    h = Harness(quorum=2, policy=_down_but_votes_elsewhere)
    h.start()
    h.master.ping_reply = None
    h.run(h.now + 2500)
    assert "+odown" in h.names()
    h.policy = lambda peer, request: None  # the others stop answering
    h.run(h.now + 6000)
    assert "-odown" in h.names()


# -- votes ---------------------------------------------------------------------------
def _ask(
    core: SentinelCore, epoch: int, runid: str, now: int
) -> tuple[list[object], IsMasterDownReply]:
    request = IsMasterDownRequest("127.0.10.1", 6379, epoch, runid)
    actions = core.step(ClientRequest("peer", request), now)
    reply = actions[-1]
    assert isinstance(reply, Reply) and isinstance(reply.value, IsMasterDownReply)
    return list(actions), reply.value


def test_vote_rules_first_asker_wins_and_no_vote_for_lower_epoch() -> None:
    h = Harness()
    h.start()
    actions, first = _ask(h.core, 1, B, h.now)
    assert (first.leader, first.leader_epoch, first.down) == (B, 1, False)
    names = [a.event.name for a in actions if isinstance(a, Emit)]
    assert names == ["+new-epoch", "+vote-for-leader"]
    # the vote is persisted before it is announced and before the reply
    persists = [i for i, a in enumerate(actions) if isinstance(a, Persist)]
    vote_at = next(
        i
        for i, a in enumerate(actions)
        if isinstance(a, Emit) and a.event.name == "+vote-for-leader"
    )
    assert persists and persists[-1] < vote_at < len(actions) - 1
    record = actions[persists[-1]]
    assert isinstance(record, Persist) and isinstance(record.record, SentinelState)
    assert record.record.masters[0].leader_epoch == 1 and record.record.current_epoch == 1
    # second asker in the same epoch gets the first one's name
    _, second = _ask(h.core, 1, C, h.now)
    assert (second.leader, second.leader_epoch) == (B, 1)
    # a lower epoch gets no new vote
    _, lower = _ask(h.core, 0, C, h.now)
    assert (lower.leader, lower.leader_epoch) == (B, 1)
    # a higher epoch does
    _, third = _ask(h.core, 2, C, h.now)
    assert (third.leader, third.leader_epoch) == (C, 2)
    # voting for another pushes our own failover start back by 0..999 ms
    start = h.core.masters["mymaster"].failover_start_ms
    assert start is not None and h.now <= start < h.now + 1000


def test_star_request_asks_without_voting_and_reports_down_state() -> None:
    h = Harness()
    h.start()
    h.master.ping_reply = None
    h.run(h.now + 2500)
    actions = h.core.step(
        Received("127.0.11.2:26379", IsMasterDownRequest("127.0.10.1", 6379, 0, None)),
        h.now,
    )
    (send,) = actions
    assert send.message == IsMasterDownReply("127.0.10.1", 6379, True, None, 0)  # type: ignore[union-attr]
    assert send.message.wire_value() == [1, "*", 0]  # type: ignore[union-attr]
    unknown = IsMasterDownRequest("127.9.19.9", 1, 0, None)
    (reply,) = h.core.step(ClientRequest("x", unknown), h.now)
    assert reply == Reply("x", IsMasterDownReply("127.9.19.9", 1, False, None, 0))


# -- elections and failover ------------------------------------------------------------
HAPPY_PATH = [
    "+sdown",
    "+odown",
    "+new-epoch",
    "+try-failover",
    "+vote-for-leader",
    "+elected-leader",
    "+failover-state-select-slave",
    "+selected-slave",
    "+failover-state-send-slaveof-noone",
    "+failover-state-wait-promotion",
    "-role-change",
    "+promoted-slave",
    "+failover-state-reconf-slaves",
    "+slave-reconf-sent",
    "+slave-reconf-inprog",
    "+slave-reconf-done",
    "+failover-end",
    "+switch-master",
    "+slave",
    "+slave",
]


def _failover_names(names: list[str]) -> list[str]:
    keep = set(HAPPY_PATH)
    start = names.index("+sdown")
    return [n for n in names[start:] if n in keep and n != "-sdown"][: len(HAPPY_PATH)]


def test_happy_path_failover_sequence_on_the_leader() -> None:
    """sentinel.md's list for the leader, in order. Our scripted peers keep saying
    "down" to the end, so the ``-odown`` a real run shows when the others switch first
    does not appear here (the switch resets the master entry silently)."""
    h = Harness()
    h.start()
    h.servers[R1].offset = 500  # R2 is further ahead: it is chosen
    h.master.alive = False
    h.run(h.now + 15_000)
    assert _failover_names(h.names()) == HAPPY_PATH
    events = {e.name: e for e in h.events()}
    assert events["+vote-for-leader"].details == f"{MYID} 1"
    assert events["+new-epoch"].details == "1"
    assert (
        events["+selected-slave"].instance
        == "slave 127.0.10.3:6379 127.0.10.3 6379 @ mymaster 127.0.10.1 6379"
    )
    assert events["+switch-master"].details == "mymaster 127.0.10.1 6379 127.0.10.3 6379"
    assert events["+failover-state-send-slaveof-noone"].level == "*"
    # the promotion transaction, in Redis's order, on the promoted replica
    sent = [a.args for _, a in h.log if isinstance(a, RedisCommand) and a.target == R2]
    i = sent.index(("MULTI",))
    assert sent[i : i + 6] == [
        ("MULTI",),
        ("SLAVEOF", "NO", "ONE"),
        ("CONFIG", "REWRITE"),
        ("CLIENT", "KILL", "TYPE", "normal"),
        ("CLIENT", "KILL", "TYPE", "pubsub"),
        ("EXEC",),
    ]
    reconf = [a.args for _, a in h.log if isinstance(a, RedisCommand) and a.target == R1]
    assert ("SLAVEOF", "127.0.10.3", "6379") in reconf
    master = h.core.masters["mymaster"]
    assert (master.host, master.port, master.config_epoch) == ("127.0.10.3", 6379, 1)
    assert sorted(master.replicas) == ["127.0.10.1:6379", "127.0.10.2:6379"]
    assert h.core.get_master_addr_by_name("mymaster") == ("127.0.10.3", "6379")
    last = h.core.durable_state()[0]
    assert last.masters[0].config.host == "127.0.10.3" and last.masters[0].config_epoch == 1


def test_election_needs_a_majority_even_with_quorum() -> None:
    # 5 sentinels, quorum 2: our vote plus one other is the quorum but not a majority (3)
    def one_vote(peer: str, request: IsMasterDownRequest) -> IsMasterDownReply:
        leader = request.runid if peer == "127.0.11.2:26379" else "f" * 40
        epoch = request.current_epoch if request.runid else 0
        return IsMasterDownReply("127.0.10.1", 6379, True, leader if request.runid else None, epoch)

    h = Harness(peers=4, quorum=2, policy=one_vote, failover_timeout_ms=6000)
    h.start()
    h.master.alive = False
    h.run(h.now + 15_000)
    assert "+try-failover" in h.names() and "+elected-leader" not in h.names()
    tried, _ = h.first("+try-failover")
    aborted, event = h.first("-failover-abort-not-elected")
    assert event.instance == "master mymaster 127.0.10.1 6379"
    # abort after min(10 s, failover-timeout) from the (desynced) start, not before
    assert tried + 6000 < aborted <= tried + 6000 + 1000 + 100


def test_election_needs_the_quorum_even_with_a_majority() -> None:
    h = Harness(peers=2, quorum=3, policy=peer_votes_for_asker())
    h.start()
    h.master.alive = False
    h.run(h.now + 12_000)
    # quorum 3 is reached for ODOWN (3 sentinels agree) and all 3 votes: elected
    assert "+elected-leader" in h.names()

    def one_peer(peer: str, request: IsMasterDownRequest) -> IsMasterDownReply:
        down = True
        if peer == "127.0.11.3:26379":
            return IsMasterDownReply(
                "127.0.10.1", 6379, down, "f" * 40 if request.runid else None, request.current_epoch
            )
        return IsMasterDownReply(
            "127.0.10.1", 6379, down, request.runid, request.current_epoch if request.runid else 0
        )

    h = Harness(peers=2, quorum=3, policy=one_peer)
    h.start()
    h.master.alive = False
    h.run(h.now + 12_000)
    # 2 of 3 votes is a majority but less than the quorum of 3
    assert "+try-failover" in h.names() and "+elected-leader" not in h.names()
    assert "-failover-abort-not-elected" in h.names()


def test_retry_waits_twice_the_failover_timeout() -> None:
    h = Harness(
        peers=2,
        quorum=2,
        policy=lambda p, r: IsMasterDownReply(
            "127.0.10.1", 6379, True, "f" * 40 if r.runid else None, r.current_epoch
        ),
        failover_timeout_ms=3000,
    )
    h.start()
    h.master.alive = False
    h.run(h.now + 20_000)
    tries = [t for t, a in h.log if isinstance(a, Emit) and a.event.name == "+try-failover"]
    assert len(tries) >= 2
    assert tries[1] - tries[0] >= 2 * 3000


def test_abort_no_good_slave_when_all_replicas_have_priority_zero() -> None:
    h = Harness()
    for name in (R1, R2):
        h.servers[name].priority = 0
    h.start()
    h.run(h.now + 10_100)  # replicas' INFO with priority 0
    h.master.alive = False
    h.run(h.now + 6000)
    assert "-failover-abort-no-good-slave" in h.names()
    assert h.core.masters["mymaster"].failover_state is FailoverState.NONE


def test_tilt_on_a_clock_jump_stops_acting_then_exits() -> None:
    h = Harness()
    h.start()
    h.now += 3000  # the timer was starved for 3 s
    h.feed(h.core.tick(h.now))
    t, event = h.first("+tilt")
    assert event.message == "+tilt #tilt mode entered" and t == h.now
    h.master.ping_reply = None
    h.run(h.now + 10_000)
    assert "+sdown" not in h.names()  # no acting while in TILT
    answer = h.core.step(
        ClientRequest("c", IsMasterDownRequest("127.0.10.1", 6379, 0, None)), h.now
    )
    assert answer[-1].value.down is False  # type: ignore[union-attr]
    h.run(t + 30_000 + 200)
    assert "-tilt" in h.names() and "+sdown" in h.names()
    assert h.first("-tilt")[0] >= t + 30_000


def test_backwards_clock_enters_tilt() -> None:
    h = Harness()
    h.start()
    h.now -= 50
    h.feed(h.core.tick(h.now))
    assert "+tilt" in h.names()


def test_forced_failover_needs_no_election_and_reports_errors() -> None:
    h = Harness(
        policy=lambda p, r: IsMasterDownReply(
            "127.0.10.1", 6379, False, "f" * 40 if r.runid else None, r.current_epoch
        )
    )
    h.start()
    h.run(h.now + 10_100)
    (reply,) = [
        a
        for a in h.core.step(ClientRequest("c", FailoverRequest("nope")), h.now)
        if isinstance(a, Reply)
    ]
    assert reply.value == ErrorReply("ERR No such master with that name")
    actions = h.core.step(ClientRequest("c", FailoverRequest("mymaster")), h.now)
    h.feed(actions)
    assert actions[-1] == Reply("c", "OK")
    (again,) = [
        a
        for a in h.core.step(ClientRequest("c", FailoverRequest("mymaster")), h.now)
        if isinstance(a, Reply)
    ]
    assert again.value == ErrorReply("INPROG Failover already in progress")
    h.run(h.now + 5000)
    assert "+elected-leader" in h.names() and "+switch-master" in h.names()


def test_failover_command_without_good_replica() -> None:
    h = Harness(replicas=0)
    h.start()
    actions = h.core.step(ClientRequest("c", FailoverRequest("mymaster")), h.now)
    assert actions[-1] == Reply("c", ErrorReply("NOGOODSLAVE No suitable replica to promote"))


# -- hellos ---------------------------------------------------------------------------------
def test_hello_with_newer_config_epoch_switches_master() -> None:
    h = Harness()
    h.start()
    payload = f"127.0.11.2,26379,{B},3,mymaster,127.0.10.2,6379,3".encode()
    h.feed(h.core.step(RedisPush(R1, HELLO_CHANNEL.encode(), payload), h.now))
    names = h.names()
    assert names[-5:-1] == ["+new-epoch", "+config-update-from", "+switch-master", "+slave"]
    assert h.core.current_epoch == 3
    assert h.core.get_master_addr_by_name("mymaster") == ("127.0.10.2", "6379")
    assert h.core.masters["mymaster"].config_epoch == 3


def test_malformed_and_own_hellos_are_ignored() -> None:
    h = Harness()
    h.start()
    before = h.core.durable_state()
    for payload in (
        b"",
        b"1,2,3",
        b"127.0.11.2,26379,x,1,mymaster,127.0.10.1,6379",
        b"127.0.11.2,26379,x,1,mymaster,127.0.10.1,6379,1,extra",
        b"127.0.11.2,port,x,1,mymaster,127.0.10.1,6379,1",
        b"\xff\xfe,,,,,,,",
        f"127.0.11.9,26379,{MYID},9,mymaster,127.0.10.9,6379,9".encode(),
        b"127.0.11.9,26379,zz,9,othermaster,127.0.10.9,6379,9",
    ):
        assert h.core.step(RedisPush(MASTER, HELLO_CHANNEL.encode(), payload), h.now) == []
    assert h.core.durable_state() == before


def test_returning_old_master_is_converted_to_replica() -> None:
    h = Harness()
    h.start()
    old = h.master
    h.master.alive = False
    h.run(h.now + 15_000)
    assert "+switch-master" in h.names()
    old.alive = True  # back, still thinking it is a master
    old.role = "master"
    h.run(h.now + 15_000)
    _, event = h.first("+convert-to-slave")
    assert event.instance == "slave 127.0.10.1:6379 127.0.10.1 6379 @ mymaster 127.0.10.2 6379"
    assert old.role == "slave" and old.master == ("127.0.10.2", 6379)


def test_durable_state_round_trip_resumes_identity_and_epochs() -> None:
    h = Harness()
    h.start()
    _ask(h.core, 4, B, h.now)
    (state,) = h.core.durable_state()
    fresh = SentinelCore.from_state(state, random.Random(9))
    assert fresh.durable_state() == (state,)
    assert fresh.myid == MYID and fresh.current_epoch == 4
    assert fresh.masters["mymaster"].leader_epoch == 4
    assert sorted(fresh.masters["mymaster"].sentinels) == sorted([B, C])
    # a vote already given in epoch 4 is not given again after the restart
    _, again = _ask(fresh, 4, C, 0)
    assert again.leader_epoch == 4 and again.leader != C
    # a first start persists a fresh id
    first = SentinelCore(SentinelIdentity("127.0.11.7", 26379), [h.config], random.Random(3))
    actions = first.tick(0)
    assert any(isinstance(a, Persist) for a in actions)
    assert len(first.myid) == 40 and first.myid != MYID
