"""Slot administration in the pure core (CLUSTER SETSLOT, DELSLOTS, FLUSHSLOTS, BUMPEPOCH,
FORGET, RESET) and the data plane's routing of a slot being migrated (ASK, TRYAGAIN,
ASKING, MIGRATE), as Redis 7.0's cluster.c decides them."""

from __future__ import annotations

import random

from gossip_cluster.core import (
    AddSlots,
    BumpEpoch,
    ClusterCommand,
    ClusterCore,
    CommandError,
    DelSlots,
    FlushSlots,
    Forget,
    Nodes,
    Replicate,
    Reset,
    SetSlot,
    Status,
)
from gossip_cluster.core.slots import update_slots_config_with
from gossip_cluster.core.table import ClusterNode
from gossip_cluster.dataplane import TRYAGAIN, OpenSlot, route
from gossip_cluster.nodes_conf import parse_line
from gossip_cluster.wire.constants import NodeFlag
from gossip_cluster.wire.messages import GossipEntry, Ping, Pong
from labkit.actions import RedisCommand, Reply
from labkit.core import ClientRequest
from tests.unit.test_cluster_core_harness import NT, World, fresh

F = NodeFlag


def _ask(core: ClusterCore, request: object, now: int = 0) -> object:
    actions = core.step(ClientRequest("c", request), now)
    return next(a.value for a in actions if isinstance(a, Reply))


def _two() -> tuple[World, ClusterCore, ClusterCore]:
    """Two linked masters: A owns 0-8191 (epoch 1), B 8192-16383 (epoch 2)."""
    world, topo = World.formed(2)
    world.run(3 * NT)
    a, b = (world.core(ep) for ep in topo.endpoints)
    return world, a, b


def _own_line_states(core: ClusterCore) -> tuple[str, ...]:
    text = _ask(core, Nodes())
    assert isinstance(text, str)
    line = next(parse_line(x) for x in text.splitlines() if "myself" in x)
    return line.slot_states


# -- SETSLOT --------------------------------------------------------------------------------------
def test_setslot_errors_are_redis_texts() -> None:
    world, a, b = _two()
    err = world.request
    a_ep, b_ep = next(iter(world.cores)), list(world.cores)[1]
    assert err(a_ep, SetSlot(9000, "MIGRATING", b.name)) == CommandError(
        "ERR I'm not the owner of hash slot 9000"
    )
    assert err(a_ep, SetSlot(5, "IMPORTING", b.name)) == CommandError(
        "ERR I'm already the owner of hash slot 5"
    )
    assert err(a_ep, SetSlot(5, "MIGRATING", "f" * 40)) == CommandError(
        f"ERR I don't know about node {'f' * 40}"
    )
    assert err(a_ep, SetSlot(5, "NODE", "nope")) == CommandError("ERR Unknown node nope")
    assert err(a_ep, SetSlot(16384, "STABLE")) == CommandError("ERR Invalid or out of range slot")
    assert err(a_ep, SetSlot(5, "SIDEWAYS", b.name)) == CommandError(
        "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"
    )
    # Parsed from raw arguments the same way.
    assert err(b_ep, ClusterCommand(("setslot", "5", "stable", "x"))) == CommandError(
        "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"
    )
    assert err(b_ep, ClusterCommand(("setslot", "5", "importing", a.name))) == "OK"
    assert b.ctx.importing == {5: a.name}


def test_setslot_only_on_masters_and_never_to_a_replica() -> None:
    world, topo = World.formed(1, [1])
    world.run(3 * NT)
    replica = world.core(topo.endpoints[1])
    assert world.request(topo.endpoints[1], SetSlot(5, "STABLE")) == CommandError(
        "ERR Please use SETSLOT only with masters."
    )
    assert world.request(topo.endpoints[0], SetSlot(5, "NODE", replica.name)) == CommandError(
        "ERR Target node is not a master"
    )


def test_open_slots_show_in_cluster_nodes_and_survive_a_restart() -> None:
    world, a, b = _two()
    a_ep, b_ep = list(world.cores)
    assert world.request(a_ep, SetSlot(7, "MIGRATING", b.name)) == "OK"
    assert world.request(b_ep, SetSlot(9, "IMPORTING", a.name)) == "OK"
    assert _own_line_states(a) == (f"[7->-{b.name}]",)
    assert _own_line_states(b) == (f"[9-<-{a.name}]",)
    restarted = ClusterCore(random.Random(5), initial=a.durable_state()[0])
    assert restarted.ctx.migrating == {7: b.name}
    assert world.request(a_ep, SetSlot(7, "STABLE")) == "OK"
    assert not _own_line_states(a)


def test_node_refused_while_keys_remain_then_the_importer_bumps_its_epoch() -> None:
    world, a, b = _two()
    a_ep, b_ep = list(world.cores)
    assert world.request(b_ep, SetSlot(5, "IMPORTING", a.name)) == "OK"
    assert world.request(a_ep, SetSlot(5, "MIGRATING", b.name)) == "OK"
    refused = world.request(a_ep, SetSlot(5, "NODE", b.name, keys_in_slot=3))
    assert refused == CommandError(
        "ERR Can't assign hashslot 5 to a different node while I still hold keys for this "
        "hash slot."
    )
    # A and B: epochs 1 and 2. B is already the greatest: no bump (Redis's "STILL").
    sent_before = len(world.sent(b_ep, Pong))
    assert world.request(b_ep, SetSlot(5, "NODE", b.name)) == "OK"
    assert b.myself.config_epoch == 2 and 5 not in b.ctx.importing
    assert b.myself.slots >> 5 & 1
    assert len(world.sent(b_ep, Pong)) > sent_before  # told everyone at once
    # The PONG made A give the slot to B (a greater configEpoch), closing its migration.
    assert a.table.owner(5) is a.table.get(b.name)
    assert world.request(a_ep, SetSlot(5, "NODE", b.name)) == "OK"
    assert not a.ctx.migrating


def test_importing_node_with_the_lower_epoch_bumps_it() -> None:
    world, a, b = _two()
    a_ep = next(iter(world.cores))
    assert world.request(a_ep, SetSlot(9000, "IMPORTING", b.name)) == "OK"
    assert world.request(a_ep, SetSlot(9000, "NODE", a.name)) == "OK"
    assert a.myself.config_epoch == 3 and a.current_epoch == 3
    assert "configEpoch updated after importing slot 9000" in world.emitted(a_ep)
    world.run(NT)
    assert b.table.owner(9000) is b.table.get(a.name)


def test_an_importing_slot_is_not_rebound_by_gossip() -> None:
    world, a, b = _two()
    b_ep = list(world.cores)[1]
    assert world.request(b_ep, SetSlot(5, "IMPORTING", a.name)) == "OK"
    third = ClusterNode(name="c" * 40, flags=F.MASTER, config_epoch=99)
    b.table.add(third)
    update_slots_config_with(b.ctx, third, 99, (1 << 5) | (1 << 6))
    assert b.table.owner(5) is b.table.get(a.name)  # importing: left alone
    assert b.table.owner(6) is third


def test_delslots_and_addslots_end_an_import() -> None:
    world, a, _ = _two()
    b_ep = list(world.cores)[1]
    b = world.core(b_ep)
    assert world.request(b_ep, SetSlot(5, "IMPORTING", a.name)) == "OK"
    assert world.request(b_ep, DelSlots(((5, 5),))) == "OK"
    assert not b.ctx.importing and b.table.owner(5) is None
    assert world.request(b_ep, SetSlot(5, "IMPORTING", a.name)) == "OK"
    assert world.request(b_ep, AddSlots(((5, 5),))) == "OK"
    assert not b.ctx.importing and b.table.owner(5) is b.myself


# -- DELSLOTS, FLUSHSLOTS, BUMPEPOCH ---------------------------------------------------------------
def test_delslots_flushslots_bumpepoch() -> None:
    core = fresh("10.1.0.1", 1)
    assert _ask(core, AddSlots(((0, 99),))) == "OK"
    assert _ask(core, DelSlots(((100, 100),))) == CommandError("ERR Slot 100 is already unassigned")
    assert _ask(core, DelSlots(((0, 9),))) == "OK"
    assert core.myself.slots == ((1 << 100) - 1) & ~((1 << 10) - 1)
    assert _ask(core, FlushSlots(db_keys=1)) == CommandError(
        "ERR DB must be empty to perform CLUSTER FLUSHSLOTS."
    )
    assert _ask(core, FlushSlots()) == "OK" and core.myself.slots == 0
    assert _ask(core, BumpEpoch()) == Status("BUMPED 1")
    assert _ask(core, BumpEpoch()) == Status("STILL 1")


# -- FORGET and RESET ---------------------------------------------------------------------------
def test_forget_refuses_gossip_about_the_node_for_a_minute() -> None:
    world, topo = World.formed(3)
    world.run(3 * NT)
    a, b, c = (world.core(ep) for ep in topo.endpoints)
    a_ep = topo.endpoints[0]
    assert world.request(a_ep, Forget(a.name)) == CommandError(
        "ERR I tried hard but I can't forget myself..."
    )
    assert world.request(a_ep, Forget("0" * 40)) == CommandError(f"ERR Unknown node {'0' * 40}")
    assert world.request(a_ep, Forget(c.name)) == "OK"
    assert a.table.get(c.name) is None and len(a.table) == 2
    # B keeps gossiping about C: A does not take it back while the blacklist holds it.
    entry = GossipEntry(c.name, 0, 0, c.myself.ip, 6379, 16379, F.MASTER)
    ping = Ping(b.ctx.header(), gossip=(entry,))
    world.now += 1000
    world.deliver(topo.endpoints[1], a_ep, ping)
    assert a.table.get(c.name) is None
    world.now += 60_001
    world.deliver(topo.endpoints[1], a_ep, ping)
    assert a.table.get(c.name) is not None


def test_forget_my_master_is_refused() -> None:
    world, topo = World.formed(1, [1])
    world.run(3 * NT)
    master = world.core(topo.endpoints[0])
    assert world.request(topo.endpoints[1], Forget(master.name)) == CommandError(
        "ERR Can't forget my master!"
    )


def test_reset_soft_and_hard() -> None:
    world, a, b = _two()
    a_ep = next(iter(world.cores))
    name = a.name
    assert world.request(a_ep, Reset(db_keys=2)) == CommandError(
        "ERR CLUSTER RESET can't be called with master nodes containing keys"
    )
    assert world.request(a_ep, SetSlot(7, "MIGRATING", b.name)) == "OK"
    assert world.request(a_ep, Reset()) == "OK"
    assert len(a.table) == 1 and a.myself.slots == 0 and not a.ctx.migrating
    assert a.name == name and a.myself.config_epoch == 1
    assert world.request(a_ep, Reset(hard=True)) == "OK"
    assert a.name != name and a.table.get(a.name) is a.myself
    assert (a.current_epoch, a.last_vote_epoch, a.myself.config_epoch) == (0, 0, 0)


def test_reset_of_a_replica_makes_an_empty_master() -> None:
    master = fresh("10.1.0.1", 1)
    replica = fresh("10.1.0.2", 2, data_server="127.0.0.1:9")
    replica.table.add(ClusterNode(name=master.name, flags=F.MASTER, ip="10.1.0.1", port=6379))
    assert _ask(replica, Replicate(master.name)) == "OK"
    actions = replica.step(ClientRequest("c", Reset()), 0)
    commands = [a.args for a in actions if isinstance(a, RedisCommand)]
    assert commands == [("REPLICAOF", "NO", "ONE"), ("FLUSHALL",)]
    assert replica.myself.is_master and replica.myself.slaveof is None


# -- routing during a migration -------------------------------------------------------------------
def _node(name: str, flags: int, port: int) -> ClusterNode:
    return ClusterNode(name=name * 40, flags=flags, ip="10.0.0.1", port=port)


def test_routing_of_a_migrating_slot() -> None:
    me = _node("a", F.MYSELF | F.MASTER, 7000)
    target = _node("b", F.MASTER, 7001)
    kw = {"cluster_ok": True, "write": False, "readonly_client": False}

    def migrating(missing: int, existing: int, multiple: bool = False) -> OpenSlot:
        return OpenSlot(target, None, missing, existing, multiple)

    assert route(5, me, me, open_slot=migrating(0, 1), **kw) is None  # the key is still here
    assert route(5, me, me, open_slot=migrating(1, 0), **kw) == "ASK 5 10.0.0.1:7001"
    assert route(5, me, me, open_slot=migrating(1, 1, True), **kw) == TRYAGAIN
    assert route(5, me, me, open_slot=migrating(1, 0), migrate=True, **kw) is None
    assert route(5, me, me, open_slot=migrating(1, 0), cluster_ok=False, write=False,
                 readonly_client=False) == "CLUSTERDOWN The cluster is down"  # fmt: skip


def test_routing_of_an_importing_slot() -> None:
    me = _node("b", F.MYSELF | F.MASTER, 7001)
    source = _node("a", F.MASTER, 7000)
    kw = {"cluster_ok": True, "write": True, "readonly_client": False}

    def importing(missing: int, existing: int, multiple: bool = False) -> OpenSlot:
        return OpenSlot(None, source, missing, existing, multiple)

    assert route(5, source, me, open_slot=importing(1, 0), **kw) == "MOVED 5 10.0.0.1:7000"
    assert route(5, source, me, open_slot=importing(1, 0), asking=True, **kw) is None
    assert route(5, source, me, open_slot=importing(1, 1, True), asking=True, **kw) == TRYAGAIN
    assert route(5, source, me, open_slot=importing(0, 2, True), asking=True, **kw) is None
    assert route(5, source, me, open_slot=importing(1, 0), migrate=True, **kw) is None
