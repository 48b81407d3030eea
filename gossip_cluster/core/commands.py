"""CLUSTER commands that drive the bus: MEET, ADDSLOTSRANGE, REPLICATE, SET-CONFIG-EPOCH,
FAILOVER [FORCE|TAKEOVER] and NODES, plus slot administration (:mod:`.admin`: DELSLOTSRANGE,
FLUSHSLOTS, SETSLOT, BUMPEPOCH, FORGET, RESET). Error texts are Redis's.

Parsed from raw arguments, FLUSHSLOTS, RESET and SETSLOT NODE take the keyspace as empty;
a driver with data sends the request dataclasses with the counts filled in."""

from __future__ import annotations

import ipaddress

from gossip_cluster.core.admin import AdminRequest, execute_admin
from gossip_cluster.core.context import Context, Level, Todo
from gossip_cluster.core.inputs import (
    AddSlots,
    BumpEpoch,
    ClusterCommand,
    CommandError,
    DelSlots,
    Failover,
    FlushSlots,
    Forget,
    Meet,
    Nodes,
    Replicate,
    Reset,
    SetConfigEpoch,
    SetSlot,
)
from gossip_cluster.core.persist import to_conf
from gossip_cluster.core.roles import replace_your_master
from gossip_cluster.core.slots import (
    bump_epoch_without_consensus,
    reset_manual_failover,
    set_master,
)
from gossip_cluster.core.table import ClusterNode, F
from gossip_cluster.nodes_conf import render_line
from gossip_cluster.wire.constants import CLUSTER_SLOTS
from gossip_cluster.wire.messages import MfStart

__all__ = ["Request", "execute", "parse_command"]

Request = Meet | AddSlots | Replicate | SetConfigEpoch | Failover | Nodes | AdminRequest
SYNTAX_ERROR = CommandError("ERR syntax error")


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def parse_command(command: ClusterCommand) -> Request | CommandError:
    """``CLUSTER <args>`` as a request, or the error Redis would reply."""
    args = command.args
    if not args:
        return CommandError("ERR wrong number of arguments for 'cluster' command")
    sub = args[0].lower()
    rest = args[1:]
    if sub == "meet" and len(rest) in (2, 3):
        port = _int(rest[1])
        if port is None:
            return CommandError(f"ERR Invalid TCP base port specified: {rest[1]}")
        cport = None
        if len(rest) == 3:
            cport = _int(rest[2])
            if cport is None:
                return CommandError(f"ERR Invalid TCP bus port specified: {rest[2]}")
        return Meet(rest[0], port, cport)
    if sub == "addslotsrange" and rest and len(rest) % 2 == 0:
        bounds = [_int(x) for x in rest]
        if any(b is None or not 0 <= b < CLUSTER_SLOTS for b in bounds):
            return CommandError("ERR Invalid or out of range slot")
        pairs = [(int(a or 0), int(b or 0)) for a, b in zip(bounds[::2], bounds[1::2], strict=True)]
        return AddSlots(tuple(pairs))
    if sub == "replicate" and len(rest) == 1:
        return Replicate(rest[0])
    if sub == "set-config-epoch" and len(rest) == 1:
        epoch = _int(rest[0])
        if epoch is None or epoch < 0:
            return CommandError(f"ERR Invalid config epoch specified: {rest[0]}")
        return SetConfigEpoch(epoch)
    if sub == "failover" and len(rest) <= 1:
        option = rest[0].upper() if rest else ""
        if option not in ("", "FORCE", "TAKEOVER"):
            return SYNTAX_ERROR
        return Failover(option)
    if sub == "nodes" and not rest:
        return Nodes()
    return _parse_admin(sub, rest, args[0])


def _parse_admin(sub: str, rest: tuple[str, ...], shown: str) -> Request | CommandError:
    if sub == "delslotsrange" and rest and len(rest) % 2 == 0:
        bounds = [_int(x) for x in rest]
        if any(b is None or not 0 <= b < CLUSTER_SLOTS for b in bounds):
            return CommandError("ERR Invalid or out of range slot")
        pairs = [(int(a or 0), int(b or 0)) for a, b in zip(bounds[::2], bounds[1::2], strict=True)]
        if any(a > b for a, b in pairs):
            first, last = next((a, b) for a, b in pairs if a > b)
            return CommandError(
                f"ERR start slot number {first} is greater than end slot number {last}"
            )
        return DelSlots(tuple(pairs))
    if sub == "flushslots" and not rest:
        return FlushSlots()
    if sub == "setslot" and len(rest) in (2, 3):
        slot = _int(rest[0])
        if slot is None or not 0 <= slot < CLUSTER_SLOTS:
            return CommandError("ERR Invalid or out of range slot")
        action = rest[1].upper()
        if (action == "STABLE") != (len(rest) == 2) or action not in _SETSLOT_ACTIONS:
            return CommandError(
                "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"
            )
        return SetSlot(slot, action, rest[2] if len(rest) == 3 else "")
    if sub == "bumpepoch" and not rest:
        return BumpEpoch()
    if sub == "forget" and len(rest) == 1:
        return Forget(rest[0])
    if sub == "reset" and len(rest) <= 1:
        mode = rest[0].upper() if rest else "SOFT"
        if mode not in ("SOFT", "HARD"):
            return SYNTAX_ERROR
        return Reset(hard=mode == "HARD")
    return CommandError(f"ERR unknown subcommand or wrong number of arguments for '{shown}'")


_SETSLOT_ACTIONS = frozenset({"IMPORTING", "MIGRATING", "STABLE", "NODE"})


def execute(ctx: Context, request: Request) -> object:
    """Run one request; the value is the reply ("OK", text, or a CommandError)."""
    if isinstance(request, Meet):
        return _meet(ctx, request)
    if isinstance(request, AddSlots):
        return _add_slots(ctx, request)
    if isinstance(request, Replicate):
        return _replicate(ctx, request)
    if isinstance(request, SetConfigEpoch):
        return _set_config_epoch(ctx, request)
    if isinstance(request, Failover):
        return _failover(ctx, request)
    if not isinstance(request, Nodes):
        return execute_admin(ctx, request)
    conf = to_conf(ctx, include_handshake=True)
    return "".join(render_line(line) + "\n" for line in conf.nodes)


def _meet(ctx: Context, request: Meet) -> object:
    """clusterStartHandshake: a HANDSHAKE|MEET node with a random name."""
    cport = request.port + 10_000 if request.cport is None else request.cport
    try:
        ip = str(ipaddress.ip_address(request.ip))
    except ValueError:
        ip = ""
    if not ip or not 0 < request.port <= 65535 or not 0 < cport <= 65535:
        return CommandError(f"ERR Invalid node address specified: {request.ip}:{request.port}")
    for node in ctx.table.nodes.values():
        if (
            node.in_handshake
            and node.ip.lower() == ip.lower()
            and (node.port, node.cport)
            == (
                request.port,
                cport,
            )
        ):
            return "OK"
    node = ClusterNode(
        name=f"{ctx.rng.getrandbits(160):040x}",
        flags=F.HANDSHAKE | F.MEET,
        ctime=ctx.now,
        ip=ip,
        port=request.port,
        cport=cport,
    )
    ctx.table.add(node)
    return "OK"


def _add_slots(ctx: Context, request: AddSlots) -> object:
    myself = ctx.myself
    bits = 0
    for first, last in request.ranges:
        if first > last:
            return CommandError(
                f"ERR start slot number {first} is greater than end slot number {last}"
            )
        bits |= ((1 << (last - first + 1)) - 1) << first
    if bits & ctx.table.assigned():
        slot = (bits & ctx.table.assigned() & -(bits & ctx.table.assigned())).bit_length() - 1
        return CommandError(f"ERR Slot {slot} is already busy")
    for slot in [s for s in ctx.importing if bits >> s & 1]:
        del ctx.importing[slot]  # clusterUpdateSlots: now the real owner
    ctx.table.take_slots(myself, bits)
    ctx.do(Todo.UPDATE_STATE)
    ctx.save()
    return "OK"


def _replicate(ctx: Context, request: Replicate) -> object:
    myself = ctx.myself
    node = ctx.table.get(request.node)
    if node is None:
        return CommandError(f"ERR Unknown node {request.node}")
    if node is myself:
        return CommandError("ERR Can't replicate myself")
    if node.is_slave:
        return CommandError("ERR I can only replicate a master, not a replica.")
    if myself.is_master and myself.slots:
        return CommandError(
            "ERR To set a master the node must be empty and without assigned slots."
        )
    set_master(ctx, node)
    ctx.do(Todo.UPDATE_STATE)
    ctx.save()
    return "OK"


def _set_config_epoch(ctx: Context, request: SetConfigEpoch) -> object:
    myself = ctx.myself
    if len(ctx.table) > 1:
        return CommandError(
            "ERR The user can assign a config epoch only when the node does not know any other node."
        )
    if myself.config_epoch != 0:
        return CommandError("ERR Node config epoch is already non-zero")
    myself.config_epoch = request.epoch
    ctx.log(Level.WARNING, f"configEpoch set to {request.epoch} via CLUSTER SET-CONFIG-EPOCH")
    ctx.current_epoch = max(ctx.current_epoch, request.epoch)
    ctx.do(Todo.UPDATE_STATE)
    ctx.save()
    return "OK"


def _failover(ctx: Context, request: Failover) -> object:
    """CLUSTER FAILOVER: FORCE skips the offset handshake, TAKEOVER skips the election."""
    myself = ctx.myself
    takeover = request.option == "TAKEOVER"
    force = takeover or request.option == "FORCE"
    master = ctx.table.master_of(myself)
    if myself.is_master:
        return CommandError("ERR You should send CLUSTER FAILOVER to a replica")
    if master is None:
        return CommandError("ERR I'm a replica but my master is unknown to me")
    if not force and (master.failed or master.link_ctime is None):
        return CommandError("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE")
    reset_manual_failover(ctx)
    ctx.mf.end_ms = ctx.now + ctx.config.manual_failover_timeout_ms
    if takeover:
        ctx.log(Level.WARNING, "Taking over the master (user request).")
        bump_epoch_without_consensus(ctx)
        replace_your_master(ctx)
    elif force:
        ctx.log(Level.WARNING, "Forced failover user request accepted.")
        ctx.mf.can_start = True
    else:
        ctx.log(Level.WARNING, "Manual failover user request accepted.")
        ctx.send_to_node(master, MfStart(ctx.header()))
    return "OK"
