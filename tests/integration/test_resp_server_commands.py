"""Built-in commands with Redis 7.0's replies and error texts, and per-server command
tables, hooks and INFO sections.

The error texts were checked against a real redis-server 7.0.15 (redis-cli and a raw
socket); CLIENT SETINFO against Redis 7.2's source.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from labkit.resp import (
    NULL,
    OK,
    PONG,
    Array,
    BulkString,
    CommandError,
    Frame,
    Integer,
    Map,
    Null,
    Push,
    SimpleError,
    SimpleString,
    VerbatimString,
    bulk,
)
from labkit.resp.builtins import builtin_commands
from labkit.resp.commands import Command, CommandFlag, CommandTable
from labkit.resp.connection import ClientConnection
from labkit.resp.server import RespServer
from labkit.resp.testing import RespTestClient, running_server


def err(text: str) -> SimpleError:
    return SimpleError(text.encode())


@pytest.fixture
async def server() -> AsyncIterator[RespServer]:
    async with running_server() as running:
        yield running


@pytest.fixture
async def client(server: RespServer) -> AsyncIterator[RespTestClient]:
    async with await RespTestClient.connect(server.port) as connected:
        yield connected


TEXTS: list[tuple[list[str], Frame]] = [
    (["foo", "a", "b"], err("ERR unknown command 'foo', with args beginning with: 'a' 'b' ")),
    (["foo"], err("ERR unknown command 'foo', with args beginning with: ")),
    (["echo"], err("ERR wrong number of arguments for 'echo' command")),
    (["ping", "a", "b"], err("ERR wrong number of arguments for 'ping' command")),
    (["client"], err("ERR wrong number of arguments for 'client' command")),
    (["client", "setname"], err("ERR wrong number of arguments for 'client|setname' command")),
    (["client", "foo"], err("ERR unknown subcommand 'foo'. Try CLIENT HELP.")),
    (
        ["client", "setname", "a b"],
        err("ERR Client names cannot contain spaces, newlines or special characters."),
    ),
    (["client", "setinfo", "lib-x", "y"], err("ERR Unrecognized option 'lib-x'")),
    (
        ["client", "setinfo", "LIB-NAME", "a b"],
        err("ERR LIB-NAME cannot contain spaces, newlines or special characters."),
    ),
    (["client", "kill", "1.2.3.4:5"], err("ERR No such client")),
    (["client", "kill", "id", "0"], err("ERR client-id should be greater than 0")),
    (["client", "kill", "type", "foo"], err("ERR Unknown client type 'foo'")),
    (["client", "kill", "foo", "bar"], err("ERR syntax error")),
    (["client", "kill", "id", "999"], Integer(0)),
    (["client", "list", "id", "x"], err("ERR Invalid client ID")),
    (["client", "list", "foo"], err("ERR syntax error")),
    (["client", "getname"], NULL),
    (["hello", "4"], err("NOPROTO unsupported protocol version")),
    (["hello", "x"], err("ERR Protocol version is not an integer or out of range")),
    (["hello", "3", "SETNAME"], err("ERR Syntax error in HELLO option 'SETNAME'")),
    (
        ["hello", "3", "auth", "default", "x"],
        Map(
            (
                (bulk("server"), bulk("redis")),
                (bulk("version"), bulk("7.0.15")),
                (bulk("proto"), Integer(3)),
                (bulk("id"), Integer(1)),
                (bulk("mode"), bulk("standalone")),
                (bulk("role"), bulk("master")),
                (bulk("modules"), Array(())),
            )
        ),
    ),
    (
        ["auth", "x"],
        err(
            "ERR AUTH <password> called without any password configured for the default user. "
            "Are you sure your configuration is correct?"
        ),
    ),
    (["auth", "default", "x"], OK),
    (["auth", "bob", "x"], err("WRONGPASS invalid username-password pair or user is disabled.")),
    (["auth", "a", "b", "c"], err("ERR syntax error")),
    (["ping"], PONG),
    (["ping", "hi"], BulkString(b"hi")),
    (["info", "nosuch"], BulkString(b"")),  # a verbatim string, downgraded for RESP2
    (["unsubscribe"], Array((bulk("unsubscribe"), Null(), Integer(0)))),
    (["punsubscribe"], Array((bulk("punsubscribe"), Null(), Integer(0)))),
    (["publish", "nobody", "x"], Integer(0)),
]


@pytest.mark.parametrize(("args", "expected"), TEXTS)
async def test_replies_and_error_texts(
    client: RespTestClient, args: list[str], expected: Frame
) -> None:
    assert await client.call(*args) == expected


async def test_unknown_command_args_are_cut_at_128_bytes(client: RespTestClient) -> None:
    reply = await client.call("nope", "a" * 100, "b" * 100, "c")
    assert reply == err(
        f"ERR unknown command 'nope', with args beginning with: '{'a' * 100}' '{'b' * 25}' "
    )
    assert await client.call("x\r\ny") == err(
        "ERR unknown command 'x  y', with args beginning with: "
    )


async def test_noauth_and_auth() -> None:
    async with (
        running_server(requirepass="pw") as server,
        await RespTestClient.connect(server.port) as c,
    ):
        assert await c.call("PING") == err("NOAUTH Authentication required.")
        assert await c.call("CLIENT", "ID") == err("NOAUTH Authentication required.")
        assert await c.call("nosuch") == err(
            "ERR unknown command 'nosuch', with args beginning with: "
        )
        assert await c.call("HELLO", "3") == err(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise "
            "the HELLO AUTH <user> <pass> option can be used to authenticate the client and "
            "select the RESP protocol version at the same time"
        )
        assert await c.call("AUTH", "nope") == err(
            "WRONGPASS invalid username-password pair or user is disabled."
        )
        assert await c.call("AUTH", "pw") == OK
        assert await c.call("PING") == PONG
        assert await c.call("RESET") == SimpleString(b"RESET")
        assert await c.call("PING") == err("NOAUTH Authentication required.")
        hello = await c.call("HELLO", "3", "AUTH", "default", "pw", "SETNAME", "n1")
        assert isinstance(hello, Map) and hello.get("proto") == Integer(3)
        assert await c.call("CLIENT", "GETNAME") == BulkString(b"n1")


async def test_resp2_subscribe_mode(client: RespTestClient) -> None:
    assert await client.call("SUBSCRIBE", "a", "b") == Array(
        (bulk("subscribe"), bulk("a"), Integer(1))
    )
    assert await client.reply() == Array((bulk("subscribe"), bulk("b"), Integer(2)))
    assert await client.call("ECHO", "x") == err(
        "ERR Can't execute 'echo': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
        "are allowed in this context"
    )
    assert await client.call("CLIENT", "LIST") == err(
        "ERR Can't execute 'client|list': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
        "RESET are allowed in this context"
    )
    assert await client.call("PING") == Array((bulk("pong"), bulk("")))
    assert await client.call("PING", "m") == Array((bulk("pong"), bulk("m")))
    assert await client.call("UNSUBSCRIBE") == Array((bulk("unsubscribe"), bulk("a"), Integer(1)))
    assert await client.reply() == Array((bulk("unsubscribe"), bulk("b"), Integer(0)))
    assert await client.call("ECHO", "x") == BulkString(b"x")


async def test_resp3_subscribe_mode_allows_everything(client: RespTestClient) -> None:
    assert isinstance(await client.call("HELLO", "3"), Map)
    assert await client.call("PSUBSCRIBE", "a*") == Push(
        (bulk("psubscribe"), bulk("a*"), Integer(1))
    )
    assert await client.call("PING") == PONG
    assert await client.call("ECHO", "x") == BulkString(b"x")


async def test_quit_and_reset(client: RespTestClient) -> None:
    await client.call("HELLO", "3", "SETNAME", "x")
    await client.call("SUBSCRIBE", "c")
    assert await client.call("RESET") == SimpleString(b"RESET")
    assert await client.call("CLIENT", "GETNAME") == Null("bulk")
    assert await client.call("ECHO", "after reset") == BulkString(b"after reset")
    await client.send_raw(b"QUIT\r\nPING\r\n")
    assert await client.read_until_closed() == b"+OK\r\n"


async def test_client_list_info_kill(server: RespServer, client: RespTestClient) -> None:
    other = await RespTestClient.connect(server.port)
    try:
        other_id = await other.call("CLIENT", "ID")
        assert isinstance(other_id, Integer)
        await other.call("CLIENT", "SETINFO", "lib-name", "mylib")
        await other.call("SUBSCRIBE", "c")
        listing = await client.call("CLIENT", "LIST")
        assert isinstance(listing, BulkString)
        lines = listing.text.splitlines()
        assert len(lines) == 2 and all(line.startswith("id=") for line in lines)
        fields = dict(kv.split("=", 1) for kv in lines[1].split(" "))
        assert list(fields)[:8] == ["id", "addr", "laddr", "fd", "name", "age", "idle", "flags"]
        assert fields["flags"] == "P" and fields["sub"] == "1" and fields["lib-name"] == "mylib"
        assert fields["cmd"] == "subscribe" and fields["resp"] == "2"
        pubsub = await client.call("CLIENT", "LIST", "TYPE", "pubsub")
        assert isinstance(pubsub, BulkString) and pubsub.text.startswith(f"id={other_id.value} ")
        mine = await client.call("CLIENT", "INFO")
        assert isinstance(mine, BulkString) and mine.text.endswith(
            "cmd=client|info user=default redir=-1 resp=2 lib-name= lib-ver=\n"
        )
        assert await client.call("CLIENT", "KILL", "ID", str(other_id.value)) == Integer(1)
        assert await other.read_until_closed() == b""
        assert await client.call("CLIENT", "KILL", "TYPE", "normal") == Integer(0)  # skips me
        addr = fields["addr"]
        assert await client.call("CLIENT", "KILL", addr) == err("ERR No such client")
    finally:
        await other.aclose()


async def test_client_kill_self_old_style(client: RespTestClient, server: RespServer) -> None:
    (conn,) = server.clients.values()
    await client.send(b"CLIENT", b"KILL", conn.addr.encode())
    assert await client.read_until_closed() == b"+OK\r\n"


async def test_command_introspection(client: RespTestClient, server: RespServer) -> None:
    count = await client.call("COMMAND", "COUNT")
    assert count == Integer(len(server.commands))
    everything = await client.call("COMMAND")
    assert isinstance(everything, Array) and len(everything.items) == len(server.commands)
    info = await client.call("COMMAND", "INFO", "ping", "nosuch", "client|setname")
    assert isinstance(info, Array)
    ping, missing, setname = info.items
    assert isinstance(ping, Array) and ping.items[:2] == (bulk("ping"), Integer(-1))
    assert missing == NULL
    assert isinstance(setname, Array) and setname.items[:2] == (bulk("client|setname"), Integer(3))
    await client.call("HELLO", "3")
    docs = await client.call("COMMAND", "DOCS", "client")
    assert isinstance(docs, Map)
    entry = docs.get("client")
    assert isinstance(entry, Map) and isinstance(entry.get("subcommands"), Map)
    assert entry.get("group") == bulk("connection")


async def test_info_sections(server: RespServer, client: RespTestClient) -> None:
    server.add_info_section("lab", lambda: {"answer": 42}, default=False, title="Lab")
    default = await client.call("INFO")
    assert isinstance(default, BulkString)
    assert default.text.startswith("# Server\r\nredis_version:7.0.15\r\n")
    assert "\r\n\r\n# Clients\r\n" in default.text and "# Lab" not in default.text
    only = await client.call("INFO", "LAB", "clients")
    assert isinstance(only, BulkString)
    assert only.text.startswith("# Clients\r\n") and only.text.endswith(
        "\r\n\r\n# Lab\r\nanswer:42\r\n"
    )
    await client.call("HELLO", "3")
    every = await client.call("INFO", "everything")
    assert isinstance(every, VerbatimString) and every.fmt == b"txt"
    assert "# Lab\r\n" in every.text


class LabServer(RespServer):
    """A server with a Sentinel-sized table, an async command and a shutdown hook."""

    refuse_shutdown = False

    async def on_shutdown(self, conn: ClientConnection, args: list[bytes]) -> str | None:
        return "ERR Errors trying to SHUTDOWN. Check logs." if self.refuse_shutdown else None


async def cmd_role(conn: ClientConnection, args: list[bytes]) -> Frame:
    await asyncio.sleep(0)
    return Array((bulk("sentinel"), Array(())))


def cmd_fail(conn: ClientConnection, args: list[bytes]) -> Frame:
    if args[1:] == [b"typed"]:
        raise CommandError("NOREPLICAS Not enough good replicas to write.")
    raise RuntimeError("a bug")


def lab_table() -> CommandTable:
    table = builtin_commands(
        "ping",
        "auth",
        "hello",
        "client",
        "command",
        "info",
        "shutdown",
        "subscribe",
        "unsubscribe",
        "psubscribe",
        "punsubscribe",
        "publish",
    )
    table.add(Command("role", 1, cmd_role, CommandFlag.FAST))
    table.add(Command("fail", -1, cmd_fail))
    table.add(Command("acl", -2, lambda conn, args: OK))
    return table


async def test_custom_table_and_hooks() -> None:
    async with running_server(
        commands=lab_table(), server_cls=LabServer, mode="sentinel", role=None
    ) as server:
        assert isinstance(server, LabServer)
        async with await RespTestClient.connect(server.port) as c:
            assert await c.call("COMMAND", "COUNT") == Integer(15)
            assert await c.call("ECHO", "x") == err(
                "ERR unknown command 'ECHO', with args beginning with: 'x' "
            )
            assert await c.call("ROLE") == Array((bulk("sentinel"), Array(())))
            assert await c.call("FAIL", "typed") == err(
                "NOREPLICAS Not enough good replicas to write."
            )
            assert await c.call("FAIL") == err("ERR internal error running 'fail'")
            assert await c.call("PING") == PONG
            hello = await c.call("HELLO", "3")
            assert isinstance(hello, Map) and hello.get("mode") == bulk("sentinel")
            assert hello.get("role") is None
            server.refuse_shutdown = True
            assert await c.call("SHUTDOWN") == err("ERR Errors trying to SHUTDOWN. Check logs.")
            server.refuse_shutdown = False
            await c.send("SHUTDOWN", "NOSAVE")
            assert await c.read_until_closed() == b""
        async with asyncio.timeout(10):
            await server.wait_closed()


def test_command_validation() -> None:
    with pytest.raises(ValueError):
        Command("Upper", 1, cmd_fail)
    with pytest.raises(ValueError):
        Command("x", 0, cmd_fail)
    with pytest.raises(ValueError):
        Command("x", -1)  # neither handler nor subcommands
    table = CommandTable()

    @table.command("hi", 1, CommandFlag.NO_AUTH)
    def hi(conn: ClientConnection, args: list[bytes]) -> Frame:
        return OK

    assert "HI" in table and len(table) == 1
    command = table.get("hi")
    assert command is not None and command.flag_names == ["no_auth"]
    table.remove("hi")
    assert "hi" not in table
