"""A redis_raft cluster in containers: a killed leader, a paused follower, a cut-off leader.

Clients write through a node's port published on 127.0.0.1; a follower passes writes to the
leader (``--follower-mode proxy``), so the host never needs an in-network address. Each
node's backing redis-server lives in the node's container and is read with ``docker exec``.
"""

from __future__ import annotations

import pytest
import redis

from labkit.realredis.containers import ContainerLab, RaftNodeContainer, wait_for

pytestmark = [pytest.mark.containers, pytest.mark.slow]


def _set(node: RaftNodeContainer, key: str, value: str) -> bool:
    try:
        with node.client() as conn:
            return conn.set(key, value) is True
    except redis.exceptions.RedisError:  # no leader yet, -TIMEOUT, a broken link
        return False


def _write(node: RaftNodeContainer, key: str, value: str, *, timeout_s: float = 20.0) -> None:
    wait_for(lambda: _set(node, key, value), timeout_s=timeout_s, what=f"SET {key} via {node.name}")


def test_raft_cluster_in_containers_survives_losing_its_leader(
    container_lab: ContainerLab, python_image: str
) -> None:
    cluster = container_lab.raft_cluster(3)
    old_id = cluster.leader()
    old = cluster.node(old_id)
    others = [n for n in cluster.nodes if n is not old]
    for i in range(20):
        assert _set(others[0], f"k{i}", str(i)), f"SET k{i} through a follower failed"

    old.kill()  # docker kill: the node and the backing server it owns
    new_id = cluster.leader(among=[n.node_id for n in others])
    assert new_id != old_id
    _write(others[1], "after-kill", "yes")
    for i in range(20, 40):
        assert _set(others[1], f"k{i}", str(i))

    old.start()  # same container: its log and snapshots are still in /data/raft
    commit = cluster.wait_caught_up()
    info = old.raft_info()
    assert (info["role"], info["leader_id"]) == ("follower", new_id)
    assert int(info["applied_index"]) == commit
    assert old.backing_cli("GET", "after-kill") == "yes"
    assert old.backing_cli("GET", "k39") == "39"
    assert old.backing_cli("GET", "k0") == "0"


def test_raft_cluster_in_containers_under_pause_and_partition(
    container_lab: ContainerLab, python_image: str
) -> None:
    cluster = container_lab.raft_cluster(3)
    leader_id = cluster.leader()
    leader = cluster.node(leader_id)
    first, second = (n for n in cluster.nodes if n is not leader)

    # docker pause: a frozen follower; the other two are still a majority.
    first.pause()
    _write(leader, "while-paused", "1")
    first.resume()
    cluster.wait_caught_up()
    assert first.backing_cli("GET", "while-paused") == "1"

    # docker network disconnect: the leader is cut off; the others elect a new one.
    leader.disconnect()
    new_id = cluster.leader(among=[first.node_id, second.node_id])
    assert new_id != leader_id
    _write(second, "while-cut-off", "2")
    # Asked inside its own container (its published port went with the network), the old
    # leader serves no read: it cannot confirm its leadership with a majority, so it
    # answers an error (TRYAGAIN, CLUSTERDOWN, TIMEOUT), not its possibly stale value.
    reply = leader.cli("GET", "while-paused", timeout_s=30)
    assert reply.split()[0] in {"TRYAGAIN", "CLUSTERDOWN", "TIMEOUT"}, (
        f"a leader cut off from its majority answered a read with {reply!r}"
    )

    leader.connect()
    cluster.wait_caught_up()
    info = leader.raft_info()
    assert (info["role"], info["leader_id"]) == ("follower", new_id)
    assert leader.backing_cli("GET", "while-cut-off") == "2"
