"""Slot administration on gossip_cluster nodes against real tools: ``redis-cli --cluster
reshard`` moves slots with their keys between two of our masters (MIGRATE between the
backing servers), ``--cluster check`` is clean afterwards and RedisCluster reads every key;
a half-done migration answers ``-ASK`` / ``-TRYAGAIN`` and honours ASKING; ``--cluster fix``
closes an open slot; and the admin commands' replies match a real Redis 7.0 node's.
"""

from __future__ import annotations

import socket
import subprocess

import pytest
from redis.cluster import RedisCluster

from gossip_cluster.dataplane import key_hash_slot
from labkit.realredis.lab import Lab
from labkit.realredis.labgossip import GossipNodeProcess, start_gossip_node
from labkit.realredis.process import RedisProcess
from labkit.realredis.topology import wait_until
from labkit.resp import NEED_DATA, ReplyParser, encode_command
from tests.integration.test_gossip_cluster import (
    keys_per_range,
    myid,
    node_lines,
    raw_command,
    sees_connected,
)

pytestmark = pytest.mark.realredis

TIMEOUT_MS = 1000


def _cmd(proc: RedisProcess, *args: object) -> object:
    with proc.client() as conn:
        return conn.execute_command(*args)


def _count(proc: RedisProcess, slot: int) -> int:
    """CLUSTER COUNTKEYSINSLOT."""
    return int(str(_cmd(proc, "CLUSTER", "COUNTKEYSINSLOT", slot)))


def _cli(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [lab.binaries.cli, "--cluster", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _two_masters(lab: Lab) -> tuple[GossipNodeProcess, GossipNodeProcess]:
    """Two gossip_cluster masters, slots 0-8191 and 8192-16383, cluster_state:ok on both."""
    a = start_gossip_node(lab, node_timeout_ms=TIMEOUT_MS)
    b = start_gossip_node(lab, node_timeout_ms=TIMEOUT_MS)
    assert _cmd(a, "CLUSTER", "ADDSLOTSRANGE", 0, 8191) in (True, "OK")
    assert _cmd(b, "CLUSTER", "ADDSLOTSRANGE", 8192, 16383) in (True, "OK")
    assert _cmd(a, "CLUSTER", "MEET", b.host, b.port) in (True, "OK")

    def ok() -> bool:
        for node in (a, b):
            info = str(_cmd(node, "CLUSTER", "INFO"))
            if "cluster_state:ok" not in info or "cluster_known_nodes:2" not in info:
                return False
        return True

    wait_until(ok, timeout_s=10.0, what="two gossip_cluster masters in cluster_state:ok")
    return a, b


def _check_clean(lab: Lab, node: RedisProcess) -> str:
    check = _cli(lab, "check", node.address)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "[OK] All nodes agree about slots configuration." in check.stdout, check.stdout
    assert "[OK] All 16384 slots covered." in check.stdout, check.stdout
    assert "[ERR]" not in check.stdout and "[WARNING]" not in check.stdout, check.stdout
    return check.stdout


def _agree(nodes: list[GossipNodeProcess]) -> bool:
    """Every node shows the same owner for every slot range."""
    views = [sorted((line.name, line.slots) for line in node_lines(n) if line.slots) for n in nodes]
    return all(view == views[0] for view in views)


def test_reshard_moves_keys_and_check_is_clean(redis_lab: Lab) -> None:
    a, b = _two_masters(redis_lab)
    a_id, b_id = myid(a), myid(b)
    # Keys in the 40 slots reshard will take from A (the lowest ones), and elsewhere.
    keys = keys_per_range([(0, 39)], per_range=120) + keys_per_range([(100, 8191)], 30)
    keys += keys_per_range([(8192, 16383)], 30)
    client = RedisCluster(host=a.host, port=a.port, decode_responses=True, socket_timeout=5.0)
    try:
        for key in keys:
            assert client.set(key, f"v-{key}")
        moved = [k for k in keys if key_hash_slot(k.encode()) < 40]
        done = _cli(
            redis_lab,
            "reshard",
            a.address,
            "--cluster-from",
            a_id,
            "--cluster-to",
            b_id,
            "--cluster-slots",
            "40",
            "--cluster-yes",
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Moving slot 0 from" in done.stdout and "Moving slot 39 from" in done.stdout
        wait_until(lambda: _agree([a, b]), timeout_s=5.0, what="both nodes to agree on slots")
        _check_clean(redis_lab, a)
        # The keys really moved: B's backing server holds them, A's does not.
        assert all(_count(a, s) == 0 for s in range(40))
        assert sum(_count(b, s) for s in range(40)) == len(set(moved))
        # B took the slots with a bumped configEpoch.
        lines = {line.name: line for line in node_lines(a)}
        assert lines[b_id].slots[0] == (0, 39)
        assert lines[b_id].config_epoch > lines[a_id].config_epoch
        slot = key_hash_slot(moved[0].encode())
        expected = f"-MOVED {slot} {b.host}:{b.port}\r\n".encode()
        assert raw_command(a, b"GET", moved[0].encode()) == expected
        # A fresh cluster client reads every key where it now lives.
        fresh = RedisCluster(host=b.host, port=b.port, decode_responses=True, socket_timeout=5.0)
        try:
            for key in keys:
                assert fresh.get(key) == f"v-{key}", key
        finally:
            fresh.close()
        for key in keys:
            assert client.get(key) == f"v-{key}", key
    finally:
        client.close()


def _send(sock: socket.socket, *args: bytes | str | int) -> bytes:
    """One command on an open connection; the first reply line."""
    sock.sendall(encode_command(*args))
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_ask_asking_and_tryagain_during_a_migration(redis_lab: Lab) -> None:
    a, b = _two_masters(redis_lab)
    a_id, b_id = myid(a), myid(b)
    slot = key_hash_slot(b"{s}")
    assert slot <= 8191  # A owns it
    assert _cmd(a, "SET", "{s}1", "one") in (True, "OK")
    assert _cmd(a, "SET", "{s}2", "two") in (True, "OK")
    assert _cmd(b, "CLUSTER", "SETSLOT", slot, "IMPORTING", a_id) in (True, "OK")
    assert _cmd(a, "CLUSTER", "SETSLOT", slot, "MIGRATING", b_id) in (True, "OK")
    own = next(line for line in node_lines(a) if line.name == a_id)
    assert own.slot_states == (f"[{slot}->-{b_id}]",)
    theirs = next(line for line in node_lines(b) if line.name == b_id)
    assert theirs.slot_states == (f"[{slot}-<-{a_id}]",)
    # MIGRATE sent to our node, aimed at our other node, really moves the key.
    reply = _cmd(a, "MIGRATE", b.host, b.port, "", 0, 5000, "KEYS", "{s}1")
    assert reply in (True, "OK")
    assert _cmd(a, "GET", "{s}2") == "two"  # still here: served by A
    ask = f"-ASK {slot} {b.host}:{b.port}\r\n".encode()
    assert raw_command(a, b"GET", b"{s}1") == ask
    tryagain = b"-TRYAGAIN Multiple keys request during rehashing of slot\r\n"
    assert raw_command(a, b"MGET", b"{s}1", b"{s}2") == tryagain
    moved = f"-MOVED {slot} {a.host}:{a.port}\r\n".encode()
    assert raw_command(b, b"GET", b"{s}1") == moved  # no ASKING: still A's slot
    with socket.create_connection((b.host, b.port), timeout=2.0) as sock:
        assert _send(sock, "ASKING") == b"+OK\r\n"
        assert _send(sock, "GET", "{s}1") == b"$3\r\none\r\n"
    with socket.create_connection((b.host, b.port), timeout=2.0) as sock:
        assert _send(sock, "ASKING") == b"+OK\r\n"
        assert _send(sock, "GET", "{s}2") == b"$-1\r\n"  # not moved yet: nil, no redirect
        assert _send(sock, "GET", "{s}2") == moved  # ASKING was good for one command
        assert _send(sock, "ASKING") == b"+OK\r\n"
        assert _send(sock, "MGET", "{s}1", "{s}2") == tryagain
    client = RedisCluster(host=a.host, port=a.port, decode_responses=True, socket_timeout=5.0)
    try:
        assert client.get("{s}1") == "one"  # followed the ASK
        assert client.get("{s}2") == "two"
    finally:
        client.close()
    # Closing the migration: refused while A still holds a key, then done as redis-cli does.
    refused = _cmd_error(a, "CLUSTER", "SETSLOT", slot, "NODE", b_id)
    assert refused == (
        f"Can't assign hashslot {slot} to a different node while I still hold keys for "
        "this hash slot."
    )
    assert _cmd(a, "MIGRATE", b.host, b.port, "{s}2", 0, 5000) in (True, "OK")
    assert _cmd(b, "CLUSTER", "SETSLOT", slot, "NODE", b_id) in (True, "OK")
    # The importing side made sure its configEpoch is the greatest (bumped if it was not).
    assert _my_epoch(b) > _my_epoch(a)
    assert _cmd(a, "CLUSTER", "SETSLOT", slot, "NODE", b_id) in (True, "OK")
    assert not next(line for line in node_lines(a) if line.name == a_id).slot_states
    assert _cmd(b, "GET", "{s}2") == "two"
    wait_until(lambda: _agree([a, b]), timeout_s=5.0, what="both nodes to agree on slots")
    _check_clean(redis_lab, a)


def _my_epoch(proc: RedisProcess) -> int:
    info = str(_cmd(proc, "CLUSTER", "INFO"))
    return int(info.split("cluster_my_epoch:")[1].split(maxsplit=1)[0])


def _cmd_error(proc: RedisProcess, *args: object) -> str:
    try:
        _cmd(proc, *args)
    except Exception as exc:  # redis-py raises ResponseError (or a cluster subclass)
        return str(exc)
    raise AssertionError(f"{args!r} did not fail")


def test_fix_closes_an_open_slot(redis_lab: Lab) -> None:
    a, b = _two_masters(redis_lab)
    assert _cmd(a, "CLUSTER", "SETSLOT", 100, "MIGRATING", myid(b)) in (True, "OK")
    check = _cli(redis_lab, "check", a.address)
    assert "[WARNING] Node" in check.stdout and "slots in migrating state 100" in check.stdout
    fix = _cli(redis_lab, "fix", a.address)
    assert fix.returncode == 0, fix.stdout + fix.stderr
    wait_until(lambda: _agree([a, b]), timeout_s=5.0, what="both nodes to agree on slots")
    _check_clean(redis_lab, a)


# -- replies compared with a real node ------------------------------------------------------------
ADMIN_CASES: list[list[bytes]] = [
    [b"CLUSTER", b"delslots", b"1"],
    [b"CLUSTER", b"delslots", b"x"],
    [b"CLUSTER", b"delslots", b"99999"],
    [b"CLUSTER", b"delslotsrange", b"1"],
    [b"CLUSTER", b"delslotsrange", b"1", b"2", b"3"],
    [b"CLUSTER", b"delslotsrange", b"5", b"1"],
    [b"CLUSTER", b"delslotsrange", b"1", b"5"],
    [b"CLUSTER", b"flushslots", b"x"],
    [b"CLUSTER", b"setslot", b"1"],
    [b"CLUSTER", b"setslot", b"x", b"stable"],
    [b"CLUSTER", b"setslot", b"99999", b"stable"],
    [b"CLUSTER", b"setslot", b"1", b"stable"],
    [b"CLUSTER", b"setslot", b"1", b"stable", b"x"],
    [b"CLUSTER", b"setslot", b"1", b"sideways", b"x"],
    [b"CLUSTER", b"setslot", b"1", b"node"],
    [b"CLUSTER", b"setslot", b"1", b"node", b"abc"],
    [b"CLUSTER", b"setslot", b"1", b"migrating", b"abc"],
    [b"CLUSTER", b"setslot", b"1", b"importing", b"abc"],
    [b"CLUSTER", b"forget"],
    [b"CLUSTER", b"forget", b"abc"],
    [b"CLUSTER", b"forget", b"0" * 40],
    [b"CLUSTER", b"reset", b"sometimes"],
    [b"CLUSTER", b"reset", b"soft", b"hard"],
    [b"CLUSTER", b"bumpepoch", b"x"],
    [b"CLUSTER", b"bumpepoch"],
    [b"CLUSTER", b"bumpepoch"],
    [b"CLUSTER", b"addslots", b"7"],
    [b"CLUSTER", b"setslot", b"7", b"importing", b"abc"],
    [b"CLUSTER", b"setslot", b"7", b"migrating", b"abc"],
    [b"CLUSTER", b"delslots", b"7", b"7"],
    [b"CLUSTER", b"delslots", b"7"],
    [b"CLUSTER", b"addslotsrange", b"10", b"20"],
    [b"CLUSTER", b"delslotsrange", b"10", b"12", b"15", b"20"],
    [b"CLUSTER", b"flushslots"],
    [b"CLUSTER", b"reset"],
    [b"ASKING", b"x"],
    [b"CLUSTER", b"reset", b"hard"],
    [b"CLUSTER", b"bumpepoch"],
]


def _exchange(proc: RedisProcess, payload: bytes) -> bytes:
    """The one reply to ``payload`` (one command), byte for byte."""
    parser = ReplyParser()
    data = b""
    with socket.create_connection((proc.host, proc.port), timeout=2.0) as sock:
        sock.sendall(payload)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
            parser.feed(chunk)
            if parser.next_frame() is not NEED_DATA:
                return data


def test_admin_replies_like_redis(redis_lab: Lab) -> None:
    real = redis_lab.cluster_node(node_timeout_ms=TIMEOUT_MS)
    ours = start_gossip_node(redis_lab, node_timeout_ms=TIMEOUT_MS)
    for proc in (real, ours):
        # One case at a time (the same order on both): the state carries over.
        replies = [_exchange(proc, encode_command(*case)) for case in ADMIN_CASES]
        if proc is real:
            expected = replies
        else:
            for case, mine, theirs in zip(ADMIN_CASES, replies, expected, strict=True):
                assert mine == theirs, case
    # A master with keys refuses FLUSHSLOTS and RESET (a key put in our backing server).
    host, _, port = str(_cmd(ours, "CLUSTER", "LAB-DATA-SERVER")).rpartition(":")
    with socket.create_connection((host, int(port)), timeout=2.0) as sock:
        assert _send(sock, "SET", "k", "v") == b"+OK\r\n"
        assert _exchange(ours, encode_command(b"CLUSTER", b"FLUSHSLOTS")) == (
            b"-ERR DB must be empty to perform CLUSTER FLUSHSLOTS.\r\n"
        )
        assert _exchange(ours, encode_command(b"CLUSTER", b"RESET")) == (
            b"-ERR CLUSTER RESET can't be called with master nodes containing keys\r\n"
        )
        assert _send(sock, "DEL", "k") == b":1\r\n"
    for proc in (real, ours):
        me = myid(proc).encode()
        assert _exchange(proc, encode_command(b"CLUSTER", b"forget", me)) == (
            b"-ERR I tried hard but I can't forget myself...\r\n"
        )
    # FORGET and RESET in a real cluster of one real node and ours.
    assert _cmd(ours, "CLUSTER", "MEET", real.host, real.port) in (True, "OK")
    real_id, our_id = myid(real), myid(ours)
    wait_until(
        lambda: sees_connected(ours, real_id) and sees_connected(real, our_id),
        timeout_s=5.0,
        what="the two nodes to know each other",
    )
    assert _cmd(ours, "CLUSTER", "FORGET", real_id) in (True, "OK")
    assert _cmd(real, "CLUSTER", "FORGET", our_id) in (True, "OK")
    for proc in (real, ours):
        assert "cluster_known_nodes:1" in str(_cmd(proc, "CLUSTER", "INFO"))
    assert _cmd(ours, "CLUSTER", "MEET", real.host, real.port) in (True, "OK")
    wait_until(
        lambda: "cluster_known_nodes:2" in str(_cmd(ours, "CLUSTER", "INFO")),
        timeout_s=5.0,
        what="our node to meet the real one again",
    )
    assert _cmd(ours, "CLUSTER", "RESET", "HARD") in (True, "OK")
    assert myid(ours) != our_id
    assert "cluster_known_nodes:1" in str(_cmd(ours, "CLUSTER", "INFO"))
    assert "cluster_current_epoch:0" in str(_cmd(ours, "CLUSTER", "INFO"))
