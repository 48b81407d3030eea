"""Role behaviour, swapped as a whole: a master votes, a replica runs elections.

``role_of(ctx)`` picks the role object from myself's flags each time it is needed, so a
promotion or a demotion switches every role-specific rule at once.
"""

from __future__ import annotations

from typing import Protocol

from gossip_cluster.core.context import CantFailover, Context, Level, Todo
from gossip_cluster.core.gossip import broadcast_pong
from gossip_cluster.core.quorum import needed_quorum
from gossip_cluster.core.slots import reset_manual_failover, set_node_as_master, update_state
from gossip_cluster.core.table import ClusterNode, F
from gossip_cluster.wire.constants import MessageFlag
from gossip_cluster.wire.messages import FailoverAuthAck, FailoverAuthRequest, Header

__all__ = [
    "MASTER",
    "REPLICA",
    "MasterRole",
    "ReplicaRole",
    "Role",
    "replace_your_master",
    "role_of",
    "slave_rank",
]

RELOG_PERIOD_MS = 300_000
"""CLUSTER_CANT_FAILOVER_RELOG_PERIOD."""
_CANT_TEXT = {
    CantFailover.DATA_AGE: "Disconnected from master for longer than allowed. Please check "
    "the 'cluster-replica-validity-factor' configuration option.",
    CantFailover.WAITING_DELAY: "Waiting the delay before I can start a new failover.",
    CantFailover.EXPIRED: "Failover attempt expired.",
    CantFailover.WAITING_VOTES: "Waiting for votes, but majority still not reached.",
}


class Role(Protocol):
    """What differs between a master and a replica."""

    def on_auth_request(self, ctx: Context, node: ClusterNode, header: Header) -> None:
        """A FAILOVER_AUTH_REQUEST from ``node``."""
        ...

    def cron(self, ctx: Context) -> None:
        """The role's part of clusterCron."""
        ...

    def handle_failover(self, ctx: Context) -> None:
        """CLUSTER_TODO_HANDLE_FAILOVER in beforeSleep."""
        ...


class MasterRole:
    """A master: votes in elections (if it serves slots); never fails over."""

    def on_auth_request(self, ctx: Context, node: ClusterNode, header: Header) -> None:
        """clusterSendFailoverAuthIfNeeded: grant at most one vote per epoch."""
        myself = ctx.myself
        if not myself.slots:
            return
        now = ctx.now
        req_epoch = header.current_epoch
        if req_epoch < ctx.current_epoch:
            _deny(ctx, node, f"reqEpoch ({req_epoch}) < curEpoch({ctx.current_epoch})")
            return
        if ctx.policy.already_voted(ctx.last_vote_epoch, ctx.current_epoch):
            _deny(ctx, node, f"already voted for epoch {ctx.current_epoch}")
            return
        master = ctx.table.master_of(node)
        force_ack = bool(header.mflags & MessageFlag.FORCEACK)
        if node.is_master:
            _deny(ctx, node, "it is a master node")
            return
        if master is None:
            _deny(ctx, node, "I don't know its master")
            return
        if not master.failed and not force_ack:
            _deny(ctx, node, "its master is up")
            return
        since = None if master.voted_time is None else now - master.voted_time
        vote_again = ctx.config.vote_again_ms
        if ctx.policy.voted_recently(since, vote_again):
            assert since is not None
            _deny(
                ctx, node, f"can't vote about this master before {vote_again - since} milliseconds"
            )
            return
        claimed = header.myslots.to_int()
        unclaimed = ctx.table.owner_not_claiming
        for owner in ctx.table.nodes.values():
            overlap = claimed & owner.slots & ~unclaimed
            if overlap and owner.config_epoch > header.config_epoch:
                slot = (overlap & -overlap).bit_length() - 1
                _deny(
                    ctx,
                    node,
                    f"slot {slot} epoch ({owner.config_epoch}) > reqEpoch ({header.config_epoch})",
                )
                return
        ctx.last_vote_epoch = ctx.current_epoch
        master.voted_time = now
        ctx.save()
        ctx.send_to_node(node, FailoverAuthAck(ctx.header()))
        ctx.log(
            Level.WARNING, f"Failover auth granted to {node.name} for epoch {ctx.current_epoch}"
        )

    def cron(self, ctx: Context) -> None:
        return None

    def handle_failover(self, ctx: Context) -> None:
        return None


def _deny(ctx: Context, node: ClusterNode, why: str) -> None:
    ctx.log(Level.WARNING, f"Failover auth denied to {node.name}: {why}")


class ReplicaRole:
    """A replica: never votes; fails its master over when the master is FAIL."""

    def on_auth_request(self, ctx: Context, node: ClusterNode, header: Header) -> None:
        return None

    def cron(self, ctx: Context) -> None:
        handle_manual_failover(ctx)
        handle_slave_failover(ctx)

    def handle_failover(self, ctx: Context) -> None:
        handle_slave_failover(ctx)


MASTER = MasterRole()
REPLICA = ReplicaRole()


def role_of(ctx: Context) -> Role:
    """The behaviour of myself's current role."""
    return REPLICA if ctx.myself.is_slave else MASTER


def slave_rank(ctx: Context) -> int:
    """clusterGetSlaveRank: replicas of my master (able to fail over) with a larger offset."""
    myself = ctx.myself
    if myself.slaveof is None:
        return 0
    return sum(
        1
        for replica in ctx.table.slaves_of(myself.slaveof)
        if replica is not myself
        and not replica.flags & F.NOFAILOVER
        and replica.repl_offset > ctx.repl_offset
    )


def log_cant_failover(ctx: Context, reason: CantFailover) -> None:
    """clusterLogCantFailover: only when stalled for a while, and not too often."""
    election = ctx.election
    now = ctx.now
    last = election.last_cant_log_ms
    if (
        reason == election.cant_failover_reason
        and last is not None
        and now - last < RELOG_PERIOD_MS
    ):
        return
    election.cant_failover_reason = reason
    master = ctx.table.master_of(ctx.myself)
    nolog_ms = ctx.config.node_timeout_ms + 5000
    if master is not None and master.failed and now - master.fail_time < nolog_ms:
        return
    election.last_cant_log_ms = now
    ctx.log(Level.WARNING, f"Currently unable to failover: {_CANT_TEXT[reason]}")


def replace_your_master(ctx: Context) -> None:
    """clusterFailoverReplaceYourMaster: become a master, take the slots, tell everybody."""
    myself = ctx.myself
    old = ctx.table.master_of(myself)
    if myself.is_master or old is None:
        return
    set_node_as_master(ctx, myself)
    ctx.redis("REPLICAOF", "NO", "ONE")
    ctx.table.take_slots(myself, old.slots)
    update_state(ctx)
    ctx.save()
    broadcast_pong(ctx)
    reset_manual_failover(ctx)


def handle_manual_failover(ctx: Context) -> None:
    """clusterHandleManualFailover: start once my offset reached the paused master's."""
    mf = ctx.mf
    if not mf.end_ms or mf.can_start or mf.master_offset == -1:
        return
    # Redis waits for ==; a backing master that is not in cluster mode still sends its
    # replicas a PING now and then while paused, which moves both offsets past the one the
    # master announced. Every acknowledged write is at or below it, so >= is as safe.
    if ctx.repl_offset >= mf.master_offset:
        mf.can_start = True
        ctx.log(
            Level.WARNING, "All master replication stream processed, manual failover can start."
        )
        ctx.do(Todo.HANDLE_FAILOVER)
        return
    ctx.do(Todo.HANDLE_MANUALFAILOVER)


def _data_age_ms(ctx: Context) -> int:
    return max(0, ctx.now - ctx.repl_since_ms)


def handle_slave_failover(ctx: Context) -> None:
    """clusterHandleSlaveFailover: schedule, run and win (or time out) an election."""
    election = ctx.election
    config = ctx.config
    now = ctx.now
    myself = ctx.myself
    mf = ctx.mf
    auth_age = None if election.auth_time is None else now - election.auth_time
    needed = needed_quorum(ctx.table.size())
    manual = bool(mf.end_ms) and mf.can_start
    ctx.todo &= ~Todo.HANDLE_FAILOVER
    master = ctx.table.master_of(myself)
    if (
        myself.is_master
        or master is None
        or (not master.failed and not manual)
        or (config.replica_no_failover and not manual)
        or not master.slots
    ):
        election.cant_failover_reason = CantFailover.NONE
        return
    data_age = _data_age_ms(ctx)
    if data_age > config.node_timeout_ms:
        data_age -= config.node_timeout_ms
    limit = config.max_data_age_ms
    if limit is not None and data_age > limit and not manual:
        log_cant_failover(ctx, CantFailover.DATA_AGE)
        return
    if auth_age is None or auth_age > config.auth_retry_ms:
        election.auth_time = now + 500 + ctx.rng.randrange(500)
        election.voters = {}
        election.auth_sent = False
        election.auth_rank = slave_rank(ctx)
        election.auth_time += election.auth_rank * 1000
        if mf.end_ms:
            election.auth_time = now
            election.auth_rank = 0
            ctx.do(Todo.HANDLE_FAILOVER)
        ctx.log(
            Level.WARNING,
            f"Start of election delayed for {election.auth_time - now} milliseconds "
            f"(rank #{election.auth_rank}, offset {ctx.repl_offset}).",
        )
        broadcast_pong(ctx, local_slaves=True)
        return
    assert election.auth_time is not None
    if not election.auth_sent and not mf.end_ms:
        rank = slave_rank(ctx)
        if rank > election.auth_rank:
            added = (rank - election.auth_rank) * 1000
            election.auth_time += added
            election.auth_rank = rank
            ctx.log(
                Level.WARNING,
                f"Replica rank updated to #{rank}, added {added} milliseconds of delay.",
            )
    if now < election.auth_time:
        log_cant_failover(ctx, CantFailover.WAITING_DELAY)
        return
    if auth_age > config.auth_timeout_ms:
        log_cant_failover(ctx, CantFailover.EXPIRED)
        return
    if not election.auth_sent:
        ctx.current_epoch += 1
        election.auth_epoch = ctx.current_epoch
        ctx.log(Level.WARNING, f"Starting a failover election for epoch {ctx.current_epoch}.")
        flags = MessageFlag.FORCEACK if mf.end_ms else MessageFlag(0)
        ctx.broadcast(FailoverAuthRequest(ctx.header(flags)))
        election.auth_sent = True
        ctx.do(Todo.UPDATE_STATE)
        ctx.save()
        return
    if len(election.voters) >= needed:
        ctx.log(Level.WARNING, "Failover election won: I'm the new master.")
        if myself.config_epoch < election.auth_epoch:
            myself.config_epoch = election.auth_epoch
            ctx.log(
                Level.WARNING,
                f"configEpoch set to {myself.config_epoch} after successful failover",
            )
        replace_your_master(ctx)
    else:
        log_cant_failover(ctx, CantFailover.WAITING_VOTES)
