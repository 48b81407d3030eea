"""Bad input over raw sockets: garbage, absurd lengths, nesting, stalls, slow readers,
too many clients, and shutdown. Every other client must keep being served."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable

import pytest

from labkit.resp import OK, PONG, BulkString
from labkit.resp.server import RespServer
from labkit.resp.testing import RespTestClient, running_server


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)


async def assert_served(server: RespServer) -> None:
    async with await RespTestClient.connect(server.port) as client:
        assert await client.call("PING") == PONG


PROTOCOL_ERRORS = [
    (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*99999999999\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*2147483648\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\n$99999999999\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n*1\r\n$4\r\nPING\r\n", b"-ERR Protocol error: expected '$', got '*'\r\n"),
    (b'PING "unbalanced\r\n', b"-ERR Protocol error: unbalanced quotes in request\r\n"),
    (b"x" * 70_000, b"-ERR Protocol error: too big inline request\r\n"),
    (b"*" + b"1" * 70_000, b"-ERR Protocol error: too big mbulk count string\r\n"),
    (b"PING\r\n*1\r\n:1\r\n", b"+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n"),
]


@pytest.mark.parametrize(("data", "expected"), PROTOCOL_ERRORS)
async def test_protocol_errors_reply_and_close(data: bytes, expected: bytes) -> None:
    async with running_server() as server:
        async with await RespTestClient.connect(server.port) as bystander:
            async with await RespTestClient.connect(server.port) as bad:
                await bad.send_raw(data)
                assert await bad.read_until_closed() == expected
            assert await bystander.call("PING") == PONG
        assert server.stats.protocol_errors == 1


async def test_random_garbage_never_hurts_other_clients() -> None:
    rng = random.Random(1234)
    async with running_server() as server:
        async with await RespTestClient.connect(server.port) as bystander:
            for _ in range(40):
                size = rng.randrange(1, 300)
                garbage = bytes(rng.randrange(256) for _ in range(size))
                if rng.random() < 0.5:
                    garbage = rng.choice([b"*", b"*2\r\n", b"*1\r\n$", b"$3\r\n"]) + garbage
                async with await RespTestClient.connect(server.port) as bad:
                    await bad.send_raw(garbage)
                    bad.writer.write_eof()
                    await bad.read_until_closed()
                assert await bystander.call("ECHO", b"still here") == BulkString(b"still here")
        await until(lambda: len(server.clients) == 0)


async def test_unauthenticated_length_limits() -> None:
    async with running_server(requirepass="pw") as server:
        for data, text in [
            (b"*11\r\n", b"unauthenticated multibulk length"),
            (b"*1\r\n$16385\r\n", b"unauthenticated bulk length"),
        ]:
            async with await RespTestClient.connect(server.port) as client:
                await client.send_raw(data)
                assert await client.read_until_closed() == b"-ERR Protocol error: " + text + b"\r\n"
        async with await RespTestClient.connect(server.port) as client:
            assert await client.call("AUTH", "pw") == OK
            assert await client.call("ECHO", b"x" * 20000) == BulkString(b"x" * 20000)


async def test_half_a_frame_then_silence_blocks_nobody() -> None:
    async with running_server() as server, await RespTestClient.connect(server.port) as stalled:
        await stalled.send_raw(b"*2\r\n$4\r\nECHO\r\n$5\r\nhel")
        for _ in range(20):
            await assert_served(server)
        await stalled.send_raw(b"lo\r\n")
        assert await stalled.reply() == BulkString(b"hello")


async def test_client_that_never_reads_is_dropped() -> None:
    limit = 256 * 1024
    async with running_server(output_buffer_limit_bytes=limit) as server:
        slow = await RespTestClient.connect(server.port, recv_buffer_bytes=4096)
        request = b"*2\r\n$4\r\nECHO\r\n$65536\r\n" + b"x" * 65536 + b"\r\n"
        sent = 0
        try:
            async with asyncio.timeout(30):
                while server.stats.output_limit_disconnections == 0:
                    slow.writer.write(request * 4)
                    await slow.writer.drain()
                    sent += 4 * len(request)
                    for conn in server.clients.values():
                        assert conn.output_bytes < limit + 4 * len(request) + 64 * 1024
                    await assert_served(server)
        except ConnectionError:
            pass  # the server dropped us while we were still writing
        finally:
            await slow.aclose()
        await until(lambda: server.stats.output_limit_disconnections == 1)
        await until(lambda: len(server.clients) == 0)
        assert sent < 200 * 1024 * 1024
        await assert_served(server)


async def test_query_buffer_limit() -> None:
    async with running_server(query_buffer_limit_bytes=1024 * 1024) as server:
        async with await RespTestClient.connect(server.port) as greedy:
            with contextlib.suppress(ConnectionError):
                await greedy.send_raw(b"*1\r\n$10000000\r\n" + b"y" * 2_000_000)
            assert await greedy.read_until_closed() == b""
        assert server.stats.query_limit_disconnections == 1
        await assert_served(server)


async def test_maxclients() -> None:
    async with running_server(maxclients=2) as server:
        first = await RespTestClient.connect(server.port)
        second = await RespTestClient.connect(server.port)
        try:
            assert await first.call("PING") == PONG
            assert await second.call("PING") == PONG
            async with await RespTestClient.connect(server.port) as third:
                assert await third.read_until_closed() == b"-ERR max number of clients reached\r\n"
            assert server.stats.rejected_connections == 1
        finally:
            await first.aclose()
        await until(lambda: len(server.clients) == 1)
        try:
            await assert_served(server)
        finally:
            await second.aclose()


async def test_security_attack_lines_close_silently() -> None:
    async with running_server() as server:
        async with await RespTestClient.connect(server.port) as client:
            await client.send_raw(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert await client.read_until_closed() == b""
        await assert_served(server)


async def test_close_ends_every_connection() -> None:
    server = RespServer()
    await server.start()
    port = server.port
    clients = [await RespTestClient.connect(port) for _ in range(3)]
    try:
        await clients[0].send_raw(b"*2\r\n$4\r\nECHO\r\n$10\r\nhal")
        await clients[1].call("SUBSCRIBE", "ch")
        assert await clients[2].call("PING") == PONG
        async with asyncio.timeout(10):
            await server.close()
        for client in clients:
            assert await client.read_until_closed() == b""
        assert server.clients == {}
        with pytest.raises(OSError):
            await RespTestClient.connect(port)
    finally:
        for client in clients:
            await client.aclose()
        await server.close()


async def test_many_clients_pipelining_concurrently() -> None:
    async with running_server() as server:

        async def worker(n: int) -> None:
            async with await RespTestClient.connect(server.port) as client:
                batch = b"".join(
                    b"*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n" % (len(str(i)), str(i).encode())
                    for i in range(200)
                )
                await client.send_raw(batch)
                for i in range(200):
                    assert await client.reply() == BulkString(str(i).encode()), n

        await asyncio.gather(*(worker(n) for n in range(20)))
        assert server.stats.total_commands_processed == 20 * 200
