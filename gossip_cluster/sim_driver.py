"""The simulator's side of a gossip_cluster node: the topology, and a driver that runs
:class:`~gossip_cluster.core.ClusterCore` as a simulated host (links, wire messages, the
backing server's replication offset)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from gossip_cluster.core import ClusterCore, LinkDown, ReplicationInfo
from gossip_cluster.core.inputs import CloseLink
from gossip_cluster.nodes_conf import NodeLine, NodesConf
from gossip_cluster.wire.constants import (
    CLUSTER_SLOTS,
    EXT_HEADER_SIZE,
    FAIL_SIZE,
    FORGOTTEN_NODE_BODY,
    GOSSIP_SIZE,
    HEADER_SIZE,
    MODULE_FIXED_SIZE,
    PUBLISH_FIXED_SIZE,
    SHARD_ID_BODY_SIZE,
    UPDATE_SIZE,
    NodeFlag,
)
from gossip_cluster.wire.messages import (
    Extension,
    Fail,
    ForgottenNodeExt,
    HostnameExt,
    HumanNodenameExt,
    Meet,
    Message,
    Module,
    Ping,
    Pong,
    Publish,
    PublishShard,
    ShardIdExt,
    UnknownMessage,
    Update,
)
from labkit.actions import Action, Send
from labkit.core import Input, Received
from labkit.sim.world import Simulator

F = NodeFlag


@dataclass(frozen=True, slots=True)
class SimReply:
    """A frame written back on the inbound link it answers (it arrives on the peer's
    outbound link); the simulator's network has no connections, so the adapter says so."""

    message: Message


# -- sizes on the wire -------------------------------------------------------------------------
def _text_size(value: str) -> int:
    raw = len(value.encode("utf-8", "surrogateescape"))
    return raw + 8 - raw % 8  # NUL-terminated, padded to 8


def extension_size(ext: Extension) -> int:
    """Bytes of one ping extension on the wire (its 8-byte header and padded body)."""
    match ext:
        case HostnameExt(hostname):
            body = _text_size(hostname)
        case HumanNodenameExt(human_nodename):
            body = _text_size(human_nodename)
        case ForgottenNodeExt():
            body = FORGOTTEN_NODE_BODY.size
        case ShardIdExt():
            body = SHARD_ID_BODY_SIZE
        case _:
            body = len(ext.body)
    return EXT_HEADER_SIZE + body


def wire_size(message: object) -> int:
    """``len(encode(message))`` from the codec's constants, without encoding (the
    simulator passes messages as objects); a :class:`SimReply` counts as its message."""
    if isinstance(message, SimReply):
        message = message.message
    match message:
        case Ping() | Pong() | Meet():
            extensions = sum(extension_size(e) for e in message.extensions)
            return HEADER_SIZE + GOSSIP_SIZE * len(message.gossip) + extensions
        case Fail():
            return FAIL_SIZE
        case Update():
            return UPDATE_SIZE
        case Publish() | PublishShard():
            return HEADER_SIZE + PUBLISH_FIXED_SIZE + len(message.channel) + len(message.message)
        case Module():
            return HEADER_SIZE + MODULE_FIXED_SIZE + len(message.payload)
        case UnknownMessage():
            return HEADER_SIZE + len(message.payload)
    return HEADER_SIZE


# -- topology ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Topology:
    """Endpoints (``ip:cport``), node names and the initial nodes.conf of each node."""

    endpoints: tuple[str, ...]
    names: tuple[str, ...]
    masters: tuple[str, ...]
    """Endpoints of the initial masters."""
    confs: tuple[NodesConf, ...]

    def name_of(self, endpoint: str) -> str:
        return self.names[self.endpoints.index(endpoint)]

    def endpoint_of(self, name: str) -> str:
        return self.endpoints[self.names.index(name)]


def build_topology(rng: random.Random, masters: int, replicas: Sequence[int]) -> Topology:
    """A formed cluster: ``masters`` split the slots evenly; master i has replicas[i]."""
    lines: list[NodeLine] = []
    endpoints: list[str] = []
    master_eps: list[str] = []
    count = 0

    def make(
        flags: NodeFlag, master: str | None, epoch: int, slots: tuple[tuple[int, int], ...]
    ) -> str:
        nonlocal count
        ip = f"10.0.{count // 200}.{count % 200 + 1}"
        count += 1
        name = f"{rng.getrandbits(160):040x}"
        lines.append(NodeLine(name, ip, 6379, 16379, flags, master, 0, 0, epoch, True, slots))
        endpoints.append(f"{ip}:16379")
        return name

    for i in range(masters):
        first, last = i * CLUSTER_SLOTS // masters, (i + 1) * CLUSTER_SLOTS // masters - 1
        name = make(F.MASTER, None, i + 1, ((first, last),))
        master_eps.append(endpoints[-1])
        for _ in range(replicas[i]):
            make(F.SLAVE, name, i + 1, ())
    confs = []
    for line in lines:
        nodes = tuple(replace(n, flags=n.flags | F.MYSELF) if n is line else n for n in lines)
        confs.append(NodesConf(nodes, masters, 0))
    return Topology(
        tuple(endpoints), tuple(line.name for line in lines), tuple(master_eps), tuple(confs)
    )


# -- the simulator's driver ------------------------------------------------------------------
class SimWire:
    """What TCP would tell the nodes: frames into a cut or to a dead node break links."""

    def __init__(self) -> None:
        self.sim: Simulator | None = None
        self.pending: dict[str, list[LinkDown]] = {}
        self.offsets: dict[str, int] = {}
        self.since: dict[str, int] = {}
        self.count_bytes = False
        """When set, :attr:`bytes_sent` and :attr:`messages_sent` count every frame sent."""
        self.bytes_sent = 0
        self.messages_sent = 0

    def dead_end(self, src: str, dst: str) -> bool:
        assert self.sim is not None
        node = self.sim.nodes.get(dst)
        return node is None or not node.up or self.sim.network.blocked(src, dst)

    def replication(self, endpoint: str, core: ClusterCore, now_ms: int) -> ReplicationInfo:
        """A master's offset grows; a connected replica copies its master's."""
        me = core.myself
        if me.is_master:
            self.offsets[endpoint] = self.offsets.get(endpoint, 0) + 100
            return ReplicationInfo(self.offsets[endpoint], True, now_ms)
        master = core.table.master_of(me)
        source = master.address if master is not None else ""
        up = (
            bool(source)
            and not self.dead_end(source, endpoint)
            and not self.dead_end(endpoint, source)
        )
        if up:
            self.offsets[endpoint] = self.offsets.get(source, 0)
            self.since[endpoint] = now_ms
        return ReplicationInfo(self.offsets.get(endpoint, 0), up, self.since.get(endpoint, 0))


class SimClusterNode:
    """The simulator's driver for one core (the asyncio driver's twin)."""

    def __init__(self, endpoint: str, core: ClusterCore, wire: SimWire) -> None:
        self.endpoint = endpoint
        self.ip = endpoint.rpartition(":")[0]
        self.core = core
        self.wire = wire

    def step(self, event: Input, now_ms: int) -> list[Action]:
        actions = self._drain(now_ms)
        if isinstance(event, Received):
            message = event.message
            if isinstance(message, SimReply):
                event = Received(event.sender, message.message)
            else:
                event = Received(f"in:{event.sender}@{self.ip}", message)
        actions += self.core.step(event, now_ms)
        return self._out(actions)

    def tick(self, now_ms: int) -> list[Action]:
        actions = self._drain(now_ms)
        actions += self.core.step(self.wire.replication(self.endpoint, self.core, now_ms), now_ms)
        actions += self.core.tick(now_ms)
        return self._out(actions)

    def durable_state(self) -> Sequence[object]:
        return self.core.durable_state()

    def restore(self, durable_state: Sequence[object]) -> None:
        self.core.restore(durable_state)

    def _drain(self, now_ms: int) -> list[Action]:
        actions: list[Action] = []
        for down in self.wire.pending.pop(self.endpoint, []):
            actions += self.core.step(down, now_ms)
        return actions

    def _out(self, actions: list[Action]) -> list[Action]:
        out: list[Action] = []
        wire = self.wire
        for action in actions:
            if not isinstance(action, Send):
                out.append(action)
                continue
            if isinstance(action.message, CloseLink):
                continue
            if wire.count_bytes:
                wire.bytes_sent += wire_size(action.message)
                wire.messages_sent += 1
            to = action.to
            if to.startswith("in:"):
                peer = to[3:].partition("@")[0]
                if wire.dead_end(self.endpoint, peer):
                    wire.pending.setdefault(peer, []).append(LinkDown(self.endpoint))
                out.append(Send(peer, SimReply(action.message)))  # type: ignore[arg-type]
            else:
                if wire.dead_end(self.endpoint, to):
                    wire.pending.setdefault(self.endpoint, []).append(LinkDown(to))
                out.append(action)
        return out


def node_core(sim: Simulator, endpoint: str) -> ClusterCore | None:
    host = sim.nodes[endpoint].core
    return host.core if isinstance(host, SimClusterNode) else None
