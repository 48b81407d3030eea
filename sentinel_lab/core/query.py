"""Answers to SENTINEL MASTERS/MASTER/REPLICAS/SENTINELS/... as ordered field lists.

Each instance is a list of ``(field, value)`` pairs in Redis's order, with numbers as
strings (Redis sends them as bulk strings) and flags as a comma list. The RESP front
turns a list into a RESP2 flat array or a RESP3 map.
"""

from __future__ import annotations

from sentinel_lab.core import quorum
from sentinel_lab.core.context import Context
from sentinel_lab.core.instances import Instance, Master, Peer, ReconfState, Replica
from sentinel_lab.core.replies import ErrorReply

__all__ = [
    "Fields",
    "ckquorum",
    "fields_of",
    "flags_of",
    "get_master_addr_by_name",
    "switched_early",
]

Fields = list[tuple[str, str]]


def switched_early(ctx: Context, item: Instance | Peer) -> bool:
    """With the early switch on, a master whose promoted replica is confirmed is shown
    at the promoted address, without the old address's ``s_down``, ``o_down`` and
    ``disconnected`` (the link times still are the old address's)."""
    return (
        ctx.early_switch
        and isinstance(item, Master)
        and item.current_address() != (item.host, item.port)
    )


def flags_of(item: Instance | Peer, master: Master | None = None, *, early: bool = False) -> str:
    """The ``flags`` field: ``s_down,o_down,master,...`` in Redis's order."""
    flags: list[str] = []
    if item.s_down and not early:
        flags.append("s_down")
    if isinstance(item, Master) and item.o_down and not early:
        flags.append("o_down")
    flags.append(
        "master"
        if isinstance(item, Master)
        else "slave"
        if isinstance(item, Replica)
        else "sentinel"
    )
    if item.link.disconnected and not early:
        flags.append("disconnected")
    if isinstance(item, Peer) and item.master_down:
        flags.append("master_down")
    if isinstance(item, Master) and item.failover_in_progress:
        flags.append("failover_in_progress")
    if isinstance(item, Replica):
        if item.promoted:
            flags.append("promoted")
        if item.reconf is not ReconfState.NONE:
            flags.append(item.reconf.value)
    if isinstance(item, Master) and item.force_failover:
        flags.append("force_failover")
    return ",".join(flags)


def fields_of(ctx: Context, item: Instance | Peer) -> Fields:
    """One instance as SENTINEL MASTER / REPLICAS / SENTINELS shows it."""
    now = ctx.now
    link = item.link
    name = (
        item.runid
        if isinstance(item, Peer)
        else (item.name if isinstance(item, Master | Replica) else item.addr)
    )
    runid = item.runid or ""
    early = switched_early(ctx, item)
    host, port = (
        item.current_address() if early and isinstance(item, Master) else (item.host, item.port)
    )
    out: Fields = [
        ("name", name),
        ("ip", host),
        ("port", str(port)),
        ("runid", runid),
        ("flags", flags_of(item, early=early)),
        ("link-pending-commands", str(link.pending_commands)),
        ("link-refcount", str(link.refcount)),
    ]
    if isinstance(item, Master) and item.failover_in_progress:
        out.append(("failover-state", item.failover_state.label))
    out += [
        ("last-ping-sent", str(0 if link.act_ping_ms is None else now - link.act_ping_ms)),
        ("last-ok-ping-reply", str(now - link.last_avail_ms)),
        ("last-ping-reply", str(now - link.last_pong_ms)),
    ]
    if item.s_down:
        out.append(("s-down-time", str(now - item.s_down_since_ms)))
    if isinstance(item, Master) and item.o_down:
        out.append(("o-down-time", str(now - item.o_down_since_ms)))
    out.append(("down-after-milliseconds", str(item.down_after_ms)))
    if isinstance(item, Instance):
        out += [
            (
                "info-refresh",
                str(0 if item.info_refresh_ms is None else now - item.info_refresh_ms),
            ),
            ("role-reported", "master" if item.role_reported == "master" else "slave"),
            ("role-reported-time", str(now - item.role_reported_ms)),
        ]
    if isinstance(item, Master):
        out += [
            ("config-epoch", str(item.config_epoch)),
            ("num-slaves", str(len(item.replicas))),
            ("num-other-sentinels", str(len(item.sentinels))),
            ("quorum", str(item.quorum)),
            ("failover-timeout", str(item.failover_timeout_ms)),
            ("parallel-syncs", str(item.parallel_syncs)),
        ]
    if isinstance(item, Replica):
        out += [
            ("master-link-down-time", str(item.master_link_down_ms)),
            ("master-link-status", "ok" if item.slave_master_link_up else "err"),
            ("master-host", item.slave_master_host or "?"),
            ("master-port", str(item.slave_master_port)),
            ("slave-priority", str(item.slave_priority)),
            ("slave-repl-offset", str(item.slave_repl_offset)),
            ("replica-announced", str(item.replica_announced)),
        ]
    if isinstance(item, Peer):
        out += [
            ("last-hello-message", str(now - item.last_hello_ms)),
            ("voted-leader", item.leader or "?"),
            ("voted-leader-epoch", str(item.leader_epoch)),
        ]
    return out


def get_master_addr_by_name(ctx: Context, name: str) -> tuple[str, str] | None:
    """``[ip, port]`` of the current master address, or None (a nil reply)."""
    master = ctx.masters.get(name)
    if master is None:
        return None
    host, port = master.current_address()
    return host, str(port)


def ckquorum(ctx: Context, master: Master) -> str | ErrorReply:
    """SENTINEL CKQUORUM: the ``+OK ...`` status text, or the ``-NOQUORUM ...`` error."""
    voters = len(master.sentinels) + 1
    usable = 1 + sum(1 for p in master.sentinels.values() if not p.s_down)
    has_quorum, has_majority = quorum.ckquorum(usable, voters, master.quorum)
    if has_quorum and has_majority:
        return f"OK {usable} usable Sentinels. Quorum and failover authorization can be reached"
    text = f"NOQUORUM {usable} usable Sentinels. "
    if not has_quorum:
        text += "Not enough available Sentinels to reach the specified quorum for this master"
    if not has_majority:
        if not has_quorum:
            text += ". "
        text += "Not enough available Sentinels to reach the majority and authorize a failover"
    return ErrorReply(text)
