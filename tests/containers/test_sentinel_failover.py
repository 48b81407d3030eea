"""Real Sentinels in containers fail over a killed master; faults act on real Redis."""

from __future__ import annotations

import pytest
import redis

from labkit.realredis.containers import ContainerLab, RedisContainer, wait_for

pytestmark = pytest.mark.containers


def _get(node: RedisContainer, key: str) -> object:
    with node.client() as conn:
        return conn.get(key)


# Tests that break links lower the timeouts they wait on (Redis's defaults are 60 s).
FAST_REPLICATION = [("repl-timeout", 2), ("repl-ping-replica-period", 1)]


def test_sentinels_fail_over_a_killed_master(container_lab: ContainerLab) -> None:
    group = container_lab.replication_group(2, extra=FAST_REPLICATION)
    sentinels = container_lab.sentinel_group(
        group, 3, quorum=2, down_after_ms=1000, failover_timeout_ms=5000
    )
    old = group.master
    assert sentinels.master_address() == old.address

    old.kill()
    replica_addresses = {r.address for r in group.replicas}

    def failed_over() -> bool:
        return all(sentinels.master_address(s) in replica_addresses for s in sentinels.sentinels)

    wait_for(failed_over, timeout_s=45, what="the Sentinels to elect a replica")
    new_address = sentinels.master_address()
    assert new_address is not None and new_address != old.address
    new = group.by_address(new_address)
    other = next(r for r in group.replicas if r is not new)

    # The host reaches the new master only through its published 127.0.0.1 port.
    wait_for(lambda: new.info("replication")["role"] == "master", timeout_s=15, what="promotion")
    with new.client() as conn:
        assert conn.set("after-failover", "1") is True
    # Inside the network, the address the Sentinel gave answers too.
    host, port = new_address.split(":")
    assert sentinels.sentinels[1].cli("GET", "after-failover", host=host, port=int(port)) == "1"
    wait_for(
        lambda: other.info("replication").get("master_host") == new.ip,
        timeout_s=30,
        what="the other replica to follow the new master",
    )
    wait_for(
        lambda: _get(other, "after-failover") == "1",
        timeout_s=15,
        what="the write to reach the other replica",
    )


def test_pause_and_partition_break_real_replication(container_lab: ContainerLab) -> None:
    group = container_lab.replication_group(2, extra=FAST_REPLICATION)
    master, replica, bystander = group.master, *group.replicas

    def link(node_info: dict[str, object]) -> object:
        return node_info.get("master_link_status")

    # docker pause: the master holds its sockets open and answers nothing.
    master.pause()
    with pytest.raises(redis.exceptions.TimeoutError), master.client(socket_timeout=0.5) as conn:
        conn.ping()
    wait_for(lambda: link(replica.info("replication")) == "down", timeout_s=20, what="link down")
    master.resume()
    wait_for(lambda: link(replica.info("replication")) == "up", timeout_s=20, what="link up")

    # docker network disconnect: the replica is cut off (its published port goes too, so
    # ask it from inside its container).
    replica.disconnect()
    wait_for(
        lambda: "master_link_status:down" in replica.cli("INFO", "replication"),
        timeout_s=20,
        what="the cut replica to see its link down",
    )
    wait_for(
        lambda: int(master.info("replication")["connected_slaves"]) == 1,
        timeout_s=20,
        what="the master to drop the cut replica",
    )
    assert link(bystander.info("replication")) == "up"
    with master.client() as conn:
        conn.set("written-during-partition", "yes")

    replica.connect()
    wait_for(lambda: link(replica.info("replication")) == "up", timeout_s=20, what="link up again")
    wait_for(
        lambda: _get(replica, "written-during-partition") == "yes",
        timeout_s=15,
        what="the healed replica to catch up",
    )
    assert int(master.info("replication")["connected_slaves"]) == 2
