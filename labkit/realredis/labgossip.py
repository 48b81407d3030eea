"""gossip_cluster nodes (``python -m gossip_cluster``) as lab processes, beside real ones.

:class:`GossipNodeProcess` is a :class:`RedisProcess` of kind CLUSTER_NODE whose command
line runs gossip_cluster instead of ``redis-server``; everything else (its folder, log,
kill/pause/stop/restart, the run-id environment, PDEATHSIG, the reaper registration) is
the same. With ``--data-server auto`` (the default) the node starts its backing
redis-server as its own child with PDEATHSIG, so a SIGKILL of the node takes both down.

:func:`start_gossip_node` mirrors :meth:`Lab.cluster_node`; :func:`create_gossip_cluster`
mirrors :meth:`Lab.cluster` (``redis-cli --cluster create``) with our nodes, or a mix.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from labkit.realredis.errors import TopologyError
from labkit.realredis.lab import Cluster, Lab
from labkit.realredis.ports import free_port
from labkit.realredis.process import Kind, RedisProcess
from labkit.realredis.topology import wait_until

__all__ = ["GossipNodeProcess", "create_cluster_of", "start_gossip_node"]


class GossipNodeProcess(RedisProcess):
    """One gossip_cluster node; ``nodes.conf``, its log and events live in its folder."""

    extra_args: tuple[str, ...] = ()
    node_timeout_ms: int = 15000

    @property
    def nodes_conf_path(self) -> Path:
        return self.workdir / "nodes.conf"

    @property
    def json_log_path(self) -> Path:
        return self.workdir / "gossip-events.jsonl"

    def command(self) -> list[str]:
        """This interpreter running ``python -m gossip_cluster``."""
        return [
            sys.executable,
            "-m",
            "gossip_cluster",
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            str(self.node_timeout_ms),
            "--dir",
            str(self.workdir),
            "--logfile",
            str(self.log_path),
            *self.extra_args,
        ]


def start_gossip_node(
    lab: Lab,
    name: str | None = None,
    *,
    node_timeout_ms: int = 15000,
    host: str = "127.0.0.1",
    port: int | None = None,
    args: Sequence[str] = (),
    start: bool = True,
) -> GossipNodeProcess:
    """A gossip_cluster node registered with ``lab`` (so ``lab.close()`` kills it), not yet
    part of a cluster; ``args`` are extra flags (``--cluster-replica-validity-factor 0``)."""
    count = sum(isinstance(p, GossipNodeProcess) for p in lab.processes)
    name = name or f"gossip-{count + 1}"
    if any(p.name == name for p in lab.processes):
        raise ValueError(f"a process named {name!r} already exists in this lab")
    chosen = port if port is not None else free_port(host)  # its port + 10000 is free too
    proc = GossipNodeProcess(
        name, Kind.CLUSTER_NODE, lab.base_dir / name, host, chosen, [], run_id=lab.run_id
    )
    proc.log_path = proc.workdir / "gossip.log"
    proc.node_timeout_ms = node_timeout_ms
    proc.extra_args = tuple(args)
    lab.processes.append(proc)
    if start:
        proc.start()
    return proc


def create_cluster_of(
    lab: Lab,
    nodes: Sequence[RedisProcess],
    *,
    replicas_per_master: int,
    node_timeout_ms: int,
    timeout_s: float = 30.0,
) -> tuple[Cluster, str]:
    """``redis-cli --cluster create`` over ``nodes`` (ours, real ones, or a mix); waits for
    ``cluster_state:ok`` everywhere. Returns the cluster and redis-cli's output."""
    argv = [lab.binaries.cli, "--cluster", "create", *[n.address for n in nodes]]
    argv += ["--cluster-replicas", str(replicas_per_master), "--cluster-yes"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)
    if done.returncode != 0:
        raise TopologyError(f"redis-cli --cluster create failed:\n{done.stdout}\n{done.stderr}")
    count = len(nodes)

    def healthy() -> bool:
        for node in nodes:
            with node.client() as conn:
                text = str(conn.execute_command("CLUSTER", "INFO"))
            if "cluster_state:ok" not in text or f"cluster_known_nodes:{count}" not in text:
                return False
        return True

    wait_until(
        healthy, timeout_s=timeout_s, what=f"a {count}-node cluster to reach cluster_state:ok"
    )
    masters = count // (1 + replicas_per_master)
    return Cluster(list(nodes), masters, replicas_per_master, node_timeout_ms), done.stdout
