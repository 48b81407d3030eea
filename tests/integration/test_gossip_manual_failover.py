"""A manual failover (``CLUSTER FAILOVER`` on a replica) between two gossip_cluster nodes,
each with its real backing redis-server (and from ours to a real replica), while a client writes to the master without a
pause: the master holds writes (``CLIENT PAUSE ... WRITE`` on its backing server) once its
replica asks, announces the offset it froze with the PAUSED flag, and the replica takes
over only when it has replicated up to there. Every write the old master acknowledged is
on the new master afterwards.
"""

from __future__ import annotations

import threading

import pytest
import redis

from gossip_cluster.wire import NodeFlag
from labkit.realredis.lab import Lab
from labkit.realredis.labgossip import start_gossip_node
from labkit.realredis.process import RedisProcess
from labkit.realredis.topology import wait_until
from tests.integration.test_gossip_cluster import line_of, myid, report, sees_connected

pytestmark = pytest.mark.realredis

TIMEOUT_MS = 1000


def _is_master(of: RedisProcess, node_id: str) -> bool:
    """``of`` shows ``node_id`` as a master serving slots."""
    line = line_of(of, node_id)
    return line is not None and bool(line.flags & NodeFlag.MASTER) and bool(line.slots)


def _pair(lab: Lab, replica_kind: str) -> tuple[RedisProcess, RedisProcess, str, str]:
    """Our master (every slot) and a replica of it (ours or a real node), replicating."""
    master = start_gossip_node(lab, node_timeout_ms=TIMEOUT_MS)
    replica: RedisProcess
    if replica_kind == "ours":
        replica = start_gossip_node(lab, node_timeout_ms=TIMEOUT_MS)
    else:
        replica = lab.cluster_node(node_timeout_ms=TIMEOUT_MS)
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
        lambda: replica.info("replication").get("master_link_status") == "up",
        timeout_s=15.0,
        what="the replica's backing server to sync",
    )
    wait_until(
        lambda: (line := line_of(master, replica_id)) is not None and line.master == master_id,
        timeout_s=10.0,
        what="the master to know its replica",
    )

    def cluster_ok(proc: RedisProcess) -> bool:
        with proc.client() as conn:
            return "cluster_state:ok" in str(conn.execute_command("CLUSTER", "INFO"))

    wait_until(
        lambda: cluster_ok(master) and cluster_ok(replica),
        timeout_s=10.0,
        what="cluster_state:ok on both nodes",
    )
    return master, replica, master_id, replica_id


@pytest.mark.parametrize("replica_kind", ["ours", "real"])
def test_manual_failover_loses_no_acknowledged_write(redis_lab: Lab, replica_kind: str) -> None:
    master, replica, master_id, replica_id = _pair(redis_lab, replica_kind)
    acked: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        # A paused write waits on the master (up to 2 x the 5 s manual-failover timeout).
        client = redis.Redis(host=master.host, port=master.port, socket_timeout=15)
        try:
            i = 0
            while not stop.is_set():
                try:
                    client.set(f"w:{i}", i)
                except redis.RedisError as exc:  # MOVED / READONLY once demoted
                    errors.append(str(exc))
                    return
                acked.append(i)
                i += 1
        finally:
            client.close()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: len(acked) >= 200 or bool(errors), timeout_s=10.0, what="200 acked writes"
        )
        assert not errors, f"a write failed before the failover: {errors}"
        with replica.client() as conn:
            assert conn.execute_command("CLUSTER", "FAILOVER")
        wait_until(
            lambda: _is_master(replica, replica_id) and _is_master(master, replica_id),
            timeout_s=15.0,
            what="the replica to take over in both views",
        )
        wait_until(
            lambda: (line := line_of(master, master_id)) is not None and line.master == replica_id,
            timeout_s=10.0,
            what="the old master to follow the new one",
        )
        wait_until(lambda: bool(errors), timeout_s=10.0, what="the writer to be turned away")
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()
    assert acked, "no write was acknowledged"
    # Every acknowledged write is on the new master.
    missing: list[int] = []
    with replica.client() as conn:
        for start in range(0, len(acked), 500):
            batch = acked[start : start + 500]
            pipe = conn.pipeline(transaction=False)
            for i in batch:
                pipe.get(f"w:{i}")
            values = pipe.execute()
            missing += [i for i, v in zip(batch, values, strict=True) if v != str(i)]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged writes lost: {missing[:10]}"
    # The replica waited for the offset the paused master announced.
    log = replica.log_text()
    report(
        f"manual failover, replica {replica_kind}: {len(acked)} writes acknowledged, "
        f"none lost; then {errors[0]!r}"
    )
    assert "Received replication offset for paused master manual failover" in log
    assert "Failover election won" in log
