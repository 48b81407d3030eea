"""A 3-node redis_raft cluster of real processes over real backing redis-servers.

(a) a stock redis-py client writes and reads through every node (proxy mode), gets
MOVED in moved mode, and RAFT.INFO shows one leader; (b) SIGKILL of the leader: a new
one is elected, writes go on, and the old one comes back from its log and catches up;
(c) SIGSTOP of a follower: writes go on, and it catches up after SIGCONT.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from labkit.realredis import Lab, wait_until
from labkit.realredis.labraft import RaftCluster, RaftNodeProcess, start_raft_cluster

pytestmark = pytest.mark.realredis

FAST = ["--election-timeout", "500", "--heartbeat", "100"]


def client(node: RaftNodeProcess, timeout_s: float = 5.0) -> redis.Redis:
    return redis.Redis(
        host=node.host,
        port=node.port,
        decode_responses=True,
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )


@pytest.fixture
def cluster(redis_lab: Lab) -> Iterator[RaftCluster]:
    raft = start_raft_cluster(redis_lab, 3, extra_args=FAST)
    try:
        yield raft
    finally:
        raft.close()


def write_until_ok(node: RaftNodeProcess, key: str, value: str, *, timeout_s: float) -> float:
    """SET through ``node`` until it succeeds; returns when it did (monotonic)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with client(node, 2.0) as conn:
                if conn.set(key, value):
                    return time.monotonic()
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_reads_and_writes_on_every_node_and_one_leader(cluster: RaftCluster) -> None:
    leader = cluster.leader()
    infos = [n.raft_info() for n in cluster.nodes]
    assert [i["role"] for i in infos].count("leader") == 1
    assert {i["leader_id"] for i in infos} == {leader}
    for node in cluster.nodes:
        with client(node) as conn:
            assert conn.set(f"key-{node.node_id}", node.node_id) is True
            assert conn.incr("counter") >= 1
            assert conn.get("key-1") == "1"
            assert conn.lpush("list", node.node_id) >= 1
    for node in cluster.nodes:
        with client(node) as conn:
            assert conn.get("counter") == "3"
            assert conn.mget("key-1", "key-2", "key-3") == ["1", "2", "3"]
            assert sorted(conn.lrange("list", 0, -1)) == ["1", "2", "3"]
            info = conn.info("raft")
            assert info["role"] in ("leader", "follower")
    cluster.wait_caught_up()
    contents = [cluster.backing_contents(n.node_id) for n in cluster.nodes]
    assert contents[0] == contents[1] == contents[2]
    assert contents[0]["counter"] == "3"


def test_moved_mode_and_refusals(cluster: RaftCluster) -> None:
    leader = cluster.node(cluster.leader())
    follower = next(n for n in cluster.nodes if n is not leader)
    with client(follower) as conn:
        assert conn.config_set("raft.follower-mode", "moved")
        with pytest.raises(redis.exceptions.ResponseError) as moved:
            conn.set("k", "v")
        assert f"0 {leader.host}:{leader.port}" in str(moved.value)
        with pytest.raises(redis.exceptions.ResponseError, match="not deterministic"):
            conn.spop("s")
        with pytest.raises(redis.exceptions.ResponseError, match="not supported"):
            conn.config_set("maxmemory", "1mb")
        assert conn.config_get("min-replicas-*") == {
            "min-replicas-to-write": "0",
            "min-replicas-max-lag": "10",
        }
    with client(leader) as conn:
        assert conn.set("k", "v", ex=100)
        assert 99_000 < conn.pttl("k") <= 100_000
        pipe = conn.pipeline(transaction=True)
        pipe.incr("t")
        pipe.incr("t")
        assert pipe.execute() == [1, 2]
        assert conn.config_set("min-replicas-to-write", "2")
        assert conn.set("guarded", "1")  # both followers are acknowledging
    cluster.wait_caught_up()
    with cluster.node(follower.node_id).backing_client() as backing:
        assert backing.pexpiretime("k") > 0  # the absolute expiry was replicated
        assert backing.get("t") == "2"


def test_leader_kill_failover_and_recovery(cluster: RaftCluster) -> None:
    old_id = cluster.leader()
    old = cluster.node(old_id)
    others = [n for n in cluster.nodes if n is not old]
    with client(others[0]) as conn:
        for i in range(50):
            conn.set(f"before-{i}", i)
    killed_at = time.monotonic()
    old.kill()
    new_id = cluster.leader(timeout_s=15)
    assert new_id != old_id
    elected_s = time.monotonic() - killed_at
    ok_at = write_until_ok(others[0], "after", "1", timeout_s=15)
    print(
        f"failover: leader elected after {elected_s:.2f}s, first write ok after "
        f"{ok_at - killed_at:.2f}s"
    )
    with client(others[1]) as conn:
        for i in range(50):
            conn.set(f"during-{i}", i)
        assert conn.get("before-49") == "49"
    old.start()
    cluster.wait_caught_up(timeout_s=30)
    contents = {n.node_id: cluster.backing_contents(n.node_id) for n in cluster.nodes}
    assert contents[old_id] == contents[new_id]
    assert contents[old_id]["during-49"] == "49"
    assert len([k for k in contents[old_id] if k.startswith(("before", "during"))]) == 100
    with client(old) as conn:  # the restarted node serves reads again (through the leader)
        assert conn.get("after") == "1"


def test_paused_follower_catches_up(cluster: RaftCluster) -> None:
    leader = cluster.node(cluster.leader())
    follower = next(n for n in cluster.nodes if n is not leader)
    follower.pause()
    try:
        with client(leader) as conn:
            for i in range(100):
                conn.set(f"p-{i}", i)
            assert conn.get("p-99") == "99"
        info = {n.node_id: n.raft_info() for n in cluster.nodes if not n.paused}
        assert all(int(i["commit_index"]) >= 100 for i in info.values())
    finally:
        follower.resume()
    wait_until(
        lambda: follower.raft_info()["applied_index"] == leader.raft_info()["commit_index"],
        timeout_s=20,
        what="the resumed follower to catch up",
    )
    cluster.wait_caught_up()
    assert cluster.backing_contents(follower.node_id) == cluster.backing_contents(leader.node_id)


@pytest.mark.slow
@pytest.mark.parametrize("data_server", ["auto", "external"])
def test_lagging_follower_gets_a_snapshot(redis_lab: Lab, data_server: str) -> None:
    node_args: dict[str, list[str]] = {}
    if data_server == "external":
        for node_id in ("1", "2", "3"):
            node_args[node_id] = [
                "--data-server",
                redis_lab.server(f"backing-{node_id}").address,
            ]
    cluster = start_raft_cluster(
        redis_lab, 3, extra_args=[*FAST, "--snapshot-every", "40"], node_args=node_args
    )
    try:
        leader = cluster.node(cluster.leader())
        lagging = next(n for n in cluster.nodes if n is not leader)
        with client(leader) as conn:
            conn.set("early", "1", px=600_000)
        cluster.wait_caught_up()
        lagging.kill()
        with client(leader) as conn:
            for i in range(150):
                conn.set(f"s-{i}", i)
            conn.sadd("set", "a", "b")
        wait_until(
            lambda: int(leader.raft_info()["snapshot_index"]) > 100,
            timeout_s=10,
            what="the leader to compact its log",
        )
        lagging.start()
        cluster.wait_caught_up(timeout_s=30)
        assert "+snapshot-installed" in lagging.log_text()
        assert re.search(r"snapshot at index \d+ installed", lagging.log_text())
        expected = cluster.backing_contents(leader.node_id)
        assert cluster.backing_contents(lagging.node_id) == expected
        assert expected["s-149"] == "149" and expected["set"] == ["a", "b"]
        with lagging.backing_client() as backing:
            assert backing.pttl("early") > 500_000  # the expiry came with the snapshot
    finally:
        cluster.close()


def test_requirepass_for_clients_and_peers(redis_lab: Lab) -> None:
    cluster = start_raft_cluster(redis_lab, 3, extra_args=FAST, password="s3cret")
    try:
        leader = cluster.leader()  # peers authenticate to each other
        follower = next(n for n in cluster.nodes if n.node_id != leader)
        with client(follower) as anonymous, pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.set("k", "v")
        with redis.Redis(
            host=follower.host, port=follower.port, password="s3cret", decode_responses=True
        ) as conn:
            assert conn.set("k", "v")  # proxied to the leader with the password
            assert conn.get("k") == "v"
    finally:
        cluster.close()
