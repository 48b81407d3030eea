"""Cluster core scenarios: epochs, configEpoch collisions, slot claims, UPDATE, durability."""

from __future__ import annotations

import dataclasses

from gossip_cluster.core.gossip import build_ping
from gossip_cluster.nodes_conf import NodesConf
from gossip_cluster.wire.constants import MessageType, NodeFlag
from gossip_cluster.wire.messages import Ping, Update
from gossip_cluster.wire.slots import SlotBitmap
from labkit.actions import Persist, Send
from tests.unit.test_cluster_core_harness import World, formed

F = NodeFlag


def test_current_epoch_is_the_max_seen() -> None:
    world, topo = World.formed(3)
    a, b = topo.endpoints[:2]
    sender = world.core(b)
    header = dataclasses.replace(build_ping(sender.ctx, MessageType.PING).header, current_epoch=40)
    world.deliver(b, a, Ping(header))
    assert world.core(a).current_epoch == 40
    header = dataclasses.replace(header, current_epoch=7)
    world.deliver(b, a, Ping(header))
    assert world.core(a).current_epoch == 40


def test_config_epoch_collision_moves_the_smaller_name() -> None:
    world, topo = World.formed(2)
    small, big = sorted(topo.names)
    for core in world.cores.values():
        for node in core.table:
            node.config_epoch = 5
        core.ctx.current_epoch = 5
    world.run(300)
    small_core = next(c for c in world.cores.values() if c.name == small)
    big_core = next(c for c in world.cores.values() if c.name == big)
    assert small_core.myself.config_epoch == 6 and small_core.current_epoch >= 6
    assert big_core.myself.config_epoch == 5
    bump = f"WARNING: configEpoch collision with node {big}. configEpoch set to 6"
    ep = topo.endpoint_of(small)
    assert bump in world.emitted(ep)
    persists = [x for t, n, x in world.log if n == ep and isinstance(x, Persist) and x.sync]
    assert any(isinstance(p.record, NodesConf) and p.record.current_epoch >= 6 for p in persists)


def test_higher_config_epoch_takes_slots_and_emptied_master_follows() -> None:
    world, topo = World.formed(3, [1, 0, 0])  # m0 (slots 0-5460), r0, m1, m2
    world.run(300)
    m0, r0 = topo.endpoints[0], topo.endpoints[1]
    r0_core = world.core(r0)
    # r0 claims m0's slots at a higher epoch (as after an election it won).
    r0_core.myself.flags = (r0_core.myself.flags & ~F.SLAVE) | F.MASTER
    r0_core.myself.slaveof = None
    r0_core.myself.config_epoch = 10
    r0_core.ctx.current_epoch = 10
    r0_core.table.take_slots(r0_core.myself, r0_core.table.get(topo.names[0]).slots)  # type: ignore[union-attr]
    header = build_ping(r0_core.ctx, MessageType.PING).header
    world.handle(m0, world.deliver(r0, m0, Ping(header)))
    m0_core = world.core(m0)
    assert m0_core.myself.flags & F.SLAVE and m0_core.myself.slaveof == topo.names[1]
    assert m0_core.myself.slots == 0
    text = f"Configuration change detected. Reconfiguring myself as a replica of {topo.names[1]}"
    assert text in world.emitted(m0)
    world.handle(topo.endpoints[2], world.deliver(r0, topo.endpoints[2], Ping(header)))
    owner = world.core(topo.endpoints[2]).table.owner(0)
    assert owner is not None and owner.name == topo.names[1]


def test_lower_config_epoch_claim_is_ignored_and_answered_with_update() -> None:
    world, topo = World.formed(2)
    a, b = topo.endpoints
    b_core = world.core(b)
    stale = dataclasses.replace(
        build_ping(b_core.ctx, MessageType.PING).header,
        myslots=SlotBitmap.full(),
        config_epoch=0,
    )
    world.run(100)
    actions = world.deliver(b, a, Ping(stale))
    a_core = world.core(a)
    assert a_core.myself.slots and a_core.table.owner(0) is a_core.myself
    updates = [x for x in actions if isinstance(x, Send) and isinstance(x.message, Update)]
    assert len(updates) == 1 and updates[0].to == b
    update = updates[0].message
    assert isinstance(update, Update)
    assert update.nodename == a_core.name and update.config_epoch == a_core.myself.config_epoch
    assert update.slots.to_int() == a_core.myself.slots


def test_update_message_rebinds_slots() -> None:
    world, topo = World.formed(3)
    a, _, c = topo.endpoints
    c_core = world.core(c)
    header = build_ping(world.core(a).ctx, MessageType.PING).header
    slots = SlotBitmap.from_ranges([(0, 99)])
    world.handle(c, world.deliver(a, c, Update(header, 50, topo.names[1], slots)))
    node = c_core.table.get(topo.names[1])
    assert node is not None and node.config_epoch == 50
    assert all(c_core.table.owner(s) is node for s in (0, 50, 99))
    # An UPDATE that is not newer changes nothing.
    world.deliver(a, c, Update(header, 3, topo.names[2], SlotBitmap.full()))
    assert c_core.myself.slots


def test_durable_state_restores_identity_epochs_and_vote() -> None:
    world, topo = World.formed(3, [1, 0, 0])
    world.run(500)
    core = world.core(topo.endpoints[2])
    core.ctx.current_epoch = 9
    core.ctx.last_vote_epoch = 8
    records = core.durable_state()
    again = formed(topo)[topo.endpoints[2]]
    again.restore([object(), *records])
    assert again.name == core.name and again.current_epoch == 9 and again.last_vote_epoch == 8
    assert {n.name for n in again.table} == set(topo.names)
    assert again.myself.slots == core.myself.slots
    replica = again.table.get(topo.names[1])
    assert replica is not None and replica.slaveof == topo.names[0] and replica.config_epoch == 0
