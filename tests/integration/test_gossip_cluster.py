"""gossip_cluster nodes against real Redis 7.0: joining a real cluster both ways, a cluster
built by ``redis-cli --cluster create`` and checked by ``--cluster check``, a stock
redis-py ``RedisCluster`` writing every slot range.
"""

from __future__ import annotations

import socket
import subprocess
import time

import pytest
from redis.cluster import RedisCluster

from gossip_cluster.dataplane import key_hash_slot
from gossip_cluster.nodes_conf import NodeLine, parse_line
from gossip_cluster.wire import NodeFlag
from labkit.realredis.lab import Lab
from labkit.realredis.labgossip import create_cluster_of, start_gossip_node
from labkit.realredis.process import RedisProcess
from labkit.realredis.topology import wait_until
from labkit.resp import encode_command

pytestmark = pytest.mark.realredis

TIMEOUT_MS = 1000


# -- helpers (other test_gossip_* modules import them) ---------------------------------------
def report(text: str) -> None:
    """A timing line, shown with ``pytest -s`` (and in the log of a failing test)."""
    print(f"\n[gossip timing] {text}")


def node_lines(proc: RedisProcess) -> list[NodeLine]:
    """CLUSTER NODES of ``proc``, parsed."""
    with proc.client() as conn:
        text = str(conn.execute_command("CLUSTER", "NODES"))
    return [parse_line(line) for line in text.splitlines() if line.strip()]


def myid(proc: RedisProcess) -> str:
    with proc.client() as conn:
        return str(conn.execute_command("CLUSTER", "MYID"))


def line_of(proc: RedisProcess, node_id: str) -> NodeLine | None:
    return next((line for line in node_lines(proc) if line.name == node_id), None)


def sees_connected(proc: RedisProcess, node_id: str) -> bool:
    """``proc`` shows ``node_id`` connected, out of handshake and not failing."""
    line = line_of(proc, node_id)
    if line is None or not line.connected:
        return False
    return not line.flags & (NodeFlag.HANDSHAKE | NodeFlag.PFAIL | NodeFlag.FAIL | NodeFlag.NOADDR)


def keys_per_range(ranges: list[tuple[int, int]], per_range: int) -> list[str]:
    """At least ``per_range`` keys hashing into each slot range."""
    wanted = {r: per_range for r in ranges}
    keys: list[str] = []
    i = 0
    while any(wanted.values()):
        key = f"key:{i}"
        i += 1
        slot = key_hash_slot(key.encode())
        for r, left in wanted.items():
            if r[0] <= slot <= r[1] and left:
                wanted[r] -= 1
                keys.append(key)
    return keys


def raw_command(proc: RedisProcess, *args: bytes) -> bytes:
    """Send one command on a raw socket; the first reply line, byte for byte."""
    with socket.create_connection((proc.host, proc.port), timeout=2.0) as sock:
        sock.sendall(encode_command(*args))
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def owner_line(proc: RedisProcess, slot: int) -> NodeLine:
    for line in node_lines(proc):
        if any(first <= slot <= last for first, last in line.slots):
            return line
    raise AssertionError(f"slot {slot} has no owner")


@pytest.mark.parametrize(
    ("joiner", "direction"),
    [
        ("ours", "meet-sent-to-real"),
        ("ours", "meet-sent-to-ours"),
        ("real", "meet-sent-to-real"),  # the baseline for the timing
    ],
)
def test_joins_a_real_cluster(redis_lab: Lab, joiner: str, direction: str) -> None:
    real = redis_lab.cluster(3, 0, node_timeout_ms=TIMEOUT_MS)
    ours: RedisProcess = (
        start_gossip_node(redis_lab, node_timeout_ms=TIMEOUT_MS)
        if joiner == "ours"
        else redis_lab.cluster_node(node_timeout_ms=TIMEOUT_MS)
    )
    our_id = myid(ours)
    first = real.nodes[0]
    started = time.monotonic()
    if direction == "meet-sent-to-real":
        with first.client() as conn:
            assert conn.execute_command("CLUSTER", "MEET", ours.host, ours.port) in (True, "OK")
    else:
        with ours.client() as conn:
            assert conn.execute_command("CLUSTER", "MEET", first.host, first.port) in (True, "OK")
    wait_until(
        lambda: all(sees_connected(node, our_id) for node in real.nodes),
        timeout_s=2 * TIMEOUT_MS / 1000,
        what="every real node to show the gossip_cluster node connected",
    )
    joined_s = time.monotonic() - started
    real_ids = [myid(n) for n in real.nodes]
    wait_until(
        lambda: all(sees_connected(ours, rid) for rid in real_ids),
        timeout_s=2 * TIMEOUT_MS / 1000,
        what="the gossip_cluster node to show every real node connected",
    )
    report(f"join of {joiner} node ({direction}): connected everywhere after {joined_s:.2f}s")
    # Our node agrees with the real ones about slots and epochs.
    ours_view = {line.name: line for line in node_lines(ours)}
    for line in node_lines(first):
        mine = ours_view[line.name]
        assert (mine.slots, mine.config_epoch) == (line.slots, line.config_epoch)

    def state_ok() -> bool:
        with ours.client() as conn:
            info = str(conn.execute_command("CLUSTER", "INFO"))
        return "cluster_state:ok" in info and "cluster_known_nodes:4" in info

    # A master that just started waits 2 s (CLUSTER_WRITABLE_DELAY) before saying ok.
    wait_until(state_ok, timeout_s=5.0, what="cluster_state:ok on the gossip_cluster node")


@pytest.mark.slow
def test_cluster_create_check_and_redis_py(redis_lab: Lab) -> None:
    nodes = [start_gossip_node(redis_lab, node_timeout_ms=TIMEOUT_MS) for _ in range(6)]
    started = time.monotonic()
    cluster, output = create_cluster_of(
        redis_lab, nodes, replicas_per_master=1, node_timeout_ms=TIMEOUT_MS
    )
    report(f"redis-cli --cluster create: cluster_state:ok after {time.monotonic() - started:.2f}s")
    assert "[OK] All 16384 slots covered." in output
    check = subprocess.run(
        [redis_lab.binaries.cli, "--cluster", "check", nodes[0].address],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "[OK] All nodes agree about slots configuration." in check.stdout
    assert "[OK] All 16384 slots covered." in check.stdout
    assert "[ERR]" not in check.stdout and "[WARNING]" not in check.stdout, check.stdout
    masters = [n for n in nodes if "myself,master" in _own_line(n)]
    assert len(masters) == 3

    client = RedisCluster(
        host=nodes[0].host,
        port=nodes[0].port,
        decode_responses=True,
        socket_timeout=2.0,
    )
    try:
        keys = keys_per_range(_ranges(cluster.nodes[0]), per_range=50)
        for key in keys:
            assert client.set(key, f"v-{key}")
        for key in keys:
            assert client.get(key) == f"v-{key}"
        assert client.mset_nonatomic({"{t}a": "1", "{t}b": "2"}) is not None
        assert client.mget_nonatomic(["{t}a", "{t}b"]) == ["1", "2"]
    finally:
        client.close()

    # A single-node client sees Redis's redirection errors.
    mine = myid(nodes[0])
    key = next(k for k in keys if owner_line(nodes[0], key_hash_slot(k.encode())).name != mine)
    slot = key_hash_slot(key.encode())
    owner = owner_line(nodes[0], slot)
    expected = f"-MOVED {slot} {owner.ip}:{owner.port}\r\n".encode()
    assert raw_command(nodes[0], b"GET", key.encode()) == expected
    with nodes[0].client() as conn:
        assert conn.execute_command("CLUSTER", "KEYSLOT", "{user}1") == key_hash_slot(b"user")
    crossslot = b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    assert raw_command(nodes[0], b"MGET", b"a", b"b") == crossslot
    with nodes[0].client() as conn:
        assert conn.execute_command("CLUSTER", "KEYSLOT", "{user}1") == key_hash_slot(b"user")


def _own_line(proc: RedisProcess) -> str:
    with proc.client() as conn:
        text = str(conn.execute_command("CLUSTER", "NODES"))
    return next(line for line in text.splitlines() if "myself" in line)


def _ranges(proc: RedisProcess) -> list[tuple[int, int]]:
    return [r for line in node_lines(proc) for r in line.slots]
