"""The sentinel_lab driver's parts without real Redis: conversion, reply values, links,
event output, the admin requests of the core, and the RESP front in-process."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from labkit.actions import Emit, Persist, Reply
from labkit.core import ClientRequest
from labkit.events import Event
from labkit.resp.frames import (
    NULL,
    Array,
    BulkString,
    Integer,
    Map,
    Null,
    SimpleError,
    SimpleString,
    VerbatimString,
)
from labkit.resp.server import RespServer, ServerConfig
from labkit.resp.testing import RespTestClient, running_server
from labkit.timeline.jsonl import read_events
from labkit.timeline.redislog import parse_line
from sentinel_lab.config import load_config, parse_config_text, rewrite_config
from sentinel_lab.convert import announce_address, merge_state, to_state
from sentinel_lab.core import (
    MonitorRequest,
    RemoveRequest,
    ResetRequest,
    SentinelCore,
    SentinelState,
    SetRequest,
)
from sentinel_lab.core.replies import ErrorReply, LinkError
from sentinel_lab.driver import SentinelDriver
from sentinel_lab.events_out import EventOutput, level_passes
from sentinel_lab.links import LinkSettings, RespLink, core_value, split_addr
from sentinel_lab.server import SENTINEL_COMMANDS, SentinelServer, sentinel_command_table

MYID = "0123456789abcdef0123456789abcdef01234567"
CONF = f"""port 26379
bind 127.0.0.1
sentinel myid {MYID}
sentinel monitor mymaster 127.0.0.1 1 2
sentinel down-after-milliseconds mymaster 5000
sentinel notification-script mymaster /bin/true
sentinel config-epoch mymaster 3
sentinel leader-epoch mymaster 3
sentinel known-replica mymaster 127.0.0.1 2
sentinel known-sentinel mymaster 127.0.0.1 26380 {"f" * 40}
sentinel current-epoch 4
"""


# -- conversion ---------------------------------------------------------------------------------


def test_config_to_core_and_back_keeps_every_field() -> None:
    config = parse_config_text(CONF).config
    state = to_state(config, "127.0.0.1", 26379)
    core = SentinelCore.from_state(state, random.Random(1))
    snapshot = core.snapshot()
    assert snapshot == state
    merged = merge_state(config, snapshot)
    assert merged == config  # the notification script survives the round trip


def test_announce_address() -> None:
    config = parse_config_text(CONF).config
    assert announce_address(config, "127.0.0.5", 1) == "127.0.0.5"
    assert announce_address(config, "0.0.0.0", 1) == "127.0.0.1"
    with_ip = parse_config_text(CONF + "sentinel announce-ip 10.1.1.1\n").config
    assert announce_address(with_ip, "127.0.0.5", 1) == "10.1.1.1"


@pytest.mark.parametrize(
    ("frame", "value"),
    [
        (SimpleString(b"PONG"), "PONG"),
        (BulkString(b"# Server\r\n"), b"# Server\r\n"),
        (VerbatimString(b"txt", b"x"), b"x"),
        (SimpleError(b"LOADING x"), ErrorReply("LOADING x")),
        (Integer(3), 3),
        (NULL, None),
        (Array((Integer(1), BulkString(b"*"), Integer(0))), [1, b"*", 0]),
        (Map(((BulkString(b"a"), Integer(1)),)), [b"a", 1]),
    ],
)
def test_core_value(frame: object, value: object) -> None:
    assert core_value(frame) == value  # type: ignore[arg-type]


def test_split_addr() -> None:
    assert split_addr("127.0.0.1:6379") == ("127.0.0.1", 6379)
    assert split_addr("[::1]:6379") == ("::1", 6379)


# -- event output ------------------------------------------------------------------------------


def test_level_filter_is_redis_verbosity() -> None:
    assert level_passes("#", "notice") and level_passes("*", "notice")
    assert not level_passes("-", "notice") and level_passes("-", "verbose")
    assert not level_passes("*", "warning")


def test_event_output_writes_redis_lines_and_json(tmp_path: Path) -> None:
    log, jsonl = tmp_path / "s.log", tmp_path / "s.log.jsonl"
    out = EventOutput(logfile=str(log), json_path=str(jsonl), source="me")
    event = Event(source="core", name="+sdown", wall_ns=5, instance="master m 127.0.0.1 1")
    out.event(event)
    out.event(Event(source="core", name="-role-change", wall_ns=5, level="-"))
    out.log("*", "Sentinel new configuration saved on disk")
    out.close()
    lines = log.read_text().splitlines()
    assert len(lines) == 2  # the verbose event is not logged at notice
    parsed = parse_line(lines[0])
    assert parsed.name == "+sdown" and parsed.instance == "master m 127.0.0.1 1"
    assert parsed.role == "X" and parsed.wall_ns > 10**18
    events = read_events(jsonl)
    assert [e.name for e in events] == ["+sdown", "-role-change"]
    assert events[0].source == "me" and events[0].mono_ns is not None


# -- the core's admin requests --------------------------------------------------------------------


def _core() -> SentinelCore:
    core = SentinelCore.from_state(
        to_state(parse_config_text(CONF).config, "127.0.0.1", 26379), random.Random(1)
    )
    core.tick(500)  # the first run emits +monitor for the configured masters
    return core


def _ask(core: SentinelCore, request: object) -> tuple[object, list[str], bool]:
    actions = core.step(ClientRequest("c", request), 1000)
    reply = next(a.value for a in actions if isinstance(a, Reply))
    events = [a.event.message for a in actions if isinstance(a, Emit)]
    return reply, events, any(isinstance(a, Persist) for a in actions)


def test_monitor_set_reset_remove() -> None:
    core = _core()
    assert _ask(core, MonitorRequest("m2", "127.0.0.1", 7000, 1)) == (
        "OK",
        ["+monitor master m2 127.0.0.1 7000 quorum 1"],
        True,
    )
    assert _ask(core, MonitorRequest("m2", "127.0.0.1", 7000, 1))[0] == ErrorReply(
        "ERR Duplicate master name."
    )
    reply, events, persisted = _ask(
        core, SetRequest("m2", (("quorum", "2"), ("auth-pass", "secret"), ("foo", "1")))
    )
    assert reply == ErrorReply("ERR Unknown option or number of arguments for SENTINEL SET 'foo'")
    assert events == [
        "+set master m2 127.0.0.1 7000 quorum 2",
        "+set master m2 127.0.0.1 7000 auth-pass ******",
    ]
    assert persisted and core.masters["m2"].config.auth_pass == "secret"
    assert _ask(core, SetRequest("m2", (("quorum", None),)))[0] == ErrorReply(
        "ERR Unknown option or number of arguments for SENTINEL SET 'quorum'"
    )
    assert _ask(core, ResetRequest("m*"))[:2] == (
        2,
        [
            "+reset-master master mymaster 127.0.0.1 1",
            "+reset-master master m2 127.0.0.1 7000",
        ],
    )
    assert not core.masters["mymaster"].replicas and not core.masters["mymaster"].sentinels
    assert _ask(core, RemoveRequest("m2"))[:2] == ("OK", ["-monitor master m2 127.0.0.1 7000"])
    assert list(core.masters) == ["mymaster"]
    assert _ask(core, RemoveRequest("m2"))[0] == ErrorReply("ERR No such master with that name")


# -- links -------------------------------------------------------------------------------------


def _settings(timeout_ms: int = 5000) -> LinkSettings:
    return LinkSettings(client_name="sentinel-01234567-cmd", timeout_ms=timeout_ms)


async def test_link_replies_in_order_and_pubsub() -> None:
    async with running_server() as server:
        replies: list[tuple[tuple[object, ...], object]] = []
        pushes: list[tuple[bytes, bytes]] = []
        link = RespLink(
            "127.0.0.1",
            server.port,
            _settings(),
            on_reply=lambda args, value: replies.append((args, value)),
            on_push=lambda channel, payload: pushes.append((channel, payload)),
        )
        link.send(("PING",))
        link.send(("CLIENT", "GETNAME"))
        link.send(("NOSUCH",))
        link.send(("SUBSCRIBE", "__sentinel__:hello"))
        async with asyncio.timeout(5):
            while len(replies) < 4:
                await asyncio.sleep(0.01)
            server.publish("__sentinel__:hello", "hi")
            while not pushes:
                await asyncio.sleep(0.01)
        assert [v for _, v in replies[:2]] == ["PONG", b"sentinel-01234567-cmd"]
        assert isinstance(replies[2][1], ErrorReply)
        assert replies[3][1] == [b"subscribe", b"__sentinel__:hello", 1]
        assert pushes == [(b"__sentinel__:hello", b"hi")]
        await link.aclose()


async def test_link_refused_then_backoff_fails_fast() -> None:
    async with running_server() as server:
        port = server.port
    got: list[object] = []
    link = RespLink("127.0.0.1", port, _settings(), on_reply=lambda a, v: got.append(v))
    link.send(("PING",))
    async with asyncio.timeout(5):
        while not got:
            await asyncio.sleep(0.01)
    assert got == [LinkError("refused")]
    link.send(("PING",))  # within the backoff: no connect, an error at once
    await asyncio.sleep(0.01)
    assert got == [LinkError("refused"), LinkError("refused")]
    await link.aclose()


@asynccontextmanager
async def _silent_server() -> AsyncIterator[int]:
    """Accepts connections and never answers (a stopped server)."""
    writers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_link_timeout_and_silent_drop() -> None:
    async with _silent_server() as port:
        got: list[object] = []
        broken: list[str] = []
        link = RespLink(
            "127.0.0.1",
            port,
            _settings(timeout_ms=200),
            on_reply=lambda a, v: got.append(v),
            on_broken=broken.append,
        )
        link.send(("PING",))
        async with asyncio.timeout(5):
            while not got:
                await asyncio.sleep(0.05)
                link.check_timeouts()
        assert got == [LinkError("timeout")] and not broken
        await asyncio.sleep(0.6)  # past the backoff
        link.send(("PING",))
        await asyncio.sleep(0.1)
        link.drop()  # forgotten, not failed
        link.check_timeouts(10**15)
        await asyncio.sleep(0.05)
        assert got == [LinkError("timeout")]
        await link.aclose()


# -- the RESP front, in-process ----------------------------------------------------------------


def test_exactly_fifteen_commands() -> None:
    assert sorted(c.name for c in sentinel_command_table()) == sorted(SENTINEL_COMMANDS)
    renamed = sentinel_command_table([("role", "myrole"), ("acl", "")])
    assert "myrole" in renamed and "role" not in renamed and "acl" not in renamed


@asynccontextmanager
async def _front(
    tmp_path: Path, requirepass: str | None = None
) -> AsyncIterator[tuple[RespServer, SentinelDriver]]:
    path = tmp_path / "sentinel.conf"
    path.write_text(CONF)
    config = load_config(path).config
    core = SentinelCore.from_state(to_state(config, "127.0.0.1", 26379), random.Random(2))
    out = EventOutput(logfile=str(tmp_path / "s.log"), json_path=str(tmp_path / "s.jsonl"))
    driver = SentinelDriver(core, config, path, out, rng=random.Random(3))
    server = SentinelServer(
        ServerConfig(mode="sentinel", role=None, requirepass=requirepass), driver
    )
    await server.start()
    try:
        yield server, driver
    finally:
        await server.close()
        await driver.close()
        out.close()


async def test_front_answers_and_persists(tmp_path: Path) -> None:
    async with _front(tmp_path) as (server, _):
        client = await RespTestClient.connect(server.port)
        try:
            assert await client.call("ROLE") == Array(
                (BulkString(b"sentinel"), Array((BulkString(b"mymaster"),)))
            )
            assert await client.call("SENTINEL", "MYID") == BulkString(MYID.encode())
            masters = await client.call("SENTINEL", "MASTERS")
            assert isinstance(masters, Array)
            first = masters.items[0]
            assert isinstance(first, Array) and first.items[:2] == (
                BulkString(b"name"),
                BulkString(b"mymaster"),
            )
            assert await client.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "x") == Null()
            reply = await client.call("SENTINEL", "MONITOR", "m2", "127.0.0.1", "7000", "1")
            assert reply == SimpleString(b"OK")
            assert await client.call("SENTINEL", "SET", "m2", "quorum", "3") == SimpleString(b"OK")
            assert await client.call("SENTINEL", "CONFIG", "SET", "announce-port", "7") == (
                SimpleString(b"OK")
            )
            info = await client.call("INFO", "sentinel")
            assert isinstance(info, BulkString)
            assert "master1:name=m2,status=ok,address=127.0.0.1:7000,slaves=0" in info.text
            assert await client.call("PUBLISH", "__sentinel__:hello", "a,b") == Integer(1)
        finally:
            await client.aclose()
    saved = load_config(tmp_path / "sentinel.conf").config
    assert saved.master("m2").quorum == 3
    assert saved.server.announce_port == 7
    assert saved.master("mymaster").notification_script == "/bin/true"
    assert "+monitor master m2 127.0.0.1 7000 quorum 1" in (tmp_path / "s.log").read_text()


def test_rewrite_of_a_snapshot_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "sentinel.conf"
    path.write_text(CONF)
    config = load_config(path).config
    core = _core()
    core.step(ClientRequest("c", SetRequest("mymaster", (("failover-timeout", "9000"),))), 5)
    state = core.snapshot()
    assert isinstance(state, SentinelState)
    rewrite_config(path, merge_state(config, state))
    assert load_config(path).config.master("mymaster").failover_timeout_ms == 9000


async def test_front_requirepass(tmp_path: Path) -> None:
    async with _front(tmp_path, requirepass="s3cret") as (server, _):
        client = await RespTestClient.connect(server.port)
        try:
            assert await client.call("SENTINEL", "MYID") == SimpleError(
                b"NOAUTH Authentication required."
            )
            assert await client.call("AUTH", "wrong") == SimpleError(
                b"WRONGPASS invalid username-password pair or user is disabled."
            )
            assert await client.call("AUTH", "s3cret") == SimpleString(b"OK")
            assert await client.call("SENTINEL", "MYID") == BulkString(MYID.encode())
        finally:
            await client.aclose()


def test_cli_registers_the_sentinel_subcommand() -> None:
    import argparse

    from sentinel_lab.app import run_from_args
    from sentinel_lab.cli import register

    parser = argparse.ArgumentParser(prog="redis-lab")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sentinel", "/x/sentinel.conf", "--log-json", "/x/e.jsonl"])
    assert args.func is run_from_args
    assert (args.config, args.log_json, args.port) == ("/x/sentinel.conf", "/x/e.jsonl", None)
