"""The two fallacies the network cannot show, acting on real Redis and real Sentinels."""

from __future__ import annotations

import pytest

from labkit.faults.hostile import HOSTILE_PAYLOADS, SecondAdmin, hostile_clients
from labkit.realredis import Lab, RedisProcess, wait_until
from labkit.realredis.labsentinel import start_lab_sentinel

pytestmark = pytest.mark.realredis


def _still_serving(proc: RedisProcess) -> bool:
    with proc.client() as conn:
        return bool(conn.ping())


def test_hostile_clients_get_errors_or_closes_and_the_server_goes_on(redis_lab: Lab) -> None:
    server = redis_lab.server(password="secret")
    results = hostile_clients(server.host, server.port, seed=3)
    assert [r.payload for r in results] == list(HOSTILE_PAYLOADS)
    by_name = {r.payload: r for r in results}
    for result in results:
        if result.payload == "half a frame":
            assert result.reply == b"" and not result.closed  # Redis waits for the rest
        else:
            assert result.reply.startswith(b"-") or result.closed, result
    assert by_name["absurd multibulk length"].reply.startswith(b"-ERR Protocol error")
    assert by_name["wrong password"].reply.startswith(b"-WRONGPASS")
    assert _still_serving(server)


@pytest.mark.slow
def test_sentinel_lab_answers_hostile_clients_as_a_real_sentinel_does(redis_lab: Lab) -> None:
    master = redis_lab.server("master")
    real = redis_lab.sentinel(master, master_name="m", quorum=1)
    ours = start_lab_sentinel(redis_lab, master, master_name="m", quorum=1)
    from_real = hostile_clients(real.host, real.port, seed=5)
    from_ours = hostile_clients(ours.host, ours.port, seed=5)
    # Random bytes differ on purpose: with a NUL before the line end Redis (strchr) waits
    # for more data, where we read the line (a documented difference of labkit.resp).
    same = [r for r in from_real if r.payload != "random bytes"]
    assert [(r.payload, r.reply, r.closed) for r in from_ours if r.payload != "random bytes"] == [
        (r.payload, r.reply, r.closed) for r in same
    ]
    assert _still_serving(real) and _still_serving(ours)


@pytest.mark.slow
def test_a_second_admin_can_stop_a_failover_and_undoing_it_lets_it_finish(redis_lab: Lab) -> None:
    group = redis_lab.replication_group(2)
    sentinels = redis_lab.sentinel_group(
        group, 3, quorum=2, master_name="m", down_after_ms=1000, failover_timeout_ms=4000
    )
    admin = SecondAdmin()
    for replica in group.replicas:  # nobody told the lab: no replica may be promoted now
        admin.config_set(replica.host, replica.port, "replica-priority", "0")
    group.master.kill()
    wait_until(
        lambda: any("-failover-abort-no-good-slave" in s.log_text() for s in sentinels.sentinels),
        timeout_s=20,
        what="the failover to abort for lack of a good replica",
    )
    admin.undo_all()
    old = f"{group.master.host} {group.master.port}"
    wait_until(
        lambda: all(f"+switch-master m {old}" in s.log_text() for s in sentinels.sentinels),
        timeout_s=40,
        what="the failover to finish once the setting is back",
    )
    assert [e.name for e in admin.events] == ["+admin", "+admin", "-admin", "-admin"]
