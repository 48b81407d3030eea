"""The RESP front of a node: clients and peers on one port.

* Data commands are sorted by :mod:`redis_raft.driver.commands`: writes become log
  entries (relative expiries made absolute first), reads go through ReadIndex, and
  non-deterministic or unsupported commands are refused. ``MULTI``/``EXEC`` queue here
  and become one entry (or one read, if every queued command reads).
* A follower proxies a client's request to the leader (``--follower-mode proxy``,
  the default) or answers ``-MOVED 0 <leader>`` (``moved``). A request that arrives
  through another node's proxy is never proxied again: it gets ``-MOVED``.
* No leader: ``-CLUSTERDOWN No Raft leader``; unknown outcome: ``-TIMEOUT the write may
  or may not have been applied``; write guard: ``-NOREPLICAS ...`` (texts of the core).
* ``RAFT.MSG <sender> <payload>`` carries peer messages (:mod:`redis_raft.codec`);
  ``RAFT.INFO`` and ``INFO raft`` show the node; ``RAFT.DEBUG FAILPOINT`` (tests only).
* ``RAFT.NODE ADD/PROMOTE/REMOVE/LIST`` and ``RAFT.TRANSFER-LEADER`` change the
  membership and move leadership (:mod:`redis_raft.driver.membership`).
* ``CONFIG GET/SET`` know ``min-replicas-to-write``, ``min-replicas-max-lag`` and
  ``raft.*`` and refuse every other parameter.

**Pipelined writes.** On the leader, a plain write (outside ``MULTI``) is proposed
at once and the connection goes on to its next request without waiting for the
outcome, so the writes a client pipelines share log batches, fsyncs and round trips.
Their replies are sent in request order as they complete. Any other request first
waits until every earlier reply of its connection was sent, so a read still sees the
connection's earlier writes and replies never change order. At most
:data:`MAX_PIPELINED` writes per connection are in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from labkit.resp.builtins import builtin_commands
from labkit.resp.commands import Command, CommandTable
from labkit.resp.commands import CommandFlag as F
from labkit.resp.connection import ClientConnection
from labkit.resp.frames import (
    OK,
    Array,
    BulkString,
    Frame,
    Map,
    SimpleError,
    SimpleString,
    bulk,
    error,
    to_frame,
)
from labkit.resp.server import RespServer, ServerConfig
from redis_raft.codec import PeerCodecError, decode_message
from redis_raft.core import TIMEOUT, ErrorReply, Read, Redirect, Write
from redis_raft.driver.commands import RewriteError, classify, rewrite
from redis_raft.driver.config import ConfigError, RaftSettings
from redis_raft.driver.membership import node_command, transfer_leader
from redis_raft.driver.node import READ_TIMEOUT_TEXT, RaftNode
from redis_raft.driver.respclient import LinkError, RespClient
from redis_raft.errors import RaftUsageError
from redis_raft.statemachine import encode_commands

__all__ = ["RaftServer"]

_TX_CONTROL = {b"exec", b"discard", b"multi", b"watch", b"unwatch", b"quit", b"reset"}
PROXY_NAME = "raft-proxy-"
_EXECABORT = "EXECABORT Transaction discarded because of previous errors."
MAX_PIPELINED = 1024
"""Writes one connection may have in flight before its next request waits."""


@dataclass(slots=True)
class _Slot:
    """One pipelined write's place in its connection's reply order."""

    done: bool = False
    value: object = None


@dataclass(slots=True)
class _Pipeline:
    """A connection's pipelined writes, oldest first, and who waits for them all."""

    slots: deque[_Slot] = field(default_factory=deque)
    drained: asyncio.Future[None] | None = None


@dataclass(slots=True)
class _Tx:
    commands: list[list[bytes]] = field(default_factory=list)
    dirty: bool = False


class _LeaderProxy:
    """Idle connections to the leader, one request (or transaction) at a time each."""

    def __init__(self, node_id: str, password: str | None) -> None:
        self.name = f"{PROXY_NAME}{node_id}"
        self.password = password
        self.idle: dict[str, list[RespClient]] = {}

    async def forward(
        self, address: str, commands: list[list[bytes]], transaction: bool, timeout_s: float
    ) -> Frame:
        pool = self.idle.setdefault(address, [])
        client = pool.pop() if pool else None
        if client is None or client.closed:
            host, _, port = address.rpartition(":")
            try:
                client = await RespClient.connect(
                    host,
                    int(port),
                    timeout_s=1.0,
                    password=self.password,
                    name=self.name,
                    resp3=True,
                )
            except LinkError as exc:
                return error(f"CLUSTERDOWN cannot reach the Raft leader: {exc}")
        pipeline: list[Sequence[bytes | str | int]] = list(commands)
        if transaction:
            pipeline = [[b"MULTI"], *commands, [b"EXEC"]]
        try:
            replies = await client.call_many(pipeline, timeout_s=timeout_s)
        except LinkError:
            client.close()
            return error(TIMEOUT)
        pool.append(client)
        return replies[-1]

    def close(self) -> None:
        for pool in self.idle.values():
            for client in pool:
                client.close()
        self.idle.clear()


class RaftServer(RespServer):
    """The node's RESP server; see the module docstring."""

    def __init__(self, node: RaftNode, config: ServerConfig) -> None:
        self.node = node
        self.settings = RaftSettings(node)
        super().__init__(config, self._table())
        self.add_info_section("raft", node.info)
        self._tx: dict[int, _Tx] = {}
        self._inflight: dict[int, _Pipeline] = {}
        self._ready: dict[int, ClientConnection] = {}  # connections with replies to send
        self._send_handle: asyncio.Handle | None = None
        self._proxy = _LeaderProxy(node.options.node_id, node.options.requirepass)

    def _table(self) -> CommandTable:
        table = builtin_commands()
        table.add(Command("raft.msg", 3, self._raft_msg, F.FAST, group="raft"))
        table.add(Command("raft.info", 1, self._raft_info, F.NONE, group="raft"))
        table.add(Command("raft.debug", -2, self._raft_debug, F.ADMIN, group="raft"))
        table.add(Command("raft.node", -2, self._raft_node, F.ADMIN, group="raft"))
        for name in ("raft.transfer-leader", "raft.transfer_leader"):
            table.add(Command(name, -1, self._raft_transfer, F.ADMIN, group="raft"))
        table.add(
            Command(
                "config",
                -2,
                subcommands=(
                    Command("get", -3, self._config_get, F.ADMIN),
                    Command("set", -4, self._config_set, F.ADMIN),
                ),
            )
        )
        for name in ("multi", "exec", "discard", "unwatch"):
            table.add(Command(name, 1, self._transaction, F.FAST))
        table.add(Command("watch", -2, self._transaction, F.FAST))
        return table

    async def on_closed(self) -> None:
        self._proxy.close()

    def on_disconnect(self, conn: ClientConnection) -> None:
        self._tx.pop(conn.id, None)
        pipeline = self._inflight.pop(conn.id, None)
        if pipeline is not None and pipeline.drained is not None and not pipeline.drained.done():
            pipeline.drained.set_result(None)

    # -- dispatch ------------------------------------------------------------------
    async def execute(self, conn: ClientConnection, args: list[bytes]) -> None:
        name = args[0].lower()
        tx = self._tx.get(conn.id)
        known = self.commands.get(args[0].decode("utf-8", "surrogateescape")) is not None
        if tx is None and not known and self._pipeline_write(conn, args):
            pipeline = self._inflight.get(conn.id)
            if pipeline is not None and len(pipeline.slots) >= MAX_PIPELINED:
                await self._drain(conn)
            return
        if conn.id in self._inflight:
            await self._drain(conn)
        if tx is not None and name not in _TX_CONTROL:
            self.stats.total_commands_processed += 1
            conn.send(self._queue(tx, args, known))
            return
        if known or name in (b"host:", b"post"):
            await super().execute(conn, args)
            return
        self.stats.total_commands_processed += 1
        if not conn.authenticated:
            self._send_error(conn, "NOAUTH Authentication required.")
            return
        reply = await self._data(conn, args)
        if isinstance(reply, SimpleError):
            self.stats.total_error_replies += 1
        conn.send(reply)

    def _pipeline_write(self, conn: ClientConnection, args: list[bytes]) -> bool:
        """Propose a plain write now and answer it later (module docstring); False if
        this request must take the ordinary path."""
        if not conn.authenticated or not self.node.core.is_leader:
            return False
        if args[0].lower() in (b"host:", b"post") or classify(args).kind != "write":
            return False
        try:
            rewritten = rewrite(args, time.time_ns() // 1_000_000)
        except RewriteError:
            return False  # the ordinary path answers it
        self.stats.total_commands_processed += 1
        pipeline = self._inflight.get(conn.id)
        if pipeline is None:
            pipeline = self._inflight[conn.id] = _Pipeline()
        slot = _Slot()
        pipeline.slots.append(slot)

        def answer(value: object) -> None:
            slot.done, slot.value = True, value
            if pipeline.slots[0] is slot or len(pipeline.slots) == 1:
                self._ready[conn.id] = conn
                if self._send_handle is None:
                    loop = asyncio.get_running_loop()
                    self._send_handle = loop.call_soon(self._send_replies)

        command = encode_commands([rewritten], transaction=False)
        self.node.submit_with(Write(command), answer)
        return True

    def _send_replies(self) -> None:
        """Once per loop turn: every connection's replies that are ready, in order, in
        one write each."""
        self._send_handle = None
        ready, self._ready = self._ready, {}
        for conn in ready.values():
            self._send_ready(conn)

    def _send_ready(self, conn: ClientConnection) -> None:
        """Send the replies at the head of the connection's pipeline that are ready."""
        pipeline = self._inflight.get(conn.id)
        if pipeline is None:
            return
        slots = pipeline.slots
        if slots and slots[0].done:
            conn.begin_batch()
            while slots and slots[0].done:
                frame = self._write_reply(slots.popleft().value)
                if isinstance(frame, SimpleError):
                    self.stats.total_error_replies += 1
                conn.send(frame)
            conn.end_batch()
        if not slots:
            del self._inflight[conn.id]
            if pipeline.drained is not None and not pipeline.drained.done():
                pipeline.drained.set_result(None)

    @staticmethod
    def _write_reply(value: object) -> Frame:
        if value is None:
            return error(TIMEOUT)
        if isinstance(value, Redirect):  # not expected: the node led when it proposed
            return error("TRYAGAIN leadership moved; retry")
        if isinstance(value, ErrorReply):
            return error(value.text)
        return to_frame(value) if not isinstance(value, str) else SimpleString(value.encode())

    async def _drain(self, conn: ClientConnection) -> None:
        """Wait until every pipelined reply of ``conn`` was sent."""
        pipeline = self._inflight.get(conn.id)
        if pipeline is None:
            return
        self._send_ready(conn)
        if conn.id not in self._inflight:
            return
        if pipeline.drained is None:
            pipeline.drained = asyncio.get_running_loop().create_future()
        await pipeline.drained

    def _send_error(self, conn: ClientConnection, text: str) -> None:
        self.stats.total_error_replies += 1
        conn.send(error(text))

    async def _data(self, conn: ClientConnection, args: list[bytes]) -> Frame:
        verdict = classify(args)
        if verdict.kind == "refused":
            return error(verdict.error)
        return await self._replicate(conn, [args], transaction=False, read=verdict.kind == "read")

    async def _replicate(
        self, conn: ClientConnection, commands: list[list[bytes]], *, transaction: bool, read: bool
    ) -> Frame:
        request: Read | Write
        if read:
            request = Read(encode_commands(commands, transaction=transaction))
        else:
            wall_ms = time.time_ns() // 1_000_000
            try:
                rewritten = [rewrite(c, wall_ms) for c in commands]
            except RewriteError as exc:
                if transaction:
                    return error(f"EXECABORT Transaction discarded because of: {exc.text}")
                return error(exc.text)
            request = Write(encode_commands(rewritten, transaction=transaction))
        value = await self.node.request(request)
        if value is None:
            return error(READ_TIMEOUT_TEXT if read else TIMEOUT)
        if isinstance(value, Redirect):
            return await self._redirect(conn, value, commands, transaction)
        if isinstance(value, ErrorReply):
            return error(value.text)
        return to_frame(value) if not isinstance(value, str) else SimpleString(value.encode())

    async def _redirect(
        self,
        conn: ClientConnection,
        redirect: Redirect,
        commands: list[list[bytes]],
        transaction: bool,
    ) -> Frame:
        address = self.node.address_of(redirect.leader) if redirect.leader else None
        if address is None:
            return error("CLUSTERDOWN No Raft leader")
        proxied = conn.name.decode("utf-8", "replace").startswith(PROXY_NAME)
        if self.settings.follower_mode == "moved" or proxied:
            return error(f"MOVED 0 {address}")
        timeout_s = self.node.request_timeout_ms / 1000
        return await self._proxy.forward(address, commands, transaction, timeout_s)

    # -- transactions ----------------------------------------------------------------
    def _queue(self, tx: _Tx, args: list[bytes], known: bool) -> Frame:
        if known:
            tx.dirty = True
            name = args[0].decode("utf-8", "replace").lower()
            return error(f"ERR '{name}' inside MULTI is not supported by redis_raft")
        verdict = classify(args)
        if verdict.kind == "refused":
            tx.dirty = True
            return error(verdict.error)
        tx.commands.append(args)
        return SimpleString(b"QUEUED")

    async def _transaction(self, conn: ClientConnection, args: list[bytes]) -> Frame:
        name = args[0].lower()
        tx = self._tx.get(conn.id)
        if name == b"multi":
            if tx is not None:
                return error("ERR MULTI calls can not be nested")
            self._tx[conn.id] = _Tx()
            return OK
        if name == b"watch":
            if tx is not None:
                return error("ERR WATCH inside MULTI is not allowed")
            return error("ERR WATCH is not supported by redis_raft")
        if name == b"unwatch":
            return OK
        if tx is None:
            return error(f"ERR {name.decode().upper()} without MULTI")
        del self._tx[conn.id]
        if name == b"discard":
            return OK
        if tx.dirty:
            return error(_EXECABORT)
        if not tx.commands:
            return Array(())
        read = all(classify(c).kind == "read" for c in tx.commands)
        return await self._replicate(conn, tx.commands, transaction=True, read=read)

    # -- raft commands ---------------------------------------------------------------
    def _raft_msg(self, conn: ClientConnection, args: list[bytes]) -> Frame:
        sender = args[1].decode("utf-8", "replace")
        known = sender in self.node.addresses or self.node.core.config.is_member(sender)
        if not known or sender == self.node.options.node_id:
            return error(f"ERR RAFT.MSG from unknown node '{sender[:64]}'")
        try:
            message = decode_message(args[2])
        except PeerCodecError as exc:
            return error(f"ERR malformed RAFT.MSG from '{sender}': {exc}")
        self.node.receive(sender, message)
        return OK

    def _raft_info(self, conn: ClientConnection, args: list[bytes]) -> Frame:
        text = "# Raft\r\n" + "".join(f"{k}:{v}\r\n" for k, v in self.node.info())
        return bulk(text)

    def _raft_debug(self, conn: ClientConnection, args: list[bytes]) -> Frame:
        sub = args[1].lower()
        if sub == b"failpoint" and len(args) in (3, 4):
            count = int(args[3]) if len(args) == 4 and args[3].isdigit() else 1
            try:
                self.node.failpoints.arm(args[2].decode("utf-8", "replace"), count)
            except RaftUsageError as exc:
                return error(f"ERR {exc}")
            return OK
        return error("ERR RAFT.DEBUG FAILPOINT <name> [count] is the only subcommand")

    async def _raft_node(self, conn: ClientConnection, args: list[bytes]) -> Frame:
        result = await node_command(self.node, args)
        if isinstance(result, Redirect):
            return await self._redirect(conn, result, [args], False)
        return result

    async def _raft_transfer(self, conn: ClientConnection, args: list[bytes]) -> Frame:
        result = await transfer_leader(self.node, args)
        if isinstance(result, Redirect):
            return await self._redirect(conn, result, [args], False)
        return result

    # -- CONFIG ------------------------------------------------------------------------
    def _config_get(self, conn: ClientConnection, args: list[bytes]) -> Frame:
        try:
            pairs = self.settings.get([a.decode("utf-8", "replace") for a in args[2:]])
        except ConfigError as exc:
            return error(str(exc))
        if conn.protocol == 3:
            return Map(tuple((BulkString(k.encode()), BulkString(v.encode())) for k, v in pairs))
        return Array(tuple(BulkString(x.encode()) for pair in pairs for x in pair))

    def _config_set(self, conn: ClientConnection, args: list[bytes]) -> Frame:
        if len(args) % 2:
            return error("ERR wrong number of arguments for 'config|set' command")
        pairs = [
            (args[i].decode("utf-8", "replace"), args[i + 1].decode("utf-8", "replace"))
            for i in range(2, len(args), 2)
        ]
        try:
            self.settings.set(pairs)
        except ConfigError as exc:
            return error(str(exc))
        return OK
