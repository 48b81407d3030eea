"""The core's pure parts: quorum arithmetic, hello and INFO parsers, replica selection,
query field order. Parsers are fuzzed: random input parses or raises the typed error."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.core import RedisPush, RedisReply
from sentinel_lab.core import (
    HELLO_CHANNEL,
    ErrorReply,
    Hello,
    HelloFormatError,
    InfoFormatError,
    InvalidCoreConfigError,
    MasterConfig,
    SentinelCore,
    SentinelIdentity,
    Timing,
    parse_hello,
    parse_info,
    quorum,
)
from sentinel_lab.core.instances import Link, Master, Replica
from sentinel_lab.core.replies import is_valid_ping_reply
from sentinel_lab.core.selection import select_replica
from tests.unit.test_sentinel_core_harness import Harness

# -- quorum arithmetic against a naive reference ----------------------------------------------


def _naive_winner(votes: list[str], voters: int, quorum_: int) -> str | None:
    for candidate in sorted(set(votes)):
        n = votes.count(candidate)
        if n > voters / 2 and n >= quorum_:
            return candidate
    return None


@given(
    votes=st.lists(st.sampled_from("abcde"), max_size=9),
    extra_voters=st.integers(0, 5),
    quorum_=st.integers(1, 9),
)
def test_election_winner_matches_naive_reference(
    votes: list[str], extra_voters: int, quorum_: int
) -> None:
    voters = len(votes) + extra_voters
    counts = quorum.count_votes(votes)
    assert quorum.election_winner(counts, voters, quorum_) == _naive_winner(votes, voters, quorum_)


@given(voters=st.integers(1, 200))
def test_majority_is_more_than_half(voters: int) -> None:
    m = quorum.majority(voters)
    assert m > voters / 2 and m - 1 <= voters / 2


@given(
    others=st.integers(0, 10),
    quorum_=st.integers(1, 12),
    usable=st.integers(1, 12),
    voters=st.integers(1, 12),
)
def test_odown_and_ckquorum_match_naive(
    others: int, quorum_: int, usable: int, voters: int
) -> None:
    assert quorum.odown_reached(others, quorum_) == (others + 1 >= quorum_)
    assert quorum.ckquorum(usable, voters, quorum_) == (usable >= quorum_, usable * 2 > voters)


# -- hello --------------------------------------------------------------------------------------


def test_hello_round_trip_and_exact_field_count() -> None:
    hello = Hello("127.0.11.2", 26379, "b" * 40, 7, "mymaster", "127.0.10.1", 6379, 3)
    assert hello.encode() == f"127.0.11.2,26379,{'b' * 40},7,mymaster,127.0.10.1,6379,3".encode()
    assert parse_hello(hello.encode()) == hello
    text = hello.encode().decode()
    with pytest.raises(HelloFormatError, match="exactly 8"):
        parse_hello(text + ",9")
    with pytest.raises(HelloFormatError, match="exactly 8"):
        parse_hello(text.rsplit(",", 1)[0])
    with pytest.raises(HelloFormatError):
        parse_hello(text.replace("26379", "-1"))


@settings(max_examples=300)
@given(st.binary(max_size=120) | st.text(max_size=120).map(str.encode))
def test_hello_parser_fuzz(payload: bytes) -> None:
    try:
        hello = parse_hello(payload)
    except HelloFormatError:
        return
    assert parse_hello(hello.encode()) == hello


@settings(max_examples=200)
@given(st.lists(st.text(alphabet="0123456789abc.,:-", max_size=12), min_size=1, max_size=10))
def test_core_ignores_garbage_hellos(fields: list[str]) -> None:
    core = SentinelCore(
        SentinelIdentity("127.0.11.1", 26379, "a" * 40),
        [MasterConfig("m", "127.0.10.1", 6379, 2)],
        random.Random(1),
    )
    payload = ",".join(fields).encode()
    core.step(RedisPush("127.0.10.1:6379", HELLO_CHANNEL.encode(), payload), 0)


# -- INFO ---------------------------------------------------------------------------------------

REPLICA_INFO = (
    "# Server\r\nredis_version:7.0.15\r\nrun_id:" + "9" * 40 + "\r\n# Replication\r\nrole:slave\r\n"
    "master_host:127.0.10.1\r\nmaster_port:6379\r\nmaster_link_status:down\r\n"
    "master_last_io_seconds_ago:-1\r\nmaster_sync_in_progress:0\r\nslave_read_repl_offset:42\r\n"
    "slave_repl_offset:42\r\nmaster_link_down_since_seconds:7\r\nslave_priority:10\r\n"
    "slave_read_only:1\r\nreplica_announced:1\r\nconnected_slaves:0\r\n"
)


def test_info_parser_reads_replica_fields() -> None:
    report = parse_info(REPLICA_INFO.encode())
    assert report.run_id == "9" * 40
    assert report.role == "slave"
    assert (report.master_host, report.master_port, report.master_link_up) == (
        "127.0.10.1",
        6379,
        False,
    )
    assert report.master_link_down_since_ms == 7000
    assert (report.slave_priority, report.slave_repl_offset, report.replica_announced) == (
        10,
        42,
        1,
    )


def test_info_parser_reads_master_replica_lines_both_formats() -> None:
    text = (
        "role:master\r\nconnected_slaves:2\r\n"
        "slave0:ip=127.0.10.2,port=6379,state=online,offset=100,lag=1\r\n"
        "slave1:127.0.10.3,6380,online\r\nslave2:garbage\r\nslavex:ip=1,port=2\r\n"
    )
    report = parse_info(text)
    assert report.role == "master"
    assert [(r.ip, r.port, r.state) for r in report.replicas] == [
        ("127.0.10.2", 6379, "online"),
        ("127.0.10.3", 6380, "online"),
    ]
    assert report.replicas[0].offset == 100 and report.replicas[0].lag == 1


def test_info_parser_rejects_non_text() -> None:
    with pytest.raises(InfoFormatError):
        parse_info(42)


@settings(max_examples=300)
@given(
    st.lists(
        st.sampled_from(
            [
                "role:master",
                "role:slave",
                "slave0:ip=",
                "slave1:ip=1.2.3.4,port=x",
                "master_port:",
                "master_host:",
                "master_link_status:up",
                "slave_priority:-3",
                "slave_repl_offset:99999999999999999999",
                "master_link_down_since_seconds:",
                "run_id:" + "f" * 40,
                "x",
                "",
                "slave9:a,b",
                "replica_announced:z",
            ]
        )
        | st.text(max_size=40),
        max_size=20,
    )
)
def test_info_parser_fuzz(lines: list[str]) -> None:
    report = parse_info("\r\n".join(lines).encode())
    assert report.role in (None, "master", "slave")


@settings(max_examples=100)
@given(st.binary(max_size=300))
def test_core_survives_garbage_info(blob: bytes) -> None:
    h = Harness()
    h.start()
    for target in ("127.0.10.1:6379", "127.0.10.2:6379"):
        h.core.step(RedisReply(target, ("INFO",), blob), h.now)
        h.core.step(RedisReply(target, ("INFO",), ErrorReply("ERR x")), h.now)
    h.run(h.now + 1000)


# -- replies, config ------------------------------------------------------------------------------


def test_valid_ping_replies() -> None:
    assert is_valid_ping_reply("PONG")
    assert is_valid_ping_reply(ErrorReply("LOADING Redis is loading"))
    assert is_valid_ping_reply(ErrorReply("MASTERDOWN Link with MASTER is down"))
    assert not is_valid_ping_reply(ErrorReply("BUSY script"))
    assert not is_valid_ping_reply(b"PONG")  # a bulk reply is not a status reply
    assert not is_valid_ping_reply(None)


def test_config_defaults_are_redis_defaults_and_validated() -> None:
    config = MasterConfig("mymaster", "127.0.0.1", 6379, 2)
    assert (config.down_after_ms, config.failover_timeout_ms, config.parallel_syncs) == (
        30_000,
        180_000,
        1,
    )
    timing = Timing()
    assert timing.ping_period_for(30_000) == 1000 and timing.ping_period_for(400) == 400
    assert timing.convert_to_slave_wait_ms == 8000 and timing.tilt_period_ms == 30_000
    assert timing.master_down_validity_ms == 5 * timing.ask_period_ms
    with pytest.raises(InvalidCoreConfigError, match="Quorum"):
        MasterConfig("m", "h", 1, 0)
    with pytest.raises(InvalidCoreConfigError):
        SentinelIdentity("h", 1, myid="xyz")


# -- replica selection -----------------------------------------------------------------------------


def _replica(
    port: int,
    *,
    priority: int = 100,
    offset: int = 0,
    runid: str | None = "r",
    seen_ms: int = 10_000,
) -> Replica:
    replica = Replica("127.0.10.9", port, Link(0), 1000)
    replica.link.disconnected = False
    replica.link.last_avail_ms = seen_ms
    replica.info_refresh_ms = seen_ms
    replica.slave_priority, replica.slave_repl_offset, replica.runid = priority, offset, runid
    return replica


def _master(*replicas: Replica) -> Master:
    master = Master(
        "127.0.10.1",
        6379,
        Link(0),
        1000,
        config=MasterConfig("m", "127.0.10.1", 6379, 1, down_after_ms=1000),
    )
    master.replicas = {r.name: r for r in replicas}
    return master


def test_selection_order_priority_then_offset_then_runid() -> None:
    timing = Timing()
    a = _replica(1, priority=100, offset=900, runid="b" * 40)
    b = _replica(2, priority=50, offset=100, runid="c" * 40)
    assert select_replica(_master(a, b), 10_500, timing) is b  # lower priority wins
    c = _replica(3, priority=100, offset=950, runid="z" * 40)
    assert select_replica(_master(a, c), 10_500, timing) is c  # then higher offset
    d = _replica(4, priority=100, offset=900, runid="A" * 40)
    assert select_replica(_master(a, d), 10_500, timing) is d  # then smaller runid (no case)
    e = _replica(5, priority=100, offset=900, runid=None)
    assert select_replica(_master(e, a), 10_500, timing) is a  # unknown runid last


def test_selection_exclusions() -> None:
    timing = Timing()
    seen = 40_000
    zero = _replica(1, priority=0, offset=10**9, seen_ms=seen)
    down = _replica(2, offset=10**9, seen_ms=seen)
    down.s_down = True
    gone = _replica(3, offset=10**9, seen_ms=seen)
    gone.link.disconnected = True
    mute = _replica(4, offset=10**9, seen_ms=seen)
    mute.link.last_avail_ms = seen - 5001  # no valid PING reply for > 5 s
    stale = _replica(5, offset=10**9, seen_ms=seen)
    stale.info_refresh_ms = 0  # INFO older than 30 s (master not SDOWN)
    lagging = _replica(6, offset=10**9, seen_ms=seen)
    lagging.master_link_down_ms = 10_001  # > 10 x down-after
    ok = _replica(7, offset=1, seen_ms=seen)
    master = _master(zero, down, gone, mute, stale, lagging, ok)
    assert select_replica(master, seen + 500, timing) is ok
    master.replicas.pop(ok.name)
    assert select_replica(master, seen + 500, timing) is None


# -- queries ---------------------------------------------------------------------------------------


def test_query_field_order_matches_redis() -> None:
    h = Harness()
    h.start()
    h.run(h.now + 1000)
    fields = h.core.master_info("mymaster")
    assert not isinstance(fields, ErrorReply)
    assert [k for k, _ in fields] == [
        "name",
        "ip",
        "port",
        "runid",
        "flags",
        "link-pending-commands",
        "link-refcount",
        "last-ping-sent",
        "last-ok-ping-reply",
        "last-ping-reply",
        "down-after-milliseconds",
        "info-refresh",
        "role-reported",
        "role-reported-time",
        "config-epoch",
        "num-slaves",
        "num-other-sentinels",
        "quorum",
        "failover-timeout",
        "parallel-syncs",
    ]
    values = dict(fields)
    assert values["flags"] == "master" and values["num-other-sentinels"] == "2"
    assert values["num-slaves"] == "2" and values["quorum"] == "2"
    replicas = h.core.replicas_info("mymaster")
    assert not isinstance(replicas, ErrorReply)
    assert [k for k, _ in replicas[0]][-7:] == [
        "master-link-down-time",
        "master-link-status",
        "master-host",
        "master-port",
        "slave-priority",
        "slave-repl-offset",
        "replica-announced",
    ]
    assert dict(replicas[0])["flags"] == "slave"
    sentinels = h.core.sentinels_info("mymaster")
    assert not isinstance(sentinels, ErrorReply)
    assert [k for k, _ in sentinels[0]][-3:] == [
        "last-hello-message",
        "voted-leader",
        "voted-leader-epoch",
    ]
    assert dict(sentinels[0])["flags"] == "sentinel"
    assert h.core.masters_info() == [fields]
    assert h.core.get_master_addr_by_name("nope") is None
    assert h.core.master_info("nope") == ErrorReply("ERR No such master with that name")
    assert h.core.my_id() == "a" * 40


def test_ckquorum_texts() -> None:
    h = Harness(quorum=2)
    h.start()
    assert h.core.ckquorum("mymaster") == (
        "OK 3 usable Sentinels. Quorum and failover authorization can be reached"
    )
    h = Harness(quorum=5, peers=4)
    h.start()
    for peer in h.core.masters["mymaster"].sentinels.values():
        peer.s_down = True
    assert h.core.ckquorum("mymaster") == ErrorReply(
        "NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the specified "
        "quorum for this master. Not enough available Sentinels to reach the majority and "
        "authorize a failover"
    )
