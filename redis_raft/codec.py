"""The wire encoding of Raft peer messages (sans-I/O: dataclasses <-> bytes).

Peers send each other ``RAFT.MSG <sender-id> <payload>`` on the shared RESP port; the
payload is one message in this compact, versioned binary form (little endian)::

    u8 version (1) | u8 type | fields of the type

Field types: ``u64`` terms and indexes, ``u8`` booleans (0 or 1), ``str`` (u16 length
+ UTF-8), ``bytes`` (u32 length + raw), ``config`` (u16 count + str voters, u16 count +
str learners), ``entry`` (u64 index, u64 term, u8 kind 0 no-op / 1 command bytes /
2 config), ``opt-u64`` (u8 present + u64).

Decoding is bounds-checked everywhere: every length is checked against what is left,
entry counts against :data:`MAX_ENTRIES`, booleans must be 0 or 1, and trailing bytes
are refused. A malformed payload raises :class:`PeerCodecError`; nothing else escapes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from redis_raft.core.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
)
from redis_raft.core.records import Config, Entry, SnapshotMeta
from redis_raft.errors import RaftError

__all__ = ["MAX_ENTRIES", "VERSION", "PeerCodecError", "decode_message", "encode_message"]

VERSION = 1
MAX_ENTRIES = 1 << 16
"""More entries than this in one AppendEntries is refused (the core sends 64 at most)."""
MAX_U64 = (1 << 64) - 1

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

T_VOTE, T_VOTE_RESP, T_APPEND, T_APPEND_RESP = 1, 2, 3, 4
T_HEARTBEAT, T_HEARTBEAT_RESP, T_SNAPSHOT, T_SNAPSHOT_RESP, T_TIMEOUT_NOW = 5, 6, 7, 8, 9
K_NOOP, K_COMMAND, K_CONFIG = 0, 1, 2


class PeerCodecError(RaftError):
    """A peer message that cannot be encoded or decoded; the message says why."""


# -- encoding ----------------------------------------------------------------------
class _Writer:
    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def u8(self, value: int) -> None:
        self.parts.append(_U8.pack(value))

    def flag(self, value: bool) -> None:
        self.u8(1 if value else 0)

    def u64(self, value: int) -> None:
        if not 0 <= value <= MAX_U64:
            raise PeerCodecError(f"integer {value} does not fit in 64 bits")
        self.parts.append(_U64.pack(value))

    def text(self, value: str) -> None:
        raw = value.encode()
        if len(raw) > 0xFFFF:
            raise PeerCodecError("string longer than 65535 bytes")
        self.parts.append(_U16.pack(len(raw)) + raw)

    def blob(self, value: bytes) -> None:
        if len(value) > 0xFFFFFFFF:
            raise PeerCodecError("payload longer than 4 GiB")
        self.parts.append(_U32.pack(len(value)) + value)

    def config(self, config: Config) -> None:
        for group in (config.voters, config.learners):
            if len(group) > 0xFFFF:
                raise PeerCodecError("too many members")
            self.parts.append(_U16.pack(len(group)))
            for member in group:
                self.text(member)

    def entry(self, entry: Entry) -> None:
        self.u64(entry.index)
        self.u64(entry.term)
        if entry.data is None:
            self.u8(K_NOOP)
        elif isinstance(entry.data, bytes):
            self.u8(K_COMMAND)
            self.blob(entry.data)
        else:
            self.u8(K_CONFIG)
            self.config(entry.data)


def encode_message(message: Message) -> bytes:
    """The payload bytes of ``message``; :class:`PeerCodecError` for an unknown type."""
    w = _Writer()
    w.u8(VERSION)
    m = message
    if isinstance(m, RequestVote):
        w.u8(T_VOTE)
        w.u64(m.term)
        w.u64(m.last_index)
        w.u64(m.last_term)
        w.flag(m.pre_vote)
        w.flag(m.force)
    elif isinstance(m, RequestVoteResponse):
        w.u8(T_VOTE_RESP)
        w.u64(m.term)
        w.flag(m.granted)
        w.flag(m.pre_vote)
    elif isinstance(m, AppendEntries):
        w.u8(T_APPEND)
        for value in (m.term, m.prev_index, m.prev_term, m.commit):
            w.u64(value)
        if len(m.entries) > MAX_ENTRIES:
            raise PeerCodecError(f"too many entries ({len(m.entries)} > {MAX_ENTRIES})")
        w.parts.append(_U32.pack(len(m.entries)))
        for entry in m.entries:
            w.entry(entry)
    elif isinstance(m, AppendEntriesResponse):
        w.u8(T_APPEND_RESP)
        w.u64(m.term)
        w.flag(m.success)
        for value in (m.index, m.reject_index, m.conflict_index):
            w.u64(value)
        w.flag(m.conflict_term is not None)
        w.u64(m.conflict_term or 0)
    elif isinstance(m, Heartbeat):
        w.u8(T_HEARTBEAT)
        for value in (m.term, m.commit, m.seq):
            w.u64(value)
    elif isinstance(m, HeartbeatResponse):
        w.u8(T_HEARTBEAT_RESP)
        for value in (m.term, m.seq, m.last_index):
            w.u64(value)
    elif isinstance(m, InstallSnapshot):
        w.u8(T_SNAPSHOT)
        w.u64(m.term)
        w.u64(m.meta.index)
        w.u64(m.meta.term)
        w.config(m.meta.config)
        w.blob(m.data)
    elif isinstance(m, InstallSnapshotResponse):
        w.u8(T_SNAPSHOT_RESP)
        w.u64(m.term)
        w.u64(m.index)
    elif isinstance(m, TimeoutNow):
        w.u8(T_TIMEOUT_NOW)
        w.u64(m.term)
    else:
        raise PeerCodecError(f"cannot encode a {type(message).__name__}")
    return b"".join(w.parts)


# -- decoding ----------------------------------------------------------------------
class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise PeerCodecError(
                f"message cut short: need {n} bytes at offset {self.pos}, "
                f"have {len(self.data) - self.pos}"
            )
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def flag(self) -> bool:
        value = self.u8()
        if value > 1:
            raise PeerCodecError(f"boolean byte {value} at offset {self.pos - 1}")
        return value == 1

    def u16(self) -> int:
        value: int = _U16.unpack(self.take(2))[0]
        return value

    def u32(self) -> int:
        value: int = _U32.unpack(self.take(4))[0]
        return value

    def u64(self) -> int:
        value: int = _U64.unpack(self.take(8))[0]
        return value

    def text(self) -> str:
        raw = self.take(self.u16())
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise PeerCodecError("a string is not valid UTF-8") from None

    def blob(self) -> bytes:
        return self.take(self.u32())

    def config(self) -> Config:
        voters = [self.text() for _ in range(self.u16())]
        learners = [self.text() for _ in range(self.u16())]
        return Config.of(voters, learners)

    def entry(self) -> Entry:
        index, term, kind = self.u64(), self.u64(), self.u8()
        if kind == K_NOOP:
            return Entry(index, term, None)
        if kind == K_COMMAND:
            return Entry(index, term, self.blob())
        if kind == K_CONFIG:
            return Entry(index, term, self.config())
        raise PeerCodecError(f"unknown entry kind {kind}")


def _append(r: _Reader) -> AppendEntries:
    term, prev_index, prev_term, commit = r.u64(), r.u64(), r.u64(), r.u64()
    count = r.u32()
    if count > MAX_ENTRIES:
        raise PeerCodecError(f"too many entries ({count} > {MAX_ENTRIES})")
    entries = tuple(r.entry() for _ in range(count))
    for offset, entry in enumerate(entries, start=1):
        if entry.index != prev_index + offset:
            raise PeerCodecError(
                f"entry index {entry.index} does not follow {prev_index + offset - 1}"
            )
    return AppendEntries(term, prev_index, prev_term, entries, commit)


def _append_resp(r: _Reader) -> AppendEntriesResponse:
    term, success = r.u64(), r.flag()
    index, reject_index, conflict_index = r.u64(), r.u64(), r.u64()
    has_term, conflict_term = r.flag(), r.u64()
    return AppendEntriesResponse(
        term, success, index, reject_index, conflict_index, conflict_term if has_term else None
    )


def _snapshot(r: _Reader) -> InstallSnapshot:
    term, index, snap_term = r.u64(), r.u64(), r.u64()
    return InstallSnapshot(term, SnapshotMeta(index, snap_term, r.config()), r.blob())


_DECODERS: dict[int, Callable[[_Reader], Message]] = {
    T_VOTE: lambda r: RequestVote(r.u64(), r.u64(), r.u64(), r.flag(), r.flag()),
    T_VOTE_RESP: lambda r: RequestVoteResponse(r.u64(), r.flag(), r.flag()),
    T_APPEND: _append,
    T_APPEND_RESP: _append_resp,
    T_HEARTBEAT: lambda r: Heartbeat(r.u64(), r.u64(), r.u64()),
    T_HEARTBEAT_RESP: lambda r: HeartbeatResponse(r.u64(), r.u64(), r.u64()),
    T_SNAPSHOT: _snapshot,
    T_SNAPSHOT_RESP: lambda r: InstallSnapshotResponse(r.u64(), r.u64()),
    T_TIMEOUT_NOW: lambda r: TimeoutNow(r.u64()),
}


def decode_message(data: bytes) -> Message:
    """The message in ``data``; :class:`PeerCodecError` if it is malformed in any way."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise PeerCodecError(f"expected bytes, got {type(data).__name__}")
    r = _Reader(bytes(data))
    version = r.u8()
    if version != VERSION:
        raise PeerCodecError(f"unsupported message version {version} (this node speaks {VERSION})")
    kind = r.u8()
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise PeerCodecError(f"unknown message type {kind}")
    message = decoder(r)
    if r.pos != len(r.data):
        raise PeerCodecError(f"{len(r.data) - r.pos} trailing bytes after the message")
    return message
