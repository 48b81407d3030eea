"""The node table: every node this node knows, myself included, keyed by its 40-char name.

Slots are kept as integer bitmaps (bit ``s`` = slot ``s``) on each node; a slot's owner
is the one master whose bitmap holds it (clusterAddSlot/clusterDelSlot keep that true).
Times are the core's ``now_ms``; 0 means "never".

Two caches keep a large cluster's per-message work at Redis's O(gossip entries): a node
remembers its nodes.conf line and its gossip entry, and forgets both whenever one of
the fields they are made of is assigned (:meth:`ClusterNode.__setattr__`); the table
keeps the list of node names that random picks choose from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gossip_cluster.core.inputs import outbound_link
from gossip_cluster.wire.constants import NodeFlag

__all__ = ["ClusterNode", "F", "NodeTable", "wire_flags"]

_CACHED_FROM = frozenset(
    {
        "name",
        "ip",
        "port",
        "cport",
        "pport",
        "hostname",
        "flags",
        "slaveof",
        "ping_sent",
        "pong_received",
        "config_epoch",
        "link_ctime",
        "slots",
    }
)
"""The fields a node's nodes.conf line and gossip entry are made of."""
_set = object.__setattr__


class F:
    """``CLUSTER_NODE_*`` as plain ints: node flags are ints inside the core (IntFlag
    arithmetic is slow in the gossip loops); they become :class:`NodeFlag` on the wire."""

    MASTER = int(NodeFlag.MASTER)
    SLAVE = int(NodeFlag.SLAVE)
    PFAIL = int(NodeFlag.PFAIL)
    FAIL = int(NodeFlag.FAIL)
    MYSELF = int(NodeFlag.MYSELF)
    HANDSHAKE = int(NodeFlag.HANDSHAKE)
    NOADDR = int(NodeFlag.NOADDR)
    MEET = int(NodeFlag.MEET)
    MIGRATE_TO = int(NodeFlag.MIGRATE_TO)
    NOFAILOVER = int(NodeFlag.NOFAILOVER)


def wire_flags(flags: int) -> NodeFlag:
    """``NodeFlag(flags)``, memoised (building an IntFlag is slow and the values are few)."""
    flag = _WIRE_FLAGS.get(flags)
    if flag is None:
        flag = _WIRE_FLAGS[flags] = NodeFlag(flags)
    return flag


_WIRE_FLAGS: dict[int, NodeFlag] = {}


@dataclass(slots=True)
class ClusterNode:
    """One known node (``clusterNode``)."""

    name: str
    flags: int
    """``CLUSTER_NODE_*`` bits (see :class:`F`)."""
    ctime: int = 0
    ip: str = ""
    port: int = 0
    cport: int = 0
    pport: int = 0
    hostname: str = ""
    slaveof: str | None = None
    config_epoch: int = 0
    slots: int = 0
    repl_offset: int = 0
    repl_offset_time: int = 0
    ping_sent: int = 0
    pong_received: int = 0
    data_received: int = 0
    fail_time: int = 0
    voted_time: int | None = None
    fail_reports: dict[str, int] = field(default_factory=dict)
    """Reporting master's name -> time of its last report, oldest first."""
    link_ctime: int | None = None
    """When the outbound link was created; None when there is none."""
    link_address: str = ""
    """The address the outbound link dialled."""
    inbound_link: str | None = None
    conf_line: Any = field(default=None, repr=False, compare=False)
    """The cached nodes.conf line (``persist``), None when a field changed since."""
    gossip: Any = field(default=None, repr=False, compare=False)
    """The cached gossip entry (``gossip.gossip_entry``), None when a field changed since."""
    changed: list[ClusterNode] | None = field(default=None, repr=False, compare=False)
    """The table's :attr:`NodeTable.changed` list: the node joins it when its cached
    nodes.conf line goes stale."""

    def __new__(cls, *args: object, **kwargs: object) -> ClusterNode:
        # The caches exist before __init__ assigns the first field (see __setattr__).
        node = object.__new__(cls)
        _set(node, "conf_line", None)
        _set(node, "gossip", None)
        _set(node, "changed", None)
        return node

    def __setattr__(self, name: str, value: object) -> None:
        _set(self, name, value)
        if name in _CACHED_FROM:
            _set(self, "gossip", None)
            if self.conf_line is not None:
                _set(self, "conf_line", None)
                if self.changed is not None:
                    self.changed.append(self)

    @property
    def is_master(self) -> bool:
        return bool(self.flags & F.MASTER)

    @property
    def is_slave(self) -> bool:
        return bool(self.flags & F.SLAVE)

    @property
    def in_handshake(self) -> bool:
        return bool(self.flags & F.HANDSHAKE)

    @property
    def pfail(self) -> bool:
        return bool(self.flags & F.PFAIL)

    @property
    def failed(self) -> bool:
        return bool(self.flags & F.FAIL)

    @property
    def numslots(self) -> int:
        return self.slots.bit_count()

    @property
    def has_link(self) -> bool:
        return self.link_ctime is not None

    @property
    def address(self) -> str:
        """The outbound link name for the node's current address."""
        return outbound_link(self.ip, self.cport)


class NodeTable:
    """The nodes dict plus the reverse map from outbound link names to nodes."""

    def __init__(self, myself: ClusterNode) -> None:
        self.nodes: dict[str, ClusterNode] = {myself.name: myself}
        self.myself = myself
        self._names: list[str] | None = None
        self.changed: list[ClusterNode] = []
        """Nodes whose cached nodes.conf line went stale since the last save."""
        self.conf_cache: Any = None
        """``persist``'s cached nodes.conf lines, valid while :meth:`names` is unchanged."""
        myself.changed = self.changed
        self.links: dict[str, str] = {}
        """Outbound link name -> the node that owns it."""
        self.owner_not_claiming = 0
        """Slots whose owner stopped claiming them (not yet given to anyone else)."""

    def __iter__(self) -> Iterator[ClusterNode]:
        return iter(list(self.nodes.values()))

    def __len__(self) -> int:
        return len(self.nodes)

    def get(self, name: str) -> ClusterNode | None:
        """clusterLookupNode: None for unknown (or malformed) names."""
        return self.nodes.get(name)

    def names(self) -> list[str]:
        """The node names in table order (cached until the table changes; do not modify)."""
        names = self._names
        if names is None:
            names = self._names = list(self.nodes)
        return names

    def add(self, node: ClusterNode) -> None:
        self.nodes[node.name] = node
        self._names = None
        node.changed = self.changed

    def rename(self, node: ClusterNode, new_name: str) -> None:
        """clusterRenameNode: the handshake's random name becomes the real one."""
        del self.nodes[node.name]
        node.name = new_name
        self.nodes[new_name] = node
        self._names = None
        if node.has_link:
            self.links[node.link_address] = new_name

    def delete(self, victim: ClusterNode) -> None:
        """clusterDelNode: free its slots, its reports about others, its links, its replicas."""
        victim.slots = 0
        for node in self.nodes.values():
            if node is not victim:
                node.fail_reports.pop(victim.name, None)
            if node.slaveof == victim.name:
                node.slaveof = None
        self.free_link(victim)
        del self.nodes[victim.name]
        self._names = None

    # -- links ------------------------------------------------------------------------------
    def create_link(self, node: ClusterNode, now_ms: int) -> str:
        """Make an outbound link to the node's address; returns the link name."""
        address = node.address
        node.link_ctime = now_ms
        node.link_address = address
        self.links[address] = node.name
        return address

    def free_link(self, node: ClusterNode) -> str | None:
        """Forget the node's outbound link; returns its name (for CloseLink) if it had one."""
        if node.link_ctime is None:
            return None
        address = node.link_address
        node.link_ctime = None
        node.link_address = ""
        if self.links.get(address) == node.name:
            del self.links[address]
        return address

    def link_owner(self, link: str) -> ClusterNode | None:
        """The node whose outbound link is ``link``."""
        name = self.links.get(link)
        return None if name is None else self.nodes.get(name)

    # -- roles and slots --------------------------------------------------------------------
    def slaves_of(self, master: str) -> list[ClusterNode]:
        """Replicas of ``master`` in table order."""
        return [n for n in self.nodes.values() if n.is_slave and n.slaveof == master]

    def master_of(self, node: ClusterNode) -> ClusterNode | None:
        return None if node.slaveof is None else self.nodes.get(node.slaveof)

    def size(self) -> int:
        """The cluster size: masters serving at least one slot."""
        return sum(1 for n in self.nodes.values() if n.is_master and n.slots)

    def slot_masters(self) -> list[ClusterNode]:
        """Masters serving at least one slot."""
        return [n for n in self.nodes.values() if n.is_master and n.slots]

    def assigned(self) -> int:
        """Bitmap of every slot that has an owner."""
        bits = 0
        for node in self.nodes.values():
            bits |= node.slots
        return bits

    def owner(self, slot: int) -> ClusterNode | None:
        bit = 1 << slot
        return next((n for n in self.nodes.values() if n.slots & bit), None)

    def take_slots(self, node: ClusterNode, bits: int) -> None:
        """clusterDelSlot + clusterAddSlot for each slot in ``bits``: ``node`` owns them now."""
        if not bits:
            return
        for other in self.nodes.values():
            if other is not node and other.slots & bits:
                other.slots &= ~bits
        node.slots |= bits
