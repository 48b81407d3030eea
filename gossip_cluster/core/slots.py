"""Epochs and slot ownership: clusterUpdateSlotsConfigWith, UPDATE, configEpoch collisions,
role changes of nodes, and the cluster state (clusterUpdateState).

Slot sets are integer bitmaps, so a rebinding is decided per current owner (every slot of
one owner shares its configEpoch) instead of slot by slot; the outcome is the same.
"""

from __future__ import annotations

from gossip_cluster.core.context import Context, Level, Todo
from gossip_cluster.core.quorum import needed_quorum
from gossip_cluster.core.table import ClusterNode, F
from gossip_cluster.wire.constants import CLUSTER_SLOTS, ClusterState
from gossip_cluster.wire.messages import Update
from gossip_cluster.wire.slots import SlotBitmap

__all__ = [
    "ALL_SLOTS",
    "bump_epoch_without_consensus",
    "handle_epoch_collision",
    "handle_update",
    "send_update_if_stale",
    "set_master",
    "set_node_as_master",
    "update_slots_config_with",
    "update_state",
]

ALL_SLOTS = (1 << CLUSTER_SLOTS) - 1


def set_node_as_master(ctx: Context, node: ClusterNode) -> None:
    """clusterSetNodeAsMaster: a node we thought a replica acts as a master."""
    if node.is_master:
        return
    if node.slaveof is not None and node is not ctx.myself:
        node.flags |= F.MIGRATE_TO
    node.flags = (node.flags & ~F.SLAVE) | F.MASTER
    node.slaveof = None
    ctx.do(Todo.UPDATE_STATE)
    ctx.save(fsync=False)


def set_master(ctx: Context, master: ClusterNode) -> None:
    """clusterSetMaster: myself (without slots) becomes a replica of ``master``."""
    myself = ctx.myself
    if master is myself:
        return
    if myself.is_master:
        myself.flags = (myself.flags & ~(F.MASTER | F.MIGRATE_TO)) | F.SLAVE
        ctx.close_all_slots()
    myself.slaveof = master.name
    ctx.redis("REPLICAOF", master.ip, master.port)
    reset_manual_failover(ctx)


def reset_manual_failover(ctx: Context) -> None:
    """resetManualFailover: a master that paused its clients for the failover resumes them
    whatever the outcome (after any REPLICAOF already queued: paused writes then meet a
    replica and are refused, never acknowledged)."""
    mf = ctx.mf
    if mf.slave is not None:
        ctx.redis("CLIENT", "UNPAUSE")
    mf.paused = False
    mf.end_ms = 0
    mf.can_start = False
    mf.slave = None
    mf.master_offset = -1


def _unclaimed(ctx: Context) -> int:
    """isSlotUnclaimed for every slot: no owner, or an owner that stopped claiming it."""
    return (ALL_SLOTS & ~ctx.table.assigned()) | ctx.table.owner_not_claiming


def update_slots_config_with(ctx: Context, sender: ClusterNode, epoch: int, claimed: int) -> None:
    """clusterUpdateSlotsConfigWith: rebind the slots ``sender`` claims at ``epoch``."""
    table = ctx.table
    myself = table.myself
    if sender is myself:
        ctx.log(Level.WARNING, "Discarding UPDATE message about myself.")
        return
    curmaster = myself if myself.is_master else table.master_of(myself)
    table.owner_not_claiming &= ~(claimed & sender.slots)
    # An importing slot changes owner only by CLUSTER SETSLOT (a resharding in progress).
    rest = claimed & ~sender.slots & ~ctx.importing_bits()
    rebind = rest & _unclaimed(ctx)
    for owner in table.nodes.values():
        overlap = rest & owner.slots
        if overlap and owner is not sender and owner.config_epoch < epoch:
            rebind |= overlap
    newmaster = None
    migrated = 0
    if rebind:
        if curmaster is not None and rebind & curmaster.slots:
            newmaster = sender
            migrated = (rebind & curmaster.slots).bit_count()
        table.take_slots(sender, rebind)
        table.owner_not_claiming &= ~rebind
        ctx.do(Todo.UPDATE_STATE)
        ctx.save()
    table.owner_not_claiming |= sender.slots & ~claimed
    sender_slots = claimed.bit_count()
    master = table.master_of(myself)
    grand = table.master_of(master) if master is not None else None
    if (
        newmaster is not None
        and curmaster is not None
        and not curmaster.slots
        and (ctx.config.allow_replica_migration or sender_slots == migrated)
    ):
        ctx.log(
            Level.WARNING,
            f"Configuration change detected. Reconfiguring myself as a replica of {sender.name}",
        )
        set_master(ctx, sender)
        ctx.do(Todo.UPDATE_STATE)
        ctx.save()
    elif grand is not None and grand is not myself:
        ctx.log(
            Level.WARNING,
            f"I'm a sub-replica! Reconfiguring myself as a replica of grandmaster {grand.name}",
        )
        set_master(ctx, grand)
        ctx.do(Todo.UPDATE_STATE)
        ctx.save()


def send_update_if_stale(ctx: Context, sender: ClusterNode, epoch: int, claimed: int) -> None:
    """The sender claims slots that an owner with a greater configEpoch holds: UPDATE it
    about the owner of the lowest such slot (one UPDATE per packet, as Redis)."""
    table = ctx.table
    candidates = claimed & ~sender.slots & ~_unclaimed(ctx)
    best: tuple[int, ClusterNode] | None = None
    for owner in table.nodes.values():
        overlap = candidates & owner.slots
        if not overlap or owner is sender or owner.config_epoch <= epoch:
            continue
        lowest = (overlap & -overlap).bit_length() - 1
        if best is None or lowest < best[0]:
            best = (lowest, owner)
    if best is None:
        return
    owner = best[1]
    ctx.log(
        Level.VERBOSE,
        f"Node {sender.name} has old slots configuration, sending an UPDATE message about "
        f"{owner.name}",
    )
    slots = SlotBitmap(owner.slots & ~table.owner_not_claiming)
    ctx.send_to_node(sender, Update(ctx.header(), owner.config_epoch, owner.name, slots))


def handle_update(ctx: Context, update: Update, sender: ClusterNode | None) -> None:
    """An UPDATE message: a newer configuration of ``update.nodename``."""
    if sender is None:
        return
    node = ctx.table.get(update.nodename)
    if node is None or node.config_epoch >= update.config_epoch:
        return
    if node.is_slave:
        set_node_as_master(ctx, node)
    node.config_epoch = update.config_epoch
    ctx.save()
    update_slots_config_with(ctx, node, update.config_epoch, update.slots.to_int())


def handle_epoch_collision(ctx: Context, sender: ClusterNode) -> None:
    """clusterHandleConfigEpochCollision: of two masters on one configEpoch, the one with the
    smaller name moves to a new epoch."""
    myself = ctx.myself
    if sender.config_epoch != myself.config_epoch or not sender.is_master or not myself.is_master:
        return
    if sender.name <= myself.name:
        return
    ctx.current_epoch += 1
    myself.config_epoch = ctx.current_epoch
    ctx.save()
    ctx.log(
        Level.VERBOSE,
        f"WARNING: configEpoch collision with node {sender.name}. configEpoch set to "
        f"{myself.config_epoch}",
    )


def max_epoch(ctx: Context) -> int:
    """clusterGetMaxEpoch."""
    return max([ctx.current_epoch, *(n.config_epoch for n in ctx.table.nodes.values())])


def bump_epoch_without_consensus(ctx: Context) -> bool:
    """clusterBumpConfigEpochWithoutConsensus (CLUSTER FAILOVER TAKEOVER)."""
    myself = ctx.myself
    if myself.config_epoch != 0 and myself.config_epoch == max_epoch(ctx):
        return False
    ctx.current_epoch += 1
    myself.config_epoch = ctx.current_epoch
    ctx.save()
    ctx.log(Level.WARNING, f"New configEpoch set to {myself.config_epoch}")
    return True


def update_state(ctx: Context) -> None:
    """clusterUpdateState: ok only with full slot coverage and a reachable majority."""
    ctx.todo &= ~Todo.UPDATE_STATE
    now = ctx.now
    config = ctx.config
    myself = ctx.myself
    if ctx.first_call_ms is None:
        ctx.first_call_ms = now
    if (
        myself.is_master
        and ctx.state == ClusterState.FAIL
        and now - ctx.first_call_ms < config.writable_delay_ms
    ):
        return
    new_state = ClusterState.OK
    masters = ctx.table.slot_masters()
    if config.require_full_coverage:
        covered = 0
        for node in masters:
            if not node.flags & F.FAIL:
                covered |= node.slots
        if covered != ALL_SLOTS:
            new_state = ClusterState.FAIL
    reachable = sum(1 for n in masters if not n.flags & (F.FAIL | F.PFAIL))
    if reachable < needed_quorum(len(masters)):
        new_state = ClusterState.FAIL
        ctx.among_minority_ms = now
    if new_state != ctx.state:
        if (
            new_state == ClusterState.OK
            and myself.is_master
            and ctx.among_minority_ms is not None
            and now - ctx.among_minority_ms < config.rejoin_delay_ms
        ):
            return
        ctx.log(Level.WARNING, f"Cluster state changed: {'ok' if new_state == 0 else 'fail'}")
        ctx.state = new_state
