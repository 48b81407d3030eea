"""Faults against a real redis_raft cluster.

(d) a leader cut off from its majority by the fault proxy serves no reads and
acknowledges no writes; after the heal it has stepped down and catches up.
(e) a crash after a command reached the backing server and before the client got
its reply (the ``after-apply-before-reply`` failpoint) never applies an INCR twice:
the restarted node skips what its backing server already holds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from labkit.faults import ProxyHub
from labkit.history.outcomes import outcome_of
from labkit.realredis import Lab, wait_until
from labkit.realredis.labraft import RaftNodeProcess, start_raft_cluster

pytestmark = [pytest.mark.realredis, pytest.mark.slow]

FAST = ["--election-timeout", "500", "--heartbeat", "100", "--request-timeout", "3000"]


def client(node: RaftNodeProcess, timeout_s: float = 5.0) -> redis.Redis:
    return redis.Redis(
        host=node.host,
        port=node.port,
        decode_responses=True,
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )


@pytest.fixture
def hub() -> Iterator[ProxyHub]:
    with ProxyHub(seed=7) as proxies:
        yield proxies


@pytest.mark.parametrize("read_mode", ["readindex", "lease"])
def test_isolated_leader_serves_no_reads_and_acks_no_writes(
    redis_lab: Lab, hub: ProxyHub, read_mode: str
) -> None:
    cluster = start_raft_cluster(
        redis_lab, 3, hub=hub, extra_args=[*FAST, "--read-mode", read_mode]
    )
    try:
        old = cluster.node(cluster.leader())
        with client(old) as conn:
            assert conn.set("r", "before")
        cluster.isolate(old.node_id)
        # At once, before check-quorum can notice: the write is appended but cannot commit
        # (unknown outcome when the leader steps down); the read cannot be confirmed.
        started = time.monotonic()
        with client(old, 6.0) as conn:
            with pytest.raises(redis.RedisError) as write_error:
                conn.set("r", "lost")
            write_s = time.monotonic() - started
            with pytest.raises(redis.RedisError) as read_error:
                conn.get("r")
        assert outcome_of(write_error.value) == "info", write_error.value
        assert "TIMEOUT" in str(write_error.value) or "may or may not" in str(write_error.value)
        print(
            f"isolated leader: write -> {write_error.value!r} after {write_s:.2f}s; "
            f"read -> {read_error.value!r}"
        )
        others = [n.node_id for n in cluster.nodes if n is not old]
        new_id = cluster.leader(among=others, timeout_s=15)
        assert new_id != old.node_id
        with client(cluster.node(new_id)) as conn:
            assert conn.set("r", "after")
        # The old leader has stepped down; it knows no leader, or a stale one it cannot reach.
        info = old.raft_info()
        assert info["role"] != "leader"
        with client(old, 6.0) as conn, pytest.raises(redis.RedisError):
            conn.get("r")  # never the stale "before"
        cluster.heal()
        cluster.wait_caught_up(timeout_s=30)
        assert old.raft_info()["role"] == "follower"
        with client(old) as conn:
            assert conn.get("r") == "after"
        contents = [cluster.backing_contents(n.node_id) for n in cluster.nodes]
        assert contents[0] == contents[1] == contents[2]
        assert contents[0]["r"] == "after"
    finally:
        cluster.close()


@pytest.mark.parametrize(
    "failpoint", ["after-apply-before-reply", "after-persist-before-send", "before-fsync"]
)
def test_no_incr_applied_twice_across_a_crash(redis_lab: Lab, failpoint: str) -> None:
    # External backing servers outlive the node's crash, so the skip rule is what matters.
    backing = [redis_lab.server(f"backing-{i}") for i in (1, 2, 3)]
    cluster = start_raft_cluster(
        redis_lab,
        3,
        extra_args=FAST,
        node_args={str(i): ["--data-server", backing[i - 1].address] for i in (1, 2, 3)},
        env={"REDIS_RAFT_TEST_FAILPOINTS": "1"},
    )
    try:
        leader = cluster.node(cluster.leader())
        acked = unknown = 0
        with client(leader) as conn:
            for _ in range(20):
                conn.incr("counter")
                acked += 1
            conn.execute_command("RAFT.DEBUG", "FAILPOINT", failpoint, "3")
            with pytest.raises(redis.RedisError) as crash:
                for _ in range(10):
                    conn.incr("counter")
                    acked += 1
            assert outcome_of(crash.value) == "info"
            unknown += 1
        wait_until(lambda: not leader.running, timeout_s=10, what="the leader to crash")
        assert f"failpoint {failpoint} reached" in leader.console_text()
        with backing[int(leader.node_id) - 1].client() as conn:
            applied_before = int(conn.get("counter"))
        if failpoint == "after-apply-before-reply":
            # The crashed node's backing server applied the INCR nobody acknowledged.
            assert applied_before == acked + 1
        else:
            assert applied_before == acked
        survivors = [n.node_id for n in cluster.nodes if n is not leader]
        new = cluster.node(cluster.leader(among=survivors))
        with client(new) as conn:
            for _ in range(10):
                conn.incr("counter")
                acked += 1
        leader.start()
        cluster.wait_caught_up(timeout_s=30)
        values = []
        for server in backing:
            with server.client() as conn:
                values.append(int(conn.get("counter")))
        assert len(set(values)) == 1, values
        assert acked <= values[0] <= acked + unknown
        info = leader.raft_info()
        assert int(info["backing_applied_index"]) == int(info["applied_index"])
    finally:
        cluster.close()


def test_failpoints_are_refused_outside_tests(redis_lab: Lab) -> None:
    cluster = start_raft_cluster(redis_lab, 1, extra_args=FAST)
    try:
        with client(cluster.nodes[0]) as conn:
            with pytest.raises(redis.exceptions.ResponseError, match="only in tests"):
                conn.execute_command("RAFT.DEBUG", "FAILPOINT", "before-fsync")
            assert cluster.leader() == "1"
            assert conn.set("single", "node")  # a one-node cluster elects itself
    finally:
        cluster.close()
