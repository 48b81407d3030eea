"""Cluster core scenarios: handshake, gossip, PFAIL, failure reports, FAIL and its clearing."""

from __future__ import annotations

import random

from gossip_cluster.core import ClusterCore, CommandError, Meet
from gossip_cluster.core.failure import counted_reporters
from gossip_cluster.core.gossip import build_ping
from gossip_cluster.core.quorum import gossip_wanted
from gossip_cluster.sim_scenario import build_topology
from gossip_cluster.wire.constants import MessageType, NodeFlag
from gossip_cluster.wire.messages import Fail, GossipEntry, Ping, Pong
from gossip_cluster.wire.messages import Meet as MeetMsg
from labkit.actions import Emit, Persist, Send
from labkit.core import ClientRequest, Received
from tests.unit.test_cluster_core_harness import NT, World, formed, fresh

F = NodeFlag
A, B, C = "10.1.0.1:16379", "10.1.0.2:16379", "10.1.0.3:16379"


def test_core_satisfies_the_interface() -> None:
    from labkit.core import Core

    assert isinstance(fresh("10.1.0.1", 1), Core)


# -- handshake --------------------------------------------------------------------------------
def test_handshake_both_ways_via_cluster_meet() -> None:
    world = World({A: fresh("10.1.0.1", 1), B: fresh("10.1.0.2", 2)})
    a, b = world.core(A), world.core(B)
    assert world.request(A, Meet("10.1.0.2", 6379)) == "OK"
    pending = [n for n in a.table if n is not a.myself]
    assert len(pending) == 1 and pending[0].flags == F.HANDSHAKE | F.MEET
    assert pending[0].name != b.name and pending[0].cport == 16379
    world.run(100)
    meets = world.sent(A, MeetMsg)
    assert meets and meets[0].to == B
    first = meets[0].message
    assert isinstance(first, MeetMsg) and first.header.flags & F.MYSELF
    # A renamed its record of B on B's PONG, and B completed its own handshake with A.
    assert a.table.get(b.name) is not None and not a.table.get(b.name).flags & F.HANDSHAKE  # type: ignore[union-attr]
    assert b.table.get(a.name) is not None and not b.table.get(a.name).flags & F.HANDSHAKE  # type: ignore[union-attr]
    assert a.table.get(b.name).flags & F.MASTER  # type: ignore[union-attr]
    assert len(a.table) == 2 and len(b.table) == 2
    # B contacted A with PING, not MEET.
    assert world.sent(B, Ping) and not world.sent(B, MeetMsg)
    # The handshake was saved to nodes.conf (no handshake nodes are ever written).
    saved = [a for t, n, a in world.log if n == A and isinstance(a, Persist)]
    assert all(not line.flags & F.HANDSHAKE for p in saved for line in p.record.nodes)  # type: ignore[attr-defined]


def test_meet_from_unknown_node_adds_it_in_handshake_and_pongs() -> None:
    b = fresh("10.1.0.2", 2)
    a = fresh("10.1.0.1", 1)
    meet = build_ping(a.ctx, MessageType.MEET)
    actions = b.step(Received(f"in:{A}@10.1.0.2", meet), 0)
    new = [n for n in b.table if n is not b.myself]
    assert len(new) == 1 and new[0].flags == F.HANDSHAKE and new[0].ip == "10.1.0.1"
    assert new[0].name != a.name  # random until the handshake completes
    pongs = [x for x in actions if isinstance(x, Send) and isinstance(x.message, Pong)]
    assert [p.to for p in pongs] == [f"in:{A}@10.1.0.2"]


def test_ping_from_unknown_node_gets_a_pong_and_nothing_else() -> None:
    b = fresh("10.1.0.2", 2)
    ping = build_ping(fresh("10.1.0.1", 1).ctx, MessageType.PING)
    actions = b.step(Received(f"in:{A}@10.1.0.2", ping), 0)
    assert len(b.table) == 1
    assert [type(x.message) for x in actions if isinstance(x, Send)] == [Pong]


def test_first_pong_gossip_is_ignored_during_the_handshake() -> None:
    b = fresh("10.1.0.2", 2)
    a = fresh("10.1.0.1", 1)
    a.step(ClientRequest("c", Meet("10.1.0.2", 6379)), 0)
    a.tick(100)
    stranger = GossipEntry("c" * 40, 0, 0, "10.1.0.9", 6379, 16379, F.MASTER)
    pong = Pong(build_ping(b.ctx, MessageType.PONG).header, (stranger,))
    a.step(Received(B, pong), 110)
    assert a.table.get(b.name) is not None
    assert a.table.get("c" * 40) is None
    # Once known, gossip from B adds the stranger under its real name, without handshake.
    a.step(Received(f"in:{B}@10.1.0.1", Ping(pong.header, (stranger,))), 120)
    learned = a.table.get("c" * 40)
    assert learned is not None and not learned.flags & F.HANDSHAKE and learned.ip == "10.1.0.9"
    actions = a.tick(200)
    to_stranger = [x for x in actions if isinstance(x, Send) and x.to == "10.1.0.9:16379"]
    assert to_stranger and isinstance(to_stranger[0].message, Ping)


def test_meet_rejects_bad_addresses() -> None:
    world = World({A: fresh("10.1.0.1", 1)})
    reply = world.request(A, Meet("not-an-ip", 6379))
    assert reply == CommandError("ERR Invalid node address specified: not-an-ip:6379")
    assert world.request(A, Meet("10.1.0.2", 0)) == CommandError(
        "ERR Invalid node address specified: 10.1.0.2:0"
    )


def test_unanswered_handshake_expires_after_max_node_timeout_1s() -> None:
    world = World({A: fresh("10.1.0.1", 1)})
    world.request(A, Meet("10.1.0.2", 6379))
    world.run(NT)
    assert len(world.core(A).table) == 2
    world.run(200)
    assert len(world.core(A).table) == 1


# -- gossip -----------------------------------------------------------------------------------
def test_gossip_section_size_and_content() -> None:
    for masters, wanted in ((2, 0), (3, 1), (12, 3), (30, 3), (100, 10)):
        topo = build_topology(random.Random(masters), masters, [0] * masters)
        core = formed(topo)[topo.endpoints[0]]
        core.tick(0)  # creates links; a disconnected slotless node would be skipped
        ping = build_ping(core.ctx, MessageType.PING)
        names = [g.nodename for g in ping.gossip]
        assert len(names) == wanted == max(0, gossip_wanted(masters))
        assert core.name not in names and len(set(names)) == len(names)


def test_pfail_nodes_are_always_added_and_handshake_nodes_never() -> None:
    topo = build_topology(random.Random(3), 30, [0] * 30)
    core = formed(topo)[topo.endpoints[0]]
    core.tick(0)
    pfail = [core.table.get(n) for n in topo.names[1:6]]
    for node in pfail:
        assert node is not None
        node.flags |= F.PFAIL
    core.step(Received("x", object()), 0)  # ignored input
    core.ctx.stats_pfail_nodes = 5
    ping = build_ping(core.ctx, MessageType.PING)
    names = [g.nodename for g in ping.gossip]
    assert len(names) == 3 + 5
    assert names[3:] == [n.name for n in pfail if n is not None]
    assert all(g.flags & F.PFAIL for g in ping.gossip[3:])


def test_pfail_after_node_timeout_without_pong() -> None:
    world, topo = World.formed(3)
    world.run(1000)
    a, dead = topo.endpoints[0], topo.endpoints[2]
    dead_name = topo.names[2]
    world.down.add(dead)
    start = world.now
    world.run(NT)
    assert not world.core(a).table.get(dead_name).flags & F.PFAIL  # type: ignore[union-attr]
    world.run(600)
    node = world.core(a).table.get(dead_name)
    assert node is not None and node.flags & (F.PFAIL | F.FAIL)
    assert world.now - start > NT


# -- failure reports and FAIL -----------------------------------------------------------------
def _gossip_about(world: World, src: str, dst: str, about: str, flags: NodeFlag) -> None:
    sender = world.core(src)
    node = sender.table.get(about)
    assert node is not None
    entry = GossipEntry(about, 0, 0, node.ip, node.port, node.cport, flags)
    header = build_ping(sender.ctx, MessageType.PING).header
    world.handle(dst, world.deliver(src, dst, Ping(header, (entry,))))


def test_failure_reports_expire_after_twice_the_node_timeout() -> None:
    world, topo = World.formed(5)
    world.run(500)
    a, c = topo.endpoints[0], topo.endpoints[2]
    x = topo.names[4]
    _gossip_about(world, c, a, x, F.MASTER | F.PFAIL)
    node = world.core(a).table.get(x)
    assert node is not None and list(node.fail_reports) == [topo.names[2]]
    ctx = world.core(a).ctx
    ctx.now = world.now + 2 * NT
    assert counted_reporters(ctx, node) == [topo.names[2]]
    ctx.now += 1
    assert counted_reporters(ctx, node) == []
    assert node.fail_reports == {}


def test_fail_at_exactly_a_majority_of_slot_masters() -> None:
    world, topo = World.formed(5)  # size 5: quorum 3
    world.run(500)
    a = topo.endpoints[0]
    x, x_ep = topo.names[4], topo.endpoints[4]
    core = world.core(a)
    core.table.get(x).flags |= F.PFAIL  # type: ignore[union-attr]
    _gossip_about(world, topo.endpoints[1], a, x, F.MASTER | F.PFAIL)
    assert not core.table.get(x).flags & F.FAIL  # type: ignore[union-attr]  # me + 1 = 2
    since = world.now
    _gossip_about(world, topo.endpoints[2], a, x, F.MASTER | F.FAIL)
    assert core.table.get(x).flags & F.FAIL  # type: ignore[union-attr]  # me + 2 = 3
    assert f"Marking node {x} as failing (quorum reached)." in world.emitted(a, since)
    fails = world.sent(a, Fail, since)
    assert {s.to for s in fails} == set(topo.endpoints[1:])
    assert all(isinstance(s.message, Fail) and s.message.nodename == x for s in fails)
    # Everybody reachable took the FAIL as is, the failing node included ("MYSELF" is never FAIL).
    for ep in topo.endpoints[1:4]:
        assert world.core(ep).table.get(x).flags & F.FAIL  # type: ignore[union-attr]
        assert f"FAIL message received from {core.name} about {x}" in world.emitted(ep, since)
    assert not world.core(x_ep).myself.flags & F.FAIL
    evidence = core.evidence[x]
    assert evidence.reporters == (topo.names[1], topo.names[2]) and evidence.needed == 3


def test_replica_reports_do_not_count_and_a_replica_does_not_count_itself() -> None:
    world, topo = World.formed(3, [1, 0, 0])  # endpoints: m0, r0, m1, m2
    world.run(500)
    replica, x = topo.endpoints[1], topo.names[3]
    core = world.core(replica)
    core.table.get(x).flags |= F.PFAIL  # type: ignore[union-attr]
    _gossip_about(world, topo.endpoints[0], replica, x, F.MASTER | F.PFAIL)
    assert not core.table.get(x).flags & F.FAIL  # type: ignore[union-attr]  # 1 of quorum 2
    _gossip_about(world, topo.endpoints[2], replica, x, F.MASTER | F.PFAIL)
    assert core.table.get(x).flags & F.FAIL  # type: ignore[union-attr]
    # A replica's gossip adds no report at a master.
    master = world.core(topo.endpoints[0])
    _gossip_about(world, replica, topo.endpoints[0], topo.names[2], F.MASTER | F.PFAIL)
    assert topo.names[1] not in master.table.get(topo.names[2]).fail_reports  # type: ignore[union-attr]


def test_fail_message_from_unknown_sender_is_ignored() -> None:
    world, topo = World.formed(3)
    a = topo.endpoints[0]
    stranger = fresh("10.9.9.9", 5)
    header = build_ping(stranger.ctx, MessageType.PING).header
    world.deliver("10.9.9.9:16379", a, Fail(header, topo.names[1]))
    assert not world.core(a).table.get(topo.names[1]).flags & F.FAIL  # type: ignore[union-attr]
    assert (
        f"Ignoring FAIL message from unknown node {stranger.name} about {topo.names[1]}"
        in world.emitted(a)
    )


def _fail_everywhere(world: World, name: str) -> None:
    for core in world.cores.values():
        node = core.table.get(name)
        if node is not None and node is not core.myself:
            node.flags = (node.flags | F.FAIL) & ~F.PFAIL
            node.fail_time = world.now


def test_fail_is_cleared_at_once_for_a_replica_that_answers() -> None:
    world, topo = World.formed(3, [1, 0, 0])
    world.run(500)
    replica = topo.names[1]
    _fail_everywhere(world, replica)
    since = world.now
    world.run(NT)
    a = topo.endpoints[0]
    assert not world.core(a).table.get(replica).flags & F.FAIL  # type: ignore[union-attr]
    assert f"Clear FAIL state for node {replica}: replica is reachable again." in world.emitted(
        a, since
    )


def test_fail_of_a_master_with_slots_is_cleared_only_after_undo_time() -> None:
    world, topo = World.formed(3)
    world.run(500)
    master = topo.names[2]
    _fail_everywhere(world, master)
    a = topo.endpoints[0]
    world.run(2 * NT - 200)
    assert world.core(a).table.get(master).flags & F.FAIL  # type: ignore[union-attr]
    world.run(1000)
    assert not world.core(a).table.get(master).flags & F.FAIL  # type: ignore[union-attr]
    text = f"Clear FAIL state for node {master}: is reachable again and nobody is serving its slots after some time."
    assert text in world.emitted(a)


def test_fail_of_a_slotless_master_is_cleared_at_once() -> None:
    world, topo = World.formed(3)
    world.run(500)
    master = topo.names[2]
    for core in world.cores.values():
        node = core.table.get(master)
        assert node is not None
        if node is not core.myself:
            core.table.take_slots(core.table.get(topo.names[0]), node.slots)  # type: ignore[arg-type]
    _fail_everywhere(world, master)
    world.run(NT)
    text = f"Clear FAIL state for node {master}: master without slots is reachable again."
    assert text in world.emitted(topo.endpoints[1])


def test_emitted_events_carry_redis_levels_and_roles() -> None:
    world, topo = World.formed(3, [1, 0, 0])
    world.run(500)
    world.down.add(topo.endpoints[0])
    world.run(4000)
    events = [a.event for _, n, a in world.log if isinstance(a, Emit)]
    marking = [e for e in events if e.name.startswith("Marking node")]
    assert marking and all(e.level == "*" for e in marking)
    won = [e for e in events if e.name == "Failover election won: I'm the new master."]
    assert won and won[0].level == "#" and won[0].role == "S"
    assert all(e.role in "MS" for e in events)


def test_core_is_fresh_master_with_random_name() -> None:
    core = ClusterCore(random.Random(3))
    assert len(core.name) == 40 and all(c in "0123456789abcdef" for c in core.name)
    assert core.myself.flags == F.MYSELF | F.MASTER
    actions = core.tick(0)
    assert isinstance(actions[0], Persist) and actions[0].sync
