"""Cluster core scenarios: replica elections, voting rules, manual failover."""

from __future__ import annotations

import dataclasses
import re

from gossip_cluster.core import ClusterCommand, CommandError, Failover, ReplicationInfo
from gossip_cluster.core.gossip import build_ping
from gossip_cluster.wire.constants import MessageFlag, MessageType, NodeFlag
from gossip_cluster.wire.messages import (
    FailoverAuthAck,
    FailoverAuthRequest,
    Header,
    MfStart,
    Pong,
)
from gossip_cluster.wire.slots import SlotBitmap
from labkit.actions import Persist, Send
from labkit.core import Received
from tests.unit.test_cluster_core_harness import NT, World

F = NodeFlag


def _crash_master_with_replicas(replicas: int) -> tuple[World, list[str], list[str]]:
    world, topo = World.formed(3, [replicas, 0, 0])
    world.run(500)
    world.down.add(topo.endpoints[0])
    return world, list(topo.endpoints), list(topo.names)


def test_replica_wins_election_and_takes_the_slots() -> None:
    world, eps, names = _crash_master_with_replicas(1)
    world.run(5000)
    replica = world.core(eps[1])
    assert replica.myself.flags & F.MASTER and replica.myself.slaveof is None
    old_slots = world.core(eps[2]).table.get(names[1])
    assert (
        old_slots is not None
        and old_slots.slots
        and old_slots.config_epoch == replica.myself.config_epoch
    )
    texts = world.emitted(eps[1])
    start = next(t for t in texts if t.startswith("Starting a failover election for epoch"))
    epoch = int(start.split()[-1].rstrip("."))
    assert "Failover election won: I'm the new master." in texts
    assert f"configEpoch set to {epoch} after successful failover" in texts
    assert replica.myself.config_epoch == epoch
    for ep in eps[2:]:
        assert f"Failover auth granted to {names[1]} for epoch {epoch}" in world.emitted(ep)
        assert world.core(ep).table.owner(0).name == names[1]  # type: ignore[union-attr]


def test_election_delay_grows_with_rank() -> None:
    world, eps, names = _crash_master_with_replicas(2)
    fast, slow = world.core(eps[1]), world.core(eps[2])
    for core, offset in ((fast, 900), (slow, 500)):
        core.step(ReplicationInfo(offset, False, world.now), world.now)
    for core in (fast, slow):  # each knows the other's offset from its pings
        sibling = core.table.get(names[2] if core is fast else names[1])
        assert sibling is not None
        sibling.repl_offset = 500 if core is fast else 900
    world.run(3000)
    pattern = re.compile(
        r"Start of election delayed for (\d+) milliseconds \(rank #(\d), offset (\d+)\)\."
    )
    found = {}
    for ep in eps[1:3]:
        match = next(m for t in world.emitted(ep) if (m := pattern.fullmatch(t)))
        found[ep] = (int(match[1]), int(match[2]), int(match[3]))
    assert found[eps[1]][1:] == (0, 900) and 500 <= found[eps[1]][0] < 1000
    assert found[eps[2]][1:] == (1, 500) and 1500 <= found[eps[2]][0] < 2000


def _request(world: World, src: str, **changes: object) -> Header:
    header = build_ping(world.core(src).ctx, MessageType.PING).header
    return dataclasses.replace(header, **changes)  # type: ignore[arg-type]


def test_voting_rules() -> None:
    world, topo = World.formed(3, [2, 0, 0])  # m0, r0a, r0b, m1, m2
    world.run(500)
    m0, ra, rb, m1 = topo.endpoints[:4]
    voter = world.core(m1)

    def ask(src: str, **changes: object) -> list[Send]:
        header = _request(world, src, **changes)
        actions = world.deliver(src, m1, FailoverAuthRequest(header))
        return [
            x for x in actions if isinstance(x, Send) and isinstance(x.message, FailoverAuthAck)
        ]

    epoch = voter.current_epoch + 1
    assert ask(ra, current_epoch=epoch) == []
    assert f"Failover auth denied to {topo.names[1]}: its master is up" in world.emitted(m1)
    master = voter.table.get(topo.names[0])
    assert master is not None
    master.flags |= F.FAIL
    assert ask(m0, current_epoch=epoch) == []
    assert f"Failover auth denied to {topo.names[0]}: it is a master node" in world.emitted(m1)
    granted = world.deliver(ra, m1, FailoverAuthRequest(_request(world, ra, current_epoch=epoch)))
    acks = [x for x in granted if isinstance(x, Send) and isinstance(x.message, FailoverAuthAck)]
    assert len(acks) == 1 and acks[0].to == ra
    persist = granted.index(next(x for x in granted if isinstance(x, Persist)))
    assert persist < granted.index(acks[0]) and granted[persist].sync  # type: ignore[union-attr]
    assert granted[persist].record.last_vote_epoch == epoch  # type: ignore[union-attr]
    assert voter.last_vote_epoch == epoch
    assert f"Failover auth granted to {topo.names[1]} for epoch {epoch}" in world.emitted(m1)
    assert ask(rb, current_epoch=epoch) == []
    assert (
        f"Failover auth denied to {topo.names[2]}: already voted for epoch {epoch}"
        in world.emitted(m1)
    )
    assert ask(rb, current_epoch=epoch - 1) == []
    assert (
        f"Failover auth denied to {topo.names[2]}: reqEpoch ({epoch - 1}) < curEpoch({epoch})"
        in world.emitted(m1)
    )
    assert ask(rb, current_epoch=epoch + 1) == []
    assert any(
        t.startswith(
            f"Failover auth denied to {topo.names[2]}: can't vote about this master before"
        )
        for t in world.emitted(m1)
    )
    world.now += 2 * NT
    owner = voter.table.get(topo.names[3])
    assert owner is not None
    owner.config_epoch = 99
    assert ask(rb, current_epoch=epoch + 2, myslots=SlotBitmap(owner.slots)) == []
    assert any("epoch (99) > reqEpoch" in t for t in world.emitted(m1))
    assert len(ask(rb, current_epoch=epoch + 3)) == 1


def test_replicas_and_slotless_masters_never_vote() -> None:
    world, topo = World.formed(2, [1, 0])
    world.run(300)
    _, r0, m1 = topo.endpoints
    world.core(m1).table.get(topo.names[0]).flags |= F.FAIL  # type: ignore[union-attr]
    world.core(m1).myself.slots = 0
    header = _request(world, r0, current_epoch=50)
    assert not [
        x for x in world.deliver(r0, m1, FailoverAuthRequest(header)) if isinstance(x, Send)
    ]
    assert not [
        x for x in world.deliver(r0, r0, FailoverAuthRequest(header)) if isinstance(x, Send)
    ]


def test_ack_counts_once_and_only_from_slot_masters_at_the_election_epoch() -> None:
    world, eps, names = _crash_master_with_replicas(1)
    replica = world.core(eps[1])
    replica.ctx.election.auth_epoch = 20
    ack = FailoverAuthAck(_request(world, eps[2], current_epoch=20))
    replica.step(Received(f"in:{eps[2]}@x", ack), world.now)
    replica.step(Received(f"in:{eps[2]}@x", ack), world.now)
    old = FailoverAuthAck(_request(world, eps[3], current_epoch=19))
    replica.step(Received(f"in:{eps[3]}@x", old), world.now)
    assert list(replica.ctx.election.voters) == [names[2]]


def test_manual_failover_force_skips_the_offset_wait_and_gets_votes() -> None:
    world, topo = World.formed(3, [1, 0, 0])
    world.run(500)
    r0 = topo.endpoints[1]
    assert world.request(r0, ClusterCommand(("FAILOVER", "FORCE"))) == "OK"
    world.run(300)
    replica = world.core(r0)
    assert replica.myself.flags & F.MASTER
    texts = world.emitted(r0)
    assert "Forced failover user request accepted." in texts
    requests = world.sent(r0, FailoverAuthRequest)
    assert requests and all(
        isinstance(r.message, FailoverAuthRequest)
        and r.message.header.mflags & MessageFlag.FORCEACK
        for r in requests
    )
    old = world.core(topo.endpoints[0])
    assert old.myself.flags & F.SLAVE and old.myself.slaveof == topo.names[1]


def test_manual_failover_takeover_needs_no_votes() -> None:
    world, topo = World.formed(3, [1, 0, 0])
    world.run(500)
    r0 = topo.endpoints[1]
    world.cut |= {(r0, ep) for ep in topo.endpoints if ep != r0}
    before = world.core(r0).current_epoch
    assert world.request(r0, Failover("TAKEOVER")) == "OK"
    replica = world.core(r0)
    assert replica.myself.flags & F.MASTER and replica.myself.slots
    assert replica.myself.config_epoch == before + 1 == replica.current_epoch
    texts = world.emitted(r0)
    assert "Taking over the master (user request)." in texts
    assert f"New configEpoch set to {before + 1}" in texts
    assert not world.sent(r0, FailoverAuthRequest)
    assert world.sent(r0, Pong)


def test_manual_failover_default_asks_the_master_to_pause() -> None:
    world, topo = World.formed(3, [1, 0, 0])
    world.run(500)
    m0, r0 = topo.endpoints[:2]
    assert world.request(r0, Failover()) == "OK"
    assert [s.to for s in world.sent(r0, MfStart)] == [m0]
    assert f"Manual failover requested by replica {topo.names[1]}." in world.emitted(m0)
    assert "Manual failover user request accepted." in world.emitted(r0)


def test_manual_failover_errors() -> None:
    world, topo = World.formed(3, [1, 0, 0])
    world.run(300)
    assert world.request(topo.endpoints[0], Failover()) == CommandError(
        "ERR You should send CLUSTER FAILOVER to a replica"
    )
    world.core(topo.endpoints[1]).table.get(topo.names[0]).flags |= F.FAIL  # type: ignore[union-attr]
    assert world.request(topo.endpoints[1], Failover()) == CommandError(
        "ERR Master is down or failed, please use CLUSTER FAILOVER FORCE"
    )
    assert world.request(topo.endpoints[1], ClusterCommand(("FAILOVER", "SOON"))) == CommandError(
        "ERR syntax error"
    )
