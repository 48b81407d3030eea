"""SENTINEL DEBUG and SENTINEL SIMULATE-FAILURE against real 7.0.15 Sentinels.

* the replies of both commands (shows, sets, errors, partial effects), byte for byte
  beside a real ``redis-server --sentinel``, in RESP2 and RESP3;
* ``+sentinel-address-update``: one of ours restarted on a new port, seen by a real
  Sentinel and by another of ours that share two masters with it;
* a failover whose leader (ours, with ``crash-after-election``) exits with status 99
  right after ``+elected-leader``; a real Sentinel and another of ours, who voted for it,
  fail the master over in a later epoch once their retry wait is over.
"""

from __future__ import annotations

import re

import pytest

from labkit.realredis import Lab, RedisProcess, wait_until
from labkit.realredis.labsentinel import start_lab_sentinel
from labkit.realredis.ports import free_port
from tests.integration.test_sentinel_lab import raw_session
from tests.integration.test_sentinel_lab_failover import (
    MASTER,
    master_state,
    wait_discovered,
    wait_switched,
)

pytestmark = pytest.mark.realredis

_COMMANDS: list[list[str | bytes]] = [
    ["SENTINEL", "DEBUG"],
    ["SENTINEL", "DEBUG", "info-period", "5000", "PUBLISH-PERIOD", "1500"],
    ["SENTINEL", "DEBUG", "script-max-runtime", "1000", "tilt-period", "abc"],
    ["SENTINEL", "DEBUG", "ask-period", "0"],
    ["SENTINEL", "DEBUG", "ask-period", "-5"],
    ["SENTINEL", "DEBUG", "ask-period", "007"],
    ["SENTINEL", "DEBUG", "foo", "1"],
    ["SENTINEL", "DEBUG", "election-timeout"],
    ["SENTINEL", "DEBUG", "default-down-after", "99999999999999999999"],
    ["SENTINEL", "DEBUG", "default-failover-timeout", "60000", "slave-reconf-timeout", "9000"],
    ["SENTINEL", "DEBUG"],
    ["SENTINEL", "SIMULATE-FAILURE", "crash-after-election", "help"],
    ["SENTINEL", "SIMULATE-FAILURE", "CRASH-AFTER-PROMOTION", "bogus"],
    ["SENTINEL", "SIMULATE-FAILURE", "crash-after-promotion", "crash-after-election"],
    ["SENTINEL", "SIMULATE-FAILURE", "HELP"],
    ["SENTINEL", "SIMULATE-FAILURE"],
]


def test_debug_and_simulate_failure_replies_match_a_real_sentinel(redis_lab: Lab) -> None:
    master = redis_lab.server("master")
    real = redis_lab.sentinel(master, quorum=1)
    ours = start_lab_sentinel(redis_lab, master, quorum=1)
    for proto in ("2", "3"):
        session: list[list[str | bytes]] = [["HELLO", proto], *_COMMANDS]
        want = raw_session(real, session)[1:]
        got = raw_session(ours, session)[1:]
        for command, theirs, mine in zip(_COMMANDS, want, got, strict=True):
            assert mine == theirs, f"RESP{proto} {command}: real {theirs!r}, ours {mine!r}"
    # what the flags are left at (cleared by the last HELP, set and shown by INFO)
    for proc in (real, ours):
        with proc.client() as conn:
            assert conn.execute_command("SENTINEL", "SIMULATE-FAILURE", "crash-after-promotion")
            assert conn.info("sentinel")["sentinel_simulate_failure_flags"] == 2
            assert conn.execute_command("SENTINEL", "SIMULATE-FAILURE", "help")
            assert conn.info("sentinel")["sentinel_simulate_failure_flags"] == 0
    line = "Failure simulation: this Sentinel will crash after promoting the selected replica"
    assert line in ours.log_text() and line in real.log_text()


@pytest.mark.slow
def test_leader_crashes_after_election_and_the_others_fail_over(redis_lab: Lab) -> None:
    master = redis_lab.server("master", extra=[("repl-diskless-sync-delay", 0)])
    replica = redis_lab.server(
        "replica", replica_of=master, extra=[("repl-diskless-sync-delay", 0)]
    )
    wait_until(
        lambda: replica.info("replication").get("master_link_status") == "up",
        timeout_s=15,
        what="the replica to sync",
    )
    timeout_ms = 2500  # the others retry 2 x this after voting for the crashed leader
    # The leader-to-be sees the master down first and needs no one to agree (quorum 1);
    # the others take 2 s to see it and vote for the first sentinel that asks.
    leader = start_lab_sentinel(
        redis_lab,
        master,
        name="lab-leader",
        quorum=1,
        down_after_ms=1000,
        failover_timeout_ms=timeout_ms,
    )
    others = [
        redis_lab.sentinel(
            master, name="real", quorum=2, down_after_ms=2000, failover_timeout_ms=timeout_ms
        ),
        start_lab_sentinel(
            redis_lab,
            master,
            name="lab-other",
            quorum=2,
            down_after_ms=2000,
            failover_timeout_ms=timeout_ms,
        ),
    ]
    wait_discovered([leader, *others], replicas=1)
    with leader.client() as conn:
        assert conn.execute_command("SENTINEL", "SIMULATE-FAILURE", "crash-after-election")
    old = (master.host, master.port)
    master.kill()

    wait_until(lambda: not leader.running, timeout_s=15, what="the leader to crash")
    proc = leader._proc
    assert proc is not None and proc.returncode == 99
    log = leader.log_text().splitlines()
    elected = next(i for i, line in enumerate(log) if " +elected-leader master " in line)
    assert log[elected + 1].endswith("# Sentinel CRASH because of SENTINEL simulate-failure")
    assert len(log) == elected + 2, "nothing happens after the crash line"

    new = wait_switched(others, old, timeout_s=30)
    assert new == (replica.host, replica.port)
    epochs = {master_state(p)["config-epoch"] for p in others}
    assert len(epochs) == 1 and int(epochs.pop()) >= 2, "a later epoch than the crashed one"
    assert any(" +elected-leader " in p.log_text() for p in others)


def _sentinel_addrs(proc: RedisProcess, name: str) -> dict[str, tuple[str, int]]:
    with proc.client() as conn:
        reply = conn.execute_command("SENTINEL", "SENTINELS", name)
    out: dict[str, tuple[str, int]] = {}
    for entry in reply:
        fields = (
            entry if isinstance(entry, dict) else dict(zip(entry[::2], entry[1::2], strict=True))
        )
        out[str(fields["runid"])] = (str(fields["ip"]), int(fields["port"]))
    return out


@pytest.mark.slow
def test_sentinel_address_update_beside_a_real_sentinel(redis_lab: Lab) -> None:
    """One of ours comes back on a new port with the same myid: a real Sentinel and
    another of ours move it in both masters they share with it, with
    ``+sentinel-address-switch`` then ``+sentinel-address-update ... 1 additional
    matching instances``."""
    first = redis_lab.server("m1")
    second = redis_lab.server("m2")
    real = redis_lab.sentinel(first, name="real", quorum=1)
    mover = start_lab_sentinel(redis_lab, first, name="lab-mover", quorum=1)
    watcher = start_lab_sentinel(redis_lab, first, name="lab-watcher", quorum=1)
    procs = [real, mover, watcher]
    for proc in procs:
        with proc.client() as conn:
            assert conn.execute_command("SENTINEL", "MONITOR", "m2", second.host, second.port, 1)
    wait_until(
        lambda: all(len(_sentinel_addrs(p, name)) == 2 for p in procs for name in (MASTER, "m2")),
        timeout_s=20,
        what="every sentinel to know the two others under both masters",
    )
    with mover.client() as conn:
        mover_id = conn.execute_command("SENTINEL", "MYID")
    mover.stop()
    new_port = free_port()
    text = mover.config_path.read_text()
    mover.config_path.write_text(re.sub(r"(?m)^port .*$", f"port {new_port}", text))
    mover.port = new_port
    mover.start()

    update = re.compile(
        rf"\+sentinel-address-update sentinel {mover_id} 127\.0\.0\.1 {new_port} @ \S+ "
        r"\S+ \d+ 1 additional matching instances$",
        re.MULTILINE,
    )
    wait_until(
        lambda: all(update.search(p.log_text()) for p in (real, watcher)),
        timeout_s=15,
        what="+sentinel-address-update on the real sentinel and ours",
    )
    for proc in (real, watcher):
        log = proc.log_text()
        assert "+sentinel-address-switch master " in log
        assert log.count("+sentinel-address-update") == 1
        for name in (MASTER, "m2"):
            assert _sentinel_addrs(proc, name)[mover_id] == ("127.0.0.1", new_port)
