"""Commands every RESP server base gets, with Redis 7.0's replies and error texts.

HELLO, AUTH, PING, ECHO, CLIENT (ID, SETNAME, GETNAME, SETINFO, LIST, INFO, KILL,
HELP), COMMAND (COUNT, INFO, DOCS, LIST), INFO, SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE,
PUNSUBSCRIBE, PUBLISH, QUIT, RESET and SHUTDOWN. ``CLIENT SETINFO`` and the
``lib-name``/``lib-ver`` fields of ``CLIENT LIST`` are Redis 7.2's.
"""

from __future__ import annotations

from collections.abc import Callable

from labkit.resp.commands import Command, CommandTable, arity_error
from labkit.resp.commands import CommandFlag as F
from labkit.resp.connection import ClientConnection
from labkit.resp.errors import CommandError
from labkit.resp.frames import (
    OK,
    PONG,
    Array,
    BulkString,
    Frame,
    Integer,
    Map,
    Null,
    Push,
    SimpleString,
    VerbatimString,
    bulk,
    error,
)
from labkit.resp.inline import string_to_ll
from labkit.resp.introspection import (
    CLIENT_HELP,
    client_getname,
    client_id,
    client_info,
    client_kill,
    client_list,
    client_setinfo,
    client_setname,
    command_all,
    command_count,
    command_docs,
    command_info,
    command_list,
    help_handler,
    valid_attr,
)

__all__ = ["builtin_commands"]

_SYNTAX = "ERR syntax error"
_WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
_NOPASS = (
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)
_HELLO_NOAUTH = (
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
    "HELLO AUTH <user> <pass> option can be used to authenticate the client and select "
    "the RESP protocol version at the same time"
)


def _text(arg: bytes) -> str:
    return arg.decode("utf-8", "surrogateescape")


# ----- connection ----------------------------------------------------------------


def cmd_ping(conn: ClientConnection, args: list[bytes]) -> Frame:
    if len(args) > 2:
        raise CommandError(arity_error("ping"))
    if conn.protocol == 2 and conn.subscribed:
        return Array((BulkString(b"pong"), BulkString(args[1] if len(args) > 1 else b"")))
    return PONG if len(args) == 1 else BulkString(args[1])


def cmd_echo(conn: ClientConnection, args: list[bytes]) -> Frame:
    return BulkString(args[1])


def cmd_auth(conn: ClientConnection, args: list[bytes]) -> Frame:
    if len(args) > 3:
        return error(_SYNTAX)
    if len(args) == 2:
        if not conn.server.auth_required:
            return error(_NOPASS)
        user, password = "default", args[1]
    else:
        user, password = _text(args[1]), args[2]
    if not conn.server.check_password(user, password):
        return error(_WRONGPASS)
    conn.authenticated = True
    conn.user = user
    return OK


def cmd_hello(conn: ClientConnection, args: list[bytes]) -> Frame:
    server = conn.server
    version = 0
    j = 1
    if len(args) >= 2:
        parsed = string_to_ll(args[1])
        if parsed is None:
            return error("ERR Protocol version is not an integer or out of range")
        if parsed < 2 or parsed > 3:
            return error("NOPROTO unsupported protocol version")
        version = parsed
        j = 2
    while j < len(args):
        more = len(args) - 1 - j
        option = args[j].lower()
        if option == b"auth" and more >= 2:
            user = _text(args[j + 1])
            if not server.check_password(user, args[j + 2]):
                return error(_WRONGPASS)
            conn.authenticated = True
            conn.user = user
            j += 3
        elif option == b"setname" and more >= 1:
            if not valid_attr(args[j + 1]):
                return error(
                    "ERR Client names cannot contain spaces, newlines or special characters."
                )
            conn.name = args[j + 1]
            j += 2
        else:
            return error(f"ERR Syntax error in HELLO option '{_text(args[j])}'")
    if not conn.authenticated:
        return error(_HELLO_NOAUTH)
    if version:
        conn.protocol = version
    config = server.config
    pairs: list[tuple[Frame, Frame]] = [
        (bulk("server"), bulk(config.server_name)),
        (bulk("version"), bulk(config.version)),
        (bulk("proto"), Integer(conn.protocol)),
        (bulk("id"), Integer(conn.id)),
        (bulk("mode"), bulk(config.mode)),
    ]
    if config.role is not None:
        pairs.append((bulk("role"), bulk(config.role)))
    pairs.append((bulk("modules"), Array(())))
    return Map(tuple(pairs))


def cmd_quit(conn: ClientConnection, args: list[bytes]) -> Frame:
    conn.close_after_reply = True
    return OK


def cmd_reset(conn: ClientConnection, args: list[bytes]) -> Frame:
    conn.server.pubsub.drop(conn, list(conn.channels), list(conn.patterns))
    conn.channels.clear()
    conn.patterns.clear()
    conn.protocol = 2
    conn.name = b""
    conn.db = 0
    conn.user = "default"
    conn.authenticated = not conn.server.auth_required
    return SimpleString(b"RESET")


async def cmd_shutdown(conn: ClientConnection, args: list[bytes]) -> Frame | None:
    for option in args[1:]:
        if option.lower() not in (b"nosave", b"save", b"now", b"force"):
            return error(_SYNTAX)
    refusal = await conn.server.on_shutdown(conn, args)
    if refusal is not None:
        return error(refusal)
    conn.close_after_reply = True
    conn.server.request_shutdown()
    return None


# ----- INFO and pub/sub ----------------------------------------------------------


def cmd_info(conn: ClientConnection, args: list[bytes]) -> Frame:
    return VerbatimString(b"txt", conn.server.info(_text(a) for a in args[1:]).encode())


def _subscription_reply(kind: bytes, name: Frame, count: int) -> Push:
    return Push((BulkString(kind), name, Integer(count)))


def cmd_subscribe(conn: ClientConnection, args: list[bytes]) -> None:
    for channel in args[1:]:
        if conn.server.pubsub.subscribe(conn, channel):
            conn.channels[channel] = None
        conn.send(_subscription_reply(b"subscribe", BulkString(channel), conn.subscription_count))


def cmd_psubscribe(conn: ClientConnection, args: list[bytes]) -> None:
    for pattern in args[1:]:
        if conn.server.pubsub.psubscribe(conn, pattern):
            conn.patterns[pattern] = None
        conn.send(_subscription_reply(b"psubscribe", BulkString(pattern), conn.subscription_count))


def cmd_unsubscribe(conn: ClientConnection, args: list[bytes]) -> None:
    channels = args[1:] or list(conn.channels)
    if not channels:
        conn.send(_subscription_reply(b"unsubscribe", Null("bulk"), conn.subscription_count))
    for channel in channels:
        conn.server.pubsub.unsubscribe(conn, channel)
        conn.channels.pop(channel, None)
        conn.send(_subscription_reply(b"unsubscribe", BulkString(channel), conn.subscription_count))


def cmd_punsubscribe(conn: ClientConnection, args: list[bytes]) -> None:
    patterns = args[1:] or list(conn.patterns)
    if not patterns:
        conn.send(_subscription_reply(b"punsubscribe", Null("bulk"), conn.subscription_count))
    for pattern in patterns:
        conn.server.pubsub.punsubscribe(conn, pattern)
        conn.patterns.pop(pattern, None)
        conn.send(
            _subscription_reply(b"punsubscribe", BulkString(pattern), conn.subscription_count)
        )


def cmd_publish(conn: ClientConnection, args: list[bytes]) -> Frame:
    return Integer(conn.server.publish(args[1], args[2]))


# ----- the table -----------------------------------------------------------------

_ANYTIME = F.LOADING | F.STALE
_CONN = F.NOSCRIPT | _ANYTIME | F.FAST | F.SENTINEL


def _all_builtins() -> list[Command]:
    def sub(name: str, arity: int, handler: Callable[..., Frame], flags: F = F.NONE) -> Command:
        return Command(name, arity, handler, flags | _CONN, group="connection")

    client = Command(
        "client",
        -2,
        flags=F.SENTINEL,
        group="connection",
        summary="A container for client connection commands",
        subcommands=(
            sub("id", 2, client_id),
            sub("setname", 3, client_setname),
            sub("getname", 2, client_getname),
            sub("setinfo", 4, client_setinfo),
            sub("list", -2, client_list, F.ADMIN),
            sub("info", 2, client_info),
            sub("kill", -3, client_kill, F.ADMIN),
            sub("help", 2, help_handler(CLIENT_HELP)),
        ),
    )
    command = Command(
        "command",
        -1,
        command_all,
        _ANYTIME | F.SENTINEL,
        group="server",
        summary="Get array of Redis command details",
        subcommands=(
            Command("count", 2, command_count, _ANYTIME | F.SENTINEL, group="server"),
            Command("info", -2, command_info, _ANYTIME | F.SENTINEL, group="server"),
            Command("docs", -2, command_docs, _ANYTIME | F.SENTINEL, group="server"),
            Command("list", -2, command_list, _ANYTIME | F.SENTINEL, group="server"),
        ),
    )
    sub_ctx = F.SUBSCRIBE_CONTEXT | F.PUBSUB | F.NOSCRIPT | _ANYTIME | F.SENTINEL
    return [
        Command(
            "ping", -1, cmd_ping, F.FAST | F.SENTINEL | F.SUBSCRIBE_CONTEXT, group="connection"
        ),
        Command("echo", 2, cmd_echo, F.FAST, group="connection"),
        Command("auth", -2, cmd_auth, _CONN | F.NO_AUTH | F.NO_MULTI, group="connection"),
        Command("hello", -1, cmd_hello, _CONN | F.NO_AUTH | F.NO_MULTI, group="connection"),
        Command("quit", -1, cmd_quit, _CONN | F.NO_AUTH | F.SUBSCRIBE_CONTEXT, group="connection"),
        Command("reset", 1, cmd_reset, _CONN | F.NO_AUTH | F.SUBSCRIBE_CONTEXT, group="connection"),
        client,
        command,
        Command("info", -1, cmd_info, _ANYTIME | F.SENTINEL, group="server"),
        Command("subscribe", -2, cmd_subscribe, sub_ctx, group="pubsub"),
        Command("psubscribe", -2, cmd_psubscribe, sub_ctx, group="pubsub"),
        Command("unsubscribe", -1, cmd_unsubscribe, sub_ctx, group="pubsub"),
        Command("punsubscribe", -1, cmd_punsubscribe, sub_ctx, group="pubsub"),
        Command(
            "publish", 3, cmd_publish, F.PUBSUB | _ANYTIME | F.FAST | F.SENTINEL, group="pubsub"
        ),
        Command(
            "shutdown",
            -1,
            cmd_shutdown,
            F.ADMIN | F.NOSCRIPT | _ANYTIME | F.NO_MULTI | F.SENTINEL | F.ALLOW_BUSY,
            group="server",
        ),
    ]


def builtin_commands(*names: str) -> CommandTable:
    """A new table of the built-in commands, or of only the ``names`` given."""
    table = CommandTable(_all_builtins())
    return table.select(*names) if names else table
