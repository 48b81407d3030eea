"""A seeded schedule acting on real Redis processes and a proxy link, healed at the end."""

from __future__ import annotations

import pytest
import redis

from labkit.faults import ProxyHub
from labkit.faults.nemesis import Fault, ScheduleRunner
from labkit.realredis import Lab, RedisProcess, wait_until

pytestmark = pytest.mark.realredis


def _answers(proc: RedisProcess, port: int | None = None) -> bool:
    try:
        with proc.client(socket_timeout=0.2, port=port or proc.port) as conn:
            return bool(conn.ping())
    except redis.exceptions.RedisError:
        return False


def test_schedule_pauses_kills_and_cuts_then_heals(redis_lab: Lab) -> None:
    server = redis_lab.server("target")
    first_pid = server.pid
    schedule = [
        Fault(0.0, "pause", "target", 1.0),
        Fault(1.5, "kill", "target", 1.0),
        Fault(3.0, "partition", "link", 1.0),
        Fault(4.2, "hostile", "target"),
        Fault(4.4, "admin", "target", 1.0, setting="maxmemory-policy", value="allkeys-lru"),
    ]
    with ProxyHub(seed=3) as hub:
        port = hub.add("link", (server.host, server.port)).listen[1]
        with ScheduleRunner(schedule, processes={"target": server}, hub=hub) as runner:
            wait_until(lambda: server.paused, timeout_s=5, what="the pause")
            assert not _answers(server)
            wait_until(lambda: not server.running, timeout_s=5, what="the kill")
            wait_until(
                lambda: server.running and _answers(server), timeout_s=10, what="the restart"
            )
            assert server.pid != first_pid
            wait_until(lambda: not _answers(server, port), timeout_s=5, what="the partition")
            assert _answers(server), "the partition cuts the proxy link only"

            def policy() -> str:
                with server.client() as conn:
                    return str(conn.config_get("maxmemory-policy")["maxmemory-policy"])

            wait_until(lambda: policy() == "allkeys-lru", timeout_s=10, what="the second admin")
            assert runner.wait(15)
            assert policy() == "noeviction", "the admin's change is undone at its end"
        assert _answers(server, port)
    names = [(e.name, e.instance) for e in runner.events]
    assert names == [
        ("+pause", "process target"),
        ("-pause", "process target"),
        ("+kill", "process target"),
        ("-kill", "process target"),
        ("+partition", "link link"),
        ("-partition", "link link"),
        ("+hostile", "process target"),
        ("+admin", "process target"),
        ("-admin", "process target"),
    ]
    assert runner.errors == []
