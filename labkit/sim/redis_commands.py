"""The commands of the simulated Redis server: one handler per command, and their arities.

Handlers take the :class:`~labkit.sim.redis_model.RedisModel`, the arguments, the
client, the virtual time and the RNG, and return the reply value as the model does.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from labkit.sim.redis_model import (
    RedisError,
    RedisModel,
    StoredValue,
    hex40,
    parse_int,
)

__all__ = ["ARITY", "HANDLERS", "Handler"]

Handler = Callable[[RedisModel, list[bytes], str, int, "random.Random | None"], object]


def _ping(
    m: RedisModel, argv: list[bytes], client: str, now: int, rng: random.Random | None
) -> object:
    return argv[1] if len(argv) == 2 else "PONG"


def _get(
    m: RedisModel, argv: list[bytes], client: str, now: int, rng: random.Random | None
) -> object:
    value = m._live(argv[1], now)
    return None if value is None else value.data


def _set(
    m: RedisModel, argv: list[bytes], client: str, now: int, rng: random.Random | None
) -> object:
    key, data = argv[1], argv[2]
    nx = xx = False
    expires: int | None = None
    i = 3
    while i < len(argv):
        opt = argv[i].upper()
        if opt == b"NX" and not xx:
            nx = True
        elif opt == b"XX" and not nx:
            xx = True
        elif opt in (b"EX", b"PX", b"PXAT") and expires is None and i + 1 < len(argv):
            amount = parse_int(argv[i + 1])
            if amount is None:
                return RedisError("ERR value is not an integer or out of range")
            if amount <= 0:
                return RedisError("ERR invalid expire time in 'set' command")
            expires = {b"EX": now + amount * 1000, b"PX": now + amount, b"PXAT": amount}[opt]
            i += 1
        else:
            return RedisError("ERR syntax error")
        i += 1
    exists = m._live(key, now) is not None
    if (nx and exists) or (xx and not exists):
        return None
    m.data[key] = StoredValue(data, expires)
    if expires is None:
        m._propagate((b"SET", key, data))
    else:
        m._propagate((b"SET", key, data, b"PXAT", str(expires).encode()))
    return "OK"


def _incr(
    m: RedisModel, argv: list[bytes], client: str, now: int, rng: random.Random | None
) -> object:
    value = m._live(argv[1], now)
    current = 0 if value is None else parse_int(value.data)
    if current is None:
        return RedisError("ERR value is not an integer or out of range")
    current += 1
    expires = None if value is None else value.expires_at_ms
    m.data[argv[1]] = StoredValue(str(current).encode(), expires)
    if expires is None:
        m._propagate((b"SET", argv[1], str(current).encode()))
    else:
        m._propagate((b"SET", argv[1], str(current).encode(), b"PXAT", str(expires).encode()))
    return current


def _del(
    m: RedisModel, argv: list[bytes], client: str, now: int, rng: random.Random | None
) -> object:
    removed = [key for key in argv[1:] if m._live(key, now) is not None]
    for key in removed:
        m.data.pop(key, None)
    if removed:
        m._propagate((b"DEL", *removed))
    return len(removed)


def _exists(
    m: RedisModel, argv: list[bytes], client: str, now: int, rng: random.Random | None
) -> object:
    return sum(1 for key in argv[1:] if m._live(key, now) is not None)


def _pttl(
    m: RedisModel, argv: list[bytes], client: str, now: int, rng: random.Random | None
) -> object:
    value = m._live(argv[1], now)
    if value is None:
        return -2
    return -1 if value.expires_at_ms is None else value.expires_at_ms - now


def _publish(
    m: RedisModel, argv: list[bytes], client: str, now: int, rng: random.Random | None
) -> object:
    count = m._deliver(argv[1], argv[2])
    if m.role == "master":
        m._propagate((b"PUBLISH", argv[1], argv[2]))
    return count


def _subscribe(
    m: RedisModel, argv: list[bytes], client: str, now: int, rng: random.Random | None
) -> object:
    replies: list[object] = []
    for channel in argv[1:]:
        m.subscribers.setdefault(channel, {})[client] = None
        count = sum(1 for subs in m.subscribers.values() if client in subs)
        replies.append([b"subscribe", channel, count])
    return replies[0] if len(replies) == 1 else replies


def _unsubscribe(
    m: RedisModel, argv: list[bytes], client: str, now: int, rng: random.Random | None
) -> object:
    channels = argv[1:] or [c for c, subs in m.subscribers.items() if client in subs]
    replies: list[object] = []
    for channel in channels:
        subs = m.subscribers.get(channel, {})
        subs.pop(client, None)
        if not subs:
            m.subscribers.pop(channel, None)
        count = sum(1 for s in m.subscribers.values() if client in s)
        replies.append([b"unsubscribe", channel, count])
    if not replies:
        return [b"unsubscribe", None, 0]
    return replies[0] if len(replies) == 1 else replies


def _slaveof(
    m: RedisModel, argv: list[bytes], client: str, now: int, rng: random.Random | None
) -> object:
    host, port_arg = argv[1].decode(errors="replace"), argv[2]
    if host.upper() == "NO" and port_arg.upper() == b"ONE":
        if m.role == "slave":
            m.role = "master"
            m.replid2, m.second_repl_offset = m.replid, m.offset + 1
            m.replid = hex40(rng or random.Random(m.offset ^ m.port))
            m.master_host = m.master_port = None
            m.master_link_up = False
        return "OK"
    port = parse_int(port_arg)
    if port is None or not 0 < port < 65536:
        return RedisError("ERR Invalid master port")
    if m.role == "slave" and m.master_host == host and m.master_port == port:
        return "OK Already connected to specified master"
    m.role = "slave"
    m.master_host, m.master_port = host, port
    m.master_link_up = False
    m.master_link_down_since_ms = now
    return "OK"


def _config(
    m: RedisModel, argv: list[bytes], client: str, now: int, rng: random.Random | None
) -> object:
    if argv[1].upper() == b"REWRITE" and len(argv) == 2:
        return "OK"
    return RedisError(f"ERR unknown subcommand '{argv[1].decode(errors='replace')}'.")


def _client(
    m: RedisModel, argv: list[bytes], client: str, now: int, rng: random.Random | None
) -> object:
    sub = argv[1].upper()
    if sub == b"SETNAME" and len(argv) == 3:
        return "OK"
    if sub == b"KILL" and len(argv) == 4 and argv[2].upper() == b"TYPE":
        kind = argv[3].lower()
        if kind == b"pubsub":
            victims = {c for subs in m.subscribers.values() for c in subs if c != client}
            m.subscribers = {
                channel: {c: None for c in subs if c == client}
                for channel, subs in m.subscribers.items()
                if client in subs
            }
            return len(victims)
        if kind == b"normal":
            return 0  # the model keeps no other normal connections
        return RedisError(f"ERR Unknown client type '{kind.decode(errors='replace')}'")
    return RedisError(f"ERR unknown subcommand '{argv[1].decode(errors='replace')}'.")


def _role(
    m: RedisModel, argv: list[bytes], client: str, now: int, rng: random.Random | None
) -> object:
    if m.role == "master":
        return [
            b"master",
            m.offset,
            [
                [r.host.encode(), str(r.port).encode(), str(r.ack_offset).encode()]
                for r in m.replicas.values()
            ],
        ]
    state = b"connected" if m.master_link_up else b"connect"
    return [b"slave", (m.master_host or "").encode(), m.master_port, state, m.offset]


def _info(
    m: RedisModel, argv: list[bytes], client: str, now: int, rng: random.Random | None
) -> object:
    section = argv[1].decode(errors="replace").lower() if len(argv) > 1 else ""
    return m.info(section, now)


HANDLERS: dict[bytes, Handler] = {
    b"PING": _ping,
    b"GET": _get,
    b"SET": _set,
    b"INCR": _incr,
    b"DEL": _del,
    b"EXISTS": _exists,
    b"PTTL": _pttl,
    b"PUBLISH": _publish,
    b"SUBSCRIBE": _subscribe,
    b"UNSUBSCRIBE": _unsubscribe,
    b"SLAVEOF": _slaveof,
    b"REPLICAOF": _slaveof,
    b"ROLE": _role,
    b"INFO": _info,
    b"CONFIG": _config,
    b"CLIENT": _client,
}
_BIG = 1 << 30
ARITY: dict[bytes, tuple[int, int]] = {
    b"PING": (1, 2),
    b"GET": (2, 2),
    b"SET": (3, _BIG),
    b"INCR": (2, 2),
    b"DEL": (2, _BIG),
    b"EXISTS": (2, _BIG),
    b"PTTL": (2, 2),
    b"PUBLISH": (3, 3),
    b"SUBSCRIBE": (2, _BIG),
    b"UNSUBSCRIBE": (1, _BIG),
    b"SLAVEOF": (3, 3),
    b"REPLICAOF": (3, 3),
    b"ROLE": (1, 1),
    b"INFO": (1, 2),
    b"CONFIG": (2, _BIG),
    b"CLIENT": (2, _BIG),
}
