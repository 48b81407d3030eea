"""What each client command means to the replicated state machine (pure, no I/O).

:func:`classify` sorts a command into one of:

* ``read``: read-only; served through ReadIndex on the leader's backing server;
* ``write``: replicated as a log entry; :func:`rewrite` first turns relative expiries
  into absolute ones with the leader's clock (``EXPIRE k 10`` -> ``PEXPIREAT k <ms>``,
  ``SET ... EX 10`` -> ``SET ... PXAT <ms>``), so every replica applies the same thing;
* ``refused``: the command has a random or clock-dependent effect (``SPOP``, ``TIME``,
  an ``XADD`` with an automatic id, a script that calls one of them) and gets
  ``-ERR <cmd> is not allowed: its effect is not deterministic``; or it cannot work
  through a replicated log (blocking commands, ``EVALSHA``, ``SELECT`` of another
  database, server administration), with an error that says so.

Commands in no table get Redis's ``unknown command`` error. The connection commands
(``PING``, ``HELLO``, ``CLIENT``...) never reach this module: the RESP server answers them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from labkit.resp.inline import string_to_ll

__all__ = [
    "NONDETERMINISTIC",
    "READS",
    "UNSUPPORTED",
    "WRITES",
    "Classified",
    "RewriteError",
    "classify",
    "nondeterministic_error",
    "rewrite",
]

Kind = Literal["read", "write", "refused"]


def _words(text: str) -> list[str]:
    return text.split()


READS = frozenset(
    _words("""
    get mget strlen getrange substr exists type ttl pttl expiretime pexpiretime dump touch
    lrange llen lindex lpos smembers sismember smismember scard sinter sunion sdiff sintercard
    hget hmget hgetall hkeys hvals hlen hexists hstrlen
    zrange zrangebyscore zrevrange zrevrangebyscore zrangebylex zrevrangebylex zscore zmscore
    zcard zcount zlexcount zrank zrevrank zinter zunion zdiff zintercard
    dbsize keys scan sscan hscan zscan getbit bitcount bitpos bitfield_ro lcs
    xrange xrevrange xlen xpending xinfo pfcount geopos geodist geohash georadius_ro
    georadiusbymember_ro geosearch sort_ro eval_ro object
    """)
)
"""Read-only data commands (served with ReadIndex)."""

WRITES = frozenset(
    _words("""
    set setnx setex psetex mset msetnx append incr decr incrby decrby incrbyfloat getset getdel
    getex setrange del unlink expire pexpire expireat pexpireat persist rename renamenx copy
    restore lpush rpush lpushx rpushx lpop rpop lset linsert lrem ltrim lmove rpoplpush lmpop
    sadd srem smove sinterstore sunionstore sdiffstore
    hset hsetnx hmset hdel hincrby hincrbyfloat
    zadd zincrby zrem zremrangebyscore zremrangebyrank zremrangebylex zpopmin zpopmax zmpop
    zunionstore zinterstore zdiffstore zrangestore setbit bitop bitfield pfadd pfmerge
    xadd xdel xtrim xgroup xack geoadd georadius georadiusbymember geosearchstore sort
    flushdb flushall eval
    """)
)
"""Data commands that change state (replicated through the log)."""

NONDETERMINISTIC = frozenset(
    _words("spop srandmember randomkey time hrandfield zrandmember lastsave xclaim xautoclaim")
)
"""Commands whose result or effect depends on randomness or on the server's clock."""

UNSUPPORTED: dict[str, str] = {
    **dict.fromkeys(
        _words(
            "blpop brpop brpoplpush blmove blmpop bzpopmin bzpopmax bzmpop xread xreadgroup wait "
            "waitaof"
        ),
        "blocking commands are not supported by redis_raft",
    ),
    **dict.fromkeys(
        _words("evalsha evalsha_ro script fcall fcall_ro function"),
        "the script cache and functions are not replicated by redis_raft; use EVAL",
    ),
    **dict.fromkeys(
        _words(
            "swapdb move migrate save bgsave bgrewriteaof debug replicaof slaveof sync psync "
            "monitor cluster readonly readwrite failover module acl slowlog latency memory role "
            "lolwut"
        ),
        "this command is not available on a redis_raft node",
    ),
}
"""Commands refused with a reason other than non-determinism."""

_SCRIPT_NONDET = re.compile(
    rb"""['"](time|spop|srandmember|randomkey|hrandfield|zrandmember|lastsave)['"]""",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Classified:
    """How a command is handled; ``error`` is the reply text when ``kind == "refused"``."""

    kind: Kind
    name: str
    error: str = ""


class RewriteError(ValueError):
    """A write that Redis itself would refuse (a bad expire time); ``text`` is the reply."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def nondeterministic_error(name: str) -> str:
    """The refusal text of the contracts."""
    return f"ERR {name} is not allowed: its effect is not deterministic"


def classify(args: list[bytes]) -> Classified:
    """Sort ``args`` (a whole command) into read, write or refused."""
    name = args[0].decode("utf-8", "surrogateescape").lower()
    if name in NONDETERMINISTIC:
        return Classified("refused", name, nondeterministic_error(name))
    if name in UNSUPPORTED:
        return Classified("refused", name, f"ERR {name} is not allowed: {UNSUPPORTED[name]}")
    if name == "select":
        if len(args) == 2 and args[1] == b"0":
            return Classified("read", name)  # a no-op the server answers itself
        return Classified("refused", name, "ERR redis_raft replicates database 0 only")
    if name == "xadd" and _xadd_auto_id(args):
        return Classified("refused", name, nondeterministic_error("xadd with an automatic id"))
    if name in ("eval", "eval_ro") and len(args) > 1 and _SCRIPT_NONDET.search(args[1]):
        return Classified("refused", name, nondeterministic_error(f"{name} of this script"))
    if name in READS:
        return Classified("read", name)
    if name in WRITES:
        return Classified("write", name)
    shown = " ".join(f"'{a.decode('utf-8', 'replace')[:128]}'" for a in args[1:4])
    return Classified(
        "refused",
        name,
        f"ERR unknown command '{name}', with args beginning with: {shown}".rstrip() + " ",
    )


def _xadd_auto_id(args: list[bytes]) -> bool:
    i = 2
    if i < len(args) and args[i].lower() == b"nomkstream":
        i += 1
    if i < len(args) and args[i].lower() in (b"maxlen", b"minid"):
        i += 1
        if i < len(args) and args[i] in (b"=", b"~"):
            i += 1
        i += 1
        if i < len(args) and args[i].lower() == b"limit":
            i += 2
    return i < len(args) and (args[i] == b"*" or args[i].endswith(b"-*"))


# -- rewriting relative expiries -----------------------------------------------------
def _int(arg: bytes) -> int | None:
    return string_to_ll(arg)


def _expire_error(name: str) -> RewriteError:
    return RewriteError(f"ERR invalid expire time in '{name}' command")


def rewrite(args: list[bytes], now_ms: int) -> list[bytes]:
    """``args`` with relative expiries made absolute at ``now_ms`` (Unix ms).

    Arguments that are not integers are left alone: the backing server answers them
    with its own error. Non-positive relative times of ``SET``/``SETEX``/``PSETEX``/
    ``GETEX`` raise :class:`RewriteError` with Redis's text, because the absolute form
    would accept them.
    """
    name = args[0].decode("utf-8", "surrogateescape").lower()
    if name in ("expire", "pexpire") and len(args) >= 3:
        amount = _int(args[2])
        if amount is None:
            return args
        ms = amount * 1000 if name == "expire" else amount
        return [b"PEXPIREAT", args[1], b"%d" % (now_ms + ms), *args[3:]]
    if name in ("setex", "psetex") and len(args) == 4:
        amount = _int(args[2])
        if amount is None:
            return args
        if amount <= 0:
            raise _expire_error(name)
        ms = amount * 1000 if name == "setex" else amount
        return [b"SET", args[1], args[3], b"PXAT", b"%d" % (now_ms + ms)]
    if name in ("set", "getex"):
        start = 3 if name == "set" else 2
        return _rewrite_options(name, args, start, now_ms)
    if name == "restore" and len(args) >= 4:
        ttl = _int(args[2])
        options = {a.lower() for a in args[4:]}
        if ttl is None or ttl <= 0 or b"absttl" in options:
            return args
        return [args[0], args[1], b"%d" % (now_ms + ttl), *args[3:], b"ABSTTL"]
    return args


def _rewrite_options(name: str, args: list[bytes], start: int, now_ms: int) -> list[bytes]:
    out = list(args[:start])
    i = start
    while i < len(args):
        option = args[i].lower()
        if option in (b"ex", b"px") and i + 1 < len(args):
            amount = _int(args[i + 1])
            if amount is None:
                return args
            if amount <= 0:
                raise _expire_error(name)
            ms = amount * 1000 if option == b"ex" else amount
            out += [b"PXAT", b"%d" % (now_ms + ms)]
            i += 2
            continue
        out.append(args[i])
        i += 1
    return out
