"""The durable state: the node table as nodes.conf holds it, and back (clusterLoadConfig)."""

from __future__ import annotations

from gossip_cluster.core.context import Context
from gossip_cluster.core.table import ClusterNode, F, NodeTable
from gossip_cluster.nodes_conf import NodeLine, NodesConf
from gossip_cluster.wire.constants import NodeFlag
from gossip_cluster.wire.slots import SlotBitmap

__all__ = ["LOADED", "load_conf", "node_line", "slot_states", "to_conf"]

LOADED = -1
"""A time loaded from nodes.conf as "some time": set to now at the first step."""
_WRITTEN = F.MYSELF | F.MASTER | F.SLAVE | F.PFAIL | F.FAIL | F.HANDSHAKE | F.NOADDR | F.NOFAILOVER


def slot_states(ctx: Context) -> tuple[str, ...]:
    """Myself's open slots as clusterGenNodeDescription writes them, in slot order:
    ``[slot->-target]`` for a migrating slot, else ``[slot-<-source]`` for an importing one."""
    states = []
    for slot in sorted(ctx.migrating.keys() | ctx.importing.keys()):
        if slot in ctx.migrating:
            states.append(f"[{slot}->-{ctx.migrating[slot]}]")
        else:
            states.append(f"[{slot}-<-{ctx.importing[slot]}]")
    return tuple(states)


def node_line(table: NodeTable, node: ClusterNode, states: tuple[str, ...] = ()) -> NodeLine:
    """clusterGenNodeDescription: a replica shows its master's configEpoch."""
    epoch = node.config_epoch
    if node.is_slave and node.slaveof is not None:
        master = table.get(node.slaveof)
        if master is not None:
            epoch = master.config_epoch
    return NodeLine(
        name=node.name,
        ip=node.ip,
        port=node.port,
        cport=node.cport,
        flags=NodeFlag(node.flags & _WRITTEN),
        master=node.slaveof,
        ping_sent_ms=max(0, node.ping_sent),
        pong_received_ms=max(0, node.pong_received),
        config_epoch=epoch,
        connected=node.link_ctime is not None or bool(node.flags & F.MYSELF),
        slots=tuple(SlotBitmap(node.slots).ranges()),
        hostname=node.hostname,
        slot_states=states,
    )


def to_conf(ctx: Context, *, include_handshake: bool = False) -> NodesConf:
    """nodes.conf (handshake nodes left out, as clusterSaveConfig does) or CLUSTER NODES."""
    table = ctx.table
    mine = slot_states(ctx)
    lines = tuple(
        node_line(table, node, mine if node is table.myself else ())
        for node in table.nodes.values()
        if include_handshake or not node.in_handshake
    )
    return NodesConf(lines, ctx.current_epoch, ctx.last_vote_epoch)


def load_conf(ctx: Context, conf: NodesConf) -> None:
    """Rebuild the table from nodes.conf (the core must be fresh)."""
    mine = conf.myself
    if mine is None:
        return
    myself = ctx.myself
    myself.name = mine.name
    table = NodeTable(myself)
    ctx.table = table
    for line in conf.nodes:
        node = myself if line.name == mine.name else table.get(line.name)
        if node is None:
            node = ClusterNode(name=line.name, flags=0, ctime=LOADED)
            table.add(node)
        node.flags = int(line.flags) | (F.MYSELF if node is myself else 0)
        node.ip, node.port, node.cport, node.hostname = (
            line.ip,
            line.port,
            line.cport,
            line.hostname,
        )
        if line.master is not None:
            node.slaveof = line.master
            if table.get(line.master) is None:
                table.add(ClusterNode(name=line.master, flags=0, ctime=LOADED))
        node.ping_sent = LOADED if line.ping_sent_ms else 0
        node.pong_received = LOADED if line.pong_received_ms else 0
        if node.flags & F.FAIL:
            node.fail_time = LOADED
        is_replica = bool(node.flags & F.SLAVE) and node.slaveof is not None
        node.config_epoch = 0 if is_replica else line.config_epoch
        bits = SlotBitmap.from_ranges(line.slots).to_int()
        table.take_slots(node, bits)
        _load_slot_states(ctx, line.slot_states)
    ctx.current_epoch = max([conf.current_epoch, *(n.config_epoch for n in table.nodes.values())])
    ctx.last_vote_epoch = conf.last_vote_epoch


def _load_slot_states(ctx: Context, states: tuple[str, ...]) -> None:
    """``[slot->-id]`` / ``[slot-<-id]``: open slots (the node may not be known yet)."""
    for item in states:
        slot_text, _, rest = item[1:-1].partition("-")
        migrating = rest.startswith(">-")
        name = rest[2:]
        if ctx.table.get(name) is None:
            ctx.table.add(ClusterNode(name=name, flags=0, ctime=LOADED))
        (ctx.migrating if migrating else ctx.importing)[int(slot_text)] = name


def finish_load(ctx: Context) -> None:
    """Replace the LOADED placeholder times by the first ``now``."""
    now = ctx.now
    for node in ctx.table.nodes.values():
        if node.ping_sent == LOADED:
            node.ping_sent = now
        if node.pong_received == LOADED:
            node.pong_received = now
        if node.fail_time == LOADED:
            node.fail_time = now
        if node.ctime == LOADED:
            node.ctime = now
