"""clusterProcessPacket: what a received bus message does to this node."""

from __future__ import annotations

from gossip_cluster.core.context import Context, Level, Todo
from gossip_cluster.core.failure import clear_failure_if_needed, handle_fail_message
from gossip_cluster.core.gossip import process_extensions, process_gossip, send_ping
from gossip_cluster.core.inputs import is_inbound, link_ips
from gossip_cluster.core.roles import role_of
from gossip_cluster.core.slots import (
    handle_epoch_collision,
    handle_update,
    reset_manual_failover,
    send_update_if_stale,
    set_node_as_master,
    update_slots_config_with,
)
from gossip_cluster.core.table import ClusterNode, F
from gossip_cluster.wire.constants import MessageFlag, MessageType
from gossip_cluster.wire.messages import (
    Fail,
    FailoverAuthAck,
    FailoverAuthRequest,
    Header,
    Meet,
    Message,
    MfStart,
    Ping,
    Pong,
    Update,
)

__all__ = ["MF_PAUSE_MULT", "process_packet", "writes_paused"]

MF_PAUSE_MULT = 2
"""CLUSTER_MF_PAUSE_MULT: a master pauses writes for this many manual-failover timeouts."""


def _sender(ctx: Context, link: str, inbound: bool, header: Header) -> ClusterNode | None:
    """getNodeFromLinkAndMsg: the link's node unless it is in handshake, else by name."""
    link_node = None if inbound else ctx.table.link_owner(link)
    if link_node is not None and not link_node.in_handshake:
        return link_node
    sender = ctx.table.get(header.sender)
    if sender is not None and inbound and sender.inbound_link is None:
        sender.inbound_link = link
    return sender


def process_packet(ctx: Context, link: str, message: Message) -> None:
    """Handle one message that arrived on ``link``."""
    inbound = is_inbound(link)
    if not inbound and ctx.table.link_owner(link) is None:
        return  # the link was closed; Redis never reads from a freed link
    header = message.header
    sender = _sender(ctx, link, inbound, header)
    now = ctx.now
    sender_config_epoch = 0
    if sender is not None:
        sender.data_received = now
    if sender is not None and not sender.in_handshake:
        ctx.current_epoch = max(ctx.current_epoch, header.current_epoch)
        sender_config_epoch = header.config_epoch
        if sender_config_epoch > sender.config_epoch:
            sender.config_epoch = sender_config_epoch
            ctx.save()
        sender.repl_offset = header.offset
        sender.repl_offset_time = now
        mf = ctx.mf
        if (
            mf.end_ms
            and ctx.myself.is_slave
            and ctx.myself.slaveof == sender.name
            and header.mflags & MessageFlag.PAUSED
            and mf.master_offset == -1
        ):
            mf.master_offset = sender.repl_offset
            ctx.do(Todo.HANDLE_MANUALFAILOVER)
            ctx.log(
                Level.WARNING,
                "Received replication offset for paused master manual failover: "
                f"{mf.master_offset}",
            )
    if isinstance(message, Ping | Pong | Meet):
        _ping_pong_meet(ctx, link, inbound, message, sender, sender_config_epoch)
    elif isinstance(message, Fail):
        handle_fail_message(ctx, header, message.nodename, sender)
    elif isinstance(message, FailoverAuthRequest):
        if sender is not None:
            role_of(ctx).on_auth_request(ctx, sender, header)
    elif isinstance(message, FailoverAuthAck):
        election = ctx.election
        if (
            sender is not None
            and sender.is_master
            and sender.slots
            and header.current_epoch >= election.auth_epoch
        ):
            election.voters[sender.name] = None
            ctx.do(Todo.HANDLE_FAILOVER)
    elif isinstance(message, MfStart):
        if sender is None or sender.slaveof != ctx.myself.name:
            return
        reset_manual_failover(ctx)
        ctx.mf.end_ms = now + ctx.config.manual_failover_timeout_ms
        ctx.mf.slave = sender.name
        # pauseClients(PAUSE_DURING_FAILOVER, ..., PAUSE_ACTIONS_CLIENT_WRITE_SET): the
        # backing server holds writes (reads go on); our headers say PAUSED once the
        # driver reports the pause done with the offset it froze (WritesPaused).
        pause_ms = ctx.config.manual_failover_timeout_ms * MF_PAUSE_MULT
        ctx.redis("CLIENT", "PAUSE", pause_ms, "WRITE")
        ctx.log(Level.WARNING, f"Manual failover requested by replica {sender.name}.")
        send_ping(ctx, link, MessageType.PING, None if inbound else ctx.table.link_owner(link))
    elif isinstance(message, Update):
        handle_update(ctx, message, sender)
    # PUBLISH, PUBLISHSHARD, MODULE and unknown types are the driver's business.


def _ping_pong_meet(
    ctx: Context,
    link: str,
    inbound: bool,
    message: Ping | Pong | Meet,
    sender: ClusterNode | None,
    sender_config_epoch: int,
) -> None:
    header = message.header
    table = ctx.table
    myself = table.myself
    is_meet = isinstance(message, Meet)
    if isinstance(message, Ping | Meet):
        peer_ip, local_ip = link_ips(link)
        if (
            (is_meet or not myself.ip)
            and not ctx.announce_ip
            and local_ip
            and local_ip != myself.ip
        ):
            myself.ip = local_ip
            ctx.log(Level.WARNING, f"IP address for this node updated to {myself.ip}")
            ctx.save(fsync=False)
        if sender is None and is_meet:
            node = ClusterNode(
                name=f"{ctx.rng.getrandbits(160):040x}",
                flags=F.HANDSHAKE,
                ctime=ctx.now,
                ip=header.myip or peer_ip,
                port=header.port,
                pport=header.pport,
                cport=header.cport,
            )
            table.add(node)
            ctx.save(fsync=False)
            process_gossip(ctx, message.gossip, None)
        send_ping(ctx, link, MessageType.PONG, None if inbound else table.link_owner(link))
    if not inbound:
        link_node = table.link_owner(link)
        if link_node is None:
            return
        if link_node.in_handshake:
            if sender is not None:
                ctx.log(
                    Level.VERBOSE,
                    f"Handshake: we already know node {sender.name}, updating the address "
                    "if needed.",
                )
                if _update_address(ctx, sender, link, header):
                    ctx.do(Todo.UPDATE_STATE)
                    ctx.save(fsync=False)
                ctx.close_link(link_node)
                table.delete(link_node)
                return
            if not _valid_name(header.sender):
                return
            table.rename(link_node, header.sender)
            link_node.flags &= ~F.HANDSHAKE
            link_node.flags |= int(header.flags) & (F.MASTER | F.SLAVE)
            ctx.save(fsync=False)
        elif link_node.name != header.sender:
            link_node.flags |= F.NOADDR
            link_node.ip, link_node.port, link_node.pport, link_node.cport = "", 0, 0, 0
            ctx.close_link(link_node)
            ctx.save(fsync=False)
            return
    if sender is not None:
        flags = (sender.flags & ~F.NOFAILOVER) | (int(header.flags) & F.NOFAILOVER)
        if flags != sender.flags:  # an assignment would drop the node's cached line and entry
            sender.flags = flags
        if (
            isinstance(message, Ping)
            and not sender.in_handshake
            and _update_address(ctx, sender, link, header)
        ):
            ctx.do(Todo.UPDATE_STATE)
            ctx.save(fsync=False)
    if not inbound and isinstance(message, Pong):
        link_node = table.link_owner(link)
        if link_node is not None:
            link_node.pong_received = ctx.now
            link_node.ping_sent = 0
            if link_node.flags & F.PFAIL:
                link_node.flags &= ~F.PFAIL
                ctx.do(Todo.UPDATE_STATE)
                ctx.save(fsync=False)
            elif link_node.flags & F.FAIL:
                clear_failure_if_needed(ctx, link_node)
    if sender is None:
        return
    _role_switch(ctx, sender, header)
    sender_master = sender if sender.is_master else table.master_of(sender)
    claimed = header.myslots.to_int()
    dirty = sender_master is not None and sender_master.slots != claimed
    if dirty and sender.is_master:
        update_slots_config_with(ctx, sender, sender_config_epoch, claimed)
    if dirty:
        send_update_if_stale(ctx, sender, sender_config_epoch, claimed)
    if myself.is_master and sender.is_master and sender_config_epoch == myself.config_epoch:
        handle_epoch_collision(ctx, sender)
    process_gossip(ctx, message.gossip, sender)
    process_extensions(ctx, message.extensions, sender)


def _role_switch(ctx: Context, sender: ClusterNode, header: Header) -> None:
    """Master -> replica or replica -> master, as the header says."""
    if header.slaveof is None:
        set_node_as_master(ctx, sender)
        return
    master = ctx.table.get(header.slaveof)
    if sender.is_master:
        sender.slots = 0
        sender.flags = (sender.flags & ~(F.MASTER | F.MIGRATE_TO)) | F.SLAVE
        ctx.do(Todo.UPDATE_STATE)
        ctx.save(fsync=False)
    if master is not None and sender.slaveof != master.name:
        sender.slaveof = master.name
        ctx.save(fsync=False)


def _update_address(ctx: Context, node: ClusterNode, link: str, header: Header) -> bool:
    """nodeUpdateAddressIfNeeded: follow a node that now announces another address."""
    if not is_inbound(link) and ctx.table.link_owner(link) is node:
        return False
    ip = header.myip or link_ips(link)[0]
    if not ip:
        return False
    same = (node.port, node.cport, node.pport, node.ip) == (
        header.port,
        header.cport,
        header.pport,
        ip,
    )
    if same or node is ctx.myself:
        return False
    node.ip, node.port, node.pport, node.cport = ip, header.port, header.pport, header.cport
    ctx.close_link(node)
    node.flags &= ~F.NOADDR
    ctx.log(Level.WARNING, f"Address updated for node {node.name}, now {node.ip}:{node.port}")
    if ctx.myself.is_slave and ctx.myself.slaveof == node.name:
        ctx.redis("REPLICAOF", node.ip, node.port)
    return True


def _valid_name(name: str) -> bool:
    return len(name) == 40 and all("a" <= c <= "z" or "0" <= c <= "9" for c in name)


def writes_paused(ctx: Context, offset: int) -> None:
    """The backing server paused writes at ``offset``: from now on our headers carry PAUSED
    and that offset, and the replica that asked hears it at once (as Redis's MFSTART
    handler pings it)."""
    mf = ctx.mf
    myself = ctx.myself
    if not mf.end_ms or mf.slave is None or mf.paused or not myself.is_master:
        return  # the failover ended (or never began) before the pause came back
    mf.paused = True
    ctx.repl_offset = offset
    ctx.log(Level.VERBOSE, f"Writes paused for the manual failover at offset {offset}.")
    replica = ctx.table.get(mf.slave)
    if replica is not None and replica.link_ctime is not None:
        send_ping(ctx, replica.link_address, MessageType.PING, replica)
