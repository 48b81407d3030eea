"""The write-ahead log: round trips, torn tails, corruption, fsync policies, compaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redis_raft.core import Config, Entry, HardState, LogAppend, SnapshotMeta, SnapshotRecord
from redis_raft.errors import ClusterMismatchError, CorruptLogError, StorageError
from redis_raft.storage import WAL_FILE, WriteAheadLog, encode_record


def open_wal(path: Path, **kwargs: object) -> WriteAheadLog:
    return WriteAheadLog.open(path, cluster_id="c1", node_id="n1", **kwargs)  # type: ignore[arg-type]


def sample_records() -> list[HardState | LogAppend | SnapshotRecord]:
    return [
        HardState(1, None),
        HardState(1, "n2"),
        LogAppend((Entry(1, 1, None), Entry(2, 1, b"SET k v"))),
        LogAppend((Entry(3, 1, Config.of(["n1", "n2"], ["n3"])),)),
        HardState(2, "n1"),
        LogAppend((Entry(3, 2, b"SET k w"),)),  # replaces index 3
    ]


def test_round_trip_and_suffix_replacement(tmp_path: Path) -> None:
    with open_wal(tmp_path) as wal:
        for record in sample_records():
            wal.append(record)
    reopened = open_wal(tmp_path)
    assert reopened.records() == (
        HardState(2, "n1"),
        LogAppend((Entry(1, 1, None), Entry(2, 1, b"SET k v"), Entry(3, 2, b"SET k w"))),
    )
    assert reopened.torn_bytes == 0
    reopened.close()


entries_st = st.lists(
    st.tuples(st.integers(1, 5), st.one_of(st.none(), st.binary(max_size=20))), max_size=12
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries_st, st.integers(0, 9), st.one_of(st.none(), st.text(max_size=5)))
def test_hypothesis_round_trip(
    tmp_path_factory: pytest.TempPathFactory,
    spec: list[tuple[int, bytes | None]],
    term: int,
    vote: str | None,
) -> None:
    folder = tmp_path_factory.mktemp("wal")
    entries = tuple(Entry(i + 1, t, data) for i, (t, data) in enumerate(spec))
    with open_wal(folder) as wal:
        wal.append(HardState(term, vote))
        if entries:
            wal.append(LogAppend(entries))
    with open_wal(folder) as again:
        expected: tuple[object, ...] = (HardState(term, vote),)
        if entries:
            expected += (LogAppend(entries),)
        assert again.records() == expected


def test_torn_last_record_at_every_offset_recovers_the_previous_records(tmp_path: Path) -> None:
    with open_wal(tmp_path) as wal:
        for record in sample_records()[:-1]:
            wal.append(record)
        before = wal.records()
        good_size = wal.size
        wal.append(sample_records()[-1])
    full = (tmp_path / WAL_FILE).read_bytes()
    for cut in range(good_size, len(full)):
        case = tmp_path / f"cut{cut}"
        case.mkdir()
        (case / WAL_FILE).write_bytes(full[:cut])
        wal = open_wal(case)
        assert wal.records() == before, cut
        assert wal.torn_bytes == cut - good_size
        assert (case / WAL_FILE).stat().st_size == good_size  # the tail was truncated
        wal.close()


def test_zero_filled_tail_is_torn(tmp_path: Path) -> None:
    with open_wal(tmp_path) as wal:
        wal.append(HardState(3, "n1"))
    path = tmp_path / WAL_FILE
    path.write_bytes(path.read_bytes() + bytes(40))
    with open_wal(tmp_path) as wal:
        assert wal.records() == (HardState(3, "n1"),) and wal.torn_bytes == 40


def test_flipped_byte_in_a_middle_record_is_a_typed_error(tmp_path: Path) -> None:
    with open_wal(tmp_path) as wal:
        wal.append(HardState(1, "n1"))
        start = wal.size
        wal.append(LogAppend((Entry(1, 1, b"SET key value"),)))
        end = wal.size
        wal.append(HardState(2, None))
    data = (tmp_path / WAL_FILE).read_bytes()
    for offset in range(start, end):
        case = tmp_path / f"flip{offset}"
        case.mkdir()
        damaged = bytearray(data)
        damaged[offset] ^= 0x40
        (case / WAL_FILE).write_bytes(bytes(damaged))
        with pytest.raises(CorruptLogError) as info:
            open_wal(case)
        assert info.value.offset == start
        assert str(case / WAL_FILE) in str(info.value) and f"offset {start}" in str(info.value)


def test_other_cluster_or_node_is_refused(tmp_path: Path) -> None:
    open_wal(tmp_path).close()
    with pytest.raises(ClusterMismatchError, match="cluster 'c1'"):
        WriteAheadLog.open(tmp_path, cluster_id="c2", node_id="n1")
    with pytest.raises(ClusterMismatchError, match="node 'n1'"):
        WriteAheadLog.open(tmp_path, cluster_id="c1", node_id="n2")
    (tmp_path / WAL_FILE).write_bytes(b"garbage")
    with pytest.raises(StorageError, match="not a redis_raft write-ahead log"):
        open_wal(tmp_path)


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.now = 0.0

    def fsync(self, fd: int) -> None:
        self.calls += 1

    def clock(self) -> float:
        return self.now


@pytest.mark.parametrize(("policy", "expected"), [("always", 5), ("everysec", 2), ("no", 0)])
def test_fsync_policy_is_honoured(tmp_path: Path, policy: str, expected: int) -> None:
    counter = Counter()
    wal = open_wal(tmp_path, fsync=policy, fsync_hook=counter.fsync, clock=counter.clock)
    counter.calls = 0  # creating the file synced it and its folder
    for i in range(5):
        counter.now = i * 0.4  # 0.0, 0.4, 0.8, 1.2, 1.6 s
        wal.append(HardState(i + 1, None))
    counter.now = 2.3  # a second after the fsync at 1.2 s: everysec flushes the rest
    wal.tick()
    assert counter.calls == expected
    with pytest.raises(StorageError, match="unknown fsync policy"):
        open_wal(tmp_path / "x", fsync="sometimes")


def test_snapshot_compacts_the_file_atomically(tmp_path: Path) -> None:
    counter = Counter()
    wal = open_wal(tmp_path, fsync_hook=counter.fsync)
    for i in range(1, 200):
        wal.append(LogAppend((Entry(i, 1, b"x" * 50),)))
    big = wal.size
    meta = SnapshotMeta(190, 1, Config.of(["n1", "n2", "n3"]))
    wal.append(SnapshotRecord(meta, b"RDB"))
    assert wal.size < big / 4
    assert not (tmp_path / (WAL_FILE + ".tmp")).exists()
    wal.append(HardState(2, None))
    wal.close()
    again = open_wal(tmp_path)
    records = again.records()
    assert records[0] == SnapshotRecord(meta, b"RDB")
    assert records[1] == HardState(2, None)
    log = records[2]
    assert isinstance(log, LogAppend) and [e.index for e in log.entries] == list(range(191, 200))


def test_unstorable_record(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        encode_record("nope")  # type: ignore[arg-type]
