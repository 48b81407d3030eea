"""PING/PONG/MEET building (clusterSendPing) and gossip reading (clusterProcessGossipSection)."""

from __future__ import annotations

import random

from gossip_cluster.core.context import Context, Level
from gossip_cluster.core.failure import (
    add_failure_report,
    cleanup_reports,
    del_failure_report,
    mark_failing_if_needed,
)
from gossip_cluster.core.quorum import gossip_wanted
from gossip_cluster.core.table import ClusterNode, F, wire_flags
from gossip_cluster.wire.constants import ExtensionType, MessageType
from gossip_cluster.wire.messages import (
    Extension,
    ForgottenNodeExt,
    GossipEntry,
    Header,
    HostnameExt,
    HumanNodenameExt,
    Meet,
    Ping,
    Pong,
    ShardIdExt,
    UnknownExt,
)

__all__ = [
    "broadcast_pong",
    "build_ping",
    "gossip_entry",
    "process_extensions",
    "process_gossip",
    "send_ping",
    "wire_flags",
]

_FAILING = F.FAIL | F.PFAIL
_NO_GOSSIP = F.HANDSHAKE | F.NOADDR
_KINDS: dict[MessageType, type[Ping] | type[Pong] | type[Meet]] = {
    MessageType.PING: Ping,
    MessageType.PONG: Pong,
    MessageType.MEET: Meet,
}


def gossip_entry(node: ClusterNode) -> GossipEntry:
    """clusterSetGossipEntry: times go out in seconds. The entry is kept on the node until
    one of its fields changes (entries are frozen, so pings can share them)."""
    entry: GossipEntry | None = node.gossip
    if entry is None:
        entry = node.gossip = GossipEntry(
            nodename=node.name,
            ping_sent=max(0, node.ping_sent // 1000),
            pong_received=max(0, node.pong_received // 1000),
            ip=node.ip,
            port=node.port,
            cport=node.cport,
            flags=wire_flags(node.flags),
            pport=node.pport,
        )
    return entry


def build_ping(ctx: Context, kind: MessageType) -> Ping | Pong | Meet:
    """A PING, PONG or MEET with max(3, N/10) random gossip entries plus every PFAIL node.

    As clusterSendPing: up to ``3 * wanted`` random picks (with replacement) among all
    known nodes, skipping myself, PFAIL nodes (they follow), nodes in handshake or without
    an address, disconnected nodes without slots, and nodes already in this message.
    """
    table = ctx.table
    ctx.pings_sent += 1
    known = len(table)
    freshnodes = known - 2
    wanted = gossip_wanted(known)
    pfail_wanted = ctx.stats_pfail_nodes
    header: Header = ctx.header()
    entries: list[GossipEntry] = []
    nodes = table.nodes
    names = table.names()
    rng = ctx.rng
    # rng.choice(names), inlined for a plain random.Random (the same draws, for less).
    getrandbits = rng.getrandbits if type(rng) is random.Random else None
    bits = known.bit_length()
    myself = table.myself
    picked: set[str] = set()
    iterations = wanted * 3
    while freshnodes > 0 and len(entries) < wanted and iterations > 0:
        iterations -= 1
        if getrandbits is None:
            name = rng.choice(names)
        else:
            index = getrandbits(bits)
            while index >= known:
                index = getrandbits(bits)
            name = names[index]
        if name in picked:
            continue  # already in this message (so none of the skips below applies)
        this = nodes[name]
        flags = this.flags
        if this is myself or flags & F.PFAIL:
            continue
        if flags & _NO_GOSSIP or (this.link_ctime is None and not this.slots):
            freshnodes -= 1
            continue
        entry = this.gossip
        entries.append(gossip_entry(this) if entry is None else entry)
        picked.add(name)
        freshnodes -= 1
    if pfail_wanted:
        for node in nodes.values():
            if pfail_wanted <= 0:
                break
            flags = node.flags
            if not flags & F.PFAIL or flags & _NO_GOSSIP:
                continue
            entries.append(gossip_entry(node))
            pfail_wanted -= 1
    extensions: tuple[Extension, ...] = ()
    if myself.hostname:
        extensions = (HostnameExt(myself.hostname),)
    return _KINDS[kind](header, tuple(entries), extensions)


def send_ping(ctx: Context, link: str, kind: MessageType, node: ClusterNode | None) -> None:
    """clusterSendPing on ``link``; ``node`` is the link's node when it is outbound."""
    if node is not None and kind is MessageType.PING:
        node.ping_sent = ctx.now
    ctx.send(link, build_ping(ctx, kind))


def broadcast_pong(ctx: Context, *, local_slaves: bool = False) -> None:
    """clusterBroadcastPong: to every linked node, or only to the replicas of my shard."""
    myself = ctx.myself
    for node in list(ctx.table.nodes.values()):
        if node.link_ctime is None or node is myself or node.in_handshake:
            continue
        if local_slaves:
            mine = node.slaveof is not None and node.slaveof in (myself.name, myself.slaveof)
            if not (node.is_slave and mine):
                continue
        send_ping(ctx, node.link_address, MessageType.PONG, node)


def process_gossip(
    ctx: Context, entries: tuple[GossipEntry, ...], sender: ClusterNode | None
) -> None:
    """clusterProcessGossipSection: failure reports, pong times, addresses, new nodes."""
    table = ctx.table
    nodes = table.nodes
    myself = table.myself
    now = ctx.now
    reporter = sender is not None and sender.is_master
    for g in entries:
        gflags = int(g.flags)
        node = nodes.get(g.nodename)
        if node is not None:
            if reporter and node is not myself:
                assert sender is not None
                if gflags & _FAILING:
                    if add_failure_report(ctx, node, sender):
                        ctx.log(
                            Level.VERBOSE,
                            f"Node {sender.name} reported node {node.name} as not reachable.",
                        )
                    mark_failing_if_needed(ctx, node)
                elif node.fail_reports and del_failure_report(ctx, node, sender):
                    ctx.log(
                        Level.VERBOSE,
                        f"Node {sender.name} reported node {node.name} is back online.",
                    )
            if (
                not gflags & _FAILING
                and node.ping_sent == 0
                and not (node.fail_reports and _reports(ctx, node))
            ):
                pongtime = g.pong_received * 1000
                if pongtime <= now + 500 and pongtime > node.pong_received:
                    node.pong_received = pongtime
            if (
                node.flags & _FAILING
                and not gflags & (F.NOADDR | _FAILING)
                and (
                    node.ip.lower() != g.ip.lower() or node.port != g.port or node.cport != g.cport
                )
                and node is not myself
            ):
                ctx.close_link(node)
                node.ip, node.port, node.pport, node.cport = g.ip, g.port, g.pport, g.cport
                node.flags &= ~F.NOADDR
        elif (
            sender is not None
            and not gflags & F.NOADDR
            and _valid_name(g.nodename)
            and not ctx.blacklisted(g.nodename)
        ):
            created = ClusterNode(
                name=g.nodename,
                flags=gflags & ~F.MYSELF,
                ctime=ctx.now,
                ip=g.ip,
                port=g.port,
                cport=g.cport,
                pport=g.pport,
            )
            table.add(created)


def _reports(ctx: Context, node: ClusterNode) -> int:
    """clusterNodeFailureReportsCount (after dropping expired reports)."""
    cleanup_reports(ctx, node)
    return len(node.fail_reports)


def _valid_name(name: str) -> bool:
    """verifyClusterNodeId: 40 characters of [a-z0-9]."""
    return len(name) == 40 and all("a" <= c <= "z" or "0" <= c <= "9" for c in name)


def process_extensions(
    ctx: Context, extensions: tuple[Extension, ...], sender: ClusterNode
) -> None:
    """clusterProcessPingExtensions: 7.0 knows HOSTNAME; no hostname means none announced."""
    hostname = ""
    for ext in extensions:
        if isinstance(ext, HostnameExt):
            hostname = ext.hostname
        else:
            ctx.log(Level.WARNING, f"Received unknown extension type {_ext_type(ext)}")
    if sender.hostname != hostname:
        sender.hostname = hostname


def _ext_type(ext: Extension) -> int:
    if isinstance(ext, UnknownExt):
        return ext.type
    if isinstance(ext, HumanNodenameExt):
        return ExtensionType.HUMAN_NODENAME
    if isinstance(ext, ForgottenNodeExt):
        return ExtensionType.FORGOTTEN_NODE
    if isinstance(ext, ShardIdExt):
        return ExtensionType.SHARDID
    return ExtensionType.HOSTNAME
