"""What the Redis model gained for Sentinel: crash/restart/pause, transactions, CLIENT KILL."""

from __future__ import annotations

import random

from labkit.core import RedisReply
from labkit.sim.redis_fleet import RedisFleet
from labkit.sim.redis_model import RedisError, RedisLinkError
from labkit.sim.world import Simulator
from tests.sim.cores import Ask, Recorder

M, R = "127.0.10.1:6379", "127.0.10.2:6379"


def fleet() -> RedisFleet:
    servers = RedisFleet(random.Random(1))
    servers.add("127.0.10.1", 6379)
    servers.add("127.0.10.2", 6379)
    servers.execute(R, ("SLAVEOF", "127.0.10.1", "6379"), client="t", now_ms=0)
    servers.replicate(0)
    return servers


def test_crash_refuses_and_restart_changes_run_id() -> None:
    servers = fleet()
    run_id = servers[M].run_id
    servers.crash(M)
    assert servers.execute(M, ("PING",), client="s", now_ms=1) == RedisLinkError(
        "refused", "connection refused by 127.0.10.1:6379"
    )
    servers.replicate(2)
    assert not servers[R].master_link_up and servers[R].master_link_down_since_ms == 2
    servers.restart(M, 3)
    assert servers.execute(M, ("PING",), client="s", now_ms=4) == "PONG"
    assert servers[M].run_id != run_id and servers[M].role == "master"
    servers.replicate(5)
    assert servers[R].master_link_up


def test_crash_drops_subscriptions() -> None:
    servers = fleet()
    servers.execute(M, ("SUBSCRIBE", "c"), client="s", now_ms=0)
    servers.crash(M)
    servers.restart(M, 1)
    assert servers.execute(M, ("PUBLISH", "c", "x"), client="p", now_ms=2) == 0


def test_multi_exec_runs_the_sentinel_transaction_atomically() -> None:
    servers = fleet()
    run = servers[R].execute
    assert run(("MULTI",), client="s", now_ms=0) == "OK"
    assert run(("SLAVEOF", "NO", "ONE"), client="s", now_ms=0) == "QUEUED"
    assert run(("CONFIG", "REWRITE"), client="s", now_ms=0) == "QUEUED"
    assert run(("CLIENT", "KILL", "TYPE", "normal"), client="s", now_ms=0) == "QUEUED"
    assert run(("CLIENT", "KILL", "TYPE", "pubsub"), client="s", now_ms=0) == "QUEUED"
    assert servers[R].role == "slave"
    assert run(("EXEC",), client="s", now_ms=0) == ["OK", "OK", 0, 0]
    assert servers[R].role == "master"
    assert run(("EXEC",), client="s", now_ms=0) == RedisError("ERR EXEC without MULTI")
    assert run(("MULTI",), client="s", now_ms=0) == "OK"
    assert run(("MULTI",), client="s", now_ms=0) == RedisError("ERR MULTI calls can not be nested")
    assert run(("DISCARD",), client="s", now_ms=0) == "OK"


def test_client_kill_pubsub_drops_other_subscribers() -> None:
    servers = fleet()
    servers.execute(M, ("SUBSCRIBE", "c"), client="a", now_ms=0)
    servers.execute(M, ("SUBSCRIBE", "c"), client="b", now_ms=0)
    assert servers.execute(M, ("CLIENT", "KILL", "TYPE", "pubsub"), client="b", now_ms=0) == 1
    assert servers.execute(M, ("PUBLISH", "c", "x"), client="p", now_ms=0) == 1


def test_simulator_crash_pause_and_ordered_commands() -> None:
    sim = Simulator(1)
    server = sim.add_redis("127.0.10.1", 6379)
    sim.add_node("a", lambda rng: Recorder("a", rng))
    host = sim.nodes["a"].core
    assert isinstance(host, Recorder)
    script = [("MULTI",), ("SLAVEOF", "NO", "ONE"), ("CONFIG", "REWRITE"), ("EXEC",)]
    for args in script:
        sim.request("a", Ask(server, args))
    sim.run_for(200)
    assert [r.args for r in host.redis_inputs if isinstance(r, RedisReply)] == script
    assert host.redis_inputs[-1] == RedisReply(server, ("EXEC",), ["OK", "OK"])
    sim.pause_redis(server)
    sim.request("a", Ask(server, ("PING",)))
    sim.run_for(200)
    assert len(host.redis_inputs) == len(script)  # a paused server never answers
    sim.pause_redis(server, False)
    sim.crash_redis(server)
    sim.request("a", Ask(server, ("PING",)))
    sim.run_for(200)
    last = host.redis_inputs[-1]
    assert isinstance(last, RedisReply) and isinstance(last.value, RedisLinkError)
    sim.restart_redis(server)
    sim.request("a", Ask(server, ("PING",)))
    sim.run_for(200)
    assert host.redis_inputs[-1] == RedisReply(server, ("PING",), "PONG")
    kinds = [e.kind for e in sim.trace if e.node == server and e.kind in ("crash", "restart")]
    assert kinds == ["crash", "restart"]
