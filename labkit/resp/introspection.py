"""CLIENT and COMMAND: the introspection commands of the RESP server base.

Replies and error texts are Redis 7.0's; ``CLIENT SETINFO`` and the ``lib-name`` and
``lib-ver`` fields of ``CLIENT LIST`` are Redis 7.2's.
"""

from __future__ import annotations

from collections.abc import Callable

from labkit.resp.commands import Command
from labkit.resp.connection import ClientConnection
from labkit.resp.frames import (
    NULL,
    OK,
    Array,
    BulkString,
    Frame,
    Integer,
    Map,
    Set,
    SimpleString,
    VerbatimString,
    bulk,
    error,
)
from labkit.resp.inline import string_to_ll

_SYNTAX = "ERR syntax error"
_CLIENT_TYPES = {"normal", "slave", "replica", "master", "pubsub"}


def _text(arg: bytes) -> str:
    return arg.decode("utf-8", "surrogateescape")


def valid_attr(value: bytes) -> bool:
    """Redis allows only ``!`` to ``~`` in client names and library attributes."""
    return all(0x21 <= c <= 0x7E for c in value)


# ----- CLIENT --------------------------------------------------------------------


def client_id(conn: ClientConnection, args: list[bytes]) -> Frame:
    return Integer(conn.id)


def client_setname(conn: ClientConnection, args: list[bytes]) -> Frame:
    if not valid_attr(args[2]):
        return error("ERR Client names cannot contain spaces, newlines or special characters.")
    conn.name = args[2]
    return OK


def client_getname(conn: ClientConnection, args: list[bytes]) -> Frame:
    return BulkString(conn.name) if conn.name else NULL


def client_setinfo(conn: ClientConnection, args: list[bytes]) -> Frame:
    attr = args[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        return error(f"ERR Unrecognized option '{_text(args[2])}'")
    if not valid_attr(args[3]):
        return error(f"ERR {_text(args[2])} cannot contain spaces, newlines or special characters.")
    if attr == b"lib-name":
        conn.lib_name = args[3]
    else:
        conn.lib_ver = args[3]
    return OK


def client_list(conn: ClientConnection, args: list[bytes]) -> Frame:
    clients = list(conn.server.clients.values())
    if len(args) == 4 and args[2].lower() == b"type":
        kind = _text(args[3]).lower()
        if kind not in _CLIENT_TYPES:
            return error(f"ERR Unknown client type '{_text(args[3])}'")
        clients = [c for c in clients if c.client_type == kind]
    elif len(args) > 3 and args[2].lower() == b"id":
        chosen = []
        for raw in args[3:]:
            cid = string_to_ll(raw)
            if cid is None:
                return error("ERR Invalid client ID")
            found = conn.server.clients.get(cid)
            if found is not None:
                chosen.append(found)
        clients = chosen
    elif len(args) != 2:
        return error(_SYNTAX)
    return VerbatimString(b"txt", "".join(c.info_line() + "\n" for c in clients).encode())


def client_info(conn: ClientConnection, args: list[bytes]) -> Frame:
    return VerbatimString(b"txt", (conn.info_line() + "\n").encode())


def client_kill(conn: ClientConnection, args: list[bytes]) -> Frame:
    addr: str | None = None
    laddr: str | None = None
    kind: str | None = None
    cid = 0
    skipme = True
    if len(args) == 3:
        addr, skipme = _text(args[2]), False
    elif len(args) % 2:
        return error(_SYNTAX)
    else:
        for i in range(2, len(args), 2):
            option, value = args[i].lower(), args[i + 1]
            if option == b"id":
                parsed = string_to_ll(value)
                if parsed is None or parsed < 1:
                    return error("ERR client-id should be greater than 0")
                cid = parsed
            elif option == b"type":
                kind = _text(value).lower()
                if kind not in _CLIENT_TYPES:
                    return error(f"ERR Unknown client type '{_text(value)}'")
            elif option == b"addr":
                addr = _text(value)
            elif option == b"laddr":
                laddr = _text(value)
            elif option == b"user":
                if _text(value) != "default":
                    return error(f"ERR No such user '{_text(value)}'")
            elif option == b"skipme":
                if value.lower() not in (b"yes", b"no"):
                    return error(_SYNTAX)
                skipme = value.lower() == b"yes"
            else:
                return error(_SYNTAX)
    killed = 0
    for target in list(conn.server.clients.values()):
        if addr is not None and target.addr != addr:
            continue
        if laddr is not None and target.laddr != laddr:
            continue
        if kind is not None and target.client_type != kind:
            continue
        if cid and target.id != cid:
            continue
        if target is conn and skipme:
            continue
        if target is conn:
            conn.close_after_reply = True
        else:
            target.close()
        killed += 1
    if len(args) == 3:
        return OK if killed else error("ERR No such client")
    return Integer(killed)


CLIENT_HELP = [
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are: ID, TYPE, ADDR, LADDR, USER, SKIPME.",
    "LIST [options ...]",
    "    Return information about client connections. Options: TYPE, ID.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
    "HELP",
    "    Print this help.",
]


def help_handler(lines: list[str]) -> Callable[[ClientConnection, list[bytes]], Frame]:
    def handler(conn: ClientConnection, args: list[bytes]) -> Frame:
        return Array(tuple(SimpleString(line.encode()) for line in lines))

    return handler


# ----- COMMAND -------------------------------------------------------------------


def _info_entry(cmd: Command) -> Frame:
    categories = cmd.acl_categories or (f"@{cmd.group}",)
    return Array(
        (
            BulkString(cmd.fullname.encode()),
            Integer(cmd.arity),
            Set(tuple(SimpleString(name.encode()) for name in cmd.flag_names)),
            Integer(0),
            Integer(0),
            Integer(0),
            Set(tuple(SimpleString(c.encode()) for c in categories)),
            Set(()),
            Array(()),
            Array(tuple(_info_entry(sub) for sub in cmd.subcommands)),
        )
    )


def _docs_entry(cmd: Command) -> Frame:
    pairs: list[tuple[Frame, Frame]] = [
        (bulk("summary"), bulk(cmd.summary or cmd.fullname.upper().replace("|", " "))),
        (bulk("since"), bulk(cmd.since)),
        (bulk("group"), bulk(cmd.group)),
    ]
    if cmd.subcommands:
        subs = tuple((bulk(s.fullname), _docs_entry(s)) for s in cmd.subcommands)
        pairs.append((bulk("subcommands"), Map(subs)))
    return Map(tuple(pairs))


def _find(conn: ClientConnection, name: bytes) -> Command | None:
    text = _text(name).lower()
    parent, _, child = text.partition("|")
    cmd = conn.server.commands.get(parent)
    if cmd is not None and child:
        return cmd.subcommand(child)
    return cmd


def command_all(conn: ClientConnection, args: list[bytes]) -> Frame:
    return Array(tuple(_info_entry(cmd) for cmd in conn.server.commands))


def command_count(conn: ClientConnection, args: list[bytes]) -> Frame:
    return Integer(len(conn.server.commands))


def command_info(conn: ClientConnection, args: list[bytes]) -> Frame:
    if len(args) == 2:
        return command_all(conn, args)
    found = (_find(conn, name) for name in args[2:])
    return Array(tuple(NULL if cmd is None else _info_entry(cmd) for cmd in found))


def command_docs(conn: ClientConnection, args: list[bytes]) -> Frame:
    if len(args) == 2:
        cmds = list(conn.server.commands)
    else:
        cmds = [cmd for cmd in (_find(conn, name) for name in args[2:]) if cmd is not None]
    return Map(tuple((bulk(cmd.fullname), _docs_entry(cmd)) for cmd in cmds))


def command_list(conn: ClientConnection, args: list[bytes]) -> Frame:
    return Array(tuple(bulk(cmd.name) for cmd in conn.server.commands))
