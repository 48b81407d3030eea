"""Kernel-level faults on real Redis: hosts in network namespaces, iptables cuts, tbf limits.

Needs root, ``ip``, ``iptables`` and ``tc``. With ``CI=true`` a missing capability fails
the tests; elsewhere they skip and say why. Every lab is removed afterwards, and the
fixture checks that nothing of its run is left.
"""

from __future__ import annotations

import ipaddress
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from labkit.faults.netns import CONTROL, NetnsError, NetnsLab, missing_capability
from labkit.faults.netns_names import parse_rate_bits
from labkit.faults.netns_registry import REGISTRY_DIR, find_leftovers, remove_leftovers
from labkit.realredis import Lab, RedisProcess, wait_until
from labkit.realredis.reaper import find_lab_processes
from labkit.timeline import derive_fault_windows, merge

pytestmark = pytest.mark.realredis

# A master that starts a full sync at once (Debian's default waits 5 s for more replicas)
# and pings its replicas every second; replicas that give up on a silent master in 2 s.
MASTER_EXTRA: list[tuple[str, str | int]] = [
    ("repl-diskless-sync-delay", 0),
    ("repl-ping-replica-period", 1),
]
REPLICA_EXTRA: list[tuple[str, str | int]] = [("repl-timeout", 2)]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module", autouse=True)
def _netns_capable() -> None:
    """Fail (CI) or skip (elsewhere) when this machine cannot build a namespace lab."""
    reason = missing_capability()
    if reason is None:
        try:
            with NetnsLab(["probe"]):
                pass
        except NetnsError as exc:
            reason = f"cannot build a namespace lab: {exc}"
    if reason is None:
        return
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: the netns tests must run)", pytrace=False)
    pytest.skip(f"netns tests skipped: {reason}")


@pytest.fixture
def net(redis_lab: Lab) -> Iterator[NetnsLab]:
    """Hosts a, b and c sharing ``redis_lab``'s run; afterwards nothing of the run is left."""
    lab = NetnsLab(["a", "b", "c"], lab=redis_lab)
    try:
        yield lab
    finally:
        lab.close()
        left = lab.leftovers()
        assert not left, f"the netns lab left {left.describe()}"


def _link(replica: RedisProcess) -> str:
    return str(replica.info("replication").get("master_link_status"))


def _pair(net: NetnsLab) -> tuple[RedisProcess, RedisProcess]:
    master = net.server("a", "master", extra=list(MASTER_EXTRA))
    replica = net.server("b", "replica", replica_of=master, extra=list(REPLICA_EXTRA))
    wait_until(lambda: _link(replica) == "up", timeout_s=10, what="the replica to sync")
    return master, replica


def _answers(proc: RedisProcess) -> bool:
    try:
        with proc.client(socket_timeout=0.3, socket_connect_timeout=0.3) as conn:
            return bool(conn.ping())
    except redis.exceptions.RedisError:
        return False


def test_hosts_have_their_own_addresses_and_no_way_out(net: NetnsLab) -> None:
    subnet = ipaddress.IPv4Network("198.18.0.0/15")
    assert ipaddress.IPv4Address(net.control_ip) in subnet
    assert {ipaddress.IPv4Address(h.ip) in net.subnet for h in net.hosts.values()} == {True}
    routes = net.host("a").run(["ip", "-4", "route", "show", "table", "all"]).stdout
    assert "default" not in routes, f"a host must have no default route:\n{routes}"
    assert net.bridge_netfilter in (True, False)


@pytest.mark.slow
def test_partition_cuts_replication_and_heal_restores(net: NetnsLab) -> None:
    master, replica = _pair(net)
    net.partition("a", "b")
    wait_until(lambda: _link(replica) == "down", timeout_s=10, what="the replica to lose a")
    assert _answers(master) and _answers(replica), "the test process still reaches both"
    with master.client() as conn:
        conn.set("written-while-cut", "1")
    net.heal("a", "b")
    wait_until(lambda: _link(replica) == "up", timeout_s=10, what="the link to come back")
    wait_until(
        lambda: replica.client().get("written-while-cut") == "1",
        timeout_s=5,
        what="the write made during the cut to reach the replica",
    )
    assert [(e.source, e.name, e.instance) for e in net.events] == [
        ("nemesis", "+partition", "link a-b"),
        ("nemesis", "-fault", "link a-b"),
    ]
    windows = derive_fault_windows(merge([net.events], net.events[0].wall_ns))
    assert [(w.kind, w.label, w.end_ns is not None) for w in windows] == [
        ("partition", "partition a-b", True)
    ]


def test_one_way_partition_drops_at_the_receiver(net: NetnsLab) -> None:
    net.partition("a", "b", direction="a_to_b")
    a_ip = net.host("a").ip
    rules_b = net.host("b").run(["iptables", "-S", "INPUT"]).stdout
    rules_a = net.host("a").run(["iptables", "-S", "INPUT"]).stdout
    assert f"-A INPUT -s {a_ip}/32 -j DROP" in rules_b
    assert "DROP" not in rules_a
    net.partition("c", CONTROL, direction="a_to_b")
    root_rules = subprocess.run(
        ["iptables", "-w", "5", "-S", net.chain_input], capture_output=True, text=True, check=True
    ).stdout
    assert f"-s {net.host('c').ip}/32 -j DROP" in root_rules
    net.heal()
    assert "DROP" not in net.host("b").run(["iptables", "-S", "INPUT"]).stdout
    assert [e.name for e in net.events] == ["+partition", "+partition", "-fault", "-fault"]


@pytest.mark.slow
def test_sentinel_marks_sdown_only_when_its_own_link_is_cut(net: NetnsLab) -> None:
    master, _replica = _pair(net)
    sentinel = net.sentinel("c", master, quorum=2, down_after_ms=1000)  # quorum 2: no failover

    def master_flags() -> str:
        with sentinel.client() as conn:
            return str(conn.sentinel_master("mymaster")["flags"])

    def replica_flags() -> str:
        with sentinel.client() as conn:
            replicas = conn.sentinel_slaves("mymaster")
        return ",".join(str(r["flags"]) for r in replicas) if replicas else "unknown"

    wait_until(
        lambda: replica_flags() == "slave", timeout_s=10, what="the sentinel to find replica b"
    )
    net.isolate("b")  # c still reaches a: only the replica goes subjectively down
    wait_until(lambda: "s_down" in replica_flags(), timeout_s=10, what="+sdown of replica b")
    assert "s_down" not in master_flags()
    net.heal("b")
    wait_until(lambda: "s_down" not in replica_flags(), timeout_s=10, what="-sdown of b")

    net.partition("c", "a")
    wait_until(lambda: "s_down" in master_flags(), timeout_s=10, what="+sdown of master a")
    net.heal()
    wait_until(lambda: "s_down" not in master_flags(), timeout_s=10, what="-sdown of master a")
    log = sentinel.log_text()
    assert "+sdown master mymaster" in log and "-sdown master mymaster" in log
    assert "+odown" not in log


@pytest.mark.slow
def test_link_down_cuts_everyone_and_link_up_restores(net: NetnsLab) -> None:
    master, replica = _pair(net)
    net.link_down("a")
    wait_until(lambda: _link(replica) == "down", timeout_s=10, what="the replica to lose a")
    assert not _answers(master), "with its link down, a is out of reach of the test too"
    net.link_up("a")
    wait_until(lambda: _link(replica) == "up", timeout_s=10, what="the link to come back")
    assert _answers(master)
    assert [(e.name, e.instance) for e in net.events] == [
        ("+partition", "host a"),
        ("-fault", "host a"),
    ]


@pytest.mark.slow
def test_limit_slows_a_large_transfer(net: NetnsLab) -> None:
    server = net.server("a", "big")
    size = 2 * 1024 * 1024
    with server.client(socket_timeout=30) as conn:
        conn.set("big", b"x" * size)
        rate = "8mbit"
        net.limit("a", rate, direction="egress")
        started = time.monotonic()
        assert len(conn.get("big") or "") == size
        elapsed = time.monotonic() - started
        net.unlimit("a")
        expected = size * 8 / parse_rate_bits(rate)
        assert elapsed >= 0.8 * expected, f"2 MiB at {rate} took {elapsed:.2f}s"
        started = time.monotonic()
        conn.get("big")
        unlimited = time.monotonic() - started
    print(f"GET 2 MiB: {elapsed:.2f}s limited to {rate}, {unlimited:.3f}s after unlimit")
    qdiscs = net.host("a").run(["tc", "qdisc", "show", "dev", "eth0"]).stdout
    assert "tbf" not in qdiscs
    assert [e.name for e in net.events] == ["+throttle", "-fault"]


def _listening_in(subnet: ipaddress.IPv4Network) -> list[str]:
    """Addresses in ``subnet`` with a TCP listener in the root namespace."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address = ipaddress.IPv4Address(bytes.fromhex(local.split(":")[0])[::-1])
        if state == "0A" and address in subnet:
            found.append(str(address))
    return found


def test_close_leaves_nothing(tmp_path: Path) -> None:
    lab = NetnsLab(["a", "b"], base_dir=tmp_path)
    server = lab.server("a")
    sleeper = lab.host("b").popen(["sleep", "300"])
    lab.partition("a", "b")
    lab.limit("b", "1mbit")
    lab.link_down("b")
    pids = [server.pid, sleeper.pid]
    lab.close()
    lab.close()  # twice is fine
    sleeper.wait(timeout=5)

    run_id, tag = lab.run_id, lab.tag
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    rules = subprocess.run(
        ["iptables", "-w", "5", "-S"], capture_output=True, text=True, check=True
    ).stdout
    assert run_id not in netns.stdout
    assert tag not in links.stdout
    assert run_id not in rules and lab.bridge not in rules
    assert not (REGISTRY_DIR / f"{run_id}.json").exists()
    assert not [p for p in find_lab_processes() if p.run_id == run_id]
    for pid in pids:
        assert pid is not None and not Path(f"/proc/{pid}").exists()
    assert _listening_in(lab.subnet) == []
    with pytest.raises(NetnsError, match="closed"):
        lab.partition("a", "b")


def test_a_failed_build_removes_what_it_made() -> None:
    with pytest.raises(NetnsError, match="already exists") as caught:
        NetnsLab(["a", "a"])
    run_id = str(caught.value).rsplit(" ", 1)[-1]
    assert not find_leftovers(run_id, include_live_owners=True)


_CHILD = """
import sys, time
from labkit.faults.netns import NetnsLab
lab = NetnsLab(["a", "b"])
lab.server("a")
lab.host("b").popen(["sleep", "300"])
lab.partition("a", "b")
lab.limit("a", "1mbit")
print(lab.run_id, flush=True)
time.sleep(300)
"""


def test_remove_leftovers_after_the_owner_is_sigkilled(net: NetnsLab) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 30)
        run_id = child.stdout.readline().strip() if ready else ""
        assert run_id, f"the child lab did not start: {child.stderr.read() if child.stderr else ''}"
        assert not find_leftovers(run_id), "a live owner's lab is not a leftover"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()

    left = find_leftovers(run_id)
    assert left.namespaces == (f"{run_id}-a", f"{run_id}-b")
    assert len(left.chains) == 2 and len(left.links) == 3
    assert net.run_id not in find_leftovers().runs, "a live run is never a leftover"

    removed = remove_leftovers()
    assert run_id in removed.runs
    assert not find_leftovers(run_id, include_live_owners=True)
    assert not [p for p in find_lab_processes() if p.run_id == run_id]
    # the live lab next to it is untouched
    assert net.leftovers().namespaces == tuple(sorted(h.netns for h in net.hosts.values()))
    server = net.server("a")
    assert _answers(server)
