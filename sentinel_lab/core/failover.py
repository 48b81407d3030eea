"""The failover state machine: one handler per state, swapped by a table.

WAIT_START -> SELECT_SLAVE -> SEND_SLAVEOF_NOONE -> WAIT_PROMOTION -> RECONF_SLAVES ->
UPDATE_CONFIG (the switch). Aborts are possible up to WAIT_PROMOTION only.

The early switch (``Context.early_switch``, off by default; not Redis): right after the
``SLAVEOF NO ONE`` transaction an ``INFO`` is sent on the same link, so its reply, which
comes after ``EXEC``'s, confirms the promotion at once instead of at the next 1 s INFO
round; and from RECONF_SLAVES on, SENTINEL MASTER(S) show the promoted address without
the old master's ``s_down,o_down`` (see :mod:`sentinel_lab.core.query`), so clients that
discover through SENTINEL MASTERS (redis-py) switch too. The failover itself (replica
reconfiguration, ``+switch-master`` at the end) is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from sentinel_lab.core.commands import send_hellos_now, send_slaveof
from sentinel_lab.core.context import NOTICE, WARNING, Context
from sentinel_lab.core.election import get_leader
from sentinel_lab.core.instances import FailoverState, Link, Master, ReconfState, Replica
from sentinel_lab.core.selection import select_replica
from sentinel_lab.core.simfailure import SimFailure
from sentinel_lab.core.table import reset_master_and_change_address

__all__ = [
    "HANDLERS",
    "abort",
    "promotion_observed",
    "run_state_machine",
    "start_failover",
    "start_failover_if_needed",
    "switch_to_promoted",
]


def start_failover(ctx: Context, master: Master) -> None:
    """Bump the epoch and enter WAIT_START (``sentinelStartFailover``).

    Unlike Redis we persist the new epoch here, before the vote requests that carry it.
    """
    master.failover_state = FailoverState.WAIT_START
    master.failover_in_progress = True
    ctx.current_epoch += 1
    master.failover_epoch = ctx.current_epoch
    ctx.flush_config()
    ctx.emit(WARNING, "+new-epoch", None, str(ctx.current_epoch), about=master)
    ctx.emit(WARNING, "+try-failover", master)
    master.failover_start_ms = ctx.now + ctx.rng.randrange(ctx.timing.max_desync_ms)
    master.failover_state_change_ms = ctx.now


def start_failover_if_needed(ctx: Context, master: Master) -> bool:
    """Start when ODOWN, none in progress, and 2 x failover-timeout since the last try."""
    if not master.o_down or master.failover_in_progress:
        return False
    last = master.failover_start_ms
    if last is not None and ctx.now - last < master.failover_timeout_ms * 2:
        return False
    start_failover(ctx, master)
    return True


def abort(ctx: Context, master: Master) -> None:
    """Give up a failover that has not reached RECONF_SLAVES."""
    assert master.failover_in_progress
    assert master.failover_state <= FailoverState.WAIT_PROMOTION
    master.failover_in_progress = master.force_failover = False
    master.failover_state = FailoverState.NONE
    master.failover_state_change_ms = ctx.now
    if master.promoted is not None:
        master.promoted.promoted = False
        master.promoted = None


def _enter(ctx: Context, master: Master, state: FailoverState) -> None:
    master.failover_state = state
    master.failover_state_change_ms = ctx.now


def _wait_start(ctx: Context, master: Master, links: dict[str, Link]) -> None:
    leader = get_leader(ctx, master, master.failover_epoch)
    is_leader = leader is not None and leader.lower() == ctx.myid.lower()
    if not is_leader and not master.force_failover:
        timeout = min(ctx.timing.election_timeout_ms, master.failover_timeout_ms)
        started = master.failover_start_ms
        if started is None or ctx.now - started > timeout:
            ctx.emit(WARNING, "-failover-abort-not-elected", master)
            abort(ctx, master)
        return
    ctx.emit(WARNING, "+elected-leader", master)
    if ctx.simulated_crash(SimFailure.CRASH_AFTER_ELECTION, "election"):
        return
    _enter(ctx, master, FailoverState.SELECT_SLAVE)
    ctx.emit(WARNING, "+failover-state-select-slave", master)


def _select_slave(ctx: Context, master: Master, links: dict[str, Link]) -> None:
    replica = select_replica(master, ctx.now, ctx.timing)
    if replica is None:
        ctx.emit(WARNING, "-failover-abort-no-good-slave", master)
        abort(ctx, master)
        return
    ctx.emit(WARNING, "+selected-slave", replica, master=master)
    replica.promoted = True
    master.promoted = replica
    _enter(ctx, master, FailoverState.SEND_SLAVEOF_NOONE)
    ctx.emit(NOTICE, "+failover-state-send-slaveof-noone", replica, master=master)


def _send_slaveof_noone(ctx: Context, master: Master, links: dict[str, Link]) -> None:
    replica = master.promoted
    assert replica is not None
    if replica.link.disconnected:
        if ctx.now - master.failover_state_change_ms > master.failover_timeout_ms:
            ctx.emit(WARNING, "-failover-abort-slave-timeout", master)
            abort(ctx, master)
        return
    if not send_slaveof(ctx, replica, None, None):
        return
    if ctx.early_switch:
        ctx.command(replica.addr, "INFO")
        replica.link.pending_commands += 1
    ctx.emit(NOTICE, "+failover-state-wait-promotion", replica, master=master)
    _enter(ctx, master, FailoverState.WAIT_PROMOTION)


def _wait_promotion(ctx: Context, master: Master, links: dict[str, Link]) -> None:
    # The move on is made by promotion_observed, when INFO says role:master.
    if ctx.now - master.failover_state_change_ms > master.failover_timeout_ms:
        ctx.emit(WARNING, "-failover-abort-slave-timeout", master)
        abort(ctx, master)


def promotion_observed(ctx: Context, master: Master, replica: Replica) -> bool:
    """The promoted replica reported role master: take the failover epoch as the
    config epoch, start reconfiguring the replicas and send our hellos, which carry
    the new address and epoch, right away (Redis: at its next timer run). False if
    not our promotion."""
    if not (
        replica.promoted
        and master.failover_in_progress
        and master.failover_state == FailoverState.WAIT_PROMOTION
    ):
        return False
    master.config_epoch = master.failover_epoch
    _enter(ctx, master, FailoverState.RECONF_SLAVES)
    ctx.flush_config()
    ctx.emit(WARNING, "+promoted-slave", replica, master=master)
    if ctx.simulated_crash(SimFailure.CRASH_AFTER_PROMOTION, "promotion"):
        return True
    ctx.emit(WARNING, "+failover-state-reconf-slaves", master)
    ctx.client_reconfig(master, "leader", (master.host, master.port), (replica.host, replica.port))
    send_hellos_now(ctx, master)
    return True


def _reconf_slaves(ctx: Context, master: Master, links: dict[str, Link]) -> None:
    promoted = master.promoted
    assert promoted is not None
    now = ctx.now
    replicas = list(master.replicas.values())
    in_progress = sum(1 for r in replicas if r.reconf in (ReconfState.SENT, ReconfState.INPROG))
    for replica in replicas:
        if in_progress >= master.parallel_syncs:
            break
        if replica.promoted or replica.reconf is ReconfState.DONE:
            continue
        if (
            replica.reconf is ReconfState.SENT
            and now - replica.reconf_sent_ms > ctx.timing.slave_reconf_timeout_ms
        ):
            ctx.emit(NOTICE, "-slave-reconf-sent-timeout", replica, master=master)
            replica.reconf = ReconfState.DONE
        if replica.reconf in (ReconfState.SENT, ReconfState.INPROG):
            continue
        if replica.link.disconnected:
            continue
        if send_slaveof(ctx, replica, promoted.host, promoted.port):
            replica.reconf = ReconfState.SENT
            replica.reconf_sent_ms = now
            ctx.emit(NOTICE, "+slave-reconf-sent", replica, master=master)
            in_progress += 1
    _detect_end(ctx, master)


def _detect_end(ctx: Context, master: Master) -> None:
    promoted = master.promoted
    if promoted is None or promoted.s_down:
        return
    not_done = sum(
        1
        for r in master.replicas.values()
        if not r.promoted and r.reconf is not ReconfState.DONE and not r.s_down
    )
    timeout = ctx.now - master.failover_state_change_ms > master.failover_timeout_ms
    if timeout:
        not_done = 0
        ctx.emit(WARNING, "+failover-end-for-timeout", master)
    if not_done == 0:
        ctx.emit(WARNING, "+failover-end", master)
        _enter(ctx, master, FailoverState.UPDATE_CONFIG)
    if timeout:
        for replica in master.replicas.values():
            if replica.promoted or replica.reconf in (ReconfState.DONE, ReconfState.SENT):
                continue
            if replica.link.disconnected:
                continue
            if send_slaveof(ctx, replica, promoted.host, promoted.port):
                ctx.emit(NOTICE, "+slave-reconf-sent-be", replica, master=master)
                replica.reconf = ReconfState.SENT


Handler = Callable[[Context, Master, dict[str, Link]], None]

HANDLERS: dict[FailoverState, Handler] = {
    FailoverState.WAIT_START: _wait_start,
    FailoverState.SELECT_SLAVE: _select_slave,
    FailoverState.SEND_SLAVEOF_NOONE: _send_slaveof_noone,
    FailoverState.WAIT_PROMOTION: _wait_promotion,
    FailoverState.RECONF_SLAVES: _reconf_slaves,
}
"""The step of each state; UPDATE_CONFIG is handled by :func:`switch_to_promoted`
after the timer has visited every master."""


def run_state_machine(ctx: Context, master: Master, links: dict[str, Link]) -> None:
    """One timer step of the failover of ``master``, if one is in progress."""
    if not master.failover_in_progress:
        return
    handler = HANDLERS.get(master.failover_state)
    if handler is not None:
        handler(ctx, master, links)


def switch_to_promoted(ctx: Context, master: Master, links: dict[str, Link]) -> None:
    """UPDATE_CONFIG: ``+switch-master`` and point the master entry at the promoted one."""
    ref = master.promoted
    host, port = (ref.host, ref.port) if ref is not None else (master.host, master.port)
    ctx.emit(
        WARNING,
        "+switch-master",
        None,
        f"{master.name} {master.host} {master.port} {host} {port}",
        about=master,
    )
    reset_master_and_change_address(ctx, master, host, port, links)
