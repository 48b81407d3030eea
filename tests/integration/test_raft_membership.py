"""Membership changes and leadership transfer on real redis_raft processes.

A 4th node joins as a learner (``--join`` and ``RAFT.NODE ADD``, sent to a follower that
proxies it to the leader), catches up, is promoted to a voter, and a founding voter is
removed. A founding node restarted with its original ``--peers`` (which does not name the
new node) finds the new node's address in the replicated address book. Leadership moves
with ``RAFT.TRANSFER-LEADER``. Bad requests get errors, not changes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from labkit.realredis import Lab, wait_until
from labkit.realredis.labraft import RaftCluster, RaftNodeProcess, start_raft_cluster
from labkit.realredis.ports import free_port

pytestmark = [pytest.mark.realredis, pytest.mark.slow]

FAST = ["--election-timeout", "500", "--heartbeat", "100", "--request-timeout", "3000"]


def client(node: RaftNodeProcess) -> redis.Redis:
    return redis.Redis(
        host=node.host,
        port=node.port,
        decode_responses=True,
        socket_timeout=8.0,
        retry=Retry(NoBackoff(), 0),
    )


def command(node: RaftNodeProcess, *args: str) -> object:
    with client(node) as conn:
        return conn.execute_command(*args)


def ok(reply: object) -> bool:
    return reply in ("OK", True)


def attempt(node: RaftNodeProcess, *args: str) -> bool:
    """Run a command that may be refused for now (a learner not caught up yet)."""
    try:
        return ok(command(node, *args))
    except redis.RedisError:
        return False


@pytest.fixture
def cluster(redis_lab: Lab) -> Iterator[RaftCluster]:
    raft = start_raft_cluster(redis_lab, 3, extra_args=FAST)
    try:
        raft.leader()
        yield raft
    finally:
        raft.close()


def start_joiner(lab: Lab, cluster: RaftCluster, node_id: str) -> RaftNodeProcess:
    host = cluster.nodes[0].host
    port = free_port(host)
    node = RaftNodeProcess(
        f"raft-{node_id}",
        lab.base_dir / f"raft-{node_id}",
        host,
        port,
        node_id=node_id,
        peers=f"{cluster.nodes[0].peers},{node_id}={host}:{port}",
        run_id=lab.run_id,
        extra_args=[*FAST, "--join"],
    )
    lab.processes.append(node)
    cluster.nodes.append(node)
    node.start()
    return node


def voters(node: RaftNodeProcess) -> tuple[str, str]:
    info = node.raft_info()
    return info["voters"], info["learners"]


def test_add_promote_remove_and_transfer(redis_lab: Lab, cluster: RaftCluster) -> None:
    leader = cluster.node(cluster.leader())
    follower = next(n for n in cluster.nodes if n is not leader)
    for i in range(20):
        assert ok(command(leader, "SET", f"k{i}", f"v{i}"))

    # A new node with no membership: it serves nothing until a leader adds it.
    n4 = start_joiner(redis_lab, cluster, "4")
    assert n4.raft_info()["voters"] == ""
    assert ok(command(follower, "RAFT.NODE", "ADD", "4", n4.address))  # proxied
    wait_until(lambda: voters(n4) == ("1,2,3", "4"), timeout_s=15, what="node 4 a learner")
    assert all(voters(n) == ("1,2,3", "4") for n in cluster.nodes[:3])
    cluster.wait_caught_up(timeout_s=20)
    with n4.backing_client() as conn:
        assert conn.get("k19") == "v19"

    # Bad requests change nothing.
    for bad, text in [
        (("RAFT.NODE", "ADD", "4", n4.address), "already a member"),
        (("RAFT.NODE", "ADD", "5", "no-port"), "is not HOST:PORT"),
        (("RAFT.NODE", "PROMOTE", "9"), "9 is not a learner"),
        (("RAFT.NODE", "REMOVE", "9"), "9 is not a member"),
        (("RAFT.NODE", "FROB", "4"), "usage: RAFT.NODE"),
        (("RAFT.TRANSFER-LEADER", "4"), "4 is not a voter"),
    ]:
        with pytest.raises(redis.ResponseError, match=text):
            command(leader, *bad)

    # Promote it (refused until it has caught up, so retried), then remove a founder.
    wait_until(lambda: attempt(leader, "RAFT.NODE", "PROMOTE", "4"), timeout_s=15, what="promote")
    wait_until(
        lambda: all(voters(n) == ("1,2,3,4", "") for n in cluster.nodes),
        timeout_s=15,
        what="4 voters everywhere",
    )
    gone = next(n for n in cluster.nodes[:3] if n is not leader and n is not follower)
    assert ok(command(leader, "RAFT.NODE", "REMOVE", gone.node_id))
    remaining = [n for n in cluster.nodes if n is not gone]
    expected = ",".join(sorted(n.node_id for n in remaining))
    wait_until(
        lambda: all(voters(n)[0] == expected for n in remaining),
        timeout_s=15,
        what="the removal everywhere",
    )
    gone.kill()
    listed = command(leader, "RAFT.NODE", "LIST")
    assert isinstance(listed, list)
    assert sorted(row[0] for row in listed) == sorted(n.node_id for n in remaining)
    assert [row[1] for row in listed if row[0] == "4"] == [n4.address]

    # Leadership moves to the new node; writes through it reach every remaining node.
    assert ok(command(leader, "RAFT.TRANSFER-LEADER", "4"))
    assert cluster.leader(among=[n.node_id for n in remaining]) == "4"
    assert ok(command(n4, "SET", "after-transfer", "yes"))
    cluster.wait_caught_up(timeout_s=20)
    for node in remaining:
        with node.backing_client() as conn:
            assert conn.get("after-transfer") == "yes"

    # The old leader, restarted with --peers that do not name node 4, learns its address
    # from the replicated address book, and can lead it.
    leader.kill()
    leader.start()
    assert command(leader, "RAFT.INFO") is not None
    wait_until(
        lambda: attempt(n4, "RAFT.TRANSFER-LEADER", leader.node_id),
        timeout_s=20,
        what="leadership back to the restarted node",
    )
    assert ok(command(leader, "SET", "from-restarted", "1"))
    cluster.wait_caught_up(timeout_s=20)
    with n4.backing_client() as conn:
        assert conn.get("from-restarted") == "1"
    assert "4=" not in leader.peers  # it knew node 4 only from the address book
