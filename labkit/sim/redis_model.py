"""A small simulation model of what Sentinel and a commit protocol see of a Redis server.

It is a model for the simulator, not Redis. It keeps: the role (master or replica),
the master link and its status, the replication offset and ids, ``INFO`` replication
fields in Redis 7.0's layout, ``SLAVEOF``/``REPLICAOF``, pub/sub routing, and a few
key commands (GET, SET with NX/XX/EX/PX/PXAT, INCR, DEL, EXISTS, PTTL) that are
enough for SET-NX-style key locks. Replies are Python values: ``str`` for status
replies, ``bytes`` for bulk strings, ``None`` for nil, ``int``, ``list``, and
:class:`RedisError` for error replies (with Redis's texts). A server can crash (every
command then fails with :class:`RedisLinkError` "refused", its connections, pub/sub
subscriptions and replica links are gone) and restart (a new run id, the role and
data it had, as after a config rewrite and a clean RDB save), or be paused (SIGSTOP:
no reply at all, see ``RedisFleet``). ``MULTI``/``EXEC``/``DISCARD``, ``CONFIG REWRITE``
and ``CLIENT KILL TYPE normal|pubsub`` / ``CLIENT SETNAME`` are modelled for Sentinel's
SLAVEOF transaction.

Replication runs in :class:`labkit.sim.redis_fleet.RedisFleet`: ``SLAVEOF`` only records the new master, as
in Redis, and ``RedisFleet.replicate`` connects, full-syncs and streams writes when
the two are reachable. The offset grows by the RESP size of each propagated command;
Redis's own pings to replicas (which also move the offset) are not modelled. As in
Redis, ``PUBLISH`` is propagated to replicas, whose subscribers receive it too.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from labkit.actions import RedisArg

__all__ = [
    "MODELLED_VERSION",
    "PubSubMessage",
    "RedisError",
    "RedisLinkError",
    "RedisModel",
    "ReplicaLink",
    "copy_data",
    "resp_size",
]

MODELLED_VERSION = "7.0.15"
"""The Redis version whose INFO layout and error texts this model follows."""

REPLID_NONE = "0" * 40
READONLY = "READONLY You can't write against a read only replica."
WRITE_COMMANDS = frozenset({b"SET", b"INCR", b"DEL"})
TRANSACTION_COMMANDS = frozenset({b"MULTI", b"EXEC", b"DISCARD"})
BACKLOG_ENTRIES_MAX = 10_000


@dataclass(frozen=True, slots=True)
class RedisError:
    """An error reply; ``message`` is Redis's text without the leading ``-``."""

    message: str


@dataclass(frozen=True, slots=True)
class RedisLinkError:
    """No reply: the connection was refused or reset (``kind``), e.g. a crashed server."""

    kind: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PubSubMessage:
    """A pub/sub message for the subscribed client ``client``, from server ``server``."""

    server: str
    client: str
    channel: bytes
    message: bytes


@dataclass(slots=True)
class ReplicaLink:
    """A master's view of one connected replica (an INFO ``slaveN:`` line)."""

    host: str
    port: int
    ack_offset: int = 0
    last_ack_ms: int = 0


def _b(arg: RedisArg) -> bytes:
    if isinstance(arg, bytes):
        return arg
    return str(arg).encode()


def resp_size(args: Sequence[bytes]) -> int:
    """Bytes of ``args`` as a RESP array of bulk strings (what the offset counts)."""
    size = len(f"*{len(args)}\r\n")
    for arg in args:
        size += len(f"${len(arg)}\r\n") + len(arg) + 2
    return size


def parse_int(arg: bytes) -> int | None:
    try:
        return int(arg)
    except ValueError:
        return None


@dataclass(slots=True)
class StoredValue:
    data: bytes
    expires_at_ms: int | None = None


@dataclass(slots=True)
class RedisModel:
    """One modelled server at ``host:port``. ``name`` is ``host:port``."""

    host: str
    port: int
    run_id: str
    replid: str
    role: str = "master"
    master_host: str | None = None
    master_port: int | None = None
    master_link_up: bool = False
    master_last_io_ms: int = 0
    master_link_down_since_ms: int = 0
    offset: int = 0
    replid2: str = REPLID_NONE
    second_repl_offset: int = -1
    replica_priority: int = 100
    repl_timeout_ms: int = 60_000
    replicas: dict[str, ReplicaLink] = field(default_factory=dict)
    data: dict[bytes, StoredValue] = field(default_factory=dict)
    subscribers: dict[bytes, dict[str, None]] = field(default_factory=dict)
    backlog: list[tuple[int, tuple[bytes, ...]]] = field(default_factory=list)
    outbox: list[PubSubMessage] = field(default_factory=list)
    alive: bool = True
    paused: bool = False
    transactions: dict[str, list[list[bytes]]] = field(default_factory=dict)

    @classmethod
    def create(cls, host: str, port: int, rng: random.Random) -> RedisModel:
        """A fresh master with ids drawn from ``rng``."""
        return cls(host=host, port=port, run_id=hex40(rng), replid=hex40(rng))

    @property
    def name(self) -> str:
        """``host:port``, the name commands are addressed to."""
        return f"{self.host}:{self.port}"

    # -- process faults --------------------------------------------------------------
    def crash(self) -> None:
        """The process dies: connections, subscriptions and replica links are gone."""
        self.alive = False
        self.paused = False
        self.subscribers.clear()
        self.transactions.clear()
        self.outbox.clear()
        self.replicas.clear()
        self.master_link_up = False

    def restart(self, rng: random.Random, now_ms: int) -> None:
        """Start again with a new run id, keeping role, master and data."""
        self.alive = True
        self.run_id = hex40(rng)
        if self.role == "slave":
            self.master_link_up = False
            self.master_link_down_since_ms = now_ms

    # -- commands ------------------------------------------------------------------
    def execute(
        self,
        args: Sequence[RedisArg],
        *,
        client: str,
        now_ms: int,
        rng: random.Random | None = None,
    ) -> object:
        """Run one command from ``client``; pub/sub deliveries collect in ``outbox``."""
        if not self.alive:
            return RedisLinkError("refused", f"connection refused by {self.name}")
        if not args:
            return RedisError("ERR empty command")
        argv = [_b(arg) for arg in args]
        cmd = argv[0].upper()
        queued = self.transactions.get(client)
        if queued is not None and cmd not in (b"EXEC", b"DISCARD", b"MULTI"):
            if cmd not in HANDLERS and cmd not in TRANSACTION_COMMANDS:
                return RedisError(f"ERR unknown command '{argv[0].decode(errors='replace')}'")
            queued.append(argv)
            return "QUEUED"
        if cmd in TRANSACTION_COMMANDS:
            return self._transaction(cmd, argv, client, now_ms, rng)
        return self._run(argv, client, now_ms, rng)

    def _transaction(
        self, cmd: bytes, argv: list[bytes], client: str, now_ms: int, rng: random.Random | None
    ) -> object:
        if cmd == b"MULTI":
            if client in self.transactions:
                return RedisError("ERR MULTI calls can not be nested")
            self.transactions[client] = []
            return "OK"
        queued = self.transactions.pop(client, None)
        if queued is None:
            return RedisError(f"ERR {cmd.decode()} without MULTI")
        if cmd == b"DISCARD":
            return "OK"
        return [self._run(each, client, now_ms, rng) for each in queued]

    def _run(
        self, argv: list[bytes], client: str, now_ms: int, rng: random.Random | None
    ) -> object:
        cmd = argv[0].upper()
        handler = HANDLERS.get(cmd)
        if handler is None:
            shown = argv[0].decode(errors="replace")
            return RedisError(
                f"ERR unknown command '{shown}', with args beginning with: "
                + "".join(f"'{a.decode(errors='replace')}' " for a in argv[1:])
            )
        low, high = ARITY[cmd]
        if not low <= len(argv) <= high:
            return RedisError(f"ERR wrong number of arguments for '{cmd.decode().lower()}' command")
        if cmd in WRITE_COMMANDS and self.role == "slave":
            return RedisError(READONLY)
        return handler(self, argv, client, now_ms, rng)

    def _propagate(self, argv: Sequence[bytes]) -> None:
        entry = tuple(argv)
        self.offset += resp_size(entry)
        self._log(self.offset, entry)

    def _log(self, end_offset: int, argv: tuple[bytes, ...]) -> None:
        self.backlog.append((end_offset, argv))
        if len(self.backlog) > BACKLOG_ENTRIES_MAX:
            del self.backlog[: len(self.backlog) - BACKLOG_ENTRIES_MAX]

    def backlog_first_offset(self) -> int:
        """The offset of the first byte the backlog holds (0 if it is empty)."""
        if not self.backlog:
            return 0
        end, argv = self.backlog[0]
        return end - resp_size(argv) + 1

    def _live(self, key: bytes, now_ms: int) -> StoredValue | None:
        value = self.data.get(key)
        if value is None:
            return None
        if value.expires_at_ms is not None and value.expires_at_ms <= now_ms:
            if self.role == "master":  # masters expire and propagate a DEL
                del self.data[key]
                self._propagate((b"DEL", key))
            return None
        return value

    def apply_replicated(self, argv: tuple[bytes, ...], end_offset: int) -> None:
        """Apply one command from the master's stream (a replica, or a chained one)."""
        cmd = argv[0].upper()
        if cmd == b"SET":
            expires = None
            if len(argv) >= 5 and argv[3].upper() == b"PXAT":
                expires = int(argv[4])
            self.data[argv[1]] = StoredValue(argv[2], expires)
        elif cmd == b"DEL":
            for key in argv[1:]:
                self.data.pop(key, None)
        elif cmd == b"PUBLISH":
            self._deliver(argv[1], argv[2])
        self.offset = end_offset
        self._log(end_offset, argv)

    def _deliver(self, channel: bytes, message: bytes) -> int:
        clients = self.subscribers.get(channel, {})
        for client in clients:
            self.outbox.append(PubSubMessage(self.name, client, channel, message))
        return len(clients)

    def take_outbox(self) -> list[PubSubMessage]:
        """Pub/sub deliveries since the last call, in order."""
        out, self.outbox = self.outbox, []
        return out

    # -- INFO ----------------------------------------------------------------------
    def info(self, section: str, now_ms: int) -> bytes:
        """The ``INFO`` text for ``section`` (``replication``, ``server`` or all)."""
        parts: list[str] = []
        if section in ("", "all", "default", "everything", "server"):
            parts.append(
                "# Server\r\n"
                f"redis_version:{MODELLED_VERSION}\r\n"
                "redis_mode:standalone\r\n"
                f"run_id:{self.run_id}\r\n"
                f"tcp_port:{self.port}\r\n"
            )
        if section in ("", "all", "default", "everything", "replication"):
            parts.append(self.info_replication(now_ms))
        return "\r\n".join(parts).encode()

    def info_replication(self, now_ms: int) -> str:
        """The ``# Replication`` section as Redis 7.0 lays it out."""
        lines = ["# Replication", f"role:{self.role}"]
        if self.role == "slave":
            lines += [
                f"master_host:{self.master_host}",
                f"master_port:{self.master_port}",
                f"master_link_status:{'up' if self.master_link_up else 'down'}",
            ]
            if self.master_link_up:
                lines.append(
                    f"master_last_io_seconds_ago:{(now_ms - self.master_last_io_ms) // 1000}"
                )
            else:
                lines.append("master_last_io_seconds_ago:-1")
            lines += [
                "master_sync_in_progress:0",
                f"slave_read_repl_offset:{self.offset}",
                f"slave_repl_offset:{self.offset}",
            ]
            if not self.master_link_up:
                since = (now_ms - self.master_link_down_since_ms) // 1000
                lines.append(f"master_link_down_since_seconds:{since}")
            lines += [
                f"slave_priority:{self.replica_priority}",
                "slave_read_only:1",
                "replica_announced:1",
            ]
        lines.append(f"connected_slaves:{len(self.replicas)}")
        for i, link in enumerate(self.replicas.values()):
            lag = (now_ms - link.last_ack_ms) // 1000
            lines.append(
                f"slave{i}:ip={link.host},port={link.port},state=online,"
                f"offset={link.ack_offset},lag={lag}"
            )
        first = self.backlog_first_offset()
        lines += [
            "master_failover_state:no-failover",
            f"master_replid:{self.replid}",
            f"master_replid2:{self.replid2}",
            f"master_repl_offset:{self.offset}",
            f"second_repl_offset:{self.second_repl_offset}",
            "repl_backlog_active:1",
            "repl_backlog_size:1048576",
            f"repl_backlog_first_byte_offset:{first}",
            f"repl_backlog_histlen:{self.offset - first + 1 if self.backlog else 0}",
        ]
        return "\r\n".join(lines) + "\r\n"


def copy_data(data: dict[bytes, StoredValue]) -> dict[bytes, StoredValue]:
    """A deep copy of a dataset (what a full sync transfers)."""
    return {key: StoredValue(value.data, value.expires_at_ms) for key, value in data.items()}


def hex40(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


# The command table needs RedisModel; import it last (the module imports this one).
from labkit.sim.redis_commands import ARITY, HANDLERS  # noqa: E402
