"""A lab: a set of real Redis processes started together and always torn down together.

``Lab`` is a context manager (and a pytest fixture, see :mod:`labkit.realredis.pytest_plugin`)
with helpers for the topologies the studies need: a master with replicas, a quorum of
real Sentinels monitoring it, and a real Redis Cluster.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from labkit.realredis import reaper
from labkit.realredis.binaries import find_binaries
from labkit.realredis.errors import RedisStartError, TopologyError
from labkit.realredis.ports import free_port
from labkit.realredis.process import ConfigValue, Kind, RedisProcess
from labkit.realredis.topology import (
    await_sentinel_discovery,
    sentinel_directives,
    start_replication_group,
    wait_until,
)

__all__ = ["Cluster", "Lab", "ReplicationGroup", "SentinelGroup"]


@dataclass(slots=True)
class ReplicationGroup:
    """A master and its replicas."""

    master: RedisProcess
    replicas: list[RedisProcess]

    @property
    def servers(self) -> list[RedisProcess]:
        return [self.master, *self.replicas]


@dataclass(slots=True)
class SentinelGroup:
    """Real Sentinels monitoring one master under ``master_name``."""

    master_name: str
    sentinels: list[RedisProcess]
    quorum: int

    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [(s.host, s.port) for s in self.sentinels]


@dataclass(slots=True)
class Cluster:
    """A real Redis Cluster: masters first, then replicas."""

    nodes: list[RedisProcess]
    masters: int
    replicas_per_master: int
    node_timeout_ms: int = field(default=15000)

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(n.host, n.port) for n in self.nodes]


class Lab:
    """Owns a temporary folder and every process started in it."""

    def __init__(self, base_dir: Path | None = None, *, keep: bool = False) -> None:
        self.binaries = find_binaries()
        self.run_id = reaper.new_run_id()
        self._own_dir = base_dir is None
        self.base_dir = (
            Path(tempfile.mkdtemp(prefix=f"redis-lab-{self.run_id}-"))
            if base_dir is None
            else base_dir
        )
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self.processes: list[RedisProcess] = []
        self._names: set[str] = set()

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Kill every process (paused ones too) and remove the folder unless ``keep``."""
        for proc in reversed(self.processes):
            proc.kill()
        if self._own_dir and not self.keep:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- single processes ---------------------------------------------------------------

    def _unique(self, name: str) -> str:
        if name in self._names:
            raise ValueError(f"a process named {name!r} already exists in this lab")
        self._names.add(name)
        return name

    def _spawn(
        self,
        name: str,
        kind: Kind,
        directives: list[tuple[str, ConfigValue]],
        *,
        host: str,
        port: int | None,
        password: str | None,
        start: bool,
    ) -> RedisProcess:
        name = self._unique(name)
        for attempt in range(3):
            chosen = port if port is not None else free_port(host)
            proc = RedisProcess(
                name,
                kind,
                self.base_dir / name,
                host,
                chosen,
                directives,
                run_id=self.run_id,
                password=password,
                binaries=self.binaries,
            )
            self.processes.append(proc)
            if not start:
                return proc
            try:
                return proc.start()
            except RedisStartError:
                # Another program may have taken the port between choosing and binding.
                if port is not None or attempt == 2 or "in use" not in proc.log_tail(40):
                    raise
                self.processes.remove(proc)
                proc.log_path.unlink(missing_ok=True)
        raise AssertionError("unreachable")

    def server(
        self,
        name: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        password: str | None = None,
        replica_of: RedisProcess | None = None,
        extra: list[tuple[str, ConfigValue]] | None = None,
        start: bool = True,
    ) -> RedisProcess:
        """A standalone ``redis-server`` (or a replica of ``replica_of``)."""
        directives: list[tuple[str, ConfigValue]] = list(extra or [])
        if replica_of is not None:
            directives.append(("replicaof", [replica_of.host, str(replica_of.port)]))
        name = name or f"redis-{len(self.processes) + 1}"
        return self._spawn(
            name, Kind.SERVER, directives, host=host, port=port, password=password, start=start
        )

    def sentinel(
        self,
        master: RedisProcess,
        *,
        master_name: str = "mymaster",
        quorum: int = 2,
        down_after_ms: int = 30000,
        failover_timeout_ms: int = 180000,
        parallel_syncs: int = 1,
        name: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        extra: list[tuple[str, ConfigValue]] | None = None,
        via: tuple[str, int] | None = None,
        start: bool = True,
    ) -> RedisProcess:
        """A real ``redis-server --sentinel`` monitoring ``master``.

        ``via`` is the address the Sentinel uses to reach the master instead of the
        master's own (a fault proxy in front of it, for example).
        """
        master_host, master_port = via or (master.host, master.port)
        directives = sentinel_directives(
            master_name,
            master_host,
            master_port,
            quorum=quorum,
            down_after_ms=down_after_ms,
            failover_timeout_ms=failover_timeout_ms,
            parallel_syncs=parallel_syncs,
            auth_pass=master.password,
        )
        directives += extra or []
        name = name or f"sentinel-{sum(p.kind is Kind.SENTINEL for p in self.processes) + 1}"
        return self._spawn(
            name, Kind.SENTINEL, directives, host=host, port=port, password=None, start=start
        )

    def cluster_node(
        self,
        name: str | None = None,
        *,
        node_timeout_ms: int = 15000,
        host: str = "127.0.0.1",
        port: int | None = None,
        extra: list[tuple[str, ConfigValue]] | None = None,
        start: bool = True,
    ) -> RedisProcess:
        """A ``redis-server`` with ``cluster-enabled yes`` (not yet part of a cluster)."""
        directives: list[tuple[str, ConfigValue]] = [("cluster-node-timeout", node_timeout_ms)]
        directives += extra or []
        name = name or f"node-{sum(p.kind is Kind.CLUSTER_NODE for p in self.processes) + 1}"
        return self._spawn(
            name, Kind.CLUSTER_NODE, directives, host=host, port=port, password=None, start=start
        )

    # -- topologies ---------------------------------------------------------------------

    def replication_group(
        self,
        replicas: int = 2,
        *,
        password: str | None = None,
        extra: list[tuple[str, ConfigValue]] | None = None,
        timeout_s: float = 15.0,
    ) -> ReplicationGroup:
        """A master with ``replicas`` replicas, waited on until every link is up."""
        master, nodes = start_replication_group(
            lambda name, of: self.server(name, password=password, replica_of=of, extra=extra),
            replicas,
            timeout_s=timeout_s,
        )
        return ReplicationGroup(master, nodes)

    def sentinel_group(
        self,
        group: ReplicationGroup,
        sentinels: int = 3,
        *,
        quorum: int = 2,
        master_name: str = "mymaster",
        down_after_ms: int = 30000,
        failover_timeout_ms: int = 180000,
        parallel_syncs: int = 1,
        timeout_s: float = 20.0,
    ) -> SentinelGroup:
        """Real Sentinels monitoring ``group``; waits until each knows every replica and peer."""
        procs = [
            self.sentinel(
                group.master,
                master_name=master_name,
                quorum=quorum,
                down_after_ms=down_after_ms,
                failover_timeout_ms=failover_timeout_ms,
                parallel_syncs=parallel_syncs,
            )
            for _ in range(sentinels)
        ]
        await_sentinel_discovery(procs, master_name, len(group.replicas), timeout_s=timeout_s)
        return SentinelGroup(master_name, procs, quorum)

    def cluster(
        self,
        masters: int = 3,
        replicas_per_master: int = 1,
        *,
        node_timeout_ms: int = 15000,
        extra: list[tuple[str, ConfigValue]] | None = None,
        timeout_s: float = 30.0,
    ) -> Cluster:
        """A real Redis Cluster made with ``redis-cli --cluster create``; waits for ``cluster_state:ok``."""
        count = masters * (1 + replicas_per_master)
        nodes = [
            self.cluster_node(node_timeout_ms=node_timeout_ms, extra=extra) for _ in range(count)
        ]
        argv = [self.binaries.cli, "--cluster", "create", *[n.address for n in nodes]]
        argv += ["--cluster-replicas", str(replicas_per_master), "--cluster-yes"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise TopologyError(f"redis-cli --cluster create failed:\n{done.stdout}\n{done.stderr}")

        def healthy() -> bool:
            for node in nodes:
                with node.client() as conn:
                    info = conn.execute_command("CLUSTER", "INFO")
                text = info if isinstance(info, str) else str(info)
                if "cluster_state:ok" not in text or f"cluster_known_nodes:{count}" not in text:
                    return False
            return True

        wait_until(
            healthy, timeout_s=timeout_s, what=f"a {count}-node cluster to reach cluster_state:ok"
        )
        return Cluster(nodes, masters, replicas_per_master, node_timeout_ms)
