"""The replicated state machine: committed log entries applied to a real redis-server.

**Entries.** A command entry's bytes are ``b"C"`` + one RESP-encoded command, or
``b"T"`` + several (a client's ``MULTI``/``EXEC``, one entry). Reads use the same
encoding in ``RunQuery``.

**Exactly once.** A batch of consecutive entries runs inside one ``MULTI`` together
with ``SET __raft_applied_index <last index>`` (one round trip, one transaction). A
crash between the ``EXEC`` and anything the node writes next cannot apply an entry
twice: on start the node reads the key and skips every entry at or below it. A
command refused while queueing (wrong arity, unknown command) aborts the whole
``EXEC``, with no effect; the batch is then run again one entry per ``MULTI``, where
such an entry aborts on its own, deterministically on every replica, and the index is
set after it.

**Snapshots** are the backing server's RDB: ``SAVE`` between two applies (the RDB then
holds exactly the applied entries, and the applied-index key with them), and the file
read back as the snapshot bytes. Loading one is in :mod:`redis_raft.driver.backing`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from labkit.resp import NEED_DATA, RequestParser, RespProtocolError, encode_command
from labkit.resp.frames import Array, BulkString, Frame, Null, SimpleError
from redis_raft.core.records import Entry, SnapshotMeta
from redis_raft.driver.backing import APPLIED_KEY, BackingError, BackingServer, copy_rdb_into
from redis_raft.driver.respclient import LinkError, RespClient
from redis_raft.errors import RaftError

__all__ = [
    "EntryFormatError",
    "StateMachine",
    "count_commands",
    "decode_commands",
    "encode_commands",
]

log = logging.getLogger("redis_raft.statemachine")

_SINGLE, _TRANSACTION = b"C", b"T"
_MULTI = encode_command(b"MULTI")
_OK, _QUEUED = b"+OK\r\n", b"+QUEUED\r\n"  # MULTI's and each queued command's reply
_EXEC = encode_command(b"EXEC")
_EXECABORT = b"EXECABORT"
APPLY_TIMEOUT_S = 30.0


class EntryFormatError(RaftError):
    """A log entry or query that is not in the format above."""


def encode_commands(commands: Sequence[Sequence[bytes]], *, transaction: bool) -> bytes:
    """The bytes of an entry: one command, or a transaction of several."""
    if not transaction and len(commands) != 1:
        raise EntryFormatError("a single-command entry holds exactly one command")
    head = _TRANSACTION if transaction else _SINGLE
    return head + b"".join(encode_command(*c) for c in commands)


def decode_commands(data: bytes) -> tuple[bool, list[list[bytes]]]:
    """``(transaction, commands)`` of an entry; :class:`EntryFormatError` if malformed."""
    if not data or data[:1] not in (_SINGLE, _TRANSACTION):
        raise EntryFormatError(f"unknown entry kind {data[:1]!r}")
    parser = RequestParser()
    parser.feed(data[1:])
    commands: list[list[bytes]] = []
    try:
        while (request := parser.next_frame()) is not NEED_DATA:
            commands.append(list(request.args))
    except RespProtocolError as exc:
        raise EntryFormatError(f"undecodable entry: {exc}") from None
    if parser.buffered or not commands:
        raise EntryFormatError("entry ends inside a command, or holds none")
    transaction = data[:1] == _TRANSACTION
    if not transaction and len(commands) != 1:
        raise EntryFormatError("a single-command entry holds more than one command")
    return transaction, commands


def count_commands(data: bytes) -> int:
    """How many commands an entry holds, checking its RESP structure without building
    them (the apply path needs only the count); :class:`EntryFormatError` if it is not
    what :func:`decode_commands` would accept."""
    if not data or data[:1] not in (_SINGLE, _TRANSACTION):
        raise EntryFormatError(f"unknown entry kind {data[:1]!r}")
    pos, end, count = 1, len(data), 0
    while pos < end:
        pos = _skip_command(data, pos, end)
        count += 1
    if count == 0 or (data[:1] == _SINGLE and count != 1):
        raise EntryFormatError("a single-command entry holds exactly one command")
    return count


def _number(data: bytes, pos: int, marker: int) -> tuple[int, int]:
    """The decimal after ``marker`` at ``pos`` up to CRLF, and the position after it."""
    if data[pos] != marker:
        raise EntryFormatError(f"expected {chr(marker)!r} at offset {pos}")
    eol = data.find(b"\r\n", pos)
    digits = data[pos + 1 : eol]
    if eol < 0 or not digits.isdigit() or len(digits) > 18:
        raise EntryFormatError(f"bad length at offset {pos}")
    return int(digits), eol + 2


def _skip_command(data: bytes, pos: int, end: int) -> int:
    args, pos = _number(data, pos, 0x2A)  # *
    if args < 1:
        raise EntryFormatError(f"empty command at offset {pos}")
    for _ in range(args):
        if pos >= end:
            raise EntryFormatError("entry ends inside a command")
        length, pos = _number(data, pos, 0x24)  # $
        pos += length
        if data[pos : pos + 2] != b"\r\n":
            raise EntryFormatError(f"bulk string not ended by CRLF at offset {pos}")
        pos += 2
    return pos


@dataclass(slots=True)
class _Plan:
    index: int
    transaction: bool
    commands: list[list[bytes]]
    first_reply: int  # position of its MULTI reply in the pipeline


class StateMachine:
    """Applies entries and runs reads on the backing server; see the module docstring."""

    def __init__(self, backing: BackingServer) -> None:
        self.backing = backing
        self.client: RespClient | None = None
        self.floor = 0  # entries at or below this are in the backing server already
        self.applied_in_redis = 0

    async def open(self) -> None:
        """Connect and read the applied index the backing server holds."""
        await self._connect()
        self.floor = self.applied_in_redis = await self.read_applied_index()

    async def _connect(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = await RespClient.connect(
            self.backing.host, self.backing.port, name="redis-raft-apply", resp3=True
        )

    def _conn(self) -> RespClient:
        if self.client is None or self.client.closed:
            raise LinkError(f"not connected to the backing server {self.backing.address}")
        return self.client

    async def read_applied_index(self) -> int:
        reply = await self._conn().call(b"GET", APPLIED_KEY)
        if isinstance(reply, BulkString):
            try:
                return int(reply.value)
            except ValueError:
                raise BackingError(f"{APPLIED_KEY.decode()} holds {reply.value!r}") from None
        if isinstance(reply, Null):
            return 0
        raise BackingError(f"GET {APPLIED_KEY.decode()} answered {reply!r}")

    async def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    # -- applying ------------------------------------------------------------------
    async def apply(self, entries: Sequence[Entry]) -> list[Frame | None]:
        """Apply committed entries in order; one result per entry (None: no command).

        Entries at or below :attr:`floor` are skipped (applied before a restart).
        """
        results: list[Frame | None] = [None] * len(entries)
        plans: list[tuple[int, int, bool, int]] = []  # position, index, transaction, count
        pipeline: list[bytes] = [_MULTI]
        count = 0
        for pos, entry in enumerate(entries):
            data = entry.data
            if not isinstance(data, bytes) or entry.index <= self.floor:
                continue
            try:
                commands = count_commands(data)
            except EntryFormatError as exc:
                results[pos] = SimpleError(f"ERR {exc}".encode())
                continue
            plans.append((pos, entry.index, data[:1] == _TRANSACTION, commands))
            pipeline.append(data[1:])  # the commands, RESP-encoded already
            count += commands
        if len(plans) < 2:
            return await self._apply_one_by_one(entries, results)
        last_index = plans[-1][1]
        pipeline += [encode_command(b"SET", APPLIED_KEY, b"%d" % last_index), _EXEC]
        expected = [_OK, *[_QUEUED] * (count + 1)]
        future = self._conn().send_skipping(b"".join(pipeline), expected)
        (exec_reply,) = await self._conn().wait_all([future], APPLY_TIMEOUT_S)
        if not isinstance(exec_reply, Array) or len(exec_reply.items) != count + 1:
            # A command was refused while queueing: nothing ran. One by one instead.
            return await self._apply_one_by_one(entries, results)
        start = 0
        for pos, _, transaction, commands in plans:
            items = exec_reply.items[start : start + commands]
            results[pos] = Array(items) if transaction else items[0]
            start += commands
        self.applied_in_redis = max(self.applied_in_redis, last_index)
        return results

    async def _apply_one_by_one(
        self, entries: Sequence[Entry], results: list[Frame | None]
    ) -> list[Frame | None]:
        """Each entry in its own ``MULTI`` (one pipeline): a refusal aborts only its own."""
        plans: list[tuple[int, _Plan]] = []
        pipeline: list[Sequence[bytes | str | int]] = []
        for pos, entry in enumerate(entries):
            if not isinstance(entry.data, bytes) or entry.index <= self.floor:
                continue
            try:
                transaction, commands = decode_commands(entry.data)
            except EntryFormatError:
                continue  # its result is set already
            plans.append((pos, _Plan(entry.index, transaction, commands, len(pipeline))))
            pipeline.append([b"MULTI"])
            pipeline.extend(commands)
            pipeline += [[b"SET", APPLIED_KEY, b"%d" % entry.index], [b"EXEC"]]
        if not pipeline:
            return results
        replies = await self._conn().call_many(pipeline, timeout_s=APPLY_TIMEOUT_S)
        aborted_last = False
        for pos, plan in plans:
            start = plan.first_reply
            queued = replies[start + 1 : start + 1 + len(plan.commands)]
            exec_reply = replies[start + len(plan.commands) + 2]
            results[pos], aborted_last = _result(plan, queued, exec_reply)
        last_index = plans[-1][1].index
        if aborted_last:  # nothing after it moved the index: record it on its own
            await self._conn().call(b"SET", APPLIED_KEY, b"%d" % last_index)
        self.applied_in_redis = max(self.applied_in_redis, last_index)
        return results

    async def query(self, data: bytes) -> Frame:
        """Run a read (one command or a read-only transaction)."""
        try:
            transaction, commands = decode_commands(data)
        except EntryFormatError as exc:
            return SimpleError(f"ERR {exc}".encode())
        if not transaction:
            return await self._conn().call(*commands[0])
        pipeline: list[Sequence[bytes | str | int]] = [[b"MULTI"], *commands, [b"EXEC"]]
        replies = await self._conn().call_many(pipeline)
        return replies[-1]

    # -- snapshots -----------------------------------------------------------------
    async def take_snapshot(self) -> bytes:
        """``SAVE`` and read the RDB back (call only between applies)."""
        reply = await self._conn().call(b"SAVE", timeout_s=120.0)
        if isinstance(reply, SimpleError):
            raise BackingError(f"SAVE failed: {reply.text}")
        path = await self.backing.rdb_path(self._conn())
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise BackingError(f"cannot read the RDB at {path}: {exc.strerror}") from None
        if not data.startswith(b"REDIS"):
            raise BackingError(f"{path} is not an RDB file")
        return data

    async def install_snapshot(self, meta: SnapshotMeta, data: bytes) -> bool:
        """Make the backing server hold the snapshot; False if it is ahead of it already."""
        if self.applied_in_redis >= meta.index:
            log.info("backing server is at %d >= snapshot %d", self.applied_in_redis, meta.index)
            return False
        if self.backing.owned:
            await self.close()
            self.backing.stop()
            self.backing.start(data)
            await self._connect()
        else:
            await copy_rdb_into(self._conn(), data, applied_index=meta.index)
        self.floor = self.applied_in_redis = meta.index
        return True


def _result(plan: _Plan, queued: list[Frame], exec_reply: Frame) -> tuple[Frame, bool]:
    """The client's reply for one planned entry, and whether its EXEC aborted."""
    if isinstance(exec_reply, SimpleError) and exec_reply.value.startswith(_EXECABORT):
        if plan.transaction:
            return exec_reply, True
        refusal = queued[0] if queued else exec_reply
        return refusal, True
    if isinstance(exec_reply, Array) and len(exec_reply.items) == len(plan.commands) + 1:
        items = exec_reply.items[:-1]
        return (Array(items) if plan.transaction else items[0]), False
    if isinstance(exec_reply, SimpleError):
        return exec_reply, False
    return SimpleError(b"ERR unexpected EXEC reply from the backing server"), False
