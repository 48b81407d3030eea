"""A gossip_cluster node in a real Redis Cluster, all in containers.

Three real cluster-enabled redis-servers form a cluster (``redis-cli --cluster create`` run
inside the network); our node joins it with ``CLUSTER MEET`` sent inside the network, and
every real node shows it connected at its in-network address. Then it becomes the replica
of a real master, the master is ``docker kill``ed, and our node is promoted in every real
node's view, serving the key written before the kill. The host only reads ``CLUSTER NODES``
and ``INFO`` through ports published on 127.0.0.1.

``compose/gossip-mixed`` comes up as a mixed cluster (real masters, gossip_cluster replicas,
joined by its ``init`` service), fails over a killed real master to our replica, and goes
away leaving nothing.
"""

from __future__ import annotations

import subprocess

import pytest
import redis

from gossip_cluster.dataplane import key_hash_slot
from gossip_cluster.nodes_conf import NodeLine, parse_line
from gossip_cluster.wire import NodeFlag
from labkit.realredis.containers import (
    ContainerCluster,
    ContainerLab,
    GossipNodeContainer,
    NodeContainer,
    cluster_info,
    cluster_myid,
    wait_for,
)
from labkit.realredis.dockercli import docker
from tests.containers.compose_project import COMPOSE_DIR, Project

pytestmark = [pytest.mark.containers, pytest.mark.slow]

TIMEOUT_MS = 1000
_BAD = NodeFlag.HANDSHAKE | NodeFlag.PFAIL | NodeFlag.FAIL | NodeFlag.NOADDR


def node_lines(node: NodeContainer) -> list[NodeLine]:
    """``CLUSTER NODES`` of ``node`` (through its published port), parsed."""
    with node.client(socket_timeout=1.0) as conn:
        text = str(conn.execute_command("CLUSTER", "NODES"))
    return [parse_line(line) for line in text.splitlines() if line.strip()]


def line_of(node: NodeContainer, node_id: str) -> NodeLine | None:
    return next((line for line in node_lines(node) if line.name == node_id), None)


def sees_connected(node: NodeContainer, node_id: str) -> bool:
    line = line_of(node, node_id)
    return line is not None and line.connected and not line.flags & _BAD


def _join(lab: ContainerLab) -> tuple[ContainerCluster, GossipNodeContainer, str]:
    """A real 3-master cluster, and our node MEET into it; returns (cluster, ours, our id)."""
    cluster = lab.real_cluster(3, 0, node_timeout_ms=TIMEOUT_MS)
    ours = lab.gossip_node(node_timeout_ms=TIMEOUT_MS)
    our_id = cluster_myid(ours)
    first = cluster.nodes[0]
    assert first.cli("CLUSTER", "MEET", ours.ip, str(ours.port)) == "OK"  # inside the network
    wait_for(
        lambda: all(sees_connected(n, our_id) for n in cluster.nodes),
        timeout_s=10,
        what="every real node to show the gossip_cluster node connected",
    )
    real_ids = [cluster_myid(n) for n in cluster.nodes]
    wait_for(
        lambda: all(sees_connected(ours, rid) for rid in real_ids),
        timeout_s=10,
        what="the gossip_cluster node to show every real node connected",
    )
    return cluster, ours, our_id


def test_gossip_node_joins_a_real_cluster_in_containers(
    container_lab: ContainerLab, python_image: str
) -> None:
    cluster, ours, our_id = _join(container_lab)
    for node in cluster.nodes:
        line = line_of(node, our_id)
        assert line is not None
        # The bus carries in-network addresses (--cluster-announce-ip), not 127.0.0.1.
        assert (line.ip, line.port, line.cport) == (ours.ip, ours.port, ours.bus_port)
        assert line.flags & NodeFlag.MASTER and not line.slots
    # Our node agrees with the real ones about addresses, slots and epochs. (Its own line
    # is left out of the address check: gossip_cluster does not yet show its
    # --cluster-announce-ip there, where Redis 7.0 does; the others see it, checked above.)
    ours_view = {line.name: line for line in node_lines(ours)}
    for line in node_lines(cluster.nodes[0]):
        mine = ours_view[line.name]
        assert (mine.slots, mine.config_epoch) == (line.slots, line.config_epoch)
        if line.name != our_id:
            assert (mine.ip, mine.port, mine.cport) == (line.ip, line.port, line.cport)

    def state_ok() -> bool:
        info = cluster_info(ours)
        return info.get("cluster_state") == "ok" and info.get("cluster_known_nodes") == "4"

    wait_for(state_ok, timeout_s=10, what="cluster_state:ok on the gossip_cluster node")


def _key_in(ranges: tuple[tuple[int, int], ...]) -> str:
    i = 0
    while True:
        key = f"key:{i}"
        slot = key_hash_slot(key.encode())
        if any(first <= slot <= last for first, last in ranges):
            return key
        i += 1


def test_gossip_replica_is_promoted_when_its_real_master_is_killed(
    container_lab: ContainerLab, python_image: str
) -> None:
    cluster, ours, our_id = _join(container_lab)
    master = cluster.nodes[0]
    master_id = cluster_myid(master)
    slots = next(line for line in node_lines(master) if line.name == master_id).slots
    with ours.client() as conn:
        assert conn.execute_command("CLUSTER", "REPLICATE", master_id) in (True, "OK")

    def replica_known() -> bool:
        if ours.info("replication").get("master_link_status") != "up":
            return False
        for node in cluster.nodes:
            line = line_of(node, our_id)
            if line is None or line.master != master_id or not line.flags & NodeFlag.SLAVE:
                return False
        return True

    wait_for(replica_known, timeout_s=15, what="our node to replicate the real master")
    key = _key_in(slots)
    with master.client() as conn:
        assert conn.set(key, "before-the-kill")
        assert conn.execute_command("WAIT", 1, 2000) == 1

    master.kill()  # docker kill
    alive = cluster.nodes[1:]

    def promoted() -> bool:
        for node in [*alive, ours]:
            line = line_of(node, our_id)
            if line is None or not line.flags & NodeFlag.MASTER or line.slots != slots:
                return False
        return True

    wait_for(promoted, timeout_s=20, what="our node to be promoted in every live node's view")
    with ours.client() as conn:
        assert conn.get(key) == "before-the-kill"
    wait_for(
        lambda: all(cluster_info(n).get("cluster_state") == "ok" for n in [*alive, ours]),
        timeout_s=10,
        what="cluster_state:ok after the failover",
    )


MIXED_FILE = COMPOSE_DIR / "gossip-mixed" / "docker-compose.yml"
REAL = ("redis-1", "redis-2", "redis-3")
OURS = ("gossip-1", "gossip-2", "gossip-3")


def test_compose_gossip_mixed_cluster_fails_over_to_our_replica(
    compose: list[str], python_image: str
) -> None:
    env = {"REDIS_LAB_PYTHON_IMAGE": python_image, "CLUSTER_NODE_TIMEOUT_MS": str(TIMEOUT_MS)}
    project = Project(compose, MIXED_FILE, env)
    ports: dict[str, int] = {}

    def lines(service: str) -> list[NodeLine]:
        with redis.Redis("127.0.0.1", ports[service], socket_timeout=1.0) as conn:
            text = conn.execute_command("CLUSTER", "NODES").decode()
        return [parse_line(line) for line in text.splitlines() if line.strip()]

    def me(service: str) -> NodeLine:
        return next(line for line in lines(service) if line.flags & NodeFlag.MYSELF)

    def all_ok(services: tuple[str, ...], known: int) -> bool:
        for service in services:
            with redis.Redis("127.0.0.1", ports[service], socket_timeout=1.0) as conn:
                text = conn.execute_command("CLUSTER", "INFO").decode()
            if "cluster_state:ok" not in text or f"cluster_known_nodes:{known}" not in text:
                return False
        return True

    def init_status() -> str:
        fmt = "{{.State.Status}} {{.State.ExitCode}}"
        return docker("inspect", "--format", fmt, project.container("init")).stdout.decode().strip()

    try:
        project.up()
        for service in REAL + OURS:
            ports[service] = project.host_port(service, 6379)
        wait_for(lambda: init_status().startswith("exited"), timeout_s=60, what="init to finish")
        assert init_status() == "exited 0", project.run("logs", "init")
        try:
            wait_for(lambda: all_ok(REAL + OURS, 6), timeout_s=20, what="the mixed cluster ok")
        except Exception:
            pytest.fail(project.run("logs", "--tail", "20"), pytrace=False)
        real_ids = {service: me(service).name for service in REAL}
        masters = {me(service).master for service in OURS}
        assert masters == set(real_ids.values()), "each real master has one of ours as replica"

        def linked(service: str) -> bool:
            with redis.Redis("127.0.0.1", ports[service], decode_responses=True) as conn:
                return bool(conn.info("replication").get("master_link_status") == "up")

        for service in OURS:
            assert me(service).flags & NodeFlag.SLAVE
        # Replication really runs: each of our backing servers syncs with its real master.
        wait_for(lambda: all(linked(s) for s in OURS), timeout_s=15, what="our replicas to sync")

        victim_id = real_ids["redis-1"]
        slots = me("redis-1").slots
        ours_id = next(me(s).name for s in OURS if me(s).master == victim_id)
        project.run("kill", "redis-1")
        alive = REAL[1:] + OURS

        def promoted() -> bool:
            for service in alive:
                line = next((x for x in lines(service) if x.name == ours_id), None)
                if line is None or not line.flags & NodeFlag.MASTER or line.slots != slots:
                    return False
            return True

        wait_for(promoted, timeout_s=20, what="our replica to take over redis-1's slots")
        wait_for(lambda: all_ok(alive, 6), timeout_s=15, what="cluster_state:ok after failover")
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"compose timed out: {exc}", pytrace=False)
    finally:
        project.down()
    left = project.left()
    assert not left, f"compose left {left.describe()}"
