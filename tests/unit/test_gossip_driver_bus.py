"""The asyncio bus and the backend connection on loopback: buffering until the connect
completes, LinkDown on a refused connect, inbound link names, bad frames, raw replies."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from gossip_cluster.bus import Bus
from gossip_cluster.dataplane import BackendConn, BackendError
from gossip_cluster.errors import BusProtocolError
from gossip_cluster.wire import NEED_DATA, BusParser, Header, Message, Ping, encode
from labkit.realredis.ports import free_port
from labkit.resp.frames import BulkString, Integer


def _ping(sender: str | None = None) -> Ping:
    header = Header(sender=sender or secrets.token_hex(20), port=7000, cport=17000)
    return Ping(header)


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[str, Message]] = []
        self.down: list[str] = []
        self.bad: list[tuple[str, BusProtocolError]] = []
        self.event = asyncio.Event()

    def on_message(self, link: str, message: Message) -> None:
        self.messages.append((link, message))
        self.event.set()

    def on_down(self, link: str) -> None:
        self.down.append(link)
        self.event.set()

    def on_bad(self, link: str, exc: BusProtocolError) -> None:
        self.bad.append((link, exc))

    async def wait(self, condition: object, timeout_s: float = 2.0) -> None:
        async def loop() -> None:
            while not condition():  # type: ignore[operator]
                self.event.clear()
                await self.event.wait()

        await asyncio.wait_for(loop(), timeout_s)


def _bus(rec: _Recorder) -> Bus:
    return Bus(
        "127.0.0.1",
        0,
        on_message=rec.on_message,
        on_down=rec.on_down,
        on_bad_frame=rec.on_bad,
        connect_timeout_s=1.0,
    )


async def test_frames_sent_before_the_connect_completes_arrive_in_order() -> None:
    received = BusParser()
    got: list[Message] = []
    arrived = asyncio.Event()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            received.feed(data)
            while (msg := received.next_message()) is not NEED_DATA:
                got.append(msg)
            if len(got) == 3:
                arrived.set()
        writer.close()

    server = await asyncio.start_server(peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rec = _Recorder()
    bus = _bus(rec)
    await bus.start()
    try:
        names = [secrets.token_hex(20) for _ in range(3)]
        link = f"127.0.0.1:{port}"
        for name in names:  # all three written before the loop runs the connect
            bus.send(link, _ping(name))
        assert not bus.links[link].connected and len(bus.links[link].pending) == 3
        await asyncio.wait_for(arrived.wait(), 2.0)
        assert [m.header.sender for m in got] == names
        assert bus.links[link].connected and not bus.links[link].pending
        assert bus.sent["ping"] == 3
        assert rec.down == []
    finally:
        await bus.close()
        server.close()
        await server.wait_closed()


async def test_refused_connect_reports_link_down() -> None:
    rec = _Recorder()
    bus = _bus(rec)
    await bus.start()
    link = f"127.0.0.1:{free_port()}"  # nothing listens there
    try:
        bus.send(link, _ping())
        await rec.wait(lambda: rec.down)
        assert rec.down == [link] and link not in bus.links
    finally:
        await bus.close()


async def test_close_link_does_not_report_down() -> None:
    writers: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(lambda r, w: writers.append(w), "127.0.0.1", 0)
    link = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    rec = _Recorder()
    bus = _bus(rec)
    await bus.start()
    try:
        bus.send(link, _ping())
        bus.close_link(link)
        await asyncio.sleep(0.1)
        assert rec.down == [] and link not in bus.links
        bus.send("in:10.0.0.9:5555@127.0.0.1", _ping())  # a reply on a gone link: dropped
        assert "in:10.0.0.9:5555@127.0.0.1" not in bus.links
    finally:
        await bus.close()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_inbound_names_bad_frames_and_fatal_errors() -> None:
    rec = _Recorder()
    bus = _bus(rec)
    await bus.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", bus.cport)
        local = writer.get_extra_info("sockname")
        name = f"in:127.0.0.1:{local[1]}@127.0.0.1"
        frame = bytearray(encode(_ping()))
        unknown = bytearray(frame)
        unknown[12:14] = (42).to_bytes(2, "big")  # an unknown type: decoded, ignored by the core
        short = bytearray(frame)
        short[14:16] = (3).to_bytes(2, "big")  # 3 gossip entries that are not there
        writer.write(bytes(short) + bytes(unknown) + bytes(frame))
        await rec.wait(lambda: len(rec.messages) == 2)
        assert [link for link, _ in rec.messages] == [name, name]
        assert [exc.fatal for _, exc in rec.bad] == [False]
        # A bad signature is fatal: the link is closed and reported down.
        writer.write(b"XXXX" + bytes(frame[4:]))
        await rec.wait(lambda: rec.down)
        assert rec.down == [name] and rec.bad[-1][1].fatal
        assert await reader.read() == b""
        writer.close()
    finally:
        await bus.close()


async def test_backend_conn_returns_replies_byte_for_byte() -> None:
    replies = [b"+OK\r\n", b"$5\r\nhello\r\n", b"*2\r\n:1\r\n$-1\r\n", b"%1\r\n+a\r\n,1.5\r\n"]

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        for reply in replies:  # dribbled a byte at a time
            for i in range(len(reply)):
                writer.write(reply[i : i + 1])
                await writer.drain()
                await asyncio.sleep(0)
        writer.close()

    srv = await asyncio.start_server(server, "127.0.0.1", 0)
    conn = await BackendConn.open("127.0.0.1", srv.sockets[0].getsockname()[1])
    try:
        conn.write(b"*1\r\n$4\r\nPING\r\n")
        got = [await conn.read_reply() for _ in replies]
        assert [raw for raw, _ in got] == replies
        assert got[1][1] == BulkString(b"hello")
        with pytest.raises(BackendError, match="lost the data server"):
            await conn.read_reply()
    finally:
        conn.close()
        srv.close()
        await srv.wait_closed()


async def test_backend_call_and_refused_connect() -> None:
    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b":42\r\n")
        await writer.drain()
        await reader.read(100)
        writer.close()

    srv = await asyncio.start_server(server, "127.0.0.1", 0)
    conn = await BackendConn.open("127.0.0.1", srv.sockets[0].getsockname()[1])
    try:
        assert await conn.call("DBSIZE") == Integer(42)
    finally:
        conn.close()
        srv.close()
        await srv.wait_closed()
    with pytest.raises(BackendError, match="cannot connect to the data server"):
        await BackendConn.open("127.0.0.1", free_port())
