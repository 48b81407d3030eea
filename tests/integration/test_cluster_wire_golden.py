"""Golden frames: the codec against real Redis 7.0 cluster nodes on loopback.

A fake bus node (a listening socket driven by ``BusParser`` and ``encode``) joins two
real cluster nodes: r1 meets it, r2 learns of it by gossip. It captures what they send
(MEET, PING, PONG with gossip and a hostname extension, UPDATE, PUBLISH, FAIL), checks
that each real frame decodes and re-encodes to the identical bytes, and checks that the
real nodes accept its own frames.
Nothing captured is saved; every socket and process is closed at the end.
"""

from __future__ import annotations

import secrets
import selectors
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from gossip_cluster.wire import (
    NEED_DATA,
    BusParser,
    Fail,
    GossipEntry,
    Header,
    HostnameExt,
    Meet,
    Message,
    NodeFlag,
    Ping,
    Pong,
    Publish,
    SlotBitmap,
    Update,
    decode_frame,
    encode,
)
from labkit.realredis.lab import Lab
from labkit.realredis.ports import free_port
from labkit.realredis.process import RedisProcess

pytestmark = pytest.mark.realredis
M = TypeVar("M", bound=Message)

NODE_TIMEOUT_MS = 1000
DEADLINE_S = 10.0
OUR_HOSTNAME = "py-golden"


@dataclass(eq=False)
class _Conn:
    sock: socket.socket
    inbound: bool
    parser: BusParser = field(default_factory=BusParser)


@dataclass(frozen=True)
class _Captured:
    conn: _Conn
    raw: bytes
    message: Message


class FakeBusNode:
    """A minimal bus peer: accepts links, answers PING/MEET with PONG, records frames."""

    def __init__(self) -> None:
        self.name = secrets.token_hex(20)
        self.client_port = free_port()  # announced only; nothing listens there
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.bus_port = int(self.listener.getsockname()[1])
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.conns: list[_Conn] = []
        self.captured: list[_Captured] = []
        self.answer = True
        self.current_epoch = 0
        self.myslots = SlotBitmap()

    def close(self) -> None:
        for conn in self.conns:
            conn.sock.close()
        self.listener.close()
        self.selector.close()

    def header(self) -> Header:
        return Header(
            sender=self.name,
            port=self.client_port,
            current_epoch=self.current_epoch,
            myslots=self.myslots,
            cport=self.bus_port,
            flags=NodeFlag.MASTER | NodeFlag.MYSELF,
        )

    def pong(self) -> Pong:
        return Pong(self.header(), (), (HostnameExt(OUR_HOSTNAME),))

    def send(self, conn: _Conn, message: Message) -> None:
        conn.sock.setblocking(True)
        try:
            conn.sock.sendall(encode(message))
        finally:
            conn.sock.setblocking(False)

    def connect(self, port: int) -> _Conn:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2.0)
        sock.setblocking(False)
        conn = _Conn(sock, inbound=False)
        self.conns.append(conn)
        self.selector.register(sock, selectors.EVENT_READ, conn)
        return conn

    def _on_frame(self, conn: _Conn, raw: bytes) -> None:
        message = decode_frame(raw)
        self.captured.append(_Captured(conn, raw, message))
        self.current_epoch = max(self.current_epoch, message.header.current_epoch)
        if self.answer and isinstance(message, Ping | Meet):
            self.send(conn, self.pong())

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(conn.sock)
            conn.sock.close()
            self.conns.remove(conn)
            return
        conn.parser.feed(data)
        while (raw := conn.parser.next_frame()) is not NEED_DATA:
            self._on_frame(conn, raw)

    def pump(self, seconds: float) -> None:
        """Serve the links for ``seconds``."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            for key, _ in self.selector.select(timeout=min(left, 0.05)):
                if key.data is None:
                    sock, _addr = self.listener.accept()
                    sock.setblocking(False)
                    conn = _Conn(sock, inbound=True)
                    self.conns.append(conn)
                    self.selector.register(sock, selectors.EVENT_READ, conn)
                else:
                    self._read(key.data)

    def pump_until(self, condition: Callable[[], bool], what: str) -> None:
        """Serve the links until ``condition()`` holds, or fail after the deadline."""
        deadline = time.monotonic() + DEADLINE_S
        while not condition():
            if time.monotonic() > deadline:
                kinds = [type(c.message).__name__ for c in self.captured]
                pytest.fail(f"timed out waiting for {what}; captured {kinds}")
            self.pump(0.05)

    def find(self, kind: type[M], sender: str | None = None) -> list[tuple[M, _Captured]]:
        """Captured messages of type ``kind`` (from ``sender``), with their records."""
        return [
            (c.message, c)
            for c in self.captured
            if isinstance(c.message, kind) and (sender is None or c.message.header.sender == sender)
        ]


@pytest.fixture
def fake_node() -> Iterator[FakeBusNode]:
    node = FakeBusNode()
    try:
        yield node
    finally:
        node.close()


def _node_id(proc: RedisProcess) -> str:
    with proc.client() as conn:
        return str(conn.execute_command("CLUSTER", "MYID"))


def _cluster_nodes(proc: RedisProcess) -> dict[str, list[str]]:
    """CLUSTER NODES as name -> fields."""
    with proc.client() as conn:
        text = str(conn.execute_command("CLUSTER", "NODES"))
    return {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}


def _knows(proc: RedisProcess, name: str, *, link: str = "connected") -> bool:
    fields = _cluster_nodes(proc).get(name)
    return fields is not None and "handshake" not in fields[2] and fields[7] == link


def _assert_golden(captured: _Captured) -> None:
    """The real frame decodes, and re-encoding gives the identical bytes."""
    assert decode_frame(captured.raw) == captured.message
    assert encode(captured.message) == captured.raw, type(captured.message).__name__


def test_real_nodes_frames_round_trip_and_accept_ours(
    redis_lab: Lab, fake_node: FakeBusNode
) -> None:
    r1 = redis_lab.cluster_node(
        node_timeout_ms=NODE_TIMEOUT_MS, extra=[("cluster-announce-hostname", "golden-r1")]
    )
    r2 = redis_lab.cluster_node(node_timeout_ms=NODE_TIMEOUT_MS)
    r1_id, r2_id = _node_id(r1), _node_id(r2)
    with r1.client() as c1:
        c1.execute_command("CLUSTER", "MEET", "127.0.0.1", r2.port)
    fake_node.pump_until(
        lambda: _knows(r1, r2_id) and _knows(r2, r1_id), "the two real nodes to meet"
    )

    # 1. r1 meets us: a handshake node first, then our name once our PONG arrives.
    with r1.client() as c1:
        c1.execute_command(
            "CLUSTER", "MEET", "127.0.0.1", fake_node.client_port, fake_node.bus_port
        )
    address = f"127.0.0.1:{fake_node.client_port}@{fake_node.bus_port}"
    pending = [f for f in _cluster_nodes(r1).values() if f[1].startswith(address)]
    assert len(pending) == 1 and "handshake" in pending[0][2]
    fake_node.pump_until(lambda: bool(fake_node.find(Meet, r1_id)), "a MEET from r1")
    meet = fake_node.find(Meet, r1_id)[0][0]
    assert meet.header.flags & NodeFlag.MASTER and meet.header.cport == r1.port + 10000
    assert meet.extensions == (HostnameExt("golden-r1"),)
    fake_node.pump_until(lambda: _knows(r1, fake_node.name), "r1 to know our node")
    assert _cluster_nodes(r1)[fake_node.name][2] == "master"
    # The hostname extension of our PONGs is read once we are a known node.
    fake_node.pump_until(
        lambda: _cluster_nodes(r1)[fake_node.name][1] == f"{address},{OUR_HOSTNAME}",
        "r1 to show our announced hostname",
    )

    # 2. r2 learns of us from r1's gossip. Redis 7.0 adds a gossiped node under its
    #    real name, without a handshake, and contacts it with PING, not MEET.
    fake_node.pump_until(
        lambda: _knows(r2, fake_node.name) and bool(fake_node.find(Ping, r2_id)),
        "r2 to learn of and ping our node",
    )
    assert not fake_node.find(Meet, r2_id)
    fake_node.pump_until(
        lambda: any(ping.gossip for ping, _ in fake_node.find(Ping, r1_id)),
        "a PING with gossip from r1",
    )

    # 3. Our own outbound link: PING r1 with gossip about r2, get a PONG back.
    out = fake_node.connect(r1.port + 10000)
    r2_entry = GossipEntry(r2_id, 0, 0, "127.0.0.1", r2.port, r2.port + 10000, NodeFlag.MASTER)
    fake_node.send(out, Ping(fake_node.header(), (r2_entry,), (HostnameExt(OUR_HOSTNAME),)))
    fake_node.pump_until(
        lambda: any(c.conn is out for _, c in fake_node.find(Pong, r1_id)), "r1's PONG to our PING"
    )

    # 4. UPDATE: r1 owns slot 0 at a higher configEpoch; we claim it at epoch 0.
    with r1.client() as c1:
        c1.execute_command("CLUSTER", "ADDSLOTS", 0)
        c1.execute_command("CLUSTER", "BUMPEPOCH")
    fake_node.myslots = SlotBitmap.of([0])
    fake_node.send(out, Ping(fake_node.header()))  # our configEpoch is 0
    fake_node.pump_until(lambda: bool(fake_node.find(Update, r1_id)), "an UPDATE from r1")
    update = fake_node.find(Update, r1_id)[0][0]
    assert update.nodename == r1_id and list(update.slots) == [0] and update.config_epoch > 0
    assert _cluster_nodes(r1)[r1_id][8:] == ["0"]  # our stale claim did not win
    fake_node.myslots = SlotBitmap()

    # 5. PUBLISH is broadcast on the bus.
    with r1.client() as c1:
        c1.publish("golden-channel", "golden message")
    fake_node.pump_until(lambda: bool(fake_node.find(Publish, r1_id)), "a PUBLISH from r1")
    publish = fake_node.find(Publish, r1_id)[0][0]
    assert (publish.channel, publish.message) == (b"golden-channel", b"golden message")

    # 6. We go silent: the real nodes mark us PFAIL, then FAIL, and broadcast FAIL.
    fake_node.answer = False
    fake_node.pump_until(
        lambda: any(fail.nodename == fake_node.name for fail, _ in fake_node.find(Fail)),
        "a FAIL about our node",
    )

    kinds = {type(c.message) for c in fake_node.captured}
    assert {Meet, Ping, Pong, Update, Publish, Fail} <= kinds
    for captured in fake_node.captured:
        _assert_golden(captured)
    gossip = [
        g
        for c in fake_node.captured
        if isinstance(c.message, Ping | Pong)
        for g in c.message.gossip
    ]
    assert {g.nodename for g in gossip} >= {r2_id, fake_node.name}
    assert all(g.ip == "127.0.0.1" for g in gossip)
