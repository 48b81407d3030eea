"""Pub/sub across a mixed cluster, as Redis 7.0 propagates it over the bus: a PUBLISH on
one node reaches subscribers connected to any node (CLUSTERMSG_TYPE_PUBLISH), both from a
gossip_cluster node to a real one and back; an SPUBLISH reaches the shard's replicas
(CLUSTERMSG_TYPE_PUBLISHSHARD), here our replica of a real master."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis.client import PubSub

from labkit.realredis.lab import Lab
from labkit.realredis.labgossip import start_gossip_node
from labkit.realredis.process import RedisProcess
from labkit.realredis.topology import wait_until
from tests.integration.test_gossip_cluster import line_of, myid, sees_connected

pytestmark = pytest.mark.realredis

TIMEOUT_MS = 1000


def _shard(master: RedisProcess, replica: RedisProcess) -> None:
    """``master`` takes every slot and ``replica`` follows it."""
    master_id, replica_id = myid(master), myid(replica)
    with master.client() as conn:
        assert conn.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    with replica.client() as conn:
        assert conn.execute_command("CLUSTER", "MEET", master.host, master.port)
    wait_until(
        lambda: sees_connected(master, replica_id) and sees_connected(replica, master_id),
        timeout_s=10.0,
        what="the two nodes to know each other",
    )
    with replica.client() as conn:
        assert conn.execute_command("CLUSTER", "REPLICATE", master_id)
    wait_until(
        lambda: (line := line_of(master, replica_id)) is not None and line.master == master_id,
        timeout_s=10.0,
        what="the master to know its replica",
    )


@pytest.fixture
def pair(redis_lab: Lab) -> Iterator[tuple[RedisProcess, RedisProcess]]:
    """A real master with every slot, and our node as its replica."""
    real = redis_lab.cluster_node(node_timeout_ms=TIMEOUT_MS)
    ours = start_gossip_node(redis_lab, node_timeout_ms=TIMEOUT_MS)
    _shard(real, ours)
    yield real, ours


def _received(sub: PubSub, kind: str, channel: str, data: str) -> bool:
    while (message := sub.get_message(timeout=0.05)) is not None:
        if (message["type"], message["channel"], message["data"]) == (kind, channel, data):
            return True
    return False


def _check(publisher: RedisProcess, subscriber: RedisProcess, *, shard: bool, channel: str) -> None:
    with subscriber.client() as conn, publisher.client() as pub:
        sub = conn.pubsub(ignore_subscribe_messages=True)
        try:
            if shard:
                sub.ssubscribe(channel)
            else:
                sub.subscribe(channel)
            sub.get_message(timeout=1.0)  # the subscription's confirmation
            data = f"hello from {publisher.name}"

            def arrived() -> bool:
                # Published again at each check: a message sent before the subscription
                # took hold on the far node is lost, as pub/sub is.
                pub.execute_command("SPUBLISH" if shard else "PUBLISH", channel, data)
                return _received(sub, "smessage" if shard else "message", channel, data)

            wait_until(arrived, timeout_s=10.0, what=f"{channel} to reach {subscriber.name}")
        finally:
            sub.close()


def test_publish_reaches_subscribers_on_every_node(
    pair: tuple[RedisProcess, RedisProcess],
) -> None:
    real, ours = pair
    _check(ours, real, shard=False, channel="news-ours-to-real")
    _check(real, ours, shard=False, channel="news-real-to-ours")


def test_spublish_reaches_the_shard_replica(pair: tuple[RedisProcess, RedisProcess]) -> None:
    real, ours = pair
    _check(real, ours, shard=True, channel="shard-news")


def test_spublish_on_our_master_reaches_a_real_replica(redis_lab: Lab) -> None:
    ours = start_gossip_node(redis_lab, node_timeout_ms=TIMEOUT_MS)
    real = redis_lab.cluster_node(node_timeout_ms=TIMEOUT_MS)
    _shard(ours, real)
    _check(ours, real, shard=True, channel="shard-news")


def test_publish_count_is_local_subscribers_only(
    pair: tuple[RedisProcess, RedisProcess],
) -> None:
    """PUBLISH answers the number of this node's receivers (0 here), as Redis Cluster does."""
    real, ours = pair
    with real.client() as conn:
        sub = conn.pubsub()
        try:
            sub.subscribe("counted")
            sub.get_message(timeout=1.0)
            with ours.client() as pub:
                assert pub.publish("counted", "x") == 0
        finally:
            sub.close()
