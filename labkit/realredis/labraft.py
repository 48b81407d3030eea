"""redis_raft nodes as lab processes: ``python -m redis_raft`` started, killed and paused
like a real Redis process, and a helper that starts a whole cluster.

:class:`RaftNodeProcess` reuses :class:`RedisProcess` (run-id environment, PDEATHSIG,
registration with the reaper, ``kill``/``pause``/``resume``/``restart``, log tails);
only the command line differs. A node started with ``--data-server auto`` starts its
backing redis-server as its own child with ``PR_SET_PDEATHSIG``: a SIGKILL of the node
(``kill``) takes both down, as a machine crash would.

:func:`start_raft_cluster` starts N nodes in a :class:`Lab`. With a :class:`ProxyHub`
every directed peer link ``i -> j`` goes through its own fault proxy (named ``"i->j"``),
so :meth:`RaftCluster.isolate` can cut one node off from the others.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from labkit.faults.proxy import ProxyHub
from labkit.realredis.lab import Lab
from labkit.realredis.ports import free_port
from labkit.realredis.process import Kind, RedisProcess
from labkit.realredis.topology import wait_until

__all__ = ["RaftCluster", "RaftNodeProcess", "parse_info", "start_raft_cluster"]


def parse_info(text: str) -> dict[str, str]:
    """``key:value`` lines (RAFT.INFO, INFO) as a dict."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            out[key.strip()] = value.strip()
    return out


class RaftNodeProcess(RedisProcess):
    """One ``python -m redis_raft`` node in its own folder (data in ``<folder>/data``)."""

    def __init__(
        self,
        name: str,
        workdir: Path,
        host: str,
        port: int,
        *,
        node_id: str,
        peers: str,
        run_id: str,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        password: str | None = None,
    ) -> None:
        super().__init__(name, Kind.SERVER, workdir, host, port, [], run_id=run_id)
        self.node_id = node_id
        self.peers = peers
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.password = password
        self.data_dir = workdir / "data"
        self.log_path = workdir / "raft.log"

    def command(self) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "redis_raft",
            "--id",
            self.node_id,
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--peers",
            self.peers,
            "--dir",
            str(self.data_dir),
            "--logfile",
            str(self.log_path),
            *self.extra_args,
        ]
        if self.password:
            args += ["--requirepass", self.password]
        return args

    ready_timeout_s = 30.0

    def environment(self) -> dict[str, str]:
        return dict(self.env)

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def raft_info(self, timeout_s: float = 2.0) -> dict[str, str]:
        with self.client(socket_timeout=timeout_s) as conn:
            return parse_info(str(conn.execute_command("RAFT.INFO")))

    def backing_client(self, **kwargs: Any) -> redis.Redis:
        """A client of this node's backing redis-server (read from RAFT.INFO)."""
        host, _, port = self.raft_info()["backing_server"].rpartition(":")
        options: dict[str, Any] = {"decode_responses": True, "socket_timeout": 2.0}
        options.update(kwargs)
        return redis.Redis(host=host, port=int(port), **options)


@dataclass(slots=True)
class RaftCluster:
    """Nodes of one cluster, and the fault proxies between them (if any)."""

    nodes: list[RaftNodeProcess]
    hub: ProxyHub | None = None
    links: dict[str, tuple[str, int]] = field(default_factory=dict)

    def node(self, node_id: str) -> RaftNodeProcess:
        return next(n for n in self.nodes if n.node_id == node_id)

    def leader(self, *, timeout_s: float = 15.0, among: Sequence[str] | None = None) -> str:
        """The id of the one leader that the running nodes agree on (waits for it)."""
        found: list[str] = []

        def agreed() -> bool:
            ids = set(among or [n.node_id for n in self.nodes if n.running and not n.paused])
            infos = [self.node(i).raft_info(timeout_s=1.0) for i in ids]
            leaders = [i["node_id"] for i in infos if i["role"] == "leader"]
            terms = {i["term"] for i in infos}
            named = {i["leader_id"] for i in infos}
            if len(leaders) == 1 and len(terms) == 1 and named == {leaders[0]}:
                found[:] = leaders
                return True
            return False

        wait_until(agreed, timeout_s=timeout_s, what="one agreed Raft leader")
        return found[0]

    def wait_caught_up(self, *, timeout_s: float = 20.0) -> int:
        """Wait until every running node applied everything the leader committed;
        returns that index."""
        done: list[int] = []

        def caught_up() -> bool:
            live = [n for n in self.nodes if n.running and not n.paused]
            infos = [n.raft_info(timeout_s=1.0) for n in live]
            leaders = [i for i in infos if i["role"] == "leader"]
            if len(leaders) != 1:
                return False
            commit = int(leaders[0]["commit_index"])
            applied = {int(i["applied_index"]) for i in infos}
            backing = {int(i["backing_applied_index"]) for i in infos}
            if applied == {commit} and len(backing) == 1:
                done[:] = [commit]
                return True
            return False

        wait_until(caught_up, timeout_s=timeout_s, what="every node to apply the commit index")
        return done[0]

    def backing_contents(self, node_id: str) -> dict[str, object]:
        """Every key of a node's backing server with its value (strings, sets, lists)."""
        out: dict[str, object] = {}
        with self.node(node_id).backing_client() as conn:
            for key in sorted(conn.keys("*")):
                kind = conn.type(key)
                if kind == "string":
                    out[key] = conn.get(key)
                elif kind == "set":
                    out[key] = sorted(conn.smembers(key))
                elif kind == "list":
                    out[key] = conn.lrange(key, 0, -1)
                else:
                    out[key] = kind
        return out

    def isolate(self, node_id: str) -> None:
        """Blackhole every peer link to and from ``node_id`` (needs a hub)."""
        assert self.hub is not None, "start the cluster with a ProxyHub to cut links"
        for other in self.nodes:
            if other.node_id != node_id:
                self.hub.partition(f"{node_id}->{other.node_id}")
                self.hub.partition(f"{other.node_id}->{node_id}")

    def heal(self) -> None:
        if self.hub is not None:
            self.hub.heal()

    def close(self) -> None:
        for node in self.nodes:
            node.kill()


def start_raft_cluster(
    lab: Lab,
    size: int = 3,
    *,
    hub: ProxyHub | None = None,
    extra_args: Sequence[str] = (),
    node_args: Mapping[str, Sequence[str]] | None = None,
    env: Mapping[str, str] | None = None,
    password: str | None = None,
    prefix: str = "raft",
    host: str = "127.0.0.1",
) -> RaftCluster:
    """Start ``size`` nodes (ids ``1..size``) in ``lab``; they are killed with the lab."""
    ids = [str(i) for i in range(1, size + 1)]
    ports = {i: free_port(host) for i in ids}
    cluster = RaftCluster(nodes=[], hub=hub)
    if hub is not None:
        for a in ids:
            for b in ids:
                if a != b:
                    proxy = hub.add(f"{a}->{b}", (host, ports[b]))
                    cluster.links[f"{a}->{b}"] = proxy.listen
    for node_id in ids:
        parts = []
        for other in ids:
            h, p = (host, ports[other])
            if hub is not None and other != node_id:
                h, p = cluster.links[f"{node_id}->{other}"]
            parts.append(f"{other}={h}:{p}")
        args = [*extra_args, *(node_args or {}).get(node_id, ())]
        node = RaftNodeProcess(
            f"{prefix}-{node_id}",
            lab.base_dir / f"{prefix}-{node_id}",
            host,
            ports[node_id],
            node_id=node_id,
            peers=",".join(parts),
            run_id=lab.run_id,
            extra_args=args,
            env=env,
            password=password,
        )
        lab.processes.append(node)
        cluster.nodes.append(node)
    for node in cluster.nodes:
        node.start()
    return cluster
