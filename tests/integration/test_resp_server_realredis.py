"""Side by side with a real redis-server 7.0: the same bytes must get the same answers."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from labkit.resp import Frame, Integer, Map, bulk
from labkit.resp.pubsub import stringmatch
from labkit.resp.server import RespServer
from labkit.resp.testing import RespTestClient, running_server
from tests.integration.test_resp_server_badinput import PROTOCOL_ERRORS
from tests.unit.test_resp_glob import GLOB_TABLE

pytestmark = pytest.mark.realredis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def real_redis() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port, socket_timeout=1).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
async def ours() -> AsyncIterator[RespServer]:
    async with running_server() as server:
        yield server


def test_glob_agrees_with_real_redis_keys(real_redis: int) -> None:
    rng = random.Random(7)
    alphabet = [b"a", b"b", b"*", b"?", b"[", b"]", b"^", b"-", b"\\", b"\xe9"]
    strings = {s for _, s, _ in GLOB_TABLE if s}
    strings |= {
        b"".join(
            rng.choice([b"a", b"b", b"-", b"]", b"\\", b"\xe9"]) for _ in range(rng.randrange(1, 6))
        )
        for _ in range(60)
    }
    patterns = {p for p, _, _ in GLOB_TABLE}
    patterns |= {
        b"".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 8))) for _ in range(300)
    }
    r = redis.Redis(port=real_redis, socket_timeout=5)
    try:
        r.flushall()
        r.mset({s: b"1" for s in strings})
        for pattern in sorted(patterns):
            theirs = set(r.keys(pattern))
            mine = {s for s in strings if stringmatch(pattern, s)}
            assert mine == theirs, pattern
    finally:
        r.flushall()
        r.close()


# Redis 7.0 allows request arrays up to INT_MAX elements; our default stops at 1024*1024.
SAME_PROTOCOL_ERRORS = list(PROTOCOL_ERRORS)


@pytest.mark.parametrize(("data", "expected"), SAME_PROTOCOL_ERRORS)
async def test_protocol_errors_match_real_redis(
    real_redis: int, ours: RespServer, data: bytes, expected: bytes
) -> None:
    answers = []
    for port in (real_redis, ours.port):
        async with await RespTestClient.connect(port) as client:
            await client.send_raw(data)
            answers.append(await client.read_until_closed())
    assert answers == [expected, expected]


SCRIPT: list[tuple[list[str], int]] = [
    (["PING"], 1),
    (["PING", "hi"], 1),
    (["ECHO", "x y"], 1),
    (["nosuch", "a", "b"], 1),
    (["CLIENT"], 1),
    (["CLIENT", "foo"], 1),
    (["CLIENT", "SETNAME"], 1),
    (["CLIENT", "SETNAME", "a b"], 1),
    (["CLIENT", "SETNAME", "me"], 1),
    (["CLIENT", "GETNAME"], 1),
    (["CLIENT", "KILL", "1.2.3.4:5"], 1),
    (["CLIENT", "KILL", "ID", "abc"], 1),
    (["CLIENT", "LIST", "TYPE", "x"], 1),
    (["HELLO", "4"], 1),
    (["HELLO", "x"], 1),
    (["HELLO", "3", "foo"], 1),
    (["AUTH", "x"], 1),
    (["AUTH", "default", "x"], 1),
    (["AUTH", "bob", "x"], 1),
    (["AUTH", "a", "b", "c"], 1),
    (["PUBLISH", "ch"], 1),
    (["UNSUBSCRIBE"], 1),
    (["PUNSUBSCRIBE", "p1", "p2"], 2),
    (["SUBSCRIBE", "a", "b"], 2),
    (["PSUBSCRIBE", "c*"], 1),
    (["ECHO", "x"], 1),
    (["CLIENT", "ID"], 1),
    (["PING"], 1),
    (["PING", "m"], 1),
    (["UNSUBSCRIBE", "a"], 1),
    (["PUNSUBSCRIBE"], 1),
    (["UNSUBSCRIBE"], 1),
    (["RESET"], 1),
    (["HELLO", "3", "SETNAME", "x"], 1),
    (["SUBSCRIBE", "a"], 1),
    (["PING"], 1),
    (["UNSUBSCRIBE"], 1),
    (["UNSUBSCRIBE"], 1),
    (["QUIT"], 1),
]


def normalise(frame: Frame) -> Frame:
    """HELLO carries the connection id, which differs between servers."""
    if isinstance(frame, Map):
        return Map(tuple((k, Integer(0) if k == bulk("id") else v) for k, v in frame.items))
    return frame


async def test_command_script_matches_real_redis(real_redis: int, ours: RespServer) -> None:
    transcripts: list[list[Frame]] = []
    for port in (real_redis, ours.port):
        got: list[Frame] = []
        async with await RespTestClient.connect(port) as client:
            for args, replies in SCRIPT:
                await client.send(*args)
                for _ in range(replies):
                    frame = await client.reply()
                    if args == ["CLIENT", "ID"]:
                        continue  # ids differ
                    got.append(normalise(frame))
            assert await client.read_until_closed() == b""
        transcripts.append(got)
    theirs, mine = transcripts
    assert len(mine) == len(theirs)
    for step, (a, b) in enumerate(zip(theirs, mine, strict=True)):
        assert a == b, (step, a, b)
