"""Watching one instance: links, periodic PING/INFO/hello, replies, SDOWN, and what an
INFO report makes the sentinel do (``sentinelRefreshInstanceInfo``)."""

from __future__ import annotations

from sentinel_lab.core import failover
from sentinel_lab.core.commands import send_hello, send_ping, send_slaveof
from sentinel_lab.core.config import HELLO_CHANNEL
from sentinel_lab.core.context import NOTICE, VERBOSE, WARNING, Context
from sentinel_lab.core.info import InfoReport
from sentinel_lab.core.instances import Instance, Link, Master, Peer, ReconfState, Replica
from sentinel_lab.core.replies import ErrorReply, LinkError, is_valid_ping_reply
from sentinel_lab.core.table import add_replica

__all__ = [
    "check_sdown",
    "info_period_for",
    "master_looks_sane",
    "on_info",
    "on_ping_reply",
    "reconnect",
    "send_periodic",
]


def reconnect(ctx: Context, item: Instance | Peer) -> None:
    """Reopen a disconnected link at most once per reconnect period; PING at once.

    Like hiredis's non-blocking connect, the link counts as connected right away; a
    refused connection shows up as a :class:`LinkError` reply.
    """
    link = item.link
    if not link.disconnected or item.port == 0:
        return
    last = link.last_reconnect_ms
    if last is not None and ctx.now - last < ctx.timing.reconnect_period_ms:
        return
    link.last_reconnect_ms = ctx.now
    link.disconnected = False
    link.pending_commands = 0
    link.connected_ms = link.pubsub_activity_ms = ctx.now
    if not isinstance(item, Peer):
        ctx.command(item.addr, "SUBSCRIBE", HELLO_CHANNEL)
    send_ping(ctx, item)


def send_periodic(ctx: Context, item: Instance | Peer, master: Master) -> None:
    """INFO, PING and hello when each is due (``sentinelSendPeriodicCommands``)."""
    link = item.link
    if link.disconnected:
        return
    timing = ctx.timing
    now = ctx.now
    info_period = info_period_for(ctx, item, master)
    ping_period = timing.ping_period_for(item.down_after_ms)
    if (
        not isinstance(item, Peer)
        and (item.info_refresh_ms is None or now - item.info_refresh_ms > info_period)
        and (link.info_sent_ms is None or now - link.info_sent_ms >= timing.info_resend_ms)
    ):
        ctx.command(item.addr, "INFO")
        link.pending_commands += 1
        link.info_sent_ms = now
    if now - link.last_pong_ms > ping_period and now - link.last_ping_ms > ping_period // 2:
        send_ping(ctx, item)
    if now - item.last_pub_ms > timing.publish_period_ms:
        send_hello(ctx, item, master)


def info_period_for(ctx: Context, item: Instance | Peer, master: Master) -> int:
    """How often ``item`` gets INFO: every second for a replica of an ODOWN or
    failing-over master, or whose own master link is down; else the INFO period."""
    if isinstance(item, Replica) and (
        master.o_down or master.failover_in_progress or item.master_link_down_ms != 0
    ):
        return ctx.timing.info_period_fast_ms
    return ctx.timing.info_period_ms


def on_ping_reply(ctx: Context, link: Link, value: object) -> None:
    """A PING reply: PONG, -LOADING and -MASTERDOWN prove the instance is available.

    Any other reply still counts as a reply (``last-ping-reply``)."""
    link.pending_commands = max(0, link.pending_commands - 1)
    if isinstance(value, LinkError):
        link.close()
        return
    if is_valid_ping_reply(value):
        link.last_avail_ms = ctx.now
        link.act_ping_ms = None
    link.last_pong_ms = ctx.now


def check_sdown(ctx: Context, item: Instance | Peer, master: Master) -> None:
    """Set or clear SDOWN; close links that look stalled (``sentinelCheckSubjectivelyDown``)."""
    link = item.link
    now = ctx.now
    timing = ctx.timing
    elapsed = 0
    if link.act_ping_ms is not None:
        elapsed = now - link.act_ping_ms
    elif link.disconnected:
        elapsed = now - link.last_avail_ms
    half = item.down_after_ms // 2
    if (
        not link.disconnected
        and now - link.connected_ms > timing.min_link_reconnect_period_ms
        and link.act_ping_ms is not None
        and now - link.act_ping_ms > half
        and now - link.last_pong_ms > half
    ):
        link.close()
    if (
        not isinstance(item, Peer)
        and not link.disconnected
        and now - link.connected_ms > timing.min_link_reconnect_period_ms
        and now - link.pubsub_activity_ms > timing.publish_period_ms * timing.pubsub_idle_factor
    ):
        link.close()
    down = elapsed > item.down_after_ms or (
        isinstance(item, Master)
        and item.role_reported == "slave"
        and now - item.role_reported_ms > item.down_after_ms + timing.info_period_ms * 2
    )
    shown_master = None if isinstance(item, Master) else master
    if down:
        if not item.s_down:
            ctx.emit(WARNING, "+sdown", item, master=shown_master)
            item.s_down_since_ms = now
            item.s_down = True
    elif item.s_down:
        ctx.emit(WARNING, "-sdown", item, master=shown_master)
        item.s_down = False


def master_looks_sane(ctx: Context, master: Master) -> bool:
    """A master that reports itself master, is up, and has fresh INFO."""
    return (
        master.role_reported == "master"
        and not master.s_down
        and not master.o_down
        and master.info_refresh_ms is not None
        and ctx.now - master.info_refresh_ms < ctx.timing.info_period_ms * 2
    )


def on_info(ctx: Context, master: Master, item: Instance, report: InfoReport) -> None:
    """Record an INFO report, then act on it unless in TILT."""
    now = ctx.now
    replica = item if isinstance(item, Replica) else None
    if replica is not None:
        replica.master_link_down_ms = report.master_link_down_since_ms
    if report.run_id is not None:
        if item.runid is None:
            item.runid = report.run_id
        elif item.runid != report.run_id:
            ctx.emit(NOTICE, "+reboot", item, master=None if replica is None else master)
            item.runid = report.run_id
    if replica is None:
        for line in report.replicas:
            added = add_replica(ctx, master, line.ip, line.port)
            if added is not None:
                ctx.emit(NOTICE, "+slave", added, master=master)
                ctx.flush_config()
    if replica is not None and report.role == "slave":
        if report.master_host is not None and (
            replica.slave_master_host is None
            or report.master_host.lower() != replica.slave_master_host.lower()
        ):
            replica.slave_master_host = report.master_host
            replica.slave_conf_change_ms = now
        if report.master_port is not None and report.master_port != replica.slave_master_port:
            replica.slave_master_port = report.master_port
            replica.slave_conf_change_ms = now
        replica.slave_master_link_up = report.master_link_up
        if report.slave_priority is not None:
            replica.slave_priority = report.slave_priority
        if report.slave_repl_offset is not None:
            replica.slave_repl_offset = report.slave_repl_offset
        if report.replica_announced is not None:
            replica.replica_announced = report.replica_announced
    item.info_refresh_ms = now
    role = report.role
    if role is not None and role != item.role_reported:
        item.role_reported_ms = now
        item.role_reported = role
        if replica is not None and role == "slave":
            replica.slave_conf_change_ms = now
        kind = "slave" if replica is not None else "master"
        sign = "+" if kind == role else "-"
        ctx.emit(
            VERBOSE,
            f"{sign}role-change",
            item,
            f"new reported role is {role}",
            master=None if replica is None else master,
        )
    if ctx.tilt or replica is None:
        return
    if role == "master":
        _replica_reports_master(ctx, master, replica)
    elif role == "slave":
        _replica_reports_slave(ctx, master, replica)


def _replica_reports_master(ctx: Context, master: Master, replica: Replica) -> None:
    if failover.promotion_observed(ctx, master, replica):
        return
    wait = ctx.timing.convert_to_slave_wait_ms
    if (
        not replica.promoted
        and master_looks_sane(ctx, master)
        and replica.no_down_for(wait, ctx.now)
        and ctx.now - replica.role_reported_ms > wait
        and send_slaveof(ctx, replica, master.host, master.port)
    ):
        ctx.emit(NOTICE, "+convert-to-slave", replica, master=master)


def _replica_reports_slave(ctx: Context, master: Master, replica: Replica) -> None:
    now = ctx.now
    host = replica.slave_master_host
    if (
        replica.slave_master_port != master.port
        or host is None
        or (host.lower() != master.host.lower())
    ):
        wait = master.failover_timeout_ms
        if (
            master_looks_sane(ctx, master)
            and replica.no_down_for(wait, now)
            and now - replica.slave_conf_change_ms > wait
            and send_slaveof(ctx, replica, master.host, master.port)
        ):
            ctx.emit(NOTICE, "+fix-slave-config", replica, master=master)
    promoted = master.promoted
    if replica.reconf in (ReconfState.SENT, ReconfState.INPROG) and promoted is not None:
        if (
            replica.reconf is ReconfState.SENT
            and host is not None
            and host.lower() == promoted.host.lower()
            and replica.slave_master_port == promoted.port
        ):
            replica.reconf = ReconfState.INPROG
            ctx.emit(NOTICE, "+slave-reconf-inprog", replica, master=master)
        if replica.reconf is ReconfState.INPROG and replica.slave_master_link_up:
            replica.reconf = ReconfState.DONE
            ctx.emit(NOTICE, "+slave-reconf-done", replica, master=master)


def is_error(value: object) -> bool:
    """An error reply or a link failure."""
    return isinstance(value, ErrorReply | LinkError)
