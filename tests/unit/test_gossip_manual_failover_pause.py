"""The master's write pause during a manual failover (CLUSTER FAILOVER without FORCE), in
the pure core: MFSTART asks the backing server for ``CLIENT PAUSE <2 x mf timeout> WRITE``;
PAUSED is announced only with the offset the pause froze (``WritesPaused``); the replica
starts once it has replicated that far; the pause is lifted when the failover ends (after
the old master's REPLICAOF) or times out."""

from __future__ import annotations

from gossip_cluster.core import Failover, ReplicationInfo, WritesPaused
from gossip_cluster.wire.constants import MessageFlag, NodeFlag
from gossip_cluster.wire.messages import Ping, Pong
from labkit.actions import RedisCommand
from tests.unit.test_cluster_core_harness import World

F = NodeFlag
DATA = "127.0.0.1:7000"


def _setup() -> tuple[World, str, str]:
    world, topo = World.formed(3, [1, 0, 0])
    world.run(500)
    m0, r0 = topo.endpoints[:2]
    world.core(m0).ctx.data_server = DATA
    return world, m0, r0


def _commands(world: World, endpoint: str, since: int = 0) -> list[tuple[object, ...]]:
    return [
        tuple(a.args)
        for t, node, a in world.log
        if node == endpoint and t >= since and isinstance(a, RedisCommand)
    ]


def _paused_flags(world: World, endpoint: str, since: int) -> list[bool]:
    return [
        bool(s.message.header.mflags & MessageFlag.PAUSED)  # type: ignore[attr-defined]
        for kind in (Ping, Pong)
        for s in world.sent(endpoint, kind, since)
    ]


def test_master_pauses_writes_and_announces_the_frozen_offset() -> None:
    world, m0, r0 = _setup()
    start = world.now
    assert world.request(r0, Failover()) == "OK"
    assert _commands(world, m0, start) == [("CLIENT", "PAUSE", 10_000, "WRITE")]
    world.run(300)
    master, replica = world.core(m0), world.core(r0)
    # Not confirmed yet: no PAUSED in the master's headers, the replica does not start.
    assert not any(_paused_flags(world, m0, start))
    assert replica.ctx.mf.master_offset == -1 and replica.myself.flags & F.SLAVE
    replica.step(ReplicationInfo(1000), world.now)
    confirmed = world.now
    world.handle(m0, master.step(WritesPaused(1234), world.now))
    assert master.ctx.mf.paused and master.ctx.repl_offset == 1234
    assert any(_paused_flags(world, m0, confirmed))
    assert replica.ctx.mf.master_offset == 1234
    world.run(300)
    assert replica.myself.flags & F.SLAVE  # 1000 < 1234: still catching up
    world.handle(r0, replica.step(ReplicationInfo(1234), world.now))
    world.run(500)
    assert replica.myself.flags & F.MASTER
    assert master.myself.flags & F.SLAVE
    after = _commands(world, m0, confirmed)
    new_master = replica.myself
    assert after[-2:] == [("REPLICAOF", new_master.ip, new_master.port), ("CLIENT", "UNPAUSE")]
    mf = master.ctx.mf
    assert (mf.paused, mf.end_ms, mf.slave) == (False, 0, None)


def test_pause_is_lifted_when_the_manual_failover_times_out() -> None:
    world, m0, r0 = _setup()
    world.cut.add((m0, r0))  # the replica never hears the PAUSED offset
    start = world.now
    assert world.request(r0, Failover()) == "OK"
    master = world.core(m0)
    world.handle(m0, master.step(WritesPaused(10), world.now))
    world.run(5_300)
    assert "Manual failover timed out." in world.emitted(m0, start)
    assert _commands(world, m0, start) == [
        ("CLIENT", "PAUSE", 10_000, "WRITE"),
        ("CLIENT", "UNPAUSE"),
    ]
    assert master.myself.flags & F.MASTER and not master.ctx.mf.paused


def test_a_late_pause_report_after_the_failover_ended_is_ignored() -> None:
    world, m0, _r0 = _setup()
    master = world.core(m0)
    actions = master.step(WritesPaused(99), world.now)
    assert not master.ctx.mf.paused and master.ctx.repl_offset != 99
    assert not any(isinstance(a, RedisCommand) for a in actions)
