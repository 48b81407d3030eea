"""A node's command-line settings, checked, with errors that name the bad value."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from labkit.errors import UsageError
from redis_raft.storage import FSYNC_POLICIES

__all__ = [
    "FOLLOWER_MODES",
    "READ_MODES",
    "NodeOptions",
    "add_arguments",
    "options_from_args",
    "parse_peers",
]

FOLLOWER_MODES = ("proxy", "moved")
READ_MODES = ("readindex", "lease")


@dataclass(frozen=True, slots=True)
class NodeOptions:
    """Everything a node needs to start; times in ms unless named otherwise."""

    node_id: str
    port: int
    peers: dict[str, tuple[str, int]]
    dir: Path
    bind: str = "127.0.0.1"
    data_server: str = "auto"
    min_replicas_to_write: int = 0
    min_replicas_max_lag_s: int = 10
    fsync: str = "always"
    follower_mode: str = "proxy"
    read_mode: str = "readindex"  # "lease": reads on the leader lease (needs check-quorum)
    requirepass: str | None = None
    cluster_id: str = ""
    election_timeout_ms: int = 1000  # RedisRaft's election-timeout
    heartbeat_ms: int = 200  # RedisRaft's request-timeout
    request_timeout_ms: int = 5000  # a client request with no outcome by then: -TIMEOUT
    snapshot_every: int = 10_000  # applied entries between snapshots (0: never)
    tick_ms: int = 20
    logfile: Path | None = None
    join: bool = False  # a new member: no bootstrap membership, the leader adds it
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def voters(self) -> list[str]:
        """The bootstrap voters: every ``--peers`` id, or none for a joining node."""
        return [] if self.join else sorted(self.peers)

    def address_of(self, node: str) -> str:
        host, port = self.peers[node]
        return f"{host}:{port}"


def _port(text: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"{what}: {text!r} is not a TCP port (1-65535)")
    return int(text)


def parse_peers(text: str) -> dict[str, tuple[str, int]]:
    """``1=HOST:PORT,2=HOST:PORT,...`` -> ``{"1": (host, port), ...}``."""
    peers: dict[str, tuple[str, int]] = {}
    seen: dict[tuple[str, int], str] = {}
    if not text.strip():
        raise UsageError("--peers is empty; expected ID=HOST:PORT,ID=HOST:PORT,...")
    for raw in text.split(","):
        item = raw.strip()
        node, eq, address = item.partition("=")
        host, colon, port_text = address.rpartition(":")
        if not eq or not colon or not node or not host:
            raise UsageError(f"--peers: {item!r} is not ID=HOST:PORT")
        if not node.replace("-", "").replace("_", "").isalnum():
            raise UsageError(f"--peers: node id {node!r} must be letters, digits, '-' or '_'")
        port = _port(port_text, f"--peers entry {item!r}")
        if node in peers:
            raise UsageError(f"--peers: node id {node!r} appears twice")
        if (host, port) in seen:
            raise UsageError(
                f"--peers: {host}:{port} is given for both {seen[(host, port)]!r} and {node!r}"
            )
        peers[node] = (host, port)
        seen[(host, port)] = node
    return peers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The node's flags (shared by ``python -m redis_raft`` and ``redis-lab raft``)."""
    a = parser.add_argument
    a("--id", required=True, help="this node's id, as named in --peers")
    a("--port", required=True, help="the RESP port for clients and peers")
    a("--peers", required=True, help="every voter: ID=HOST:PORT,ID=HOST:PORT,...")
    a("--dir", required=True, help="the data folder (write-ahead log, backing server)")
    a(
        "--data-server",
        "--redis-server",
        dest="data_server",
        default="auto",
        help="'auto' (start and own a redis-server) or HOST:PORT of one (default: auto)",
    )
    a("--bind", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    a("--requirepass", default=None, help="password for clients and peers")
    a("--min-replicas-to-write", default="0", help="Redis's write guard (default: 0, off)")
    a("--min-replicas-max-lag", default="10", help="seconds (default: 10)")
    a("--fsync", default="always", help=f"log fsync policy: {'|'.join(FSYNC_POLICIES)}")
    a("--follower-mode", default="proxy", help="proxy (default) or moved")
    a(
        "--read-mode",
        default="readindex",
        help="readindex (default: a heartbeat round confirms leadership per read batch) or "
        "lease (opt-in: reads on the leader's lease, guarded by check-quorum; trusts clocks)",
    )
    a("--cluster-id", default="", help="cluster name stored in the log (default: from the ids)")
    a("--election-timeout", default="1000", help="ms (default: 1000, as RedisRaft)")
    a("--heartbeat", default="200", help="ms (default: 200, RedisRaft's request-timeout)")
    a("--request-timeout", default="5000", help="ms before a client gets -TIMEOUT")
    a("--snapshot-every", default="10000", help="applied entries between snapshots (0: off)")
    a("--logfile", default=None, help="Redis-format log (default: stdout)")
    a(
        "--join",
        action="store_true",
        help="start as a new member with no membership; a leader adds it with RAFT.NODE ADD "
        "(--peers names this node and at least one member to reach)",
    )


def _int(text: str, what: str, low: int = 0) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not an integer") from None
    if value < low:
        raise UsageError(f"{what}: {value} must be >= {low}")
    return value


def options_from_args(args: argparse.Namespace) -> NodeOptions:
    """Check the parsed flags; :class:`UsageError` naming the first bad one."""
    peers = parse_peers(args.peers)
    node_id = str(args.id)
    port = _port(str(args.port), "--port")
    if node_id not in peers:
        raise UsageError(f"--id {node_id!r} is not in --peers ({', '.join(sorted(peers))})")
    if peers[node_id][1] != port:
        raise UsageError(
            f"--peers gives node {node_id!r} port {peers[node_id][1]}, but --port is {port}"
        )
    if args.fsync not in FSYNC_POLICIES:
        raise UsageError(f"--fsync: {args.fsync!r} is not one of {', '.join(FSYNC_POLICIES)}")
    if args.follower_mode not in FOLLOWER_MODES:
        raise UsageError(f"--follower-mode: {args.follower_mode!r} is not proxy or moved")
    if args.read_mode not in READ_MODES:
        raise UsageError(f"--read-mode: {args.read_mode!r} is not readindex or lease")
    data_server = str(args.data_server)
    if data_server != "auto":
        host, colon, port_text = data_server.rpartition(":")
        if not colon or not host:
            raise UsageError(f"--data-server: {data_server!r} is not 'auto' or HOST:PORT")
        _port(port_text, "--data-server")
    election = _int(args.election_timeout, "--election-timeout", 10)
    heartbeat = _int(args.heartbeat, "--heartbeat", 1)
    if heartbeat >= election:
        raise UsageError(f"--heartbeat ({heartbeat}) must be below --election-timeout ({election})")
    return NodeOptions(
        node_id=node_id,
        port=port,
        peers=peers,
        dir=Path(args.dir),
        bind=args.bind,
        data_server=data_server,
        min_replicas_to_write=_int(args.min_replicas_to_write, "--min-replicas-to-write"),
        min_replicas_max_lag_s=_int(args.min_replicas_max_lag, "--min-replicas-max-lag"),
        fsync=args.fsync,
        follower_mode=args.follower_mode,
        read_mode=args.read_mode,
        requirepass=args.requirepass or None,
        cluster_id=args.cluster_id or "raft-" + ",".join(sorted(peers)),
        election_timeout_ms=election,
        heartbeat_ms=heartbeat,
        request_timeout_ms=_int(args.request_timeout, "--request-timeout", 1),
        snapshot_every=_int(args.snapshot_every, "--snapshot-every"),
        logfile=Path(args.logfile) if args.logfile else None,
        join=bool(getattr(args, "join", False)),
    )
