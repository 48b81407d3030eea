"""``SENTINEL <subcommand>``: Redis 7.0.15's subcommands, arities, replies and errors.

Instance lists are RESP3 maps, which RESP2 clients receive as flat arrays of bulk
strings (the encoder downgrades them), exactly as Redis sends them. What sentinel_lab
does not do answers ``-ERR ... is not supported by sentinel_lab yet``. ``SIMULATE-FAILURE``
and ``DEBUG`` behave as Redis's (:mod:`sentinel_lab.core.simfailure`,
:mod:`sentinel_lab.core.debug`).
``SENTINEL CONFIG SET lab-early-switch yes|no`` is ours (not Redis): it turns the early
switch on or off at run time and is never written to the config file.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from typing import TYPE_CHECKING

from labkit.resp.commands import Command
from labkit.resp.commands import CommandFlag as F
from labkit.resp.connection import ClientConnection
from labkit.resp.frames import (
    OK,
    Array,
    BulkString,
    Frame,
    Integer,
    Map,
    Null,
    SimpleString,
    bulk,
    error,
)
from labkit.resp.inline import string_to_ll
from labkit.resp.introspection import help_handler
from labkit.resp.pubsub import stringmatch
from sentinel_lab.core import (
    FailoverRequest,
    IsMasterDownReply,
    IsMasterDownRequest,
    MonitorRequest,
    RemoveRequest,
    ResetRequest,
    SetRequest,
)
from sentinel_lab.core.debug import debug_values, set_debug_params
from sentinel_lab.core.replies import ErrorReply
from sentinel_lab.core.simfailure import HELP_REPLY, parse_simulate_failure
from sentinel_lab.scripts import script_refusal

if TYPE_CHECKING:
    from sentinel_lab.server import SentinelServer

__all__ = ["SENTINEL_HELP", "client_key", "fields_frame", "sentinel_command"]

_NOT_INT = "ERR value is not an integer or out of range"

SENTINEL_HELP = [
    "SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CKQUORUM <master-name>",
    "    Check if the current Sentinel configuration is able to reach the quorum",
    "    needed to failover a master and the majority needed to authorize the",
    "    failover.",
    "CONFIG SET <param> <value>",
    "    Set a global Sentinel configuration parameter.",
    "CONFIG GET <param>",
    "    Get global Sentinel configuration parameter.",
    "DEBUG [<param> <value> ...]",
    "    Show a list of configurable time parameters and their values (milliseconds).",
    "    Or update current configurable parameters values (one or more).",
    "GET-MASTER-ADDR-BY-NAME <master-name>",
    "    Return the ip and port number of the master with that name.",
    "FAILOVER <master-name>",
    "    Manually failover a master node without asking for agreement from other",
    "    Sentinels",
    "FLUSHCONFIG",
    "    Force Sentinel to rewrite its configuration on disk, including the current",
    "    Sentinel state.",
    "INFO-CACHE <master-name>",
    "    Return last cached INFO output from masters and all its replicas.",
    "IS-MASTER-DOWN-BY-ADDR <ip> <port> <current-epoch> <runid>",
    "    Check if the master specified by ip:port is down from current Sentinel's",
    "    point of view.",
    "MASTER <master-name>",
    "    Show the state and info of the specified master.",
    "MASTERS",
    "    Show a list of monitored masters and their state.",
    "MONITOR <name> <ip> <port> <quorum>",
    "    Start monitoring a new master with the specified name, ip, port and quorum.",
    "MYID",
    "    Return the ID of the Sentinel instance.",
    "PENDING-SCRIPTS",
    "    Get pending scripts information.",
    "REMOVE <master-name>",
    "    Remove master from Sentinel's monitor list.",
    "REPLICAS <master-name>",
    "    Show a list of replicas for this master and their state.",
    "RESET <pattern>",
    "    Reset masters for specific master name matching this pattern.",
    "SENTINELS <master-name>",
    "    Show a list of Sentinel instances for this master and their state.",
    "SET <master-name> <option> <value> [<option> <value> ...]",
    "    Set configuration parameters for certain masters.",
    "SIMULATE-FAILURE [CRASH-AFTER-ELECTION] [CRASH-AFTER-PROMOTION] [HELP]",
    "    Simulate a Sentinel crash.",
    "HELP",
    "    Prints this help.",
]

_CONFIG_PARAMS = (
    "resolve-hostnames",
    "announce-hostnames",
    "announce-ip",
    "announce-port",
    "sentinel-user",
    "sentinel-pass",
    "lab-early-switch",
)
"""Redis's SENTINEL CONFIG parameters, plus ``lab-early-switch`` (ours; runtime only)."""


def client_key(conn: ClientConnection) -> str:
    """How the core names a client of ours."""
    return f"client:{conn.id}"


def fields_frame(fields: list[tuple[str, str]]) -> Map:
    """One instance as a map of bulk strings (a flat array in RESP2)."""
    return Map(tuple((bulk(k), bulk(v)) for k, v in fields))


def _answer(value: object) -> Frame:
    if isinstance(value, ErrorReply):
        return error(value.text)
    if isinstance(value, int):
        return Integer(value)
    if isinstance(value, str):
        return OK if value == "OK" else SimpleString(value.encode())
    return error("ERR no answer from the sentinel core")


def _server(conn: ClientConnection) -> SentinelServer:
    from sentinel_lab.server import SentinelServer

    server = conn.server
    assert isinstance(server, SentinelServer)
    return server


def _text(arg: bytes) -> str:
    return arg.decode("utf-8", "surrogateescape")


# -- queries -----------------------------------------------------------------------------


def _masters(conn: ClientConnection, args: list[bytes]) -> Frame:
    server = _server(conn)
    server.driver.sync_clock()
    return Array(tuple(fields_frame(f) for f in server.driver.core.masters_info()))


def _master(conn: ClientConnection, args: list[bytes]) -> Frame:
    server = _server(conn)
    server.driver.sync_clock()
    info = server.driver.core.master_info(_text(args[2]))
    return error(info.text) if isinstance(info, ErrorReply) else fields_frame(info)


def _list_of(kind: str) -> Command:
    def handler(conn: ClientConnection, args: list[bytes]) -> Frame:
        core = _server(conn).driver.core
        _server(conn).driver.sync_clock()
        name = _text(args[2])
        got = core.sentinels_info(name) if kind == "sentinels" else core.replicas_info(name)
        if isinstance(got, ErrorReply):
            return error(got.text)
        return Array(tuple(fields_frame(f) for f in got))

    return Command(kind, 3, handler, F.ADMIN | F.SENTINEL | F.ONLY_SENTINEL)


def _get_master_addr(conn: ClientConnection, args: list[bytes]) -> Frame:
    addr = _server(conn).driver.core.get_master_addr_by_name(_text(args[2]))
    if addr is None:
        return Null("array")
    return Array((bulk(addr[0]), bulk(addr[1])))


def _is_master_down(conn: ClientConnection, args: list[bytes]) -> Frame:
    port = string_to_ll(args[3])
    epoch = string_to_ll(args[4])
    if port is None or epoch is None:
        return error(_NOT_INT)
    runid = _text(args[5])
    request = IsMasterDownRequest(_text(args[2]), port, epoch, None if runid == "*" else runid)
    reply = _server(conn).driver.request(client_key(conn), request)
    if not isinstance(reply, IsMasterDownReply):
        return error("ERR no answer from the sentinel core")
    return Array(
        (
            Integer(1 if reply.down else 0),
            bulk(reply.leader or "*"),
            Integer(reply.leader_epoch),
        )
    )


def _info_cache(conn: ClientConnection, args: list[bytes]) -> Frame:
    driver = _server(conn).driver
    from sentinel_lab.driver import now_ms

    now = now_ms()
    out: list[Frame] = []
    seen: set[str] = set()
    for raw in args[2:]:
        name = _text(raw)
        master = driver.core.masters.get(name)
        if master is None or name in seen:
            continue
        seen.add(name)
        entries: list[Frame] = []
        for addr in [master.addr, *master.replicas]:
            cached = driver.info_cache.get(addr)
            if cached is None:
                entries.append(Array((Integer(0), Null())))
            else:
                entries.append(Array((Integer(now - cached[0]), BulkString(cached[1]))))
        out += [bulk(name), Array(tuple(entries))]
    return Array(tuple(out))


def _ckquorum(conn: ClientConnection, args: list[bytes]) -> Frame:
    return _answer(_server(conn).driver.core.ckquorum(_text(args[2])))


def _myid(conn: ClientConnection, args: list[bytes]) -> Frame:
    return bulk(_server(conn).driver.myid)


def _pending_scripts(conn: ClientConnection, args: list[bytes]) -> Frame:
    driver = _server(conn).driver
    driver.sync_clock()
    jobs: list[Frame] = []
    for fields in driver.core.pending_scripts():
        pairs: list[tuple[Frame, Frame]] = []
        for key, value in fields:
            if isinstance(value, tuple):
                pairs.append((bulk(key), Array(tuple(bulk(str(a)) for a in value))))
            else:
                pairs.append((bulk(key), bulk(str(value))))
        jobs.append(Map(tuple(pairs)))
    return Array(tuple(jobs))


def _debug(conn: ClientConnection, args: list[bytes]) -> Frame:
    core = _server(conn).driver.core
    if len(args) > 2:
        return _answer(set_debug_params(core, [_text(a) for a in args[2:]]))
    return Map(tuple((bulk(k), bulk(str(v))) for k, v in debug_values(core)))


# -- actions -------------------------------------------------------------------------------


def _failover(conn: ClientConnection, args: list[bytes]) -> Frame:
    request = FailoverRequest(_text(args[2]))
    return _answer(_server(conn).driver.request(client_key(conn), request))


def _flushconfig(conn: ClientConnection, args: list[bytes]) -> Frame:
    if _server(conn).driver.flush_config():
        return OK
    return error("ERR Failed to save the configuration on disk")


def _reset(conn: ClientConnection, args: list[bytes]) -> Frame:
    request = ResetRequest(_text(args[2]))
    return _answer(_server(conn).driver.request(client_key(conn), request))


def _remove(conn: ClientConnection, args: list[bytes]) -> Frame:
    request = RemoveRequest(_text(args[2]))
    return _answer(_server(conn).driver.request(client_key(conn), request))


def _monitor(conn: ClientConnection, args: list[bytes]) -> Frame:
    quorum = string_to_ll(args[5])
    if quorum is None:
        return error("ERR Invalid quorum")
    port = string_to_ll(args[4])
    if port is None:
        return error("ERR Invalid port")
    if quorum <= 0:
        return error("ERR Quorum must be 1 or greater.")
    host = _text(args[3])
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return error("ERR Invalid IP address or hostname specified")
    if not 0 <= port <= 65535:
        return error("ERR Invalid port number")
    request = MonitorRequest(_text(args[2]), host, port, quorum)
    return _answer(_server(conn).driver.request(client_key(conn), request))


def _set(conn: ClientConnection, args: list[bytes]) -> Frame:
    rest = [_text(a) for a in args[3:]]
    pairs: list[tuple[str, str | None]] = []
    for i in range(0, len(rest), 2):
        pairs.append((rest[i], rest[i + 1] if i + 1 < len(rest) else None))
    driver = _server(conn).driver
    deny = driver.config.server.deny_scripts_reconfig
    refusal: str | None = None
    for index, (option, value) in enumerate(pairs):
        refusal = script_refusal(deny, option, value)
        if refusal is not None:
            pairs = pairs[:index]  # earlier options still apply, as in Redis
            break
    answer: object = "OK"
    if pairs:
        answer = driver.request(client_key(conn), SetRequest(_text(args[2]), tuple(pairs)))
    elif refusal is not None and _text(args[2]) not in driver.core.masters:
        answer = ErrorReply("ERR No such master with that name")
    if any(option.lower() in ("auth-pass", "auth-user") for option, _ in pairs):
        driver.drop_instance_links(_text(args[2]))
    if refusal is not None and not isinstance(answer, ErrorReply):
        return error(refusal)
    return _answer(answer)


def _config(conn: ClientConnection, args: list[bytes]) -> Frame:
    sub = args[2].lower()
    if sub == b"get" and len(args) == 4:
        return _config_get(conn, args[3])
    if sub == b"set" and len(args) == 5:
        return _config_set(conn, _text(args[3]), _text(args[4]))
    return error("ERR Only SENTINEL CONFIG GET <option> / SET <option> <value> are supported.")


def _config_get(conn: ClientConnection, pattern: bytes) -> Frame:
    server = _server(conn).driver.config.server
    values = {
        "resolve-hostnames": "yes" if server.resolve_hostnames else "no",
        "announce-hostnames": "yes" if server.announce_hostnames else "no",
        "announce-ip": server.announce_ip or "",
        "announce-port": str(server.announce_port),
        "sentinel-user": server.sentinel_user or "",
        "sentinel-pass": server.sentinel_pass or "",
        "lab-early-switch": "yes" if _server(conn).driver.core.early_switch else "no",
    }
    pairs = [
        (bulk(name), bulk(values[name]))
        for name in _CONFIG_PARAMS
        if stringmatch(pattern, name.encode(), nocase=True)
    ]
    return Map(tuple(pairs))


def _config_set(conn: ClientConnection, param: str, value: str) -> Frame:
    driver = _server(conn).driver
    name = param.lower()
    bad = error(f"ERR Invalid value '{value}' to SENTINEL CONFIG SET '{param}'")
    if name in ("resolve-hostnames", "announce-hostnames"):
        flag = {"yes": True, "no": False}.get(value.lower())
        if flag is None:
            return bad
        driver.update_server_settings(**{name.replace("-", "_"): flag})
    elif name == "announce-port":
        port = string_to_ll(value.encode())
        if port is None or not 0 <= port <= 65535:
            return bad
        driver.update_server_settings(announce_port=port)
    elif name == "lab-early-switch":
        flag = {"yes": True, "no": False}.get(value.lower())
        if flag is None:
            return bad
        driver.core.early_switch = flag
    elif name in ("announce-ip", "sentinel-user", "sentinel-pass"):
        driver.update_server_settings(**{name.replace("-", "_"): value or None})
        if name != "announce-ip":
            driver.drop_peer_links()
    else:
        return error(f"ERR Invalid argument '{param}' to SENTINEL CONFIG SET")
    return OK


def _simulate_failure(conn: ClientConnection, args: list[bytes]) -> Frame:
    driver = _server(conn).driver
    outcome = parse_simulate_failure([_text(a) for a in args[2:]])
    driver.core.simfailure_flags = outcome.flags
    for line in outcome.log_lines:
        driver.out.log("#", line)
    if outcome.reply == "HELP":
        return Array(tuple(bulk(name) for name in HELP_REPLY))
    return _answer(outcome.reply)


def sentinel_command() -> Command:
    """The SENTINEL command with every subcommand of Redis 7.0.15."""
    admin = F.ADMIN | F.SENTINEL | F.ONLY_SENTINEL
    subs = (
        Command("ckquorum", 3, _ckquorum, admin),
        Command("config", -3, _config, admin),
        Command("debug", -2, _debug, admin),
        Command("failover", 3, _failover, admin),
        Command("flushconfig", 2, _flushconfig, admin),
        Command("get-master-addr-by-name", 3, _get_master_addr, admin),
        Command("help", 2, help_handler(SENTINEL_HELP), F.LOADING | F.STALE | F.SENTINEL),
        Command("info-cache", -3, _info_cache, admin),
        Command("is-master-down-by-addr", 6, _is_master_down, admin),
        Command("master", 3, _master, admin),
        Command("masters", 2, _masters, admin),
        Command("monitor", 6, _monitor, admin),
        Command("myid", 2, _myid, admin),
        Command("pending-scripts", 2, _pending_scripts, admin),
        Command("remove", 3, _remove, admin),
        _list_of("replicas"),
        Command("reset", 3, _reset, admin),
        _list_of("sentinels"),
        Command("set", -5, _set, admin),
        Command("simulate-failure", -3, _simulate_failure, admin),
        _list_of("slaves"),
    )
    return Command(
        "sentinel", -2, flags=admin, subcommands=subs, group="sentinel", summary="SENTINEL"
    )


def acl_command() -> Command:
    """ACL as sentinel_lab has it: only the ``default`` user (``requirepass``)."""

    def whoami(conn: ClientConnection, args: list[bytes]) -> Frame:
        return bulk(conn.user)

    def users(conn: ClientConnection, args: list[bytes]) -> Frame:
        return Array((bulk("default"),))

    def acl_list(conn: ClientConnection, args: list[bytes]) -> Frame:
        password = conn.server.config.requirepass
        auth = f"#{hashlib.sha256(password.encode()).hexdigest()}" if password else "nopass"
        return Array((bulk(f"user default on {auth} ~* &* +@all"),))

    def genpass(conn: ClientConnection, args: list[bytes]) -> Frame:
        bits = 256 if len(args) < 3 else string_to_ll(args[2])
        if bits is None or bits <= 0 or bits > 4096:
            return error(
                "ERR ACL GENPASS argument must be the number of bits for the output "
                "password, a positive number up to 4096"
            )
        return bulk(secrets.token_hex((bits + 7) // 8)[: (bits + 3) // 4])

    def not_yet(conn: ClientConnection, args: list[bytes]) -> Frame:
        return error(f"ERR ACL {_text(args[1]).upper()} is not supported by sentinel_lab yet")

    flags = F.ADMIN | F.NOSCRIPT | F.LOADING | F.STALE | F.SENTINEL
    help_lines = [
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "WHOAMI",
        "    Return the current connection username.",
        "USERS",
        "    List all the registered usernames.",
        "LIST",
        "    Show users details in config file format.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "HELP",
        "    Prints this help.",
    ]
    subs = [
        Command("whoami", 2, whoami, flags),
        Command("users", 2, users, flags),
        Command("list", 2, acl_list, flags),
        Command("genpass", -2, genpass, flags),
        Command("help", 2, help_handler(help_lines), F.LOADING | F.STALE | F.SENTINEL),
    ]
    for name, arity in (
        ("cat", -2),
        ("deluser", -3),
        ("dryrun", -4),
        ("getuser", 3),
        ("load", 2),
        ("log", -2),
        ("save", 2),
        ("setuser", -3),
    ):
        subs.append(Command(name, arity, not_yet, flags))
    return Command("acl", -2, flags=F.SENTINEL, subcommands=tuple(subs), group="server")
