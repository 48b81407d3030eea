"""Pipelined writes on a real 3-node cluster: proposed together, answered in order.

A client that pipelines writes and reads on the leader gets every reply in request
order, each read sees the connection's earlier writes, an error in the middle of the
pipeline stays in its place, and every node ends with the same data. Many writes in
flight on several connections are applied exactly once, in batches, on every node.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from labkit.realredis import Lab
from labkit.realredis.labraft import RaftCluster, RaftNodeProcess, start_raft_cluster

pytestmark = pytest.mark.realredis

FAST = ["--election-timeout", "500", "--heartbeat", "100"]


def client(node: RaftNodeProcess) -> redis.Redis:
    return redis.Redis(
        host=node.host,
        port=node.port,
        decode_responses=True,
        socket_timeout=10,
        retry=Retry(NoBackoff(), 0),
    )


@pytest.fixture
def cluster(redis_lab: Lab) -> Iterator[RaftCluster]:
    raft = start_raft_cluster(redis_lab, 3, extra_args=FAST)
    try:
        yield raft
    finally:
        raft.close()


def test_pipelined_replies_keep_request_order(cluster: RaftCluster) -> None:
    leader = cluster.node(cluster.leader())
    with client(leader) as conn:
        pipe = conn.pipeline(transaction=False)
        for i in range(50):
            pipe.incr("n")
            if i == 20:
                pipe.get("n")  # a read waits for the writes before it
                pipe.lpush("n", "x")  # WRONGTYPE, in its place
            pipe.set(f"k{i}", i)
        pipe.get("n")
        replies = pipe.execute(raise_on_error=False)
    incrs = [r for r in replies if type(r) is int]
    assert incrs == list(range(1, 51))
    assert replies[41] == "21"  # the GET right after the 21st INCR
    assert isinstance(replies[42], redis.ResponseError) and "WRONGTYPE" in str(replies[42])
    assert replies[-1] == "50"
    assert sum(r is True for r in replies) == 50  # every SET
    cluster.wait_caught_up()
    contents = [cluster.backing_contents(n.node_id) for n in cluster.nodes]
    assert contents[0] == contents[1] == contents[2]
    assert contents[0]["n"] == "50"


def test_many_writes_in_flight_apply_exactly_once(cluster: RaftCluster) -> None:
    leader = cluster.node(cluster.leader())
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            with client(leader) as conn:
                for _ in range(5):
                    pipe = conn.pipeline(transaction=False)
                    for _ in range(40):
                        pipe.incr("total")
                        pipe.incr(f"per:{index}")
                    pipe.execute()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    with client(leader) as conn:
        assert conn.get("total") == str(8 * 5 * 40)
        assert [conn.get(f"per:{i}") for i in range(8)] == [str(5 * 40)] * 8
    cluster.wait_caught_up()
    contents = [cluster.backing_contents(n.node_id) for n in cluster.nodes]
    assert contents[0] == contents[1] == contents[2]


def test_a_client_that_leaves_mid_pipeline_does_not_disturb_the_node(
    cluster: RaftCluster,
) -> None:
    leader = cluster.node(cluster.leader())
    member = b"*3\r\n$4\r\nSADD\r\n$1\r\ns\r\n$%d\r\n%d\r\n"
    request = b"".join(member % (len(str(i)), i) for i in range(200))
    with socket.create_connection((leader.host, leader.port), timeout=5) as raw:
        raw.sendall(request)  # and close at once, before the replies
    with client(leader) as conn:
        assert conn.set("after", "1")
        assert 0 <= conn.scard("s") <= 200  # whatever was proposed before the close
    cluster.wait_caught_up()
    contents = [cluster.backing_contents(n.node_id) for n in cluster.nodes]
    assert contents[0] == contents[1] == contents[2]
