"""Failover with gossip_cluster nodes: SIGKILL a master, every node agrees on FAIL, its
replica is promoted, and a key written before the kill is read after it.

Run for a cluster of gossip_cluster nodes and, in the same run, a real one (the timings
are printed side by side with ``pytest -s``), and for mixed clusters: real masters with
gossip_cluster replicas, and gossip_cluster masters with real replicas (a real replica
really replicates through our client port: PSYNC is passed to the backing server).
"""

from __future__ import annotations

import time

import pytest
from redis.cluster import RedisCluster

from gossip_cluster.dataplane import key_hash_slot
from gossip_cluster.wire import NodeFlag
from labkit.realredis.lab import Lab
from labkit.realredis.labgossip import create_cluster_of, start_gossip_node
from labkit.realredis.process import RedisProcess
from labkit.realredis.topology import wait_until
from tests.integration.test_gossip_cluster import keys_per_range, myid, node_lines, report

pytestmark = [pytest.mark.realredis, pytest.mark.slow]

TIMEOUT_MS = 1000


def _nodes(lab: Lab, kind: str, count: int) -> list[RedisProcess]:
    if kind == "ours":
        return [start_gossip_node(lab, node_timeout_ms=TIMEOUT_MS) for _ in range(count)]
    return [lab.cluster_node(node_timeout_ms=TIMEOUT_MS) for _ in range(count)]


def _build(lab: Lab, masters: str, replicas: str) -> list[RedisProcess]:
    nodes = _nodes(lab, masters, 3) + _nodes(lab, replicas, 3)
    create_cluster_of(lab, nodes, replicas_per_master=1, node_timeout_ms=TIMEOUT_MS)
    # redis-cli makes the first three nodes masters (one host: no interleaving).
    for node in nodes[:3]:
        me = next(line for line in node_lines(node) if line.flags & NodeFlag.MYSELF)
        assert me.flags & NodeFlag.MASTER and me.slots

    # Wait until every replica's link to its master is up (replication really works).
    def synced() -> bool:
        return all(n.info("replication").get("master_link_status") == "up" for n in nodes[3:])

    wait_until(synced, timeout_s=15.0, what="every replica to sync with its master")
    # redis-cli waits for the masters to agree; a replica's role spreads with its next ping.
    ids = {myid(n) for n in nodes[:3]}

    def roles_known() -> bool:
        return all(
            {line.master for line in node_lines(n) if line.master is not None} == ids for n in nodes
        )

    wait_until(roles_known, timeout_s=10.0, what="every node to know every replica's master")
    return nodes


def _kill_and_measure(nodes: list[RedisProcess], victim: RedisProcess) -> tuple[float, float, str]:
    """SIGKILL ``victim``; seconds until every node flags it FAIL, and until its replica
    owns its slots in every node's view. Returns (fail_s, promoted_s, replica id)."""
    victim_id = myid(victim)
    lines = {line.name: line for line in node_lines(victim)}
    slots = lines[victim_id].slots
    replica_id = next(line.name for line in lines.values() if line.master == victim_id)
    alive = [n for n in nodes if n is not victim]
    started = time.monotonic()
    victim.kill()

    def failed_everywhere() -> bool:
        for node in alive:
            line = next((x for x in node_lines(node) if x.name == victim_id), None)
            if line is None or not line.flags & NodeFlag.FAIL:
                return False
        return True

    wait_until(failed_everywhere, timeout_s=15.0, what="every node to flag the victim FAIL")
    fail_s = time.monotonic() - started

    def promoted() -> bool:
        for node in alive:
            view = {x.name: x for x in node_lines(node)}
            new = view.get(replica_id)
            if new is None or not new.flags & NodeFlag.MASTER or new.slots != slots:
                return False
        return True

    wait_until(promoted, timeout_s=20.0, what="the replica to be promoted in every node's view")
    return fail_s, time.monotonic() - started, replica_id


def _write_before(victim: RedisProcess) -> tuple[str, str]:
    """A key in the victim's slots, written and acknowledged by its replica (WAIT 1)."""
    victim_id = myid(victim)
    mine = next(line for line in node_lines(victim) if line.name == victim_id)
    key = keys_per_range(list(mine.slots), per_range=1)[0]
    assert mine.slots[0][0] <= key_hash_slot(key.encode()) <= mine.slots[-1][1]
    with victim.client() as conn:
        assert conn.set(key, "before-the-kill")
        assert conn.execute_command("WAIT", 1, 2000) == 1
    return key, "before-the-kill"


@pytest.mark.parametrize("kind", ["ours", "real"])
def test_master_killed_replica_promoted(redis_lab: Lab, kind: str) -> None:
    nodes = _build(redis_lab, kind, kind)
    victim = nodes[0]
    key, value = _write_before(victim)
    fail_s, promoted_s, replica_id = _kill_and_measure(nodes, victim)
    report(
        f"{kind} cluster: FAIL everywhere {fail_s:.2f}s, promoted {promoted_s:.2f}s after SIGKILL"
    )
    new_master = next(n for n in nodes if n is not victim and myid(n) == replica_id)
    with new_master.client() as conn:
        assert conn.get(key) == value
    alive = [n for n in nodes if n is not victim]
    client = RedisCluster(
        host=alive[0].host,
        port=alive[0].port,
        decode_responses=True,
        socket_timeout=2.0,
    )
    try:
        assert client.get(key) == value
        assert client.set(key, "after")
        assert client.get(key) == "after"
    finally:
        client.close()
    if kind == "ours":
        _restart_old_master(nodes, victim, replica_id, key)


def _restart_old_master(
    nodes: list[RedisProcess], victim: RedisProcess, new_master_id: str, key: str
) -> None:
    """The old master restarts from its nodes.conf: same id and epochs, it learns it lost
    its slots, follows the new master, and its backing server replicates from it."""
    old_id = next(line.name for line in node_lines(nodes[1]) if line.flags & NodeFlag.FAIL)
    assert old_id not in (new_master_id, myid(nodes[1]))
    saved = (victim.workdir / "nodes.conf").read_text()
    victim.start()
    assert myid(victim) == old_id
    assert saved.splitlines()[-1].startswith("vars currentEpoch")

    def follows() -> bool:
        me = next(x for x in node_lines(victim) if x.flags & NodeFlag.MYSELF)
        others_agree = all(
            any(x.name == old_id and x.master == new_master_id for x in node_lines(n))
            for n in nodes
            if n is not victim
        )
        return me.master == new_master_id and not me.slots and others_agree

    wait_until(follows, timeout_s=15.0, what="the old master to rejoin as a replica")
    wait_until(
        lambda: victim.info("replication").get("master_link_status") == "up",
        timeout_s=15.0,
        what="the old master's data server to replicate from the new master",
    )
    with victim.client() as conn:
        assert conn.execute_command("READONLY") in (True, "OK")
        assert conn.get(key) == "after"


@pytest.mark.parametrize(
    ("masters", "replicas"),
    [("real", "ours"), ("ours", "real")],
    ids=["real-masters", "our-masters"],
)
def test_mixed_cluster_failover(redis_lab: Lab, masters: str, replicas: str) -> None:
    nodes = _build(redis_lab, masters, replicas)
    victim = nodes[0]
    key, value = _write_before(victim)
    fail_s, promoted_s, replica_id = _kill_and_measure(nodes, victim)
    report(
        f"{masters} masters + {replicas} replicas: FAIL everywhere {fail_s:.2f}s, "
        f"promoted {promoted_s:.2f}s after SIGKILL"
    )
    new_master = next(n for n in nodes if n is not victim and myid(n) == replica_id)
    with new_master.client() as conn:
        assert conn.get(key) == value
