"""Simulated storage: fsync, crash drops the unsynced tail, torn last record."""

from __future__ import annotations

import random

from labkit.core import TornRecord
from labkit.sim import Storage


def test_sync_and_crash() -> None:
    disk = Storage()
    disk.append("a", sync=True)
    disk.append("b", sync=False)
    disk.append("c", sync=False)
    assert disk.synced_count == 1 and disk.unsynced_count == 2
    disk.crash(random.Random(1))
    assert disk.recover() == ("a",)
    assert disk.stats.dropped == 2


def test_sync_covers_earlier_writes() -> None:
    disk = Storage()
    disk.append("a", sync=False)
    disk.append("b", sync=True)
    disk.crash(random.Random(1))
    assert disk.recover() == ("a", "b")


def test_tear_leaves_first_lost_record_torn() -> None:
    disk = Storage(tear_probability=1.0)
    disk.append("a", sync=True)
    disk.append("b", sync=False)
    disk.append("c", sync=False)
    disk.crash(random.Random(1))
    assert disk.records == ("a", TornRecord("b"))
    assert disk.recover(keep_torn=True) == ("a", TornRecord("b"))
    assert disk.recover() == ("a",)
    assert len(disk.records) == 1


def test_synced_records_are_never_torn() -> None:
    for seed in range(50):
        disk = Storage(tear_probability=1.0)
        disk.append("a", sync=True)
        disk.crash(random.Random(seed))
        assert disk.recover(keep_torn=True) == ("a",)


def test_tear_rate_follows_probability() -> None:
    rng = random.Random(4)
    torn = 0
    for _ in range(2000):
        disk = Storage(tear_probability=0.25)
        disk.append("x", sync=False)
        disk.crash(rng)
        torn += disk.stats.torn
    assert 0.2 < torn / 2000 < 0.3


def test_replace_is_durable() -> None:
    disk = Storage()
    disk.append("a", sync=False)
    disk.replace(["snapshot"])
    disk.crash(random.Random(1))
    assert disk.recover() == ("snapshot",)
