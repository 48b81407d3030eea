"""The durable state: the node table as nodes.conf holds it, and back (clusterLoadConfig)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from gossip_cluster.core.context import Context
from gossip_cluster.core.table import ClusterNode, F, NodeTable, wire_flags
from gossip_cluster.nodes_conf import NodeLine, NodesConf
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
    return _line(node, _shown_epoch(table, node), states)


def _shown_epoch(table: NodeTable, node: ClusterNode) -> int:
    if node.flags & F.SLAVE and node.slaveof is not None:
        master = table.nodes.get(node.slaveof)
        if master is not None:
            return master.config_epoch
    return node.config_epoch


def _line(node: ClusterNode, epoch: int, states: tuple[str, ...]) -> NodeLine:
    return NodeLine(
        name=node.name,
        ip=node.ip,
        port=node.port,
        cport=node.cport,
        flags=wire_flags(node.flags & _WRITTEN),
        master=node.slaveof,
        ping_sent_ms=max(0, node.ping_sent),
        pong_received_ms=max(0, node.pong_received),
        config_epoch=epoch,
        connected=node.link_ctime is not None or bool(node.flags & F.MYSELF),
        slots=_ranges(node.slots),
        hostname=node.hostname,
        slot_states=states,
    )


@functools.lru_cache(maxsize=4096)
def _ranges(slots: int) -> tuple[tuple[int, int], ...]:
    return tuple(SlotBitmap(slots).ranges())


@dataclass(slots=True)
class _Lines:
    """The nodes.conf lines of a table, in table order (handshake nodes too)."""

    names: list[str]
    """The :meth:`NodeTable.names` list they were built for (a new one: rebuild)."""
    lines: list[NodeLine]
    epochs: list[int]
    """Each node's own configEpoch when its line was built (its replicas show it)."""
    index: dict[str, int]
    handshakes: int
    """Lines of nodes in handshake, which nodes.conf leaves out."""


def to_conf(ctx: Context, *, include_handshake: bool = False) -> NodesConf:
    """nodes.conf (handshake nodes left out, as clusterSaveConfig does) or CLUSTER NODES.

    A large cluster saves once per replica it first hears from (its configEpoch), as
    Redis does, so a save must not rebuild N lines: the lines are kept between saves and
    only those of nodes that changed since (:attr:`NodeTable.changed`) are rebuilt, plus
    the replicas of a node whose configEpoch changed, plus myself's (its open slots).
    """
    table = ctx.table
    if include_handshake:
        states = slot_states(ctx)
        lines = tuple(node_line(table, n, states if n is table.myself else ()) for n in table)
        return NodesConf(lines, ctx.current_epoch, ctx.last_vote_epoch)
    names = table.names()
    cache: _Lines | None = table.conf_cache
    if cache is None or cache.names is not names:
        cache = table.conf_cache = _build(table, names)
    elif table.changed:
        _refresh(table, cache)
    table.changed.clear()
    myself = table.myself
    cache.lines[cache.index[myself.name]] = node_line(table, myself, slot_states(ctx))
    if cache.handshakes:
        kept = tuple(line for line in cache.lines if not line.flags & F.HANDSHAKE)
    else:
        kept = tuple(cache.lines)
    return NodesConf(kept, ctx.current_epoch, ctx.last_vote_epoch)


def _build(table: NodeTable, names: list[str]) -> _Lines:
    nodes = table.nodes
    cache = _Lines(names, [], [], {}, 0)
    for i, name in enumerate(names):
        node = nodes[name]
        line = node.conf_line = node_line(table, node)
        cache.lines.append(line)
        cache.epochs.append(node.config_epoch)
        cache.index[name] = i
        if node.flags & F.HANDSHAKE:
            cache.handshakes += 1
    return cache


def _refresh(table: NodeTable, cache: _Lines) -> None:
    """Rebuild the lines of the changed nodes, and of the replicas of those whose
    configEpoch changed."""
    epoch_changed: set[str] = set()
    nodes = table.nodes
    for node in table.changed:
        if nodes.get(node.name) is not node:
            continue  # no longer in the table (then the names changed too)
        i = cache.index[node.name]
        _replace(table, cache, i, node)
        if cache.epochs[i] != node.config_epoch:
            cache.epochs[i] = node.config_epoch
            epoch_changed.add(node.name)
    if epoch_changed:
        for i, node in enumerate(nodes.values()):
            if node.slaveof in epoch_changed and node.flags & F.SLAVE:
                _replace(table, cache, i, node)


def _replace(table: NodeTable, cache: _Lines, i: int, node: ClusterNode) -> None:
    line = node.conf_line = node_line(table, node)
    was = cache.lines[i].flags & F.HANDSHAKE
    cache.handshakes += bool(line.flags & F.HANDSHAKE) - bool(was)
    cache.lines[i] = line


def load_conf(ctx: Context, conf: NodesConf) -> None:
    """Rebuild the table from nodes.conf (the core must be fresh)."""
    mine = conf.myself
    if mine is None:
        return
    myself = ctx.myself
    myself.name = mine.name
    table = NodeTable(myself)
    ctx.table = table
    held = myself.slots
    # held: every slot that some node of the table holds
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
        if bits & held:  # a slot listed twice: the later line takes it
            table.take_slots(node, bits)
        else:  # the usual case, without a walk over the nodes loaded so far
            node.slots |= bits
        held |= bits
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
