"""sentinel_lab against real Redis, as Redis's own Sentinel tests check a Sentinel.

The facts come from Redis 7.0.15's ``tests/sentinel/tests``: a failover with one
sentinel down, which learns the new master when restarted (01-conf-update); no ODOWN
when the quorum exceeds the sentinels that see the master down and no failover without
a majority (00-base); ``replica-priority 0`` is never promoted (10-replica-priority);
CKQUORUM (06-ckquorum); ``SENTINEL SET auth-pass`` (03-runtime-reconf). And a
sentinel_lab instance that wins an election by votes, with real Sentinels following its
switch through hello messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from labkit.realredis import Lab, RedisProcess, ReplicationGroup, wait_until
from labkit.realredis.labsentinel import start_lab_sentinel
from tests.integration.test_sentinel_lab_failover import (
    MASTER,
    master_addr,
    master_state,
    wait_discovered,
    wait_switched,
)

pytestmark = [pytest.mark.realredis, pytest.mark.slow]

DOWN_AFTER_MS = 1000
_FAST_SYNC = [("repl-diskless-sync-delay", 0)]


def _group(
    lab: Lab, replica_extra: list[list[tuple[str, object]]] | None = None
) -> ReplicationGroup:
    master = lab.server("master", extra=list(_FAST_SYNC))
    extras = replica_extra or [[], []]
    replicas = [
        lab.server(f"replica-{i + 1}", replica_of=master, extra=[*_FAST_SYNC, *extra])  # type: ignore[list-item]
        for i, extra in enumerate(extras)
    ]
    wait_until(
        lambda: all(r.info("replication").get("master_link_status") == "up" for r in replicas),
        timeout_s=15,
        what="replicas to sync",
    )
    return ReplicationGroup(master, replicas)


def _ours(
    lab: Lab, group: ReplicationGroup, count: int = 3, **options: object
) -> list[RedisProcess]:
    settings: dict[str, object] = {
        "master_name": MASTER,
        "quorum": 2,
        "down_after_ms": DOWN_AFTER_MS,
        "failover_timeout_ms": 10_000,
    }
    settings.update(options)
    procs: list[RedisProcess] = [
        start_lab_sentinel(lab, group.master, name=f"lab-{i + 1}", **settings)  # type: ignore[arg-type]
        for i in range(count)
    ]
    wait_discovered(procs, replicas=len(group.replicas))
    return procs


def _sentinel(proc: RedisProcess, *args: str) -> object:
    with proc.client() as conn:
        return conn.execute_command("SENTINEL", *args)


def _error_of(proc: RedisProcess, *args: str) -> str:
    try:
        _sentinel(proc, *args)
    except redis.exceptions.ResponseError as exc:
        return str(exc)
    return ""


def holds_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """``condition`` stays true for ``seconds`` (polled every 50 ms); fails at once if not."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition(), what
        time.sleep(0.05)


def test_failover_with_one_sentinel_down_and_it_learns_on_restart(redis_lab: Lab) -> None:
    group = _group(redis_lab)
    procs = _ours(redis_lab, group)
    crashed, alive = procs[1], [procs[0], procs[2]]
    old = (group.master.host, group.master.port)
    crashed.kill()
    group.master.kill()
    new = wait_switched(alive, old)
    assert new != old
    crashed.start()
    wait_until(
        lambda: master_addr(crashed) == new,
        timeout_s=20,
        what="the restarted sentinel to learn the new master",
    )
    assert "+config-update-from" in crashed.log_text()
    wait_until(
        lambda: (
            group.servers[[r.port for r in group.servers].index(new[1])].info("replication")["role"]
            == "master"
        ),
        timeout_s=5,
        what="the new master to report role:master",
    )


def test_no_odown_when_quorum_exceeds_the_sentinels_and_ckquorum(redis_lab: Lab) -> None:
    group = _group(redis_lab)
    procs = _ours(redis_lab, group)
    for proc in procs:
        reply = _sentinel(proc, "CKQUORUM", MASTER)
        assert str(reply).startswith("OK 3 usable Sentinels"), reply
        assert _sentinel(proc, "SET", MASTER, "quorum", "4") in (True, "OK", b"OK")
    error = _error_of(procs[0], "CKQUORUM", MASTER)
    assert error.startswith("NOQUORUM 3 usable Sentinels"), error
    assert "reach the specified quorum" in error
    old = (group.master.host, group.master.port)
    group.master.kill()
    wait_until(
        lambda: all("+sdown master mymaster" in p.log_text() for p in procs),
        timeout_s=5,
        what="every sentinel to see the master SDOWN",
    )
    holds_for(
        lambda: (
            not any("+odown" in p.log_text() for p in procs)
            and all(master_addr(p) == old for p in procs)
        ),
        3.0,
        "no ODOWN and no failover with quorum 4 of 3 sentinels",
    )


def test_no_failover_without_a_majority(redis_lab: Lab) -> None:
    group = _group(redis_lab)
    procs = _ours(redis_lab, group)
    survivor = procs[0]
    _sentinel(survivor, "SET", MASTER, "quorum", "1", "failover-timeout", "3000")
    for proc in procs[1:]:
        proc.kill()
    wait_until(
        lambda: "reach the majority" in _error_of(survivor, "CKQUORUM", MASTER),
        timeout_s=5,
        what="CKQUORUM to say the majority cannot be reached",
    )
    old = (group.master.host, group.master.port)
    group.master.kill()
    wait_until(
        lambda: "-failover-abort-not-elected" in survivor.log_text(),
        timeout_s=10,
        what="the lone sentinel to give up its election",
    )
    log = survivor.log_text()
    assert "+odown master mymaster" in log and "+try-failover" in log
    assert "+elected-leader" not in log
    assert master_addr(survivor) == old


def test_replica_priority_zero_is_never_promoted(redis_lab: Lab) -> None:
    group = _group(redis_lab, [[("replica-priority", 0)], []])
    never, chosen = group.replicas
    procs = _ours(redis_lab, group)
    replicas = _sentinel(procs[0], "REPLICAS", MASTER)
    assert isinstance(replicas, list)
    priorities = {}
    for entry in replicas:
        fields = (
            dict(zip(entry[::2], entry[1::2], strict=True)) if isinstance(entry, list) else entry
        )
        priorities[int(fields["port"])] = fields["slave-priority"]
    assert priorities[never.port] == "0"
    old = (group.master.host, group.master.port)
    group.master.kill()
    assert wait_switched(procs, old) == (chosen.host, chosen.port)
    # Now the only replica left has priority 0: the next failover finds no good replica.
    wait_until(
        lambda: never.info("replication").get("master_port") == chosen.port,
        timeout_s=15,
        what="the priority-0 replica to follow the new master",
    )
    chosen.kill()
    wait_until(
        lambda: any("-failover-abort-no-good-slave" in p.log_text() for p in procs),
        timeout_s=15,
        what="-failover-abort-no-good-slave",
    )
    assert never.info("replication")["role"] == "slave"
    assert all(master_addr(p) == (chosen.host, chosen.port) for p in procs)


def test_set_auth_pass_takes_effect(redis_lab: Lab) -> None:
    group = _group(redis_lab)
    procs = _ours(redis_lab, group, count=2)
    restarted, updated = procs
    restarted.kill()
    for server in group.servers:
        with server.client() as conn:
            conn.execute_command("CONFIG", "SET", "requirepass", "secret")
            conn.execute_command("AUTH", "secret")
            conn.execute_command("CONFIG", "SET", "masterauth", "secret")
    assert _sentinel(updated, "SET", MASTER, "auth-pass", "secret") in (True, "OK", b"OK")
    restarted.start()
    wait_until(
        lambda: any(f in master_state(restarted)["flags"] for f in ("s_down", "disconnected")),
        timeout_s=10,
        what="the restarted sentinel, without the password, to lose the master",
    )
    assert _sentinel(restarted, "SET", MASTER, "auth-pass", "secret") in (True, "OK", b"OK")
    for proc in procs:
        wait_until(
            lambda p=proc: (
                master_state(p)["flags"] == "master"  # type: ignore[misc]
                and int(master_state(p)["info-refresh"]) < 11_000
            ),
            timeout_s=15,
            what=f"{proc.name} to reach the master with the password",
        )
    assert "auth-pass mymaster secret" in restarted.config_path.read_text()


def test_ours_wins_the_election_and_real_sentinels_follow(redis_lab: Lab) -> None:
    """Ours sees the master down first (down-after 1 s against the real ones' 5 s) and,
    with quorum 1, reaches ODOWN alone; it still needs a majority of votes (2 of 3) to
    lead, and the real Sentinels grant them. They then take its switch from hellos."""
    group = _group(redis_lab)
    ours = start_lab_sentinel(
        redis_lab,
        group.master,
        name="lab-1",
        quorum=1,
        down_after_ms=DOWN_AFTER_MS,
        failover_timeout_ms=10_000,
    )
    reals = [
        redis_lab.sentinel(
            group.master, name=f"real-{i}", quorum=2, down_after_ms=5000, failover_timeout_ms=10_000
        )
        for i in (1, 2)
    ]
    procs: list[RedisProcess] = [ours, *reals]
    wait_discovered(procs, replicas=2)
    our_id = str(_sentinel(ours, "MYID"))
    old = (group.master.host, group.master.port)
    group.master.kill()
    new = wait_switched(procs, old, timeout_s=20)
    assert new != old
    assert "+elected-leader master mymaster" in ours.log_text()
    for real in reals:
        log = real.log_text()
        assert f"+vote-for-leader {our_id} 1" in log, log[-2000:]
        assert f"+config-update-from sentinel {our_id}" in log
        assert "+elected-leader" not in log and "+try-failover" not in log
        assert master_state(real)["config-epoch"] == "1"
