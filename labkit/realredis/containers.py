"""The container backend: real Redis servers and Sentinels, and our components, in Docker.

:class:`ContainerLab` mirrors the process backend (:class:`labkit.realredis.Lab`): a context
manager with ``server()``, ``sentinel()``, ``replication_group()`` and ``sentinel_group()``,
whose :class:`RedisContainer` nodes can be killed, stopped, paused and cut off; and with
``lab_sentinel()`` (sentinel_lab, configured like a real Sentinel), ``raft_cluster()``
(redis_raft nodes) and ``gossip_node()`` (a gossip_cluster node), which run from the Python
image (:mod:`labkit.realredis.pyimage`, built on first use when none is given) and break the
same ways (:mod:`labkit.realredis.container_components`). ``real_cluster()`` is a Redis
Cluster of real ``redis-server`` nodes, made by ``redis-cli --cluster create`` run inside
the network (:meth:`ContainerLab.create_cluster`, which takes our nodes too).

* Each lab creates one Docker network, ``redis-lab-<run id>``, with a fixed subnet, and gives
  every container a fixed address in it, so that a node keeps its address across a restart
  or a disconnect. Nodes address each other by those addresses; a Sentinel hands them out.
* The host side reaches a node only through its port published on ``127.0.0.1`` (a random
  host port). A client that must follow an in-network address (what a Sentinel says) runs
  inside the network: :meth:`RedisContainer.cli` is ``docker exec <node> redis-cli ...``.
* Containers start through testcontainers (Ryuk off, ``docker_host`` mode, ``TC_HOST``
  ``127.0.0.1``); faults use the Docker API: ``kill`` is ``docker kill``, ``pause`` is
  ``docker pause``, ``disconnect`` is ``docker network disconnect``.
* Everything carries ``redis-lab.run=<run id>`` and ``redis-lab.owner=<pid>`` labels. On exit,
  even after a failure, the lab removes its containers and its network.
* A node writes its config file (``/data/redis.conf`` or ``/data/sentinel.conf``) on its first
  start only, so a restarted node keeps what it rewrote (a Sentinel its identity and epochs).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import redis
from testcontainers.core.docker_client import DockerClient

from labkit.realredis import reaper
from labkit.realredis.container_components import (
    RAFT_PORT,
    ContainerRaftCluster,
    GossipNodeContainer,
    LabSentinelContainer,
    RaftNodeContainer,
)
from labkit.realredis.container_node import (
    SENTINEL_PORT,
    SERVER_PORT,
    LabNetwork,
    NodeContainer,
    RedisContainer,
    publish_on_loopback,
    wait_for,
)
from labkit.realredis.dockercli import OWNER_LABEL, RUN_LABEL, ContainerError, Leftovers, leftovers
from labkit.realredis.process import ConfigValue, Kind
from labkit.realredis.topology import (
    await_sentinel_discovery,
    sentinel_directives,
    start_replication_group,
)

__all__ = [
    "SENTINEL_PORT",
    "SERVER_PORT",
    "ContainerCluster",
    "ContainerLab",
    "ContainerRaftCluster",
    "ContainerReplicationGroup",
    "ContainerSentinelGroup",
    "GossipNodeContainer",
    "LabSentinelContainer",
    "NodeContainer",
    "RaftNodeContainer",
    "RedisContainer",
    "cluster_info",
    "cluster_myid",
    "configure_testcontainers",
    "publish_on_loopback",
    "wait_for",
]

_TC_DEFAULTS = {
    "TESTCONTAINERS_RYUK_DISABLED": "true",  # Ryuk's image cannot be pulled here
    "TESTCONTAINERS_CONNECTION_MODE": "docker_host",  # reach containers via published ports
    "TC_HOST": "127.0.0.1",  # ... on loopback, not the bridge gateway
}


def configure_testcontainers() -> None:
    """Set the testcontainers settings this backend needs, unless the environment sets them."""
    from testcontainers.core.config import ConnectionMode
    from testcontainers.core.config import testcontainers_config as config

    for key, value in _TC_DEFAULTS.items():
        os.environ.setdefault(key, value)
    config.ryuk_disabled = os.environ["TESTCONTAINERS_RYUK_DISABLED"].lower() in {
        "1",
        "true",
        "yes",
    }
    config.connection_mode_override = ConnectionMode(os.environ["TESTCONTAINERS_CONNECTION_MODE"])
    config.tc_host_override = os.environ["TC_HOST"]


@dataclass(slots=True)
class ContainerReplicationGroup:
    """A master and its replicas, in containers."""

    master: RedisContainer
    replicas: list[RedisContainer]

    @property
    def servers(self) -> list[RedisContainer]:
        return [self.master, *self.replicas]

    def by_address(self, address: str) -> RedisContainer:
        """The server at in-network ``ip:port`` (what a Sentinel reports)."""
        for server in self.servers:
            if server.address == address:
                return server
        raise KeyError(address)


@dataclass(slots=True)
class ContainerSentinelGroup:
    """Sentinels in containers (real ones, then any of ours), monitoring one master under
    ``master_name``."""

    master_name: str
    sentinels: list[RedisContainer]
    quorum: int

    def master_address(self, sentinel: RedisContainer | None = None) -> str | None:
        """``ip:port`` that a Sentinel gives for the master (asked inside the network)."""
        asked = sentinel or self.sentinels[0]
        out = asked.cli("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master_name)
        parts = out.split()
        return f"{parts[0]}:{parts[1]}" if len(parts) == 2 else None

    def host_addresses(self) -> list[tuple[str, int]]:
        """Published addresses of the Sentinels. A host-side Sentinel client would receive
        in-network master addresses, which the host does not use; ask with :meth:`master_address`."""
        return [("127.0.0.1", s.host_port) for s in self.sentinels]


@dataclass(slots=True)
class ContainerCluster:
    """A Redis Cluster in containers, as ``redis-cli --cluster create`` made it: the first
    ``masters`` nodes are the masters, the rest their replicas."""

    nodes: list[NodeContainer]
    masters: int
    replicas_per_master: int
    node_timeout_ms: int
    create_output: str = ""

    @property
    def master_nodes(self) -> list[NodeContainer]:
        return self.nodes[: self.masters]

    @property
    def replica_nodes(self) -> list[NodeContainer]:
        return self.nodes[self.masters :]

    def by_id(self, node_id: str) -> NodeContainer:
        """The node whose ``CLUSTER MYID`` is ``node_id``."""
        return next(n for n in self.nodes if cluster_myid(n) == node_id)


def cluster_info(node: NodeContainer) -> dict[str, str]:
    """``CLUSTER INFO`` of ``node`` (through its published port), as a dict of strings."""
    try:
        with node.client(socket_timeout=1.0) as conn:
            text = str(conn.execute_command("CLUSTER", "INFO"))
    except redis.exceptions.RedisError as exc:
        raise ContainerError(f"CLUSTER INFO on {node.name}: {exc}") from exc
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def cluster_myid(node: NodeContainer) -> str:
    """``CLUSTER MYID`` of ``node`` (through its published port)."""
    try:
        with node.client(socket_timeout=1.0) as conn:
            return str(conn.execute_command("CLUSTER", "MYID"))
    except redis.exceptions.RedisError as exc:
        raise ContainerError(f"CLUSTER MYID on {node.name}: {exc}") from exc


class ContainerLab:
    """One Docker network and every container started on it, torn down together."""

    def __init__(
        self,
        image: str | None = None,
        *,
        python_image: str | None = None,
        run_id: str | None = None,
    ) -> None:
        configure_testcontainers()
        if image is None:
            from labkit.realredis.images import ensure_redis_image

            image = ensure_redis_image()
        self.image = image
        self._python_image = python_image
        self.run_id = run_id or reaper.new_run_id()
        self.network_name = f"redis-lab-{self.run_id}"
        self.labels = {RUN_LABEL: self.run_id, OWNER_LABEL: str(os.getpid())}
        self.containers: list[NodeContainer] = []
        self.subnet: ipaddress.IPv4Network | None = None
        self._docker: DockerClient | None = None
        self._network: LabNetwork | None = None
        self._free_ips: Iterator[ipaddress.IPv4Address] = iter(())

    def __enter__(self) -> ContainerLab:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Create the lab's network with a fixed subnet (docker picks a free one first)."""
        if self._network is not None:
            return
        self._docker = DockerClient()
        networks = self._docker.client.networks
        probe = networks.create(self.network_name, driver="bridge", labels=self.labels)
        try:
            probe.reload()
            config = probe.attrs["IPAM"]["Config"][0]
        finally:
            probe.remove()
        subnet = ipaddress.IPv4Network(config["Subnet"])
        gateway = config.get("Gateway") or str(next(subnet.hosts()))
        ipam = {"Driver": "default", "Config": [{"Subnet": str(subnet), "Gateway": gateway}]}
        api = networks.create(self.network_name, driver="bridge", labels=self.labels, ipam=ipam)
        self._network = LabNetwork(self.network_name, api)
        self.subnet = subnet
        self._free_ips = (ip for ip in subnet.hosts() if int(ip) - int(subnet[0]) >= 10)

    def close(self) -> None:
        """Remove every container (paused ones too), then the network; report what is left."""
        problems: list[str] = []
        for node in reversed(self.containers):
            try:
                node.remove()
            except Exception as exc:  # keep going: the rest must go too
                problems.append(f"{node.name}: {exc}")
        self.containers.clear()
        if self._network is not None:
            try:
                self._network.api.remove()
            except Exception as exc:
                problems.append(f"network {self.network_name}: {exc}")
            self._network = None
        if self._docker is not None:
            self._docker.client.close()
            self._docker = None
        if problems:
            raise ContainerError("cleanup failed: " + "; ".join(problems))

    @property
    def python_image(self) -> str:
        """The image our components run from (built, or found cached, on first use)."""
        if self._python_image is None:
            from labkit.realredis.pyimage import ensure_python_image

            self._python_image = ensure_python_image(log=False)
        return self._python_image

    def leftovers(self) -> Leftovers:
        """What Docker still holds with this run's label (nothing, after :meth:`close`)."""
        return leftovers(self.run_id)

    # -- single nodes -------------------------------------------------------------------

    def _address(self, name: str) -> str:
        """A free fixed address for a new node named ``name`` (unique in the lab)."""
        self.open()
        if any(node.name == name for node in self.containers):
            raise ValueError(f"a node named {name!r} already exists in this lab")
        ip = next(self._free_ips, None)
        if ip is None:
            raise ContainerError(f"no free address left in {self.subnet}")
        return str(ip)

    def _node_args(self, name: str) -> dict[str, Any]:
        """What every node's constructor takes from the lab."""
        assert self._network is not None
        return {
            "network": self._network,
            "labels": dict(self.labels),
            "container_name": f"{self.run_id}-{name}",
        }

    def _add(
        self,
        name: str,
        kind: Kind,
        directives: list[tuple[str, ConfigValue]],
        *,
        password: str | None,
        start: bool,
        ours: bool = False,
    ) -> RedisContainer:
        ip = self._address(name)
        node_class = LabSentinelContainer if ours else RedisContainer
        node = node_class(
            name,
            kind,
            image=self.python_image if ours else self.image,
            ip=ip,
            directives=directives,
            password=password,
            **self._node_args(name),
        )
        self.containers.append(node)
        return node.start() if start else node

    def server(
        self,
        name: str | None = None,
        *,
        password: str | None = None,
        replica_of: RedisContainer | None = None,
        extra: Sequence[tuple[str, ConfigValue]] | None = None,
        start: bool = True,
    ) -> RedisContainer:
        """A standalone ``redis-server`` (or a replica of ``replica_of``) in a container."""
        directives: list[tuple[str, ConfigValue]] = list(extra or [])
        if replica_of is not None:
            directives.append(("replicaof", [replica_of.ip, str(replica_of.port)]))
        name = name or f"redis-{sum(n.kind is Kind.SERVER for n in self.containers) + 1}"
        return self._add(name, Kind.SERVER, directives, password=password, start=start)

    def sentinel(
        self,
        master: RedisContainer,
        *,
        master_name: str = "mymaster",
        quorum: int = 2,
        down_after_ms: int = 30000,
        failover_timeout_ms: int = 180000,
        parallel_syncs: int = 1,
        name: str | None = None,
        extra: Sequence[tuple[str, ConfigValue]] | None = None,
        start: bool = True,
    ) -> RedisContainer:
        """A real Sentinel (``redis-server --sentinel``) monitoring ``master`` by its address."""
        return self._sentinel(
            master,
            (master_name, quorum, down_after_ms, failover_timeout_ms, parallel_syncs),
            name=name or f"sentinel-{sum(n.kind is Kind.SENTINEL for n in self.containers) + 1}",
            extra=extra,
            start=start,
            ours=False,
        )

    def lab_sentinel(
        self,
        master: RedisContainer,
        *,
        master_name: str = "mymaster",
        quorum: int = 2,
        down_after_ms: int = 30000,
        failover_timeout_ms: int = 180000,
        parallel_syncs: int = 1,
        name: str | None = None,
        extra: Sequence[tuple[str, ConfigValue]] | None = None,
        start: bool = True,
    ) -> RedisContainer:
        """Our Sentinel (``python -m sentinel_lab``) monitoring ``master``, configured as
        :meth:`sentinel` configures a real one (plus its own address to announce)."""
        count = sum(isinstance(n, LabSentinelContainer) for n in self.containers)
        return self._sentinel(
            master,
            (master_name, quorum, down_after_ms, failover_timeout_ms, parallel_syncs),
            name=name or f"lab-sentinel-{count + 1}",
            extra=extra,
            start=start,
            ours=True,
        )

    def _sentinel(
        self,
        master: RedisContainer,
        settings: tuple[str, int, int, int, int],
        *,
        name: str,
        extra: Sequence[tuple[str, ConfigValue]] | None,
        start: bool,
        ours: bool,
    ) -> RedisContainer:
        master_name, quorum, down_after_ms, failover_timeout_ms, parallel_syncs = settings
        directives = sentinel_directives(
            master_name,
            master.ip,
            master.port,
            quorum=quorum,
            down_after_ms=down_after_ms,
            failover_timeout_ms=failover_timeout_ms,
            parallel_syncs=parallel_syncs,
            auth_pass=master.password,
        )
        directives += extra or []
        return self._add(name, Kind.SENTINEL, directives, password=None, start=start, ours=ours)

    def raft_cluster(
        self,
        n: int = 3,
        *,
        prefix: str = "raft",
        extra_args: Sequence[str] = (),
        password: str | None = None,
        start: bool = True,
        timeout_s: float = 30.0,
    ) -> ContainerRaftCluster:
        """``n`` redis_raft nodes (ids ``1..n``), each owning its backing server in its
        container; with ``start``, waits until they agree on a leader."""
        names = {str(i): f"{prefix}-{i}" for i in range(1, n + 1)}
        ips = {node_id: self._address(name) for node_id, name in names.items()}
        peers = ",".join(f"{node_id}={ip}:{RAFT_PORT}" for node_id, ip in ips.items())
        cluster = ContainerRaftCluster([])
        for node_id, name in names.items():
            node = RaftNodeContainer(
                name,
                node_id=node_id,
                peers=peers,
                image=self.python_image,
                ip=ips[node_id],
                extra_args=extra_args,
                password=password,
                **self._node_args(name),
            )
            self.containers.append(node)
            cluster.nodes.append(node)
        if start:
            for node in cluster.nodes:
                node.start(ready_timeout_s=timeout_s)
            cluster.leader(timeout_s=timeout_s)
        return cluster

    def cluster_node(
        self,
        name: str | None = None,
        *,
        node_timeout_ms: int = 15000,
        extra: Sequence[tuple[str, ConfigValue]] | None = None,
        start: bool = True,
    ) -> RedisContainer:
        """A real ``redis-server`` with ``cluster-enabled yes`` (not yet part of a cluster);
        its ``nodes.conf`` is kept in ``/data``, so a restarted node keeps its identity."""
        directives: list[tuple[str, ConfigValue]] = [
            ("cluster-enabled", "yes"),
            ("cluster-config-file", "nodes.conf"),
            ("cluster-node-timeout", node_timeout_ms),
        ]
        directives += extra or []
        count = sum(n.kind is Kind.CLUSTER_NODE for n in self.containers)
        name = name or f"cluster-{count + 1}"
        return self._add(name, Kind.CLUSTER_NODE, directives, password=None, start=start)

    def gossip_node(
        self,
        name: str | None = None,
        *,
        node_timeout_ms: int = 15000,
        extra_args: Sequence[str] = (),
        start: bool = True,
        ready_timeout_s: float = 30.0,
    ) -> GossipNodeContainer:
        """Our Redis Cluster node (``python -m gossip_cluster``), owning its backing server in
        its container and announcing its in-network address; not yet part of a cluster.
        ``extra_args`` are more flags (``--cluster-replica-validity-factor 0``)."""
        count = sum(isinstance(n, GossipNodeContainer) for n in self.containers)
        name = name or f"gossip-{count + 1}"
        ip = self._address(name)
        node = GossipNodeContainer(
            name,
            image=self.python_image,
            ip=ip,
            node_timeout_ms=node_timeout_ms,
            extra_args=extra_args,
            **self._node_args(name),
        )
        self.containers.append(node)
        return node.start(ready_timeout_s=ready_timeout_s) if start else node

    # -- topologies ---------------------------------------------------------------------

    def create_cluster(
        self,
        nodes: Sequence[NodeContainer],
        *,
        replicas_per_master: int,
        node_timeout_ms: int,
        timeout_s: float = 30.0,
    ) -> ContainerCluster:
        """``redis-cli --cluster create`` over ``nodes`` (real ones, ours, or a mix), run with
        ``docker exec`` in the first node's container, so it uses in-network addresses;
        waits for ``cluster_state:ok`` and every node known, everywhere."""
        if not nodes:
            raise ValueError("create_cluster needs nodes")
        argv = ["redis-cli", "--cluster", "create", *[n.address for n in nodes]]
        argv += ["--cluster-replicas", str(replicas_per_master), "--cluster-yes"]
        code, out = nodes[0].exec(*argv, timeout_s=90)
        if code != 0:
            raise ContainerError(f"redis-cli --cluster create failed ({code}):\n{out}")
        count = len(nodes)

        def healthy() -> bool:
            for node in nodes:
                info = cluster_info(node)
                if info.get("cluster_state") != "ok":
                    return False
                if info.get("cluster_known_nodes") != str(count):
                    return False
            return True

        wait_for(healthy, timeout_s=timeout_s, what=f"a {count}-node cluster to be ok everywhere")
        masters = count // (1 + replicas_per_master)
        return ContainerCluster(
            list(nodes), masters, replicas_per_master, node_timeout_ms, create_output=out
        )

    def real_cluster(
        self,
        masters: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 15000,
        *,
        extra: Sequence[tuple[str, ConfigValue]] | None = None,
        timeout_s: float = 30.0,
    ) -> ContainerCluster:
        """A Redis Cluster of ``masters`` real masters with ``replicas`` real replicas each,
        made with ``redis-cli --cluster create`` inside the network; waits until it is ok."""
        count = masters * (1 + replicas)
        nodes = [
            self.cluster_node(node_timeout_ms=node_timeout_ms, extra=extra) for _ in range(count)
        ]
        return self.create_cluster(
            nodes,
            replicas_per_master=replicas,
            node_timeout_ms=node_timeout_ms,
            timeout_s=timeout_s,
        )

    def replication_group(
        self,
        replicas: int = 2,
        *,
        password: str | None = None,
        extra: Sequence[tuple[str, ConfigValue]] | None = None,
        timeout_s: float = 30.0,
    ) -> ContainerReplicationGroup:
        """A master with ``replicas`` replicas, waited on until every link is up."""
        master, nodes = start_replication_group(
            lambda name, of: self.server(name, password=password, replica_of=of, extra=extra),
            replicas,
            timeout_s=timeout_s,
            wait=wait_for,
        )
        return ContainerReplicationGroup(master, nodes)

    def sentinel_group(
        self,
        group: ContainerReplicationGroup,
        sentinels: int = 3,
        *,
        quorum: int = 2,
        master_name: str = "mymaster",
        down_after_ms: int = 30000,
        failover_timeout_ms: int = 180000,
        parallel_syncs: int = 1,
        lab_sentinels: int = 0,
        timeout_s: float = 30.0,
    ) -> ContainerSentinelGroup:
        """``sentinels`` real Sentinels and ``lab_sentinels`` of ours, in one group monitoring
        ``group``; waits until each knows every replica and every other sentinel."""
        options: dict[str, Any] = {
            "master_name": master_name,
            "quorum": quorum,
            "down_after_ms": down_after_ms,
            "failover_timeout_ms": failover_timeout_ms,
            "parallel_syncs": parallel_syncs,
        }
        nodes = [self.sentinel(group.master, **options) for _ in range(sentinels)]
        nodes += [self.lab_sentinel(group.master, **options) for _ in range(lab_sentinels)]
        await_sentinel_discovery(
            nodes, master_name, len(group.replicas), timeout_s=timeout_s, wait=wait_for
        )
        return ContainerSentinelGroup(master_name, nodes, quorum)
