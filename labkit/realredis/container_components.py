"""Our components in containers: a sentinel_lab node, redis_raft nodes and their cluster,
and a gossip_cluster node.

Part of the container backend (:mod:`labkit.realredis.containers`); the nodes run from the
Python image (:mod:`labkit.realredis.pyimage`) on the lab's network, and break like the
Redis nodes (``kill``, ``stop``, ``pause``, ``disconnect``).

* :class:`LabSentinelContainer` runs ``python -m sentinel_lab /data/sentinel.conf`` from a
  config written like a real Sentinel's, plus ``bind 0.0.0.0`` (so that ``redis-cli`` in
  the container reaches it too) and ``sentinel announce-ip <its address>``: sentinel_lab
  announces the address it listens on, and a wildcard would otherwise announce 127.0.0.1.
* :class:`RaftNodeContainer` runs ``python -m redis_raft`` on port 6379 of its address,
  with ``--peers`` naming every node's in-network address and ``--dir /data/raft``; with
  ``--data-server auto`` it starts and owns its backing ``redis-server`` inside the same
  container (on a free loopback port there), so a ``docker kill`` takes both down. Its log
  and data stay in the container, so a restarted node catches up from its own log.
* :class:`GossipNodeContainer` runs ``python -m gossip_cluster`` on port 6379 (its bus on
  16379) with ``--bind 0.0.0.0`` and ``--cluster-announce-ip <its address>``, so that the
  addresses on the bus (and in every node's ``CLUSTER NODES``) are the in-network ones;
  it owns its backing ``redis-server`` in the container (``--data-server auto``), and keeps
  ``nodes.conf`` in ``/data/gossip``, so a restarted node keeps its identity.
* All three run Docker's init as PID 1, which forwards ``docker stop``'s SIGTERM and reaps
  the backing server.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from labkit.realredis.container_node import LabNetwork, NodeContainer, RedisContainer, wait_for
from labkit.realredis.dockercli import ContainerError
from labkit.realredis.labraft import parse_info
from labkit.realredis.process import ConfigValue, Kind

__all__ = [
    "GOSSIP_BUS_PORT",
    "GOSSIP_DIR",
    "GOSSIP_PORT",
    "RAFT_DIR",
    "RAFT_PORT",
    "ContainerRaftCluster",
    "GossipNodeContainer",
    "LabSentinelContainer",
    "RaftNodeContainer",
]

RAFT_PORT = 6379
RAFT_DIR = "/data/raft"
GOSSIP_PORT = 6379
GOSSIP_BUS_PORT = GOSSIP_PORT + 10000
GOSSIP_DIR = "/data/gossip"
_LAB_SENTINEL_SCRIPT = (
    '[ -f "$REDIS_LAB_CONF_PATH" ] || printf "%s" "$REDIS_LAB_CONF" > "$REDIS_LAB_CONF_PATH"; '
    'exec python3 -m sentinel_lab "$REDIS_LAB_CONF_PATH"'
)


class LabSentinelContainer(RedisContainer):
    """sentinel_lab (``python -m sentinel_lab``) in a container, configured like a real one."""

    use_init = True

    def _launch(self) -> tuple[str, dict[str, str]]:
        _, env = super()._launch()
        env.pop("REDIS_LAB_MODE", None)
        return _LAB_SENTINEL_SCRIPT, env

    def _base_directives(self) -> list[tuple[str, ConfigValue]]:
        return [
            *super()._base_directives(),
            ("bind", "0.0.0.0"),
            ("sentinel announce-ip", self.ip),
        ]


class RaftNodeContainer(NodeContainer):
    """One ``python -m redis_raft`` node (and the backing server it owns) in a container."""

    use_init = True

    def __init__(
        self,
        name: str,
        *,
        node_id: str,
        peers: str,
        image: str,
        network: LabNetwork,
        ip: str,
        labels: dict[str, str],
        container_name: str,
        extra_args: Sequence[str] = (),
        password: str | None = None,
    ) -> None:
        self.node_id = node_id
        self.peers = peers
        self.extra_args = list(extra_args)
        super().__init__(
            name,
            Kind.SERVER,
            RAFT_PORT,
            image=image,
            network=network,
            ip=ip,
            labels=labels,
            container_name=container_name,
            password=password,
        )

    def argv(self) -> list[str]:
        """The node's command line inside the container."""
        argv = [
            "python3",
            "-m",
            "redis_raft",
            "--id",
            self.node_id,
            "--port",
            str(self.port),
            "--bind",
            "0.0.0.0",
            "--peers",
            self.peers,
            "--dir",
            RAFT_DIR,
            *self.extra_args,
        ]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        return argv

    def _launch(self) -> tuple[str, dict[str, str]]:
        return f"exec {shlex.join(self.argv())}", {}

    def raft_info(self, timeout_s: float = 2.0) -> dict[str, str]:
        """``RAFT.INFO`` through the published port; :class:`ContainerError` if no answer."""
        try:
            with self.client(socket_timeout=timeout_s) as conn:
                return parse_info(str(conn.execute_command("RAFT.INFO")))
        except redis.exceptions.RedisError as exc:
            raise ContainerError(f"RAFT.INFO on {self.name} ({self.host_address}): {exc}") from exc

    def backing_cli(self, *args: str) -> str:
        """``redis-cli`` against the node's own backing server, run inside its container."""
        _, _, port = self.raft_info()["backing_server"].rpartition(":")
        return self.cli(*args, port=int(port))

    @property
    def live(self) -> bool:
        """Running, not paused, and on the network."""
        return self.connected and self.status() == "running"


class GossipNodeContainer(NodeContainer):
    """One ``python -m gossip_cluster`` node (and the backing server it owns) in a container,
    announcing its in-network address on the cluster bus. Not part of a cluster until a
    ``CLUSTER MEET`` (or ``redis-cli --cluster create``) takes it in."""

    use_init = True

    def __init__(
        self,
        name: str,
        *,
        image: str,
        network: LabNetwork,
        ip: str,
        labels: dict[str, str],
        container_name: str,
        node_timeout_ms: int = 15000,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.node_timeout_ms = node_timeout_ms
        self.extra_args = list(extra_args)
        super().__init__(
            name,
            Kind.CLUSTER_NODE,
            GOSSIP_PORT,
            image=image,
            network=network,
            ip=ip,
            labels=labels,
            container_name=container_name,
        )

    @property
    def bus_port(self) -> int:
        return GOSSIP_BUS_PORT

    def argv(self) -> list[str]:
        """The node's command line inside the container."""
        return [
            "python3",
            "-m",
            "gossip_cluster",
            "--port",
            str(self.port),
            "--cluster-port",
            str(self.bus_port),
            "--bind",
            "0.0.0.0",
            "--cluster-announce-ip",
            self.ip,
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            str(self.node_timeout_ms),
            "--dir",
            GOSSIP_DIR,
            *self.extra_args,
        ]

    def _launch(self) -> tuple[str, dict[str, str]]:
        return f"exec {shlex.join(self.argv())}", {}

    @property
    def live(self) -> bool:
        """Running, not paused, and on the network."""
        return self.connected and self.status() == "running"


@dataclass(slots=True)
class ContainerRaftCluster:
    """redis_raft nodes (ids ``1..n``) in containers, one per address of the lab network."""

    nodes: list[RaftNodeContainer]

    def node(self, node_id: str) -> RaftNodeContainer:
        return next(n for n in self.nodes if n.node_id == node_id)

    def live_nodes(self) -> list[RaftNodeContainer]:
        return [n for n in self.nodes if n.live]

    def leader(self, *, timeout_s: float = 20.0, among: Sequence[str] | None = None) -> str:
        """The id of the one leader that the live nodes (or ``among``) agree on; waits."""
        found: list[str] = []

        def agreed() -> bool:
            nodes = [self.node(i) for i in among] if among else self.live_nodes()
            infos = [n.raft_info(timeout_s=1.0) for n in nodes]
            leaders = [i["node_id"] for i in infos if i["role"] == "leader"]
            if len(leaders) != 1 or len({i["term"] for i in infos}) != 1:
                return False
            if {i["leader_id"] for i in infos} != {leaders[0]}:
                return False
            found[:] = leaders
            return True

        wait_for(agreed, timeout_s=timeout_s, what="one agreed Raft leader in containers")
        return found[0]

    def wait_caught_up(self, *, timeout_s: float = 30.0) -> int:
        """Wait until every live node applied what the leader committed; that index."""
        done: list[int] = []

        def caught_up() -> bool:
            infos = [n.raft_info(timeout_s=1.0) for n in self.live_nodes()]
            leaders = [i for i in infos if i["role"] == "leader"]
            if len(leaders) != 1:
                return False
            commit = int(leaders[0]["commit_index"])
            if {int(i["applied_index"]) for i in infos} != {commit}:
                return False
            if len({int(i["backing_applied_index"]) for i in infos}) != 1:
                return False
            done[:] = [commit]
            return True

        wait_for(caught_up, timeout_s=timeout_s, what="every live node to apply the commit index")
        return done[0]
