"""``nodes.conf`` in Redis 7.0's format: render and parse, as pure string functions.

One line per node (the same line ``CLUSTER NODES`` prints)::

    <id> <ip>:<port>@<cport>[,<hostname>] <flags> <master|-> <ping_sent> <pong_recv>
    <config_epoch> <connected|disconnected> <slot|first-last|[slot->-id]|[slot-<-id]> ...

and the ``vars currentEpoch N lastVoteEpoch M`` line that only the file has. Flags are
written in Redis's order (``myself,master,slave,fail?,fail,handshake,noaddr,nofailover``,
or ``noflags``). A replica's line carries its master's configEpoch, as Redis writes it.
Parsing follows clusterLoadConfig: blank lines are skipped, ``vars`` may appear anywhere,
a missing ``@cport`` means port + 10000, unknown ``vars`` are ignored, anything else
malformed raises :class:`NodesConfError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gossip_cluster.errors import GossipClusterError
from gossip_cluster.wire.constants import CLUSTER_SLOTS, NodeFlag

__all__ = [
    "FLAG_NAMES",
    "NodeLine",
    "NodesConf",
    "NodesConfError",
    "parse_flags",
    "parse_line",
    "parse_nodes_conf",
    "render_flags",
    "render_line",
    "render_nodes_conf",
]

CLUSTER_PORT_INCR = 10_000

FLAG_NAMES: tuple[tuple[NodeFlag, str], ...] = (
    (NodeFlag.MYSELF, "myself"),
    (NodeFlag.MASTER, "master"),
    (NodeFlag.SLAVE, "slave"),
    (NodeFlag.PFAIL, "fail?"),
    (NodeFlag.FAIL, "fail"),
    (NodeFlag.HANDSHAKE, "handshake"),
    (NodeFlag.NOADDR, "noaddr"),
    (NodeFlag.NOFAILOVER, "nofailover"),
)
"""Flags in the order Redis writes them; MEET and MIGRATE_TO are never written."""

_BY_NAME = {name: flag for flag, name in FLAG_NAMES}


class NodesConfError(GossipClusterError, ValueError):
    """A nodes.conf text Redis would refuse ("corrupted cluster config file")."""


@dataclass(frozen=True, slots=True)
class NodeLine:
    """One node line of nodes.conf / CLUSTER NODES."""

    name: str
    ip: str
    port: int
    cport: int
    flags: NodeFlag
    master: str | None = None
    ping_sent_ms: int = 0
    pong_received_ms: int = 0
    config_epoch: int = 0
    connected: bool = True
    slots: tuple[tuple[int, int], ...] = ()
    """Inclusive ranges, in order."""
    hostname: str = ""
    slot_states: tuple[str, ...] = ()
    """Migrating/importing entries (``[5->-id]``, ``[5-<-id]``), kept verbatim."""


@dataclass(frozen=True, slots=True)
class NodesConf:
    """A whole nodes.conf: the node lines and the ``vars`` line."""

    nodes: tuple[NodeLine, ...]
    current_epoch: int = 0
    last_vote_epoch: int = 0

    @property
    def myself(self) -> NodeLine | None:
        """The line flagged ``myself``."""
        return next((n for n in self.nodes if n.flags & NodeFlag.MYSELF), None)


def render_flags(flags: NodeFlag) -> str:
    """Redis's comma-separated flag list (``noflags`` when none is written)."""
    names = [name for flag, name in FLAG_NAMES if flags & flag]
    return ",".join(names) if names else "noflags"


def parse_flags(text: str) -> NodeFlag:
    """The flags of a comma-separated list; an unknown name raises NodesConfError."""
    flags = NodeFlag(0)
    for name in text.split(","):
        lowered = name.lower()
        if lowered == "noflags":
            continue
        if lowered not in _BY_NAME:
            raise NodesConfError(f"unknown flag {name!r}")
        flags |= _BY_NAME[lowered]
    return flags


def render_line(node: NodeLine) -> str:
    """One line, without the newline (the CLUSTER NODES format)."""
    address = f"{node.ip}:{node.port}@{node.cport}"
    if node.hostname:
        address += f",{node.hostname}"
    parts = [
        node.name,
        address,
        render_flags(node.flags),
        node.master or "-",
        str(node.ping_sent_ms),
        str(node.pong_received_ms),
        str(node.config_epoch),
        "connected" if node.connected else "disconnected",
    ]
    parts += [str(a) if a == b else f"{a}-{b}" for a, b in node.slots]
    parts += list(node.slot_states)
    return " ".join(parts)


def render_nodes_conf(conf: NodesConf) -> str:
    """The whole file: node lines, then ``vars``, each ending in a newline."""
    lines = [render_line(node) for node in conf.nodes]
    lines.append(f"vars currentEpoch {conf.current_epoch} lastVoteEpoch {conf.last_vote_epoch}")
    return "\n".join(lines) + "\n"


def _node_id(text: str) -> str:
    if len(text) != 40 or not all("a" <= c <= "z" or "0" <= c <= "9" for c in text):
        raise NodesConfError(f"bad node id {text!r}")
    return text


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise NodesConfError(f"bad {what} {text!r}") from None


def _slot(text: str) -> int:
    slot = _int(text, "slot")
    if not 0 <= slot < CLUSTER_SLOTS:
        raise NodesConfError(f"slot {slot} out of range")
    return slot


def parse_line(text: str) -> NodeLine:
    """One node line (CLUSTER NODES output or nodes.conf)."""
    argv = text.split()
    if len(argv) < 8:
        raise NodesConfError(f"a node line has at least 8 fields, got {len(argv)}: {text!r}")
    name = _node_id(argv[0])
    address, _, hostname = argv[1].partition(",")
    host, sep, ports = address.rpartition(":")
    if not sep:
        raise NodesConfError(f"bad address {argv[1]!r}")
    port_text, at, cport_text = ports.partition("@")
    port = _int(port_text, "port")
    cport = _int(cport_text, "bus port") if at else port + CLUSTER_PORT_INCR
    master = None if argv[3].startswith("-") else _node_id(argv[3])
    ranges: list[tuple[int, int]] = []
    states: list[str] = []
    for item in argv[8:]:
        if item.startswith("["):
            if not item.endswith("]") or ("->-" not in item and "-<-" not in item):
                raise NodesConfError(f"bad slot state {item!r}")
            _slot(item[1:].split("-", 1)[0])
            _node_id(item[item.index("-") + 3 : -1])
            states.append(item)
            continue
        first, dash, last = item.partition("-")
        start, stop = _slot(first), (_slot(last) if dash else _slot(first))
        if start <= stop:
            ranges.append((start, stop))
    return NodeLine(
        name=name,
        ip=host,
        port=port,
        cport=cport,
        flags=parse_flags(argv[2]),
        master=master,
        ping_sent_ms=_int(argv[4], "ping_sent"),
        pong_received_ms=_int(argv[5], "pong_received"),
        config_epoch=_int(argv[6], "config epoch"),
        connected=argv[7] == "connected",
        slots=tuple(ranges),
        hostname=hostname,
        slot_states=tuple(states),
    )


def parse_nodes_conf(text: str) -> NodesConf:
    """A whole nodes.conf; exactly one line must be flagged ``myself``."""
    nodes: list[NodeLine] = []
    current_epoch = last_vote_epoch = 0
    for raw in text.splitlines():
        if not raw.strip():
            continue
        argv = raw.split()
        if argv[0].lower() == "vars":
            if len(argv) % 2 == 0:
                raise NodesConfError(f"odd vars line {raw!r}")
            for key, value in zip(argv[1::2], argv[2::2], strict=True):
                if key.lower() == "currentepoch":
                    current_epoch = _int(value, "currentEpoch")
                elif key.lower() == "lastvoteepoch":
                    last_vote_epoch = _int(value, "lastVoteEpoch")
            continue
        nodes.append(parse_line(raw))
    if sum(1 for n in nodes if n.flags & NodeFlag.MYSELF) != 1:
        raise NodesConfError("nodes.conf must flag exactly one node as myself")
    return NodesConf(tuple(nodes), current_epoch, last_vote_epoch)
