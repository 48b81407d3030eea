"""The on-disk write-ahead log of one Raft node (real file I/O; not part of the core).

One file, ``raft.wal``, in the node's data folder::

    header:  b"RRAFTWAL" | u16 version | u16 len + cluster id | u16 len + node id | u32 crc32
    record:  u32 body length | u8 type | u32 crc32(length, type) | u32 crc32(body) | body

Record types: 1 hard state (term, vote), 2 entry (index, term, kind, payload),
3 snapshot (index, term, config, opaque bytes). An entry at index ``i`` replaces
every entry from ``i`` on (a conflict truncation is the next append), and a snapshot
drops the entries it covers unless they follow it consistently, as in the core.

Recovery reads records in order. A damaged *last* record (cut short, or a bad body
checksum at the very end, or zero-filled space) is a torn write: the file is truncated
to the last good record. Damage anywhere else raises :class:`CorruptLogError` with the
file and byte offset: recovery does not guess. A header of another cluster or node
raises :class:`ClusterMismatchError`.

fsync policies, as Redis's ``appendfsync``: ``always`` (every append, the only one
that keeps Raft's promises across power loss), ``everysec`` (at most one fsync a
second, on append or :meth:`WriteAheadLog.tick`), ``no`` (the OS decides).
:meth:`WriteAheadLog.write_many` writes without syncing and says whether the policy
wants a sync; the node driver then runs :meth:`WriteAheadLog.sync_data` in a thread
(group commit: the event loop keeps working while the disk flushes, and one fsync
covers every record written before it started). A lock keeps that fsync and a
compaction or close from racing over the file descriptor.
Compaction (:meth:`WriteAheadLog.compact`, automatic after a snapshot when the file
has grown) writes the live records to a temporary file, fsyncs it, renames it over the
log and fsyncs the folder.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from redis_raft.core.records import (
    Config,
    Entry,
    HardState,
    LogAppend,
    SnapshotMeta,
    SnapshotRecord,
)
from redis_raft.errors import ClusterMismatchError, CorruptLogError, StorageError

__all__ = ["FSYNC_POLICIES", "WAL_FILE", "WriteAheadLog", "decode_body", "encode_record"]

FSYNC_POLICIES = ("always", "everysec", "no")
WAL_FILE = "raft.wal"
MAGIC = b"RRAFTWAL"
VERSION = 1
HEAD = struct.Struct("<IBII")  # length, type, header crc, body crc
_LEN_TYPE = struct.Struct("<IB")
T_HARD, T_ENTRY, T_SNAPSHOT = 1, 2, 3
K_NOOP, K_COMMAND, K_CONFIG = 0, 1, 2
MAX_BODY = 1 << 31

Record = HardState | LogAppend | SnapshotRecord


# -- encoding ----------------------------------------------------------------------
def _str(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("<H", len(raw)) + raw


def _config(config: Config) -> bytes:
    parts = [struct.pack("<H", len(config.voters)), *map(_str, config.voters)]
    parts += [struct.pack("<H", len(config.learners)), *map(_str, config.learners)]
    return b"".join(parts)


def _entry_body(entry: Entry) -> bytes:
    head = struct.pack("<QQ", entry.index, entry.term)
    if entry.data is None:
        return head + bytes([K_NOOP])
    if isinstance(entry.data, bytes):
        return head + bytes([K_COMMAND]) + entry.data
    return head + bytes([K_CONFIG]) + _config(entry.data)


def _frame(kind: int, body: bytes) -> bytes:
    length_type = _LEN_TYPE.pack(len(body), kind)
    head = HEAD.pack(len(body), kind, zlib.crc32(length_type), zlib.crc32(body))
    return head + body


def encode_record(record: Record) -> bytes:
    """The framed bytes of a record (one frame per entry of a LogAppend)."""
    if isinstance(record, HardState):
        vote = b"\x00" if record.vote is None else b"\x01" + _str(record.vote)
        return _frame(T_HARD, struct.pack("<Q", record.term) + vote)
    if isinstance(record, LogAppend):
        return b"".join(_frame(T_ENTRY, _entry_body(e)) for e in record.entries)
    if isinstance(record, SnapshotRecord):
        meta = record.meta
        body = struct.pack("<QQ", meta.index, meta.term) + _config(meta.config) + record.data
        return _frame(T_SNAPSHOT, body)
    raise StorageError(f"cannot store a {type(record).__name__}")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("record body too short")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        value: int = struct.unpack("<H", self.take(2))[0]
        return value

    def u64(self) -> int:
        value: int = struct.unpack("<Q", self.take(8))[0]
        return value

    def str(self) -> str:
        return self.take(self.u16()).decode()

    def config(self) -> Config:
        voters = tuple(self.str() for _ in range(self.u16()))
        learners = tuple(self.str() for _ in range(self.u16()))
        return Config.of(voters, learners)

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out


def decode_body(kind: int, body: bytes) -> HardState | Entry | SnapshotRecord:
    """Decode one record body; ValueError if it is malformed."""
    r = _Reader(body)
    if kind == T_HARD:
        term = r.u64()
        vote = r.str() if r.u8() else None
        result: HardState | Entry | SnapshotRecord = HardState(term, vote)
    elif kind == T_ENTRY:
        index, term, entry_kind = r.u64(), r.u64(), r.u8()
        if entry_kind == K_NOOP:
            result = Entry(index, term, None)
        elif entry_kind == K_COMMAND:
            result = Entry(index, term, r.rest())
        elif entry_kind == K_CONFIG:
            result = Entry(index, term, r.config())
        else:
            raise ValueError(f"unknown entry kind {entry_kind}")
    elif kind == T_SNAPSHOT:
        index, term = r.u64(), r.u64()
        result = SnapshotRecord(SnapshotMeta(index, term, r.config()), r.rest())
    else:
        raise ValueError(f"unknown record type {kind}")
    if r.pos != len(body):
        raise ValueError("trailing bytes in record body")
    return result


def _header(cluster_id: str, node_id: str) -> bytes:
    raw = MAGIC + struct.pack("<H", VERSION) + _str(cluster_id) + _str(node_id)
    return raw + struct.pack("<I", zlib.crc32(raw))


# -- the log -------------------------------------------------------------------------
class WriteAheadLog:
    """A node's durable records. Build with :meth:`open`; ``records()`` feeds ``restore``."""

    def __init__(
        self,
        path: Path,
        header: bytes,
        fsync: str,
        fsync_hook: Callable[[int], None],
        clock: Callable[[], float],
    ) -> None:
        self.path = path
        self.fsync_policy = fsync
        self._header = header
        self._fsync = fsync_hook
        self._clock = clock
        self._fd = -1
        self._fd_lock = threading.Lock()
        self._last_fsync = clock()
        self._dirty = False
        self.hard_state: HardState | None = None
        self.snapshot: SnapshotRecord | None = None
        self.entries: list[Entry] = []
        self.torn_bytes = 0
        self.size = 0
        self._live_size = 0

    @classmethod
    def open(
        cls,
        directory: Path | str,
        *,
        cluster_id: str,
        node_id: str,
        fsync: str = "always",
        fsync_hook: Callable[[int], None] = os.fsync,
        clock: Callable[[], float] = time.monotonic,
    ) -> WriteAheadLog:
        """Open (or create) the log in ``directory``, recovering what it holds."""
        if fsync not in FSYNC_POLICIES:
            raise StorageError(
                f"unknown fsync policy {fsync!r}; known: {', '.join(FSYNC_POLICIES)}"
            )
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        wal = cls(folder / WAL_FILE, _header(cluster_id, node_id), fsync, fsync_hook, clock)
        if not wal.path.exists():
            wal._write_file(b"")
        wal._recover(cluster_id, node_id)
        wal._fd = os.open(wal.path, os.O_WRONLY | os.O_APPEND)
        return wal

    # -- reading -------------------------------------------------------------------
    def records(self) -> tuple[Record, ...]:
        """The live state as core records: snapshot, hard state, entries."""
        out: list[Record] = []
        if self.snapshot is not None:
            out.append(self.snapshot)
        if self.hard_state is not None:
            out.append(self.hard_state)
        if self.entries:
            out.append(LogAppend(tuple(self.entries)))
        return tuple(out)

    # -- writing -------------------------------------------------------------------
    def append(self, record: Record) -> None:
        """Write a record; fsync as the policy says."""
        self.append_many((record,))

    def append_many(self, records: Iterable[Record]) -> None:
        """Write records with one write call; fsync once as the policy says."""
        if self.write_many(records):
            self.sync()

    def write_many(self, records: Iterable[Record]) -> bool:
        """Write records with one write call and no fsync; True when the policy
        (``always``) wants them synced before anything that depends on them
        (:meth:`sync`, or :meth:`sync_data` from another thread)."""
        batch = list(records)
        data = b"".join(encode_record(r) for r in batch)
        if not data:
            return False
        self._write_all(data)
        self.size += len(data)
        for record in batch:
            self._apply(record)
        self._dirty = True
        if self.fsync_policy == "everysec":
            self.tick()
        if (
            any(isinstance(r, SnapshotRecord) for r in batch)
            and self.size > 2 * self._live_size + 4096
        ):
            self.compact()
        return self.fsync_policy == "always"

    def sync(self) -> None:
        """fsync now (whatever the policy)."""
        self.sync_data()
        self._last_fsync = self._clock()
        self._dirty = False

    def sync_data(self) -> None:
        """fsync what was written so far; safe to call from another thread (it
        leaves the policy's bookkeeping alone: :meth:`close` may sync once more)."""
        with self._fd_lock:
            if self._fd >= 0:
                self._fsync(self._fd)

    def tick(self) -> None:
        """For ``everysec``: fsync if there are unsynced writes and a second has passed."""
        if (
            self.fsync_policy == "everysec"
            and self._dirty
            and self._clock() - self._last_fsync >= 1.0
        ):
            self.sync()

    def compact(self) -> None:
        """Rewrite the file with only the live records (atomic: temp, fsync, rename)."""
        body = b"".join(encode_record(r) for r in self.records())
        with self._fd_lock:
            os.close(self._fd)
            self._fd = -1
            self._write_file(body)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.size = self._live_size = len(self._header) + len(body)
        self._dirty = False

    def close(self) -> None:
        """Sync (unless the policy is ``no``) and close."""
        if self._fd >= 0:
            if self.fsync_policy != "no" and self._dirty:
                self.sync()
            with self._fd_lock:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> WriteAheadLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------
    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def _write_file(self, body: bytes) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            data = memoryview(self._header + body)
            while data:
                data = data[os.write(fd, data) :]
            self._fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            self._fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._last_fsync = self._clock()

    def _apply(self, record: Record | Entry) -> None:
        if isinstance(record, HardState):
            self.hard_state = record
        elif isinstance(record, LogAppend):
            for entry in record.entries:
                self._apply(entry)
        elif isinstance(record, Entry):
            base = self.snapshot.meta.index if self.snapshot is not None else 0
            if record.index <= base:
                return
            keep = record.index - base - 1
            if keep > len(self.entries):
                raise StorageError(
                    f"{self.path}: entry {record.index} leaves a gap after {base + len(self.entries)}"
                )
            del self.entries[keep:]
            self.entries.append(record)
        else:
            meta = record.meta
            base = self.snapshot.meta.index if self.snapshot is not None else 0
            held = [e for e in self.entries if e.index == meta.index]
            if held and held[0].term == meta.term:
                self.entries = [e for e in self.entries if e.index > meta.index]
            else:
                self.entries = []
            del base
            self.snapshot = record

    def _recover(self, cluster_id: str, node_id: str) -> None:
        data = self.path.read_bytes()
        name = str(self.path)
        self._check_header(data, cluster_id, node_id)
        pos = len(self._header)
        while pos < len(data):
            rest = len(data) - pos
            if rest < HEAD.size:
                break  # torn: the header of the last record is cut short
            length, kind, hcrc, bcrc = HEAD.unpack_from(data, pos)
            if zlib.crc32(_LEN_TYPE.pack(length, kind)) != hcrc:
                if not any(data[pos:]):
                    break  # zero-filled tail
                raise CorruptLogError(name, pos, "record header checksum mismatch")
            end = pos + HEAD.size + length
            if end > len(data):
                break  # torn: the body is cut short
            body = data[pos + HEAD.size : end]
            if zlib.crc32(body) != bcrc:
                if end == len(data):
                    break  # torn last record
                raise CorruptLogError(name, pos, "record body checksum mismatch")
            try:
                self._apply(decode_body(kind, body))
            except (ValueError, UnicodeDecodeError) as exc:
                raise CorruptLogError(name, pos, f"undecodable record: {exc}") from None
            pos = end
        if pos < len(data):
            self.torn_bytes = len(data) - pos
            with open(self.path, "r+b") as handle:
                handle.truncate(pos)
                handle.flush()
                self._fsync(handle.fileno())
        self.size = pos
        self._live_size = len(self._header) + sum(len(encode_record(r)) for r in self.records())

    def _check_header(self, data: bytes, cluster_id: str, node_id: str) -> None:
        name = str(self.path)
        if not data.startswith(MAGIC):
            raise StorageError(f"{name}: not a redis_raft write-ahead log (bad magic)")
        try:
            r = _Reader(data[len(MAGIC) :])
            version = r.u16()
            cluster, node = r.str(), r.str()
            end = len(MAGIC) + r.pos
            (crc,) = struct.unpack_from("<I", data, end)
        except (ValueError, UnicodeDecodeError, struct.error):
            raise CorruptLogError(name, 0, "file header is damaged") from None
        if zlib.crc32(data[:end]) != crc:
            raise CorruptLogError(name, 0, "file header checksum mismatch")
        if version != VERSION:
            raise StorageError(f"{name}: log format version {version}, expected {VERSION}")
        if (cluster, node) != (cluster_id, node_id):
            raise ClusterMismatchError(
                f"{name} belongs to node {node!r} of cluster {cluster!r}, "
                f"not node {node_id!r} of cluster {cluster_id!r}; refusing to use it"
            )
