"""Instance table operations: create, find, reset a master and move it to a new address."""

from __future__ import annotations

from dataclasses import replace

from sentinel_lab.core.config import MasterConfig
from sentinel_lab.core.context import NOTICE, WARNING, Context
from sentinel_lab.core.instances import FailoverState, Instance, Link, Master, Peer, Replica

__all__ = [
    "add_master",
    "add_peer",
    "add_replica",
    "find_instance",
    "find_master_by_addr",
    "release_peer",
    "reset_master",
    "reset_master_and_change_address",
]


def add_master(ctx: Context, config: MasterConfig) -> Master:
    """A new master entry (its link starts disconnected, timed from now)."""
    master = Master(
        config.host,
        config.port,
        Link(ctx.now),
        config.down_after_ms,
        role_reported_ms=ctx.now,
        config=config,
    )
    ctx.masters[config.name] = master
    return master


def add_replica(ctx: Context, master: Master, host: str, port: int) -> Replica | None:
    """A new replica of ``master``; None if it is already known."""
    replica = Replica(host, port, Link(ctx.now), master.config.down_after_ms)
    if replica.name in master.replicas:
        return None
    replica.role_reported_ms = replica.slave_conf_change_ms = ctx.now
    replica.last_pub_ms = ctx.now
    master.replicas[replica.name] = replica
    return replica


def add_peer(
    ctx: Context, master: Master, runid: str, host: str, port: int, links: dict[str, Link]
) -> Peer:
    """A new sentinel of ``master``; the link to one address is shared by all masters."""
    addr = f"{host}:{port}"
    link = links.get(addr)
    if link is None:
        link = links[addr] = Link(ctx.now)
    else:
        link.refcount += 1
    peer = Peer(runid, host, port, link, master.config.down_after_ms)
    peer.last_hello_ms = peer.last_pub_ms = peer.last_master_down_reply_ms = ctx.now
    master.sentinels[runid] = peer
    return peer


def release_peer(peer: Peer, links: dict[str, Link]) -> None:
    """Drop one reference to a peer's shared link."""
    peer.link.refcount -= 1
    if peer.link.refcount <= 0 and links.get(peer.addr) is peer.link:
        del links[peer.addr]


def find_master_by_addr(ctx: Context, host: str, port: int) -> Master | None:
    """The master whose configured address is ``host:port``."""
    for master in ctx.masters.values():
        if master.port == port and master.host.lower() == host.lower():
            return master
    return None


def find_instance(ctx: Context, target: str) -> list[tuple[Master, Instance]]:
    """Every (master, instance) whose address is ``target``: the master or a replica."""
    found: list[tuple[Master, Instance]] = []
    for master in ctx.masters.values():
        if master.addr == target:
            found.append((master, master))
        replica = master.replicas.get(target)
        if replica is not None:
            found.append((master, replica))
    return found


def reset_master(
    ctx: Context,
    master: Master,
    *,
    keep_sentinels: bool,
    links: dict[str, Link],
    event: bool = False,
) -> None:
    """``sentinelResetMaster``: forget replicas (and sentinels), flags, failover state."""
    master.replicas = {}
    if not keep_sentinels:
        for peer in master.sentinels.values():
            release_peer(peer, links)
        master.sentinels = {}
    master.link.close()
    master.s_down = master.o_down = False
    master.failover_in_progress = master.force_failover = False
    master.leader = None
    master.failover_state = FailoverState.NONE
    master.failover_state_change_ms = 0
    master.failover_start_ms = None
    master.promoted = None
    master.runid = None
    master.link.act_ping_ms = ctx.now
    master.link.last_ping_ms = 0
    master.link.last_avail_ms = master.link.last_pong_ms = ctx.now
    master.role_reported_ms = ctx.now
    master.role_reported = "master"
    if event:
        ctx.emit(WARNING, "+reset-master", master)


def reset_master_and_change_address(
    ctx: Context, master: Master, host: str, port: int, links: dict[str, Link]
) -> None:
    """Point ``master`` at ``host:port``: the old address becomes a replica, the
    replicas are re-added (except the new master), and the config is flushed.

    Not Redis: the link to the new address may open at the next timer run. Redis keeps
    the time of its last attempt at the old address, so the first connection can wait
    up to a second, and with down-after at 1 s the new master can then look SDOWN (and,
    with the others' still-fresh "down" answers, ODOWN) for an instant.
    """
    new = (host.lower(), port)
    keep = [(r.host, r.port) for r in master.replicas.values() if (r.host.lower(), r.port) != new]
    if (master.host.lower(), master.port) != new:
        keep.append((master.host, master.port))
    reset_master(ctx, master, keep_sentinels=True, links=links)
    master.host, master.port = host, port
    master.link.last_reconnect_ms = None
    master.config = replace(master.config, host=host, port=port)
    master.o_down_since_ms = master.s_down_since_ms = 0
    for r_host, r_port in keep:
        replica = add_replica(ctx, master, r_host, r_port)
        if replica is not None:
            ctx.emit(NOTICE, "+slave", replica, master=master)
    ctx.flush_config()
