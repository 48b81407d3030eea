"""Bad input on both ports of a gossip_cluster node, side by side with a real 7.0 node.

* Bus: every broken frame gets the same verdict from both (the link closed, or the frame
  dropped and the link kept: a valid PING sent after it still gets its PONG), and
  neither node adds a node or stops answering.
* Client port: malformed CLUSTER subcommands, refused commands and protocol errors get
  the very bytes a real cluster node sends.
"""

from __future__ import annotations

import secrets
import socket
import time

import pytest

from gossip_cluster.wire import NEED_DATA, BusParser, Header, Meet, NodeFlag, Ping, Pong, encode
from labkit.realredis.lab import Lab
from labkit.realredis.labgossip import start_gossip_node
from labkit.realredis.process import RedisProcess
from labkit.resp import encode_command

pytestmark = pytest.mark.realredis


def _ping(kind: type[Ping] | type[Meet] = Ping) -> bytes:
    header = Header(
        sender=secrets.token_hex(20), port=1, cport=2, flags=NodeFlag.MASTER | NodeFlag.MYSELF
    )
    return encode(kind(header))


def _patched(frame: bytes, offset: int, value: int, size: int) -> bytes:
    out = bytearray(frame)
    out[offset : offset + size] = value.to_bytes(size, "big")
    return bytes(out)


VALID = _ping()
BUS_CASES: dict[str, bytes] = {
    "bad-signature": b"XXXX" + VALID[4:],
    "totlen-below-header": _patched(VALID, 4, 100, 4),
    "bad-version": _patched(VALID, 8, 2, 2),
    "unknown-type": _patched(VALID, 12, 42, 2),
    "count-without-entries": _patched(VALID, 14, 1, 2),
    "absurd-count": _patched(VALID, 14, 65535, 2),
    "fail-with-ping-length": _patched(VALID, 12, 3, 2),
    "update-with-ping-length": _patched(VALID, 12, 7, 2),
    "extensions-without-flag": _patched(VALID, 2214, 3, 2),
}
EXPECTED = {
    "bad-signature": "closed",
    "totlen-below-header": "closed",
    "bad-version": "kept",
    "unknown-type": "kept",
    "count-without-entries": "kept",
    "absurd-count": "kept",
    "fail-with-ping-length": "kept",
    "update-with-ping-length": "kept",
    "extensions-without-flag": "kept",
}


def _verdict(host: str, cport: int, payload: bytes) -> str:
    """Send ``payload`` then a valid PING: "kept" if a PONG comes back, "closed" on EOF."""
    with socket.create_connection((host, cport), timeout=2.0) as sock:
        try:
            sock.sendall(payload)
            time.sleep(0.05)
            sock.sendall(_ping())
        except OSError:
            return "closed"
        parser = BusParser()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                return "silent"
            except OSError:
                return "closed"
            if not data:
                return "closed"
            parser.feed(data)
            while (message := parser.next_message()) is not NEED_DATA:
                if isinstance(message, Pong):
                    return "kept"
    return "silent"


def _known_nodes(proc: RedisProcess) -> str:
    with proc.client() as conn:
        info = str(conn.execute_command("CLUSTER", "INFO"))
    return next(line for line in info.splitlines() if line.startswith("cluster_known_nodes:"))


def test_bad_bus_frames_like_redis(redis_lab: Lab) -> None:
    real = redis_lab.cluster_node(node_timeout_ms=1000)
    ours = start_gossip_node(redis_lab, node_timeout_ms=1000)
    verdicts: dict[str, dict[str, str]] = {"real": {}, "ours": {}}
    for name, proc in (("real", real), ("ours", ours)):
        for case, payload in BUS_CASES.items():
            verdicts[name][case] = _verdict(proc.host, proc.port + 10000, payload)
    assert verdicts["real"] == EXPECTED
    assert verdicts["ours"] == EXPECTED
    # Frames cut short, then the connection dropped; a frame our parser refuses to buffer.
    for payload in (VALID[:7], VALID[:100], VALID[:-1], _patched(VALID, 4, 0xFFFFFFF0, 4)):
        with socket.create_connection((ours.host, ours.port + 10000), timeout=2.0) as sock:
            sock.sendall(payload)
    # Garbage added no node (a PING from an unknown sender only gets a PONG) and the
    # node still answers; a MEET is still honoured.
    for proc in (real, ours):
        with proc.client() as conn:
            assert conn.ping()
        assert _known_nodes(proc) == "cluster_known_nodes:1"


CLIENT_CASES: list[list[bytes]] = [
    [b"CLUSTER"],
    [b"CLUSTER", b"foo"],
    [b"CLUSTER", b"meet"],
    [b"CLUSTER", b"meet", b"1.2.3.4"],
    [b"CLUSTER", b"meet", b"1.2.3.4", b"x"],
    [b"CLUSTER", b"meet", b"nohost", b"1234"],
    [b"CLUSTER", b"meet", b"1.2.3.4", b"1", b"2", b"3"],
    [b"CLUSTER", b"addslots"],
    [b"CLUSTER", b"addslots", b"1", b"1"],
    [b"CLUSTER", b"addslots", b"99999"],
    [b"CLUSTER", b"addslots", b"x"],
    [b"CLUSTER", b"addslotsrange", b"5", b"1"],
    [b"CLUSTER", b"addslotsrange", b"1", b"2", b"3"],
    [b"CLUSTER", b"keyslot"],
    [b"CLUSTER", b"keyslot", b"{user}a"],
    [b"CLUSTER", b"countkeysinslot", b"x"],
    [b"CLUSTER", b"countkeysinslot", b"99999"],
    [b"CLUSTER", b"countkeysinslot", b"5"],
    [b"CLUSTER", b"getkeysinslot", b"1", b"x"],
    [b"CLUSTER", b"getkeysinslot", b"99999", b"1"],
    [b"CLUSTER", b"getkeysinslot", b"1", b"-1"],
    [b"CLUSTER", b"replicas", b"abc"],
    [b"CLUSTER", b"slaves", b"abc"],
    [b"CLUSTER", b"replicate", b"abc"],
    [b"CLUSTER", b"count-failure-reports", b"abc"],
    [b"CLUSTER", b"failover"],
    [b"CLUSTER", b"failover", b"force", b"now"],
    [b"CLUSTER", b"failover", b"sometime"],
    [b"CLUSTER", b"set-config-epoch", b"x"],
    [b"CLUSTER", b"set-config-epoch", b"-1"],
    [b"CLUSTER", b"nodes", b"extra"],
    [b"CLUSTER", b"slots"],
    [b"SELECT", b"1"],
    [b"SELECT", b"0"],
    [b"REPLICAOF", b"no", b"one"],
    [b"READONLY"],
    [b"READWRITE"],
    [b"ASKING"],
    [b"SET", b"foo", b"bar"],
    [b"MSET", b"a", b"1", b"b", b"2"],
    [b"GET"],
    [b"NOSUCHCOMMAND", b"x"],
    [b"PING"],
]


def _exchange(proc: RedisProcess, payload: bytes) -> bytes:
    """Everything the server sends back within a short while (or until it closes)."""
    with socket.create_connection((proc.host, proc.port), timeout=2.0) as sock:
        sock.sendall(payload)
        sock.settimeout(0.3)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return data
            if not chunk:
                return data + b"<closed>"
            data += chunk


def test_client_errors_like_redis(redis_lab: Lab) -> None:
    real = redis_lab.cluster_node(node_timeout_ms=1000)
    ours = start_gossip_node(redis_lab, node_timeout_ms=1000)
    # All the cases pipelined on one connection, then split back by command for the message.
    request = b"".join(encode_command(*case) for case in CLIENT_CASES)
    mine, theirs = _exchange(ours, request), _exchange(real, request)
    if mine != theirs:
        for case in CLIENT_CASES:
            one = encode_command(*case)
            assert _exchange(ours, one) == _exchange(real, one), case
    assert mine == theirs
    for garbage in (b"*x\r\n", b"*1\r\nfoo\r\n", b"*1\r\n$-5\r\n", b'"unbalanced\r\n'):
        assert _exchange(ours, garbage) == _exchange(real, garbage), garbage
