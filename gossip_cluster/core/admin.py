"""Slot administration: CLUSTER DELSLOTS(RANGE), FLUSHSLOTS, SETSLOT, BUMPEPOCH, FORGET and
RESET, as Redis 7.0's clusterCommand runs them. Error texts are Redis's.

What needs the keyspace (countKeysInSlot, the database size) arrives in the request: the
driver asks the backing server first, so the core stays free of I/O.
"""

from __future__ import annotations

from gossip_cluster.core.context import Context, Level, Todo
from gossip_cluster.core.gossip import broadcast_pong
from gossip_cluster.core.inputs import (
    BumpEpoch,
    CommandError,
    DelSlots,
    FlushSlots,
    Forget,
    Reset,
    SetSlot,
    Status,
)
from gossip_cluster.core.slots import (
    bump_epoch_without_consensus,
    reset_manual_failover,
    set_master,
    set_node_as_master,
)
from gossip_cluster.core.table import ClusterNode

__all__ = ["AdminRequest", "execute_admin"]

AdminRequest = DelSlots | FlushSlots | SetSlot | BumpEpoch | Forget | Reset


def execute_admin(ctx: Context, request: AdminRequest) -> object:
    """Run one slot-administration request; the reply value ("OK", Status, CommandError)."""
    if isinstance(request, DelSlots):
        return _del_slots(ctx, request)
    if isinstance(request, FlushSlots):
        return _flush_slots(ctx, request)
    if isinstance(request, SetSlot):
        return _set_slot(ctx, request)
    if isinstance(request, BumpEpoch):
        bumped = bump_epoch_without_consensus(ctx)
        return Status(f"{'BUMPED' if bumped else 'STILL'} {ctx.myself.config_epoch}")
    if isinstance(request, Forget):
        return _forget(ctx, request)
    return _reset(ctx, request)


def _changed(ctx: Context, *, fsync: bool = True) -> str:
    ctx.do(Todo.UPDATE_STATE)
    ctx.save(fsync=fsync)
    return "OK"


def _del_slots(ctx: Context, request: DelSlots) -> object:
    """clusterUpdateSlots(del): every slot must have an owner; importing states close."""
    bits = 0
    for first, last in request.ranges:
        if not 0 <= first <= last < 1 << 14:
            return CommandError("ERR Invalid or out of range slot")
        bits |= ((1 << (last - first + 1)) - 1) << first
    free = bits & ~ctx.table.assigned()
    if free:
        return CommandError(f"ERR Slot {(free & -free).bit_length() - 1} is already unassigned")
    for slot in [s for s in ctx.importing if bits >> s & 1]:
        del ctx.importing[slot]
    for node in ctx.table.nodes.values():
        node.slots &= ~bits
    ctx.table.owner_not_claiming &= ~bits
    return _changed(ctx, fsync=False)


def _flush_slots(ctx: Context, request: FlushSlots) -> object:
    if request.db_keys:
        return CommandError("ERR DB must be empty to perform CLUSTER FLUSHSLOTS.")
    ctx.table.owner_not_claiming &= ~ctx.myself.slots
    ctx.myself.slots = 0
    return _changed(ctx, fsync=False)


def _master_named(ctx: Context, name: str, unknown: str) -> ClusterNode | CommandError:
    node = ctx.table.get(name)
    if node is None:
        return CommandError(unknown)
    if node.is_slave:
        return CommandError("ERR Target node is not a master")
    return node


def _set_slot(ctx: Context, request: SetSlot) -> object:
    """CLUSTER SETSLOT: open a slot for migration, close it, or give it to a node."""
    myself = ctx.myself
    if myself.is_slave:
        return CommandError("ERR Please use SETSLOT only with masters.")
    slot = request.slot
    if not 0 <= slot < 1 << 14:
        return CommandError("ERR Invalid or out of range slot")
    owner = ctx.table.owner(slot)
    action = request.action.upper()
    if action == "MIGRATING":
        if owner is not myself:
            return CommandError(f"ERR I'm not the owner of hash slot {slot}")
        node = _master_named(ctx, request.node, f"ERR I don't know about node {request.node}")
        if isinstance(node, CommandError):
            return node
        ctx.migrating[slot] = node.name
    elif action == "IMPORTING":
        if owner is myself:
            return CommandError(f"ERR I'm already the owner of hash slot {slot}")
        node = _master_named(ctx, request.node, f"ERR I don't know about node {request.node}")
        if isinstance(node, CommandError):
            return node
        ctx.importing[slot] = node.name
    elif action == "STABLE":
        ctx.importing.pop(slot, None)
        ctx.migrating.pop(slot, None)
    elif action == "NODE":
        node = _master_named(ctx, request.node, f"ERR Unknown node {request.node}")
        if isinstance(node, CommandError):
            return node
        error = _assign(ctx, slot, owner, node, request.keys_in_slot)
        if error is not None:
            return error
    else:
        return CommandError(
            "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"
        )
    return _changed(ctx, fsync=False)


def _assign(
    ctx: Context, slot: int, owner: ClusterNode | None, node: ClusterNode, keys: int
) -> CommandError | None:
    """SETSLOT <slot> NODE <node>: the end of a migration on either side."""
    myself = ctx.myself
    if owner is myself and node is not myself and keys:
        return CommandError(
            f"ERR Can't assign hashslot {slot} to a different node while I still hold keys "
            "for this hash slot."
        )
    if not keys:
        ctx.migrating.pop(slot, None)
    ctx.table.take_slots(node, 1 << slot)
    ctx.table.owner_not_claiming &= ~(1 << slot)
    if (
        owner is myself
        and node is not myself
        and not myself.slots
        and ctx.config.allow_replica_migration
    ):
        ctx.log(
            Level.WARNING,
            f"Configuration change detected. Reconfiguring myself as a replica of {node.name}",
        )
        set_master(ctx, node)
        ctx.do(Todo.UPDATE_STATE)
        ctx.save()
    if node is myself and slot in ctx.importing:
        # The slot was migrated by hand: a new configEpoch makes the new owner win.
        if bump_epoch_without_consensus(ctx):
            ctx.log(Level.WARNING, f"configEpoch updated after importing slot {slot}")
        del ctx.importing[slot]
        broadcast_pong(ctx)
    return None


def _forget(ctx: Context, request: Forget) -> object:
    myself = ctx.myself
    node = ctx.table.get(request.node)
    if node is None:
        return CommandError(f"ERR Unknown node {request.node}")
    if node is myself:
        return CommandError("ERR I tried hard but I can't forget myself...")
    if myself.is_slave and myself.slaveof == node.name:
        return CommandError("ERR Can't forget my master!")
    ctx.blacklist_node(node.name)
    ctx.delete_node(node)
    return _changed(ctx, fsync=False)


def _reset(ctx: Context, request: Reset) -> object:
    """clusterReset: forget every node, drop every slot; HARD also takes a new name and
    zeroes the epochs. A replica becomes an empty master."""
    myself = ctx.myself
    if myself.is_master and request.db_keys:
        return CommandError("ERR CLUSTER RESET can't be called with master nodes containing keys")
    if myself.is_slave:
        set_node_as_master(ctx, myself)
        ctx.redis("REPLICAOF", "NO", "ONE")
        ctx.redis("FLUSHALL")
    ctx.close_all_slots()
    reset_manual_failover(ctx)
    for node in list(ctx.table.nodes.values()):
        node.slots = 0
    ctx.table.owner_not_claiming = 0
    for node in list(ctx.table.nodes.values()):
        if node is not myself:
            ctx.delete_node(node)
    if request.hard:
        ctx.current_epoch = 0
        ctx.last_vote_epoch = 0
        myself.config_epoch = 0
        ctx.log(Level.WARNING, "configEpoch set to 0 via CLUSTER RESET HARD")
        ctx.table.rename(myself, f"{ctx.rng.getrandbits(160):040x}")
        ctx.log(Level.NOTICE, f"Node hard reset, now I'm {myself.name}")
    return _changed(ctx)
