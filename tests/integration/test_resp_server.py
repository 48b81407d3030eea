"""The RESP server base with real clients: redis-py (sync and asyncio, RESP2 and RESP3)
and redis-cli."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from labkit.resp.server import RespServer, ServerConfig
from labkit.resp.testing import ServerThread, running_server

PASSWORD = "secret"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


@pytest.fixture
def thread_server() -> Iterator[ServerThread]:
    with ServerThread(lambda: RespServer(ServerConfig(requirepass=PASSWORD))) as running:
        yield running


NO_RETRY = Retry(NoBackoff(), 0)  # redis-py retries auth errors (they are ConnectionErrors)


@pytest.fixture
async def async_server() -> AsyncIterator[RespServer]:
    async with running_server(requirepass=PASSWORD) as server:
        yield server


def untyped(client: object) -> Any:
    """redis-py leaves some methods unannotated; call them through Any for mypy --strict."""
    return client


def wait_for(condition: Callable[[], Any], timeout_s: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.01)


def get_message(pubsub: Any, timeout_s: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.2)
        if message is not None:
            assert isinstance(message, dict)
            return message
    raise AssertionError("no pub/sub message before the deadline")


async def aget_message(pubsub: Any, timeout_s: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            message = await pubsub.get_message(timeout=0.2)
            if message is not None:
                assert isinstance(message, dict)
                return message


# ----- redis-py, blocking ------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3])
def test_sync_client_basics(thread_server: ServerThread, protocol: int) -> None:
    port = thread_server.port
    anonymous = redis.Redis(port=port, protocol=2, socket_timeout=5, retry=NO_RETRY)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    anonymous.close()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, password="wrong", protocol=protocol, retry=NO_RETRY).ping()

    r = redis.Redis(port=port, password=PASSWORD, protocol=protocol, socket_timeout=5)
    try:
        assert r.ping() is True
        assert r.echo("hello") == b"hello"
        hello: Any = untyped(r).execute_command("HELLO", protocol)
        if protocol == 3:
            assert hello[b"proto"] == 3 and hello[b"server"] == b"redis"
            assert set(hello) == {
                b"server",
                b"version",
                b"proto",
                b"id",
                b"mode",
                b"role",
                b"modules",
            }
        else:
            assert hello[:2] == [b"server", b"redis"] and hello[5] == 2
        assert r.client_setname("worker-1") is True
        assert r.client_getname() in (b"worker-1", "worker-1")
        cid = r.client_id()
        me = [c for c in r.client_list() if c["id"] == str(cid)]
        assert me and me[0]["name"] == "worker-1" and me[0]["resp"] == str(protocol)
        assert me[0]["lib-name"] == "redis-py"
        info = r.info()
        assert info["redis_version"] == "7.0.15" and info["tcp_port"] == port
        assert r.info("clients")["connected_clients"] >= 1
        pipe = r.pipeline(transaction=False)
        for i in range(500):
            pipe.echo(f"v{i}")
            pipe.ping()
        results = pipe.execute()
        assert results[::2] == [f"v{i}".encode() for i in range(500)]
        assert all(results[1::2])
    finally:
        r.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_sync_pubsub(thread_server: ServerThread, protocol: int) -> None:
    port = thread_server.port
    sub = redis.Redis(port=port, password=PASSWORD, protocol=protocol, socket_timeout=5)
    pub = redis.Redis(port=port, password=PASSWORD, protocol=protocol, socket_timeout=5)
    pubsub: Any = untyped(sub).pubsub()
    try:
        pubsub.subscribe("news")
        pubsub.psubscribe("n?w[sx]")
        assert get_message(pubsub)["type"] == "subscribe"
        assert get_message(pubsub)["type"] == "psubscribe"
        assert pub.publish("news", "hello") == 2
        first, second = get_message(pubsub), get_message(pubsub)
        assert (first["type"], first["channel"], first["data"]) == ("message", b"news", b"hello")
        assert (second["type"], second["pattern"], second["data"]) == (
            "pmessage",
            b"n?w[sx]",
            b"hello",
        )
        assert pub.publish("other", "x") == 0
        server = thread_server.server
        assert server is not None
        assert thread_server.call(lambda: server.publish("newx", "inside")) == 1
        message = get_message(pubsub)
        assert (message["channel"], message["data"]) == (b"newx", b"inside")
        pubsub.unsubscribe("news")
        assert get_message(pubsub)["type"] == "unsubscribe"
    finally:
        pubsub.close()
        sub.close()
        pub.close()


# ----- redis-py, asyncio -------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3])
async def test_async_client_basics_and_pubsub(async_server: RespServer, protocol: int) -> None:
    port = async_server.port
    anonymous = redis.asyncio.Redis(port=port, protocol=2, retry=AsyncRetry(NoBackoff(), 0))
    with pytest.raises(redis.AuthenticationError):
        await anonymous.ping()
    await anonymous.aclose()

    r = redis.asyncio.Redis(port=port, password=PASSWORD, protocol=protocol)
    other = redis.asyncio.Redis(port=port, password=PASSWORD, protocol=protocol)
    pubsub = r.pubsub()
    try:
        assert await r.ping() is True
        hello: Any = await untyped(r).execute_command("HELLO")
        assert (hello[b"proto"] if protocol == 3 else hello[5]) == protocol
        assert await r.client_setname("async-1") is True
        assert await r.client_getname() in (b"async-1", "async-1")
        cid = await r.client_id()
        listed = await r.client_list()
        assert any(c["id"] == str(cid) and c["name"] == "async-1" for c in listed)
        assert (await r.info("server"))["redis_mode"] == "standalone"
        async with r.pipeline(transaction=False) as pipe:
            for i in range(300):
                pipe.echo(str(i))
            assert await pipe.execute() == [str(i).encode() for i in range(300)]

        await pubsub.subscribe("jobs")
        await pubsub.psubscribe("job*")
        assert (await aget_message(pubsub))["type"] == "subscribe"
        assert (await aget_message(pubsub))["type"] == "psubscribe"
        assert await other.publish("jobs", "j1") == 2
        got = {(m["type"], m["data"]) for m in [await aget_message(pubsub) for _ in range(2)]}
        assert got == {("message", b"j1"), ("pmessage", b"j1")}
        assert async_server.publish("jobs2", b"inside") == 1
        message = await aget_message(pubsub)
        assert (message["type"], message["channel"]) == ("pmessage", b"jobs2")
    finally:
        await untyped(pubsub).aclose()
        await r.aclose()
        await other.aclose()


async def test_resp3_messages_are_pushes_and_resp2_arrays(async_server: RespServer) -> None:
    port = async_server.port
    readers = {}
    for proto in (2, 3):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"HELLO {proto} AUTH default {PASSWORD}\r\nSUBSCRIBE ch\r\n".encode())
        readers[proto] = (reader, writer)
    try:
        for proto, (reader, _) in readers.items():
            async with asyncio.timeout(5):
                data = b""
                while b"subscribe" not in data:
                    data += await reader.read(4096)
            head = b">3\r\n$9\r\nsubscribe" if proto == 3 else b"*3\r\n$9\r\nsubscribe"
            assert head in data
        assert async_server.publish("ch", "m") == 2
        for proto, (reader, _) in readers.items():
            expected = (
                b">" if proto == 3 else b"*"
            ) + b"3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n"
            async with asyncio.timeout(5):
                data = b""
                while len(data) < len(expected):
                    data += await reader.read(4096)
            assert data == expected
    finally:
        for _, writer in readers.values():
            writer.close()


# ----- redis-cli ---------------------------------------------------------------------


def cli(port: int, *args: str) -> str:
    done = subprocess.run(
        [REDIS_CLI, "-p", str(port), *args], capture_output=True, text=True, timeout=20, check=True
    )
    return done.stdout


def test_redis_cli(thread_server: ServerThread) -> None:
    port = thread_server.port
    auth = ("-a", PASSWORD, "--no-auth-warning")
    assert cli(port, "PING").strip() == "NOAUTH Authentication required."
    assert cli(port, *auth, "PING") == "PONG\n"
    assert "proto 3" in cli(port, *auth, "-3", "HELLO", "3")
    assert cli(port, *auth, "-3", "PING") == "PONG\n"
    assert cli(port, *auth, "ECHO", "a b") == "a b\n"
    assert "cmd=client|list" in cli(port, *auth, "CLIENT", "LIST")
    assert cli(port, *auth, "INFO", "server").startswith("# Server\n")
    assert thread_server.server is not None
    assert int(cli(port, *auth, "COMMAND", "COUNT")) == len(thread_server.server.commands)
    assert "summary" in cli(port, *auth, "COMMAND", "DOCS", "ping")
    assert cli(port, *auth, "nosuch", "x") == (
        "ERR unknown command 'nosuch', with args beginning with: 'x' \n\n"
    )


def test_inline_commands_over_a_raw_socket(thread_server: ServerThread) -> None:
    with socket.create_connection(("127.0.0.1", thread_server.port), timeout=5) as sock:
        sock.sendall(f"AUTH {PASSWORD}\r\nECHO \"a b\\x41\"\r\nPING\r\nECHO 'it\\'s'\n".encode())
        expected = b"+OK\r\n$4\r\na bA\r\n+PONG\r\n$4\r\nit's\r\n"
        data = b""
        while len(data) < len(expected):
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
        assert data == expected


def test_server_thread_always_stops() -> None:
    holder = ServerThread(RespServer)
    with pytest.raises(RuntimeError), holder as running:
        port = running.port
        raise RuntimeError("test failure inside the block")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
