"""The data plane of a node: hash slots, key extraction, routing, and the backing server.

* :func:`key_hash_slot` is Redis's ``keyHashSlot``: CRC16 (XMODEM) of the key, or of the
  first non-empty ``{...}`` hash tag, modulo 16384.
* :class:`CommandSpecs` knows where the keys of every command are. It is built from the
  backing server's own ``COMMAND`` reply (first/last/step key positions and flags), so it
  matches the server's version exactly; commands flagged ``movablekeys`` ask the server
  with ``COMMAND GETKEYS``. Without a backing server a small fallback table is used.
* :func:`route` is ``getNodeByQuery`` for one slot: ``None`` (serve here) or the error
  text a Redis cluster node answers (``MOVED``, ``ASK``, ``TRYAGAIN``, ``CLUSTERDOWN``).
  For a slot being migrated or imported it needs :class:`OpenSlot`: which keys of the
  request the backing server still holds.
* :class:`BackendConn` is a connection to the backing redis-server that returns every
  reply as the exact bytes the server sent (and its parsed frame), and can hand its
  socket over for raw piping (replication streams, subscribers, MONITOR).
* :class:`BackingServer` is the redis-server a node starts and owns (``--data-server
  auto``) or one given to it (``HOST:PORT``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gossip_cluster.core.table import ClusterNode
from gossip_cluster.errors import GossipClusterError
from labkit.realredis.errors import RealRedisError
from labkit.realredis.ports import free_port
from labkit.realredis.process import RedisProcess
from labkit.resp import NEED_DATA, ReplyParser, RespProtocolError, encode_command
from labkit.resp.frames import Array, BulkString, Frame, Integer, SimpleError, SimpleString

__all__ = [
    "CROSSSLOT",
    "DOWN",
    "TRYAGAIN",
    "UNBOUND",
    "BackendConn",
    "BackendError",
    "BackingServer",
    "CommandSpec",
    "CommandSpecs",
    "OpenSlot",
    "ask_text",
    "crc16",
    "key_hash_slot",
    "moved_text",
    "parse_replication_info",
    "route",
    "slot_of_keys",
]

CLUSTER_SLOTS = 16384
CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot"
UNBOUND = "CLUSTERDOWN Hash slot not served"
DOWN = "CLUSTERDOWN The cluster is down"
TRYAGAIN = "TRYAGAIN Multiple keys request during rehashing of slot"


class BackendError(GossipClusterError):
    """The backing redis-server cannot be started, reached, or sent something unreadable."""


# -- hash slots --------------------------------------------------------------------------------
def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC16 = _crc16_table()


def crc16(data: bytes) -> int:
    """CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[((crc >> 8) ^ byte) & 0xFF]
    return crc


def key_hash_slot(key: bytes) -> int:
    """keyHashSlot: the slot of ``key``, honouring the first non-empty ``{tag}``."""
    start = key.find(b"{")
    if start != -1:
        end = key.find(b"}", start + 1)
        if end != -1 and end != start + 1:
            key = key[start + 1 : end]
    return crc16(key) & (CLUSTER_SLOTS - 1)


# -- where the keys are ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command's legacy key range and flags, as ``COMMAND`` reports them."""

    name: str
    arity: int
    flags: frozenset[str]
    first: int
    last: int
    step: int

    @property
    def movable(self) -> bool:
        return "movablekeys" in self.flags

    @property
    def write(self) -> bool:
        return "write" in self.flags

    def keys(self, args: Sequence[bytes]) -> list[bytes]:
        """The keys in ``args`` (``args[0]`` is the command name) by the key range."""
        if self.first <= 0 or self.step <= 0:
            return []
        last = self.last if self.last >= 0 else len(args) + self.last
        last = min(last, len(args) - 1)
        return [args[i] for i in range(self.first, last + 1, self.step)]


# Used only with --data-server none (nothing to ask COMMAND): common data commands.
_FALLBACK: tuple[tuple[str, int, int, int, bool], ...] = (
    ("get", 1, 1, 1, False),
    ("set", 1, 1, 1, True),
    ("del", 1, -1, 1, True),
    ("exists", 1, -1, 1, False),
    ("incr", 1, 1, 1, True),
    ("mget", 1, -1, 1, False),
    ("mset", 1, -1, 2, True),
    ("expire", 1, 1, 1, True),
    ("ttl", 1, 1, 1, False),
    ("hset", 1, 1, 1, True),
    ("hget", 1, 1, 1, False),
    ("lpush", 1, 1, 1, True),
    ("rpush", 1, 1, 1, True),
    ("lrange", 1, 1, 1, False),
    ("sadd", 1, 1, 1, True),
    ("smembers", 1, 1, 1, False),
    ("zadd", 1, 1, 1, True),
    ("zrange", 1, 1, 1, False),
)


def _text(frame: Frame) -> str:
    if isinstance(frame, BulkString | SimpleString):
        return frame.value.decode("utf-8", "replace").lower()
    return ""


def _int(frame: Frame) -> int:
    return frame.value if isinstance(frame, Integer) else 0


class CommandSpecs:
    """Key positions of every command (and subcommand, ``config|get``) by name."""

    def __init__(self, specs: Iterable[CommandSpec] = ()) -> None:
        self._specs = {spec.name: spec for spec in specs}

    def __len__(self) -> int:
        return len(self._specs)

    @classmethod
    def fallback(cls) -> CommandSpecs:
        return cls(
            CommandSpec(name, 0, frozenset({"write"} if write else {"readonly"}), f, last, step)
            for name, f, last, step, write in _FALLBACK
        )

    @classmethod
    def from_command_reply(cls, reply: Frame) -> CommandSpecs:
        """From the reply to ``COMMAND`` (RESP2 or RESP3)."""
        specs: list[CommandSpec] = []

        def add(entry: Frame) -> None:
            if not isinstance(entry, Array) or len(entry.items) < 6:
                return
            name, arity, flags, first, last, step = entry.items[:6]
            flag_items = flags.items if isinstance(flags, Array) else ()
            specs.append(
                CommandSpec(
                    _text(name),
                    _int(arity),
                    frozenset(_text(f) for f in flag_items),
                    _int(first),
                    _int(last),
                    _int(step),
                )
            )
            if len(entry.items) >= 10 and isinstance(entry.items[9], Array):
                for sub in entry.items[9].items:
                    add(sub)

        if isinstance(reply, Array):
            for entry in reply.items:
                add(entry)
        if not specs:
            raise BackendError(f"COMMAND answered no command specs: {reply!r}"[:200])
        return cls(specs)

    def lookup(self, args: Sequence[bytes]) -> CommandSpec | None:
        """The spec of the (sub)command ``args`` is, or None for an unknown command."""
        name = args[0].decode("utf-8", "replace").lower()
        if len(args) > 1:
            sub = self._specs.get(f"{name}|{args[1].decode('utf-8', 'replace').lower()}")
            if sub is not None:
                return sub
        return self._specs.get(name)


def slot_of_keys(
    keys: Iterable[bytes], owner: Callable[[int], ClusterNode | None]
) -> tuple[int, ClusterNode | None] | str:
    """(slot, owner) of ``keys`` ((-1, None) for none), or Redis's error text: an unbound
    first slot is reported before keys in other slots (CROSSSLOT), as getNodeByQuery does."""
    slot = -1
    node: ClusterNode | None = None
    for key in keys:
        this = key_hash_slot(key)
        if slot == -1:
            slot = this
            node = owner(slot)
            if node is None:
                return UNBOUND
        elif this != slot:
            return CROSSSLOT
    return slot, node


def moved_text(slot: int, node: ClusterNode) -> str:
    """``MOVED <slot> <ip>:<port>`` (Redis's preferred endpoint is the IP; "?" if unknown)."""
    return f"MOVED {slot} {node.ip or '?'}:{node.port}"


def ask_text(slot: int, node: ClusterNode) -> str:
    """``ASK <slot> <ip>:<port>``: ask ``node`` this once (it is importing the slot)."""
    return f"ASK {slot} {node.ip or '?'}:{node.port}"


@dataclass(frozen=True, slots=True)
class OpenSlot:
    """A request's slot while it migrates or imports: where to, where from, and how many
    of the request's keys the backing server holds (``existing``) or lacks (``missing``)."""

    migrating_to: ClusterNode | None
    importing_from: ClusterNode | None
    missing: int
    existing: int
    multiple_keys: bool


def route(
    slot: int,
    owner: ClusterNode | None,
    myself: ClusterNode,
    *,
    cluster_ok: bool,
    write: bool,
    readonly_client: bool,
    open_slot: OpenSlot | None = None,
    asking: bool = False,
    migrate: bool = False,
    pubsubshard: bool = False,
) -> str | None:
    """getNodeByQuery for a request whose keys all hash to ``slot``: None serves it here.

    ``asking``: the client sent ASKING (or the command is flagged ``asking``, as
    RESTORE-ASKING is); ``migrate``: the command is MIGRATE, served by the node that
    holds an open slot whatever its keys; ``pubsubshard``: SSUBSCRIBE, SUNSUBSCRIBE or
    SPUBLISH, which a replica of the slot's master serves like a READONLY client's read."""
    if owner is None:
        return UNBOUND
    if not cluster_ok:
        return DOWN
    if open_slot is not None:
        migrating = owner is myself and open_slot.migrating_to is not None
        importing = not migrating and open_slot.importing_from is not None
        if migrate and (migrating or importing):
            return None
        if migrating and open_slot.missing:
            if open_slot.existing or open_slot.migrating_to is None:
                return TRYAGAIN
            return ask_text(slot, open_slot.migrating_to)
        if importing and asking:
            return TRYAGAIN if open_slot.multiple_keys and open_slot.missing else None
    if owner is myself:
        return None
    local_ok = readonly_client or pubsubshard
    if local_ok and not write and myself.is_slave and myself.slaveof == owner.name:
        return None
    return moved_text(slot, owner)


def parse_replication_info(text: str, now_ms: int) -> tuple[int, bool, int]:
    """(offset, master link up, since ms) from ``INFO replication``, for ReplicationInfo."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()

    def number(key: str, default: int = 0) -> int:
        try:
            return int(fields.get(key, default))
        except ValueError:
            return default

    if fields.get("role") != "slave":
        return number("master_repl_offset"), True, now_ms
    offset = number("slave_repl_offset", number("master_repl_offset"))
    if fields.get("master_link_status") == "up":
        return offset, True, now_ms - 1000 * max(0, number("master_last_io_seconds_ago"))
    down = number("master_link_down_since_seconds", -1)
    return offset, False, (now_ms - 1000 * down if down >= 0 else 0)


# -- a connection to the backing server ------------------------------------------------------------
class BackendConn:
    """One connection to the backing redis-server; replies come back byte for byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._parser = ReplyParser()
        self._raw = bytearray()
        self._lock = asyncio.Lock()
        self.closed = False

    @classmethod
    async def open(cls, host: str, port: int, *, timeout_s: float = 2.0) -> BackendConn:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=1 << 20), timeout_s
            )
        except (OSError, TimeoutError) as exc:
            raise BackendError(
                f"cannot connect to the data server {host}:{port}: {exc or 'timeout'}"
            ) from None
        return cls(reader, writer)

    def write(self, data: bytes) -> None:
        if self.closed:
            raise BackendError("the connection to the data server is closed")
        self.writer.write(data)

    async def read_reply(self) -> tuple[bytes, Frame]:
        """The next reply: its exact bytes and its frame."""
        while True:
            try:
                frame = self._parser.next_frame()
            except RespProtocolError as exc:
                self.close()
                raise BackendError(f"the data server sent a bad reply: {exc}") from None
            if frame is not NEED_DATA:
                consumed = len(self._raw) - self._parser.buffered
                raw = bytes(self._raw[:consumed])
                del self._raw[:consumed]
                return raw, frame
            try:
                data = await self.reader.read(1 << 16)
            except OSError as exc:
                data = b""
                reason = str(exc)
            else:
                reason = "connection closed"
            if not data:
                self.close()
                raise BackendError(f"lost the data server: {reason}")
            self._raw += data
            self._parser.feed(data)

    async def call(self, *args: bytes | str | int, timeout_s: float = 5.0) -> Frame:
        """Send one command and wait for its reply (serialised with other calls)."""
        async with self._lock:
            self.write(encode_command(*args))
            try:
                _, frame = await asyncio.wait_for(self.read_reply(), timeout_s)
            except TimeoutError:
                self.close()
                raise BackendError(f"the data server did not answer {args[0]!r}") from None
            return frame

    def take_leftover(self) -> bytes:
        """Bytes received and not returned as a reply (before piping raw)."""
        data = bytes(self._raw)
        self._raw.clear()
        return data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.writer.close()


async def call_text(conn: BackendConn, *args: bytes | str | int) -> str:
    """A command whose reply is a string (INFO); BackendError for an error reply."""
    frame = await conn.call(*args)
    if isinstance(frame, SimpleError):
        raise BackendError(f"{args[0]!r} failed: {frame.text}")
    if isinstance(frame, BulkString | SimpleString):
        return frame.value.decode("utf-8", "replace")
    return getattr(frame, "text", "") or ""


# -- the backing server ----------------------------------------------------------------------------
class BackingServer:
    """The node's redis-server: started and owned (``auto``) or given (``HOST:PORT``)."""

    def __init__(self, host: str, port: int, *, owned_dir: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.owned_dir = owned_dir
        self._proc: RedisProcess | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def external(cls, spec: str) -> BackingServer:
        host, _, port = spec.rpartition(":")
        return cls(host, int(port))

    @classmethod
    def auto(cls, node_dir: Path, host: str = "127.0.0.1") -> BackingServer:
        return cls(host, free_port(host), owned_dir=node_dir / "redis")

    def start(self) -> None:
        """Start the owned server (persistence off); blocks until it answers PING.

        Call from the main thread: the server gets PR_SET_PDEATHSIG and dies with the node.
        """
        if self.owned_dir is None:
            return
        self.owned_dir.mkdir(parents=True, exist_ok=True)
        (self.owned_dir / "dump.rdb").unlink(missing_ok=True)
        self._proc = RedisProcess.owned(
            "gossip-cluster",
            "backing",
            self.owned_dir,
            self.host,
            self.port,
            # A replica of this server gets its full sync at once (Redis waits 5 s).
            [("repl-diskless-sync-delay", 0)],
        )
        try:
            self._proc.start(ready_timeout_s=30.0)
        except RealRedisError as exc:
            raise BackendError(f"the backing redis-server did not start: {exc}") from None

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()

    @property
    def running(self) -> bool:
        return self._proc is None or self._proc.running
