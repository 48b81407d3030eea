"""The client port of a node: Redis Cluster's front on top of the backing redis-server.

Each client gets its own connection to the backing server (so MULTI, WATCH, blocking
commands and client state behave as on one Redis), opened at its first data command.

* Requests are forwarded as the exact bytes the client sent, and replies come back as the
  exact bytes the server sent.
* Commands with keys are routed first (:func:`gossip_cluster.dataplane.route`):
  ``-MOVED``, ``-ASK``, ``-TRYAGAIN``, ``-CLUSTERDOWN``, ``-CROSSSLOT`` as Redis answers
  (for a migrating or importing slot, the backing server is asked which of the keys it
  holds). Inside MULTI a redirected command flags the transaction and EXEC answers
  ``-EXECABORT``, as Redis does. ASKING lets the next command into an importing slot.
* MIGRATE to another gossip_cluster node goes straight to its backing server
  (:mod:`gossip_cluster.migrate`).
* Answered here: CLUSTER (see :class:`gossip_cluster.app.ClusterCommands`), READONLY,
  READWRITE, ASKING, SELECT (only db 0), REPLICAOF/SLAVEOF (refused in cluster mode),
  SHUTDOWN (stops the node), QUIT, and INFO (the server's, with ``cluster_enabled:1``).
* PSYNC, SYNC, MONITOR and the subscribe commands turn the connection into a raw pipe to
  the backing server: a real replica of this node replicates from the backing server,
  and subscribers get their messages. A client's PUBLISH is also sent over the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from gossip_cluster.dataplane import (
    CLUSTER_SLOTS,
    CROSSSLOT,
    BackendConn,
    BackendError,
    BackingServer,
    CommandSpec,
    CommandSpecs,
    OpenSlot,
    route,
    slot_of_keys,
)
from gossip_cluster.driver import ClusterDriver
from gossip_cluster.migrate import retarget_migrate
from gossip_cluster.slotkeys import keys_in_slot as slot_keys
from labkit.resp import NEED_DATA, RequestParser, RespProtocolError, encode, encode_command
from labkit.resp.frames import (
    OK,
    PONG,
    Array,
    BulkString,
    Frame,
    Integer,
    SimpleError,
    VerbatimString,
    bulk,
    error,
    verbatim,
)

__all__ = ["ClientPort"]

log = logging.getLogger("gossip_cluster.server")

_PIPE = {b"psync", b"sync", b"monitor", b"subscribe", b"psubscribe", b"ssubscribe"}
_EXECABORT = "EXECABORT Transaction discarded because of previous errors."
_PUBSUBSHARD = frozenset({"ssubscribe", "sunsubscribe", "spublish"})
"""getNodeByQuery's is_pubsubshard: served by a replica of the slot's master too."""


@dataclass(slots=True)
class _Tx:
    slot: int = -1
    dirty: bool = False


class ClientPort:
    """The RESP listener on the client port."""

    def __init__(
        self,
        driver: ClusterDriver,
        backing: BackingServer | None,
        *,
        host: str,
        port: int,
        cluster_command: Callable[[list[bytes], int, int], Frame],
        on_shutdown: Callable[[], None],
    ) -> None:
        self.driver = driver
        self.cluster_command = cluster_command
        self.backing = backing
        self.host = host
        self.port = port
        self.on_shutdown = on_shutdown
        self.specs = CommandSpecs.fallback()
        self._keys_conn: BackendConn | None = None
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()

    async def start(self) -> None:
        if self.backing is not None:
            conn = await self._keys()
            self.specs = CommandSpecs.from_command_reply(await conn.call("COMMAND"))
        self._server = await asyncio.start_server(self._accept, self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            session.close()
        if self._keys_conn is not None:
            self._keys_conn.close()

    async def _keys(self) -> BackendConn:
        assert self.backing is not None
        if self._keys_conn is None or self._keys_conn.closed:
            self._keys_conn = await BackendConn.open(self.backing.host, self.backing.port)
        return self._keys_conn

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self, reader, writer)
        self._sessions.add(session)
        try:
            await session.run()
        except (OSError, asyncio.IncompleteReadError, BackendError):
            pass
        finally:
            session.close()
            self._sessions.discard(session)

    # -- helpers the sessions share --------------------------------------------------------------
    async def keys_of(self, spec: CommandSpec, args: list[bytes]) -> list[bytes]:
        """The keys of a request (``COMMAND GETKEYS`` for movable-keys commands)."""
        if not spec.movable:
            return spec.keys(args)
        if self.backing is None:
            return []
        reply = await (await self._keys()).call("COMMAND", "GETKEYS", *args)
        if isinstance(reply, Array):
            return [k.value for k in reply.items if isinstance(k, BulkString)]
        return []  # no keys, or bad arguments: the server will say so itself

    async def presence(self, keys: list[bytes]) -> tuple[int, int]:
        """(missing, existing): how many of ``keys`` the backing server lacks and holds."""
        if self.backing is None:
            return len(keys), 0
        conn = await self._keys()
        existing = 0
        for key in keys:
            reply = await conn.call("EXISTS", key)
            existing += 1 if isinstance(reply, Integer) and reply.value else 0
        return len(keys) - existing, existing

    async def db_size(self) -> int:
        """DBSIZE of the backing server (0 without one)."""
        if self.backing is None:
            return 0
        reply = await (await self._keys()).call("DBSIZE")
        if not isinstance(reply, Integer):
            raise BackendError(f"DBSIZE answered {reply!r}"[:200])
        return reply.value

    async def keys_in_slot(self, slot: int, limit: int | None) -> list[bytes]:
        """Keys of the backing server in ``slot`` (a walk of every key: O(keys))."""
        if self.backing is None:
            return []
        return await slot_keys(await self._keys(), slot, limit)


class _Session:
    """One client connection."""

    def __init__(
        self, port: ClientPort, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.port = port
        self.driver = port.driver
        self.reader = reader
        self.writer = writer
        self.parser = RequestParser()
        self._raw = bytearray()
        self.protocol = 2
        self.readonly = False
        self.asking = False
        self.tx: _Tx | None = None
        self.backend: BackendConn | None = None
        self.closing = False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
        if self.backend is not None:
            self.backend.close()

    def reply(self, frame: Frame) -> None:
        self.writer.write(encode(frame, self.protocol))

    def fail(self, text: str) -> None:
        self.reply(error(text))

    async def run(self) -> None:
        while not self.closing:
            data = await self.reader.read(1 << 16)
            if not data:
                return
            self._raw += data
            self.parser.feed(data)
            while not self.closing:
                try:
                    request = self.parser.next_frame()
                except RespProtocolError as exc:
                    self.fail(f"ERR {exc.message}")
                    self.closing = True
                    break
                if request is NEED_DATA:
                    break
                used = len(self._raw) - self.parser.buffered
                raw = bytes(self._raw[:used])
                del self._raw[:used]
                if await self.handle(list(request.args), raw):
                    await self.pipe()
                    return
            await self.writer.drain()
        await self.writer.drain()

    async def _backend(self) -> BackendConn:
        backing = self.port.backing
        if backing is None:
            raise BackendError("this node has no data server (--data-server none)")
        if self.backend is None or self.backend.closed:
            self.backend = await BackendConn.open(backing.host, backing.port)
        return self.backend

    async def forward(self, raw: bytes) -> Frame | None:
        """Send ``raw`` to the backing server and pass its reply on unchanged."""
        try:
            conn = await self._backend()
            conn.write(raw)
            reply, frame = await conn.read_reply()
        except BackendError as exc:
            self.fail(f"ERR data server unavailable: {exc}")
            return None
        self.writer.write(reply)
        return frame

    async def handle(self, args: list[bytes], raw: bytes) -> bool:
        """Run one request; True when the connection becomes a raw pipe."""
        try:
            return await self._handle(args, raw)
        finally:
            # ASKING is good for one command (or for a whole MULTI, until EXEC).
            if self.tx is None and args[0].lower() != b"asking":
                self.asking = False

    async def _handle(self, args: list[bytes], raw: bytes) -> bool:
        name = args[0].lower()
        local = _LOCAL.get(name)
        if local is not None:
            await local(self, args, raw)
            return False
        spec = self.port.specs.lookup(args)
        if name in (b"exec", b"discard") and self.tx is not None:
            tx, self.tx = self.tx, None
            if name == b"exec" and tx.dirty:
                await self._discard_quietly()
                self.fail(_EXECABORT)
                return False
            await self.forward(raw)
            return False
        if spec is not None and not await self._routed(spec, args):
            return False
        if self.port.backing is None:
            self.fail("ERR this node has no data server (--data-server none)")
            return False
        if name in _PIPE:
            (await self._backend()).write(raw)
            return True
        if name == b"migrate":
            retargeted = await retarget_migrate(args)
            if retargeted != args:
                raw = encode_command(*retargeted)
        frame = await self.forward(raw)
        if name == b"multi" and self.tx is None and not isinstance(frame, SimpleError):
            self.tx = _Tx()
        elif (
            name in (b"publish", b"spublish")
            and len(args) == 3
            and frame is not None
            and not isinstance(frame, SimpleError)
        ):
            self.driver.propagate_publish(args[1], args[2], shard=name == b"spublish")
        return False

    async def _routed(self, spec: CommandSpec, args: list[bytes]) -> bool:
        """Whether the request may run here; otherwise the redirection is answered."""
        try:
            keys = await self.port.keys_of(spec, args)
        except BackendError as exc:
            self.fail(f"ERR data server unavailable: {exc}")
            return False
        if not keys:
            return True
        driver = self.driver
        found = slot_of_keys(keys, driver.owner)
        if isinstance(found, str):
            return self._redirect(found)
        slot, owner = found
        tx = self.tx
        if tx is not None:
            if tx.slot not in (-1, slot):
                return self._redirect(CROSSSLOT)
            tx.slot = slot
        open_slot = None
        migrating_to, importing_from = driver.open_slot(slot)
        if (owner is driver.myself and migrating_to is not None) or importing_from is not None:
            try:
                missing, existing = await self.port.presence(keys)
            except BackendError as exc:
                self.fail(f"ERR data server unavailable: {exc}")
                return False
            multiple = any(key != keys[0] for key in keys)
            open_slot = OpenSlot(migrating_to, importing_from, missing, existing, multiple)
        text = route(
            slot,
            owner,
            driver.myself,
            cluster_ok=driver.cluster_ok,
            write=spec.write,
            readonly_client=self.readonly,
            open_slot=open_slot,
            asking=self.asking or "asking" in spec.flags,
            migrate=spec.name == "migrate",
            pubsubshard=spec.name in _PUBSUBSHARD,
        )
        return True if text is None else self._redirect(text)

    def _redirect(self, text: str) -> bool:
        if self.tx is not None:
            self.tx.dirty = True
        self.fail(text)
        return False

    async def _discard_quietly(self) -> None:
        if self.backend is not None and not self.backend.closed:
            with contextlib.suppress(BackendError):
                self.backend.write(b"*1\r\n$7\r\nDISCARD\r\n")
                await self.backend.read_reply()

    async def pipe(self) -> None:
        """Splice the client and its backend connection (replication, subscribers)."""
        backend = await self._backend()
        await self.writer.drain()
        leftover = bytes(self._raw)
        self._raw.clear()
        if leftover:
            backend.write(leftover)
        early = backend.take_leftover()
        if early:
            self.writer.write(early)

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(1 << 16):
                    dst.write(data)
                    await dst.drain()

        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(copy(self.reader, backend.writer)),
            loop.create_task(copy(backend.reader, self.writer)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- commands answered here ------------------------------------------------------------------
    async def _cluster(self, args: list[bytes], raw: bytes) -> None:
        if len(args) < 2:
            self.fail("ERR wrong number of arguments for 'cluster' command")
            return
        sub = args[1].lower()
        if sub == b"countkeysinslot" and len(args) == 3:
            slot = _slot_arg(args[2])
            if isinstance(slot, Frame):
                self.reply(slot)
                return
            self.reply(Integer(len(await self.port.keys_in_slot(slot, None))))
            return
        if sub == b"getkeysinslot" and len(args) == 4:
            slot_arg, count = _int_arg(args[2]), _int_arg(args[3])
            if slot_arg is None or count is None:
                self.reply(_NOT_INT)
                return
            slot = slot_arg
            if count < 0 or not 0 <= slot < CLUSTER_SLOTS:
                self.fail("ERR Invalid slot or number of keys")
                return
            keys = await self.port.keys_in_slot(slot, count) if count else []
            self.reply(Array(tuple(bulk(k) for k in keys)))
            return
        keys_in_slot = db_keys = 0
        try:
            if sub == b"setslot" and len(args) == 5 and args[3].lower() == b"node":
                slot_arg = _int_arg(args[2])
                if slot_arg is not None and 0 <= slot_arg < CLUSTER_SLOTS:
                    keys_in_slot = len(await self.port.keys_in_slot(slot_arg, 1))
            elif sub in (b"flushslots", b"reset"):
                db_keys = await self.port.db_size()
        except BackendError as exc:
            self.fail(f"ERR data server unavailable: {exc}")
            return
        self.reply(self.port.cluster_command(args[1:], keys_in_slot, db_keys))

    async def _readonly(self, args: list[bytes], raw: bytes) -> None:
        self.readonly = args[0].lower() == b"readonly"
        self.reply(OK)

    async def _asking(self, args: list[bytes], raw: bytes) -> None:
        if len(args) != 1:
            self.fail("ERR wrong number of arguments for 'asking' command")
            return
        self.asking = True
        self.reply(OK)

    async def _select(self, args: list[bytes], raw: bytes) -> None:
        if len(args) == 2 and args[1] != b"0":
            self.fail("ERR SELECT is not allowed in cluster mode")
            return
        await self._forward_or_fail(raw)

    async def _replicaof(self, args: list[bytes], raw: bytes) -> None:
        self.fail("ERR REPLICAOF not allowed in cluster mode.")

    async def _shutdown(self, args: list[bytes], raw: bytes) -> None:
        self.closing = True
        self.port.on_shutdown()

    async def _quit(self, args: list[bytes], raw: bytes) -> None:
        self.reply(OK)
        self.closing = True

    async def _hello(self, args: list[bytes], raw: bytes) -> None:
        frame = await self._forward_or_fail(raw)
        if frame is not None and not isinstance(frame, SimpleError) and len(args) > 1:
            self.protocol = 3 if args[1] == b"3" else 2

    async def _info(self, args: list[bytes], raw: bytes) -> None:
        if self.port.backing is None:
            self.reply(bulk("# Cluster\r\ncluster_enabled:1\r\n"))
            return
        try:
            conn = await self._backend()
            conn.write(raw)
            reply, frame = await conn.read_reply()
        except BackendError as exc:
            self.fail(f"ERR data server unavailable: {exc}")
            return
        if isinstance(frame, BulkString | VerbatimString):
            text = frame.value.replace(b"cluster_enabled:0", b"cluster_enabled:1")
            is_verbatim = isinstance(frame, VerbatimString)
            self.reply(verbatim(text) if is_verbatim else BulkString(text))
        else:
            self.writer.write(reply)

    async def _ping(self, args: list[bytes], raw: bytes) -> None:
        if self.port.backing is not None:
            await self.forward(raw)
        elif len(args) > 2:
            self.fail("ERR wrong number of arguments for 'ping' command")
        else:
            self.reply(bulk(args[1]) if len(args) == 2 else PONG)

    async def _forward_or_fail(self, raw: bytes) -> Frame | None:
        if self.port.backing is None:
            self.reply(OK)
            return None
        return await self.forward(raw)


_NOT_INT = error("ERR value is not an integer or out of range")


def _int_arg(arg: bytes) -> int | None:
    try:
        return int(arg)
    except ValueError:
        return None


def _slot_arg(arg: bytes) -> int | Frame:
    value = _int_arg(arg)
    if value is None:
        return _NOT_INT
    if not 0 <= value < CLUSTER_SLOTS:
        return error("ERR Invalid slot")
    return value


_LOCAL = {
    b"cluster": _Session._cluster,
    b"readonly": _Session._readonly,
    b"readwrite": _Session._readonly,
    b"asking": _Session._asking,
    b"select": _Session._select,
    b"replicaof": _Session._replicaof,
    b"slaveof": _Session._replicaof,
    b"shutdown": _Session._shutdown,
    b"quit": _Session._quit,
    b"hello": _Session._hello,
    b"info": _Session._info,
    b"ping": _Session._ping,
}
