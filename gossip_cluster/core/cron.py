"""clusterCron: links, pings, PFAIL, handshake expiry and the role's periodic work.

Replica migration and orphaned-master accounting are not implemented (a replica never
migrates to an orphaned master); nor are link buffer limits.
"""

from __future__ import annotations

from gossip_cluster.core.context import Context, Level
from gossip_cluster.core.gossip import send_ping
from gossip_cluster.core.roles import role_of
from gossip_cluster.core.slots import reset_manual_failover, update_state
from gossip_cluster.core.table import ClusterNode, F
from gossip_cluster.wire.constants import ClusterState, MessageType

__all__ = ["cron"]


def _reconnect(ctx: Context, node: ClusterNode, handshake_timeout_ms: int) -> None:
    """clusterNodeCronHandleReconnect + clusterLinkConnectHandler (links open at once)."""
    if node.flags & (F.MYSELF | F.NOADDR):
        return
    if node.flags & F.PFAIL:
        ctx.stats_pfail_nodes += 1
    if node.in_handshake and ctx.now - node.ctime > handshake_timeout_ms:
        ctx.close_link(node)
        ctx.table.delete(node)
        return
    if node.link_ctime is None:
        link = ctx.table.create_link(node, ctx.now)
        old_ping_sent = node.ping_sent
        kind = MessageType.MEET if node.flags & F.MEET else MessageType.PING
        send_ping(ctx, link, kind, node)
        if old_ping_sent:
            node.ping_sent = old_ping_sent
        node.flags &= ~F.MEET


def cron(ctx: Context) -> None:
    """One run of clusterCron (every 100 ms)."""
    ctx.iteration += 1
    config = ctx.config
    now = ctx.now
    timeout = config.node_timeout_ms
    handshake_timeout = config.handshake_timeout_ms
    table = ctx.table
    ctx.stats_pfail_nodes = 0
    for node in list(table.nodes.values()):
        flags = node.flags
        if flags & (F.MYSELF | F.NOADDR | F.PFAIL | F.HANDSHAKE) or node.link_ctime is None:
            _reconnect(ctx, node, handshake_timeout)  # the common case has nothing to do
    if ctx.iteration % 10 == 0:
        names = table.names()
        best: ClusterNode | None = None
        for _ in range(5):
            this = table.nodes[ctx.rng.choice(names)]
            if this.link_ctime is None or this.ping_sent != 0:
                continue
            if this.flags & (F.MYSELF | F.HANDSHAKE):
                continue
            if best is None or best.pong_received > this.pong_received:
                best = this
        if best is not None:
            send_ping(ctx, best.link_address, MessageType.PING, best)
    update = False
    myself = table.myself
    mf = ctx.mf
    half = timeout // 2
    for node in list(table.nodes.values()):
        if node.flags & (F.MYSELF | F.NOADDR | F.HANDSHAKE):
            continue
        ping_sent = node.ping_sent
        link_ctime = node.link_ctime
        if ping_sent == 0:
            if link_ctime is not None and now - node.pong_received > half:
                send_ping(ctx, node.link_address, MessageType.PING, node)
                continue
            if mf.end_ms and myself.is_master and mf.slave == node.name and link_ctime is not None:
                send_ping(ctx, node.link_address, MessageType.PING, node)
            continue
        ping_delay = now - ping_sent
        data_delay = now - node.data_received
        if (
            link_ctime is not None
            and now - link_ctime > timeout
            and ping_delay > half
            and data_delay > half
        ):
            ctx.close_link(node)
        if mf.end_ms and myself.is_master and mf.slave == node.name and node.link_ctime is not None:
            send_ping(ctx, node.link_address, MessageType.PING, node)
            continue
        if min(ping_delay, data_delay) > timeout and not node.flags & (F.PFAIL | F.FAIL):
            node.flags |= F.PFAIL
            update = True
    if mf.end_ms and mf.end_ms < now:
        ctx.log(Level.WARNING, "Manual failover timed out.")
        reset_manual_failover(ctx)
    role_of(ctx).cron(ctx)
    if update or ctx.state == ClusterState.FAIL:
        update_state(ctx)
