"""The node's command line: ``python -m gossip_cluster`` and ``redis-lab gossip``.

Exit status: 0 after SIGTERM/SIGINT or ``SHUTDOWN``; 2 for a bad flag or an unreadable
nodes.conf (one line on stderr naming the value, no traceback); 1 when the node cannot
start or run (a port in use, a data server that does not answer).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from gossip_cluster.config import ClusterConfig, ConfigError
from gossip_cluster.dataplane import BackingServer
from gossip_cluster.driver import ConfigFileError, DriverSettings, load_nodes_conf
from gossip_cluster.errors import GossipClusterError
from labkit.errors import LabError, UsageError

__all__ = [
    "NodeOptions",
    "add_arguments",
    "build_parser",
    "main",
    "options_from_args",
    "register",
    "run",
]

PROG = "gossip_cluster"


@dataclass(frozen=True, slots=True)
class NodeOptions:
    """The checked flags of one node."""

    port: int
    cport: int
    bind: str
    config_file: Path
    node_timeout_ms: int
    data_server: str
    """"auto", "none" or HOST:PORT."""
    dir: Path
    logfile: Path | None
    announce_ip: str
    replica_validity_factor: int
    require_full_coverage: bool

    def settings(self) -> DriverSettings:
        cluster = ClusterConfig(
            node_timeout_ms=self.node_timeout_ms,
            replica_validity_factor=self.replica_validity_factor,
            require_full_coverage=self.require_full_coverage,
        )
        return DriverSettings(
            bind=self.bind,
            port=self.port,
            cport=self.cport,
            config_file=self.config_file,
            cluster=cluster,
            announce_ip=self.announce_ip,
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The node's flags (shared by ``python -m gossip_cluster`` and ``redis-lab gossip``)."""
    a = parser.add_argument
    a("--port", required=True, help="the client port (RESP)")
    a("--cluster-config-file", required=True, help="nodes.conf (relative to --dir)")
    a("--cluster-node-timeout", required=True, help="cluster-node-timeout in ms")
    a("--cluster-port", default=None, help="the cluster bus port (default: --port + 10000)")
    a("--bind", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)")
    a(
        "--data-server",
        default="auto",
        help="'auto' (start and own a redis-server), HOST:PORT of one, or 'none' (default: auto)",
    )
    a("--dir", default=".", help="working folder: nodes.conf, events, the owned redis-server")
    a("--logfile", default=None, help="Redis-format log (default: stdout)")
    a("--cluster-announce-ip", default="", help="the IP to announce on the bus (default: learn)")
    a(
        "--cluster-replica-validity-factor",
        default="10",
        help="as Redis: how stale a replica may be and still fail over (0: any; default 10)",
    )
    a("--cluster-require-full-coverage", default="yes", help="yes|no (default: yes)")


def _port(text: str, flag: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"{flag}: {text!r} is not a TCP port (1-65535)")
    return int(text)


def _ip(text: str, flag: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise UsageError(f"{flag}: {text!r} is not an IP address") from None


def options_from_args(args: argparse.Namespace) -> NodeOptions:
    """Check the parsed flags; :class:`UsageError` naming the first bad one."""
    port = _port(str(args.port), "--port")
    if args.cluster_port is None:
        if port + 10000 > 65535:
            raise UsageError(f"--port {port}: the bus port {port + 10000} is out of range")
        cport = port + 10000
    else:
        cport = _port(str(args.cluster_port), "--cluster-port")
    if cport == port:
        raise UsageError(f"--cluster-port {cport} is the client port too")
    bind = _ip(str(args.bind), "--bind")
    timeout_text = str(args.cluster_node_timeout)
    if not timeout_text.isdigit() or int(timeout_text) < 1:
        raise UsageError(f"--cluster-node-timeout: {timeout_text!r} is not a positive number of ms")
    data_server = str(args.data_server)
    if data_server not in ("auto", "none"):
        host, colon, port_text = data_server.rpartition(":")
        if not colon or not host:
            raise UsageError(f"--data-server: {data_server!r} is not auto, none or HOST:PORT")
        _port(port_text, "--data-server")
    factor = str(args.cluster_replica_validity_factor)
    if not factor.isdigit():
        raise UsageError(f"--cluster-replica-validity-factor: {factor!r} is not an integer >= 0")
    coverage = str(args.cluster_require_full_coverage).lower()
    if coverage not in ("yes", "no"):
        raise UsageError(f"--cluster-require-full-coverage: {coverage!r} is not yes or no")
    workdir = Path(args.dir)
    config_file = Path(args.cluster_config_file)
    if not str(args.cluster_config_file).strip():
        raise UsageError("--cluster-config-file is empty")
    return NodeOptions(
        port=port,
        cport=cport,
        bind=bind,
        config_file=config_file if config_file.is_absolute() else workdir / config_file,
        node_timeout_ms=int(timeout_text),
        data_server=data_server,
        dir=workdir,
        logfile=Path(args.logfile) if args.logfile else None,
        announce_ip=_ip(args.cluster_announce_ip, "--cluster-announce-ip")
        if args.cluster_announce_ip
        else "",
        replica_validity_factor=int(factor),
        require_full_coverage=coverage == "yes",
    )


def build_parser(prog: str = f"python -m {PROG}") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run one Redis Cluster node (the cluster bus in Python, data in a redis-server).",
    )
    add_arguments(parser)
    return parser


def _prepare(options: NodeOptions) -> tuple[TextIO, TextIO]:
    """Folder, nodes.conf check, log and event streams (UsageError on failure)."""
    try:
        options.dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--dir: cannot create {str(options.dir)!r}: {exc.strerror}") from None
    try:
        load_nodes_conf(options.config_file)
    except ConfigFileError as exc:
        raise UsageError(str(exc)) from None
    log_stream: TextIO = sys.stdout
    if options.logfile is not None:
        try:
            log_stream = open(options.logfile, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(
                f"--logfile: cannot open {str(options.logfile)!r}: {exc.strerror}"
            ) from None
    events = open(options.dir / "gossip-events.jsonl", "a", encoding="utf-8")  # noqa: SIM115
    return log_stream, events


def run(args: argparse.Namespace) -> int:
    """Run a node from parsed flags; returns the exit status."""
    from gossip_cluster.app import serve

    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        options = options_from_args(args)
        log_stream, events = _prepare(options)
    except (UsageError, ConfigError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    backing: BackingServer | None = None
    try:
        if options.data_server == "auto":
            backing = BackingServer.auto(options.dir, options.bind)
            backing.start()
        elif options.data_server != "none":
            backing = BackingServer.external(options.data_server)
        asyncio.run(serve(options.settings(), backing, log_stream=log_stream, events_stream=events))
    except (GossipClusterError, LabError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if backing is not None:
            backing.stop()
        events.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def register(subparsers: Any) -> None:
    """Add ``redis-lab gossip`` (for the ``redis_lab.commands`` entry point group)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "gossip",
        help="run one Redis Cluster node (Python cluster bus, data in a redis-server)",
        description="Run one Redis Cluster node, wire-compatible with Redis 7.0.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
